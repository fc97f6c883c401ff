// The review queue: one image at a time, one key (or one tap) per decision, the next image
// preloaded. Every string from the catalogue (BW.t); every outcome, good or bad, in the status
// line. Plain script for any browser a supervisor has (in-app browsers included): no pop-ups.
"use strict";

const ORDER = ["recyclable", "hazardous", "kitchen", "other"];
const ACTIONS = ["confirm", "overturn", "unclear", "skip", "undo"];
const state = { items: [], index: 0, skipped: new Set(), chosen: new Set(), images: new Map(),
                history: [], busy: false, labels: new Map() };

async function labelsOf(profile) {
  // the fine labels a reviewer can name, with their category under the station's profile
  if (!state.labels.has(profile)) {
    const loading = BW.json(`/api/v1/taxonomy/labels?profile=${encodeURIComponent(profile)}`);
    loading.catch(() => state.labels.delete(profile));  // asked again next time
    state.labels.set(profile, loading);
  }
  return state.labels.get(profile);
}

function current() { return state.items[state.index]; }

function imagePath(item) {
  return item.event ? item.event.evidence_url : item.report_image_url;
}

async function image(item) {
  if (!item) return null;
  if (!state.images.has(item.id)) {
    const path = imagePath(item);
    state.images.set(item.id, path ? BW.blobUrl(path).catch(() => null) : Promise.resolve(null));
  }
  return state.images.get(item.id);
}

async function refill() {
  const items = await BW.json("/api/v1/review/queue?limit=50");
  state.items = items.filter(i => !state.skipped.has(i.id));
  state.index = 0;
  if (!state.items.length && state.skipped.size) {  // only skipped ones left: show them again
    state.skipped.clear();
    state.items = items;
  }
}

async function counter() {
  const count = await BW.json("/api/v1/review/count");
  const left = document.getElementById("left");
  left.textContent = BW.num(count.open);
  left.dataset.count = count.open;
}

// --- the status line: every success and every refusal shows here ---------------------------

// Said in the chosen language, and under it in the other (whoever stands beside the reviewer
// may read only one of them); a param may be a function of the language (a translated name).
function say(key, params = {}, kind = "") {
  const other = BW.lang() === "en" ? "zh-CN" : "en";
  const filled = lang => Object.fromEntries(Object.entries(params).map(([k, v]) => [k, typeof v === "function" ? v(lang) : v]));
  const status = document.getElementById("status");
  status.innerHTML = `<span class="said">${BW.t(key, filled(BW.lang()))}</span>` +
    (key !== "review.hint" ? `<span class="other" lang="${other}">${BW.t(key, filled(other), other)}</span>` : "");
  status.className = "status" + (kind ? " " + kind : "");
  status.dataset.kind = kind || "info";
}

// What the service said (its `detail`): in the chosen language when it is one of the reasons the
// review service gives (matched here), else as it came, as data. A function of the language.
const REASONS = [
  [/^the true categories make the drop-off (\w+), which does not (\w+) the model's '(\w+)'$/,
   (m, lang) => BW.t("review.why.disagrees", { found: verdictName(m[1], lang), decision: BW.t("review.decision." + m[2], {}, lang),
                                               model: verdictName(m[3], lang) }, lang)],
  [/^a '(\w+)' event needs the true categories$/,
   (m, lang) => BW.t("review.why.needs_categories", { verdict: verdictName(m[1], lang) }, lang)],
  [/^this item is decided already by (.+): reload/, (m, lang) => BW.t("review.why.decided_by", { who: BW.d(m[1]) }, lang)],
  [/^this item is decided already: reload/, (m, lang) => BW.t("review.why.decided", {}, lang)],
  [/^another supervisor is reviewing this item \((.+)\)$/, (m, lang) => BW.t("review.why.claimed", { who: BW.d(m[1]) }, lang)],
  [/^nothing of yours to undo on this item/, (m, lang) => BW.t("review.why.nothing_yours", {}, lang)],
  [/^the decision on this item is (.+)'s: only they can undo it$/, (m, lang) => BW.t("review.why.not_yours", { who: BW.d(m[1]) }, lang)],
  [/^a decision can be undone for (\d+) minutes only$/, (m, lang) => BW.t("review.why.too_late", { minutes: m[1] }, lang)],
  [/^this decision was superseded or undone meanwhile$/, (m, lang) => BW.t("review.why.meanwhile", {}, lang)],
  [/^an appeal needs a second reviewer/, (m, lang) => BW.t("review.why.second_reviewer", {}, lang)],
];

function why(answer, response) {
  const detail = answer && answer.detail;
  if (typeof detail === "string") {
    for (const [pattern, say] of REASONS) {
      const m = detail.match(pattern);
      if (m) return lang => `<span class="why">${say(m, lang)}</span>`;  // its own text node
    }
    return BW.d(detail);
  }
  if (Array.isArray(detail)) return BW.d(detail.map(d => (d && d.msg) || JSON.stringify(d)).join("; "));
  return BW.d(`${response.status} ${response.statusText}`);
}

// the service could not be reached (fetch itself failed), or something else went wrong
function offline(error) {
  const text = BW.d(error && error.message ? error.message : String(error));
  say(error instanceof TypeError ? "review.offline" : "common.failed", { why: text }, "err");
}

function verdictName(verdict, lang = BW.lang()) {
  const key = "review.verdict." + String(verdict).replace(/[^a-z]/g, "");
  return BW_MESSAGES[key] ? BW.t(key, {}, lang) : BW.d(verdict);
}

// --- the photo: each item's box with its number; earlier items dimmed --------------------

function catHex(code) { return (BW.categories[code] || { hex: "#9e9e9e" }).hex; }

// Items without a box in an event where others have one were in the bin before this drop-off.
function earlierOf(event) {
  const boxed = event.items.some(i => i.box);
  return event.items.map(i => boxed && !i.box);
}

// the number each item of this drop-off carries (in the photo and in the list); null: earlier
function numbers(event) {
  let n = 0;
  const earlier = earlierOf(event);
  return event.items.map((i, k) => (earlier[k] ? null : ++n));
}

function overlaps(a, b, gap) {
  return a.x < b.x + b.s + gap && b.x < a.x + a.s + gap && a.y < b.y + b.s + gap && b.y < a.y + a.s + gap;
}

// Where each number tag goes: a corner of its box, the first one clear of the tags already
// placed, else nudged sideways and down until clear, never outside the photo.
function placeTags(boxes, s, width, height) {
  const placed = [];
  const clamp = (v, max) => Math.max(0, Math.min(v, max - s));
  const gap = s * 0.15;
  for (const b of boxes) {
    const corners = [[b.x, b.y - s], [b.x, b.y], [b.x + b.w - s, b.y - s], [b.x + b.w - s, b.y],
                     [b.x, b.y + b.h], [b.x, b.y + b.h - s], [b.x + b.w - s, b.y + b.h - s]];
    let spot = null;
    for (const [x, y] of corners) {
      const tag = { x: clamp(x, width), y: clamp(y, height), s };
      if (!placed.some(p => overlaps(p, tag, gap))) { spot = tag; break; }
    }
    for (let step = 1; !spot && step < 200; step++) {  // nudge along, row by row
      const across = Math.max(1, Math.floor(width / (s + gap)));
      const x = b.x + (step % across) * (s + gap), y = b.y + Math.floor(step / across) * (s + gap);
      const tag = { x: clamp(x % width, width), y: clamp(y, height), s };
      if (!placed.some(p => overlaps(p, tag, gap))) spot = tag;
    }
    placed.push(spot || { x: clamp(b.x, width), y: clamp(b.y, height), s });
  }
  return placed;
}

function overlay(item, width, height, scale) {
  const event = item.event;
  if (!event) return "";
  const nums = numbers(event);
  const boxed = event.items.map((i, k) => ({ i, n: nums[k] })).filter(x => x.i.box && x.n);
  if (!boxed.length) return "";
  const px = v => v / scale;  // screen pixels in the photo's units
  const s = px(22), stroke = px(2.5);
  const tags = placeTags(boxed.map(x => x.i.box), s, width, height);
  const dim = earlierOf(event).some(Boolean);
  const mask = dim ? `<defs><mask id="fresh"><rect width="${width}" height="${height}" fill="#fff"/>${
    boxed.map(({ i }) => `<rect x="${i.box.x}" y="${i.box.y}" width="${i.box.w}" height="${i.box.h}" fill="#000"/>`).join("")
  }</mask></defs><rect class="dim" width="${width}" height="${height}" fill="#000" fill-opacity="0.45" mask="url(#fresh)"/>` : "";
  const rects = boxed.map(({ i }) =>
    `<rect class="box" x="${i.box.x}" y="${i.box.y}" width="${i.box.w}" height="${i.box.h}" fill="none" stroke="${catHex(i.category)}" stroke-width="${stroke}"/>`).join("");
  const labels = boxed.map(({ i, n }, k) => {
    const t = tags[k];
    return `<g class="num" data-n="${n}"><rect x="${t.x}" y="${t.y}" width="${s}" height="${s}" rx="${s / 5}" fill="${catHex(i.category)}" stroke="#fff" stroke-width="${px(1.5)}"/>
      <text x="${t.x + s / 2}" y="${t.y + s / 2}" fill="#fff" font-size="${s * 0.66}" font-weight="700" text-anchor="middle" dominant-baseline="central">${n}</text></g>`;
  }).join("");
  return mask + rects + labels;
}

function drawOverlay() {
  const stage = document.getElementById("stage");
  const photo = document.getElementById("photo");
  const item = current();
  for (const old of stage.querySelectorAll("svg, .legend")) old.remove();
  if (!photo || !item || !photo.naturalWidth) return;
  const w = photo.naturalWidth, h = photo.naturalHeight;
  const scale = Math.min(stage.clientWidth / w, stage.clientHeight / h) || 1;
  stage.insertAdjacentHTML("beforeend", `<svg viewBox="0 0 ${w} ${h}" preserveAspectRatio="xMidYMid meet">${overlay(item, w, h, scale)}</svg>`);
  if (item.event && earlierOf(item.event).some(Boolean)) {
    stage.insertAdjacentHTML("beforeend", `<div class="legend" id="legend"><i></i><span>${BW.t("review.legend_earlier")}</span></div>`);
  }
}

let resizing = null;
window.addEventListener("resize", () => { clearTimeout(resizing); resizing = setTimeout(drawOverlay, 100); });

// --- one item on screen -------------------------------------------------------------------

const FIELDS = ["bin", "verdict", "place", "household", "time", "items", "note", "reason"];

function labelName(named, code) {
  const label = named.find(l => l.code === code);
  if (!label) return code;
  return BW.lang() === "en" ? label.en : label.zh;
}

function itemRow(i, k, n, named, options) {
  const mark = n ? `<span class="num" style="background:${catHex(i.category)}">${n}</span>`
                 : `<span class="was" title="${BW.escape(BW.t("review.earlier_title"))}">${BW.t("review.earlier")}</span>`;
  const category = `<span class="cat"><i style="background:${catHex(i.category)}"></i>${BW.d(BW.catName(i.category))}</span>`;
  const confidence = typeof i.confidence === "number" ? BW.pct(i.confidence, 0) : "";
  return `<div class="item${n ? "" : " earlier"}" data-n="${n || ""}">${mark}
    <span class="what">${BW.d(labelName(named, i.label))} · ${category}</span><span class="muted">${confidence}</span>
    <select data-item="${k}" title="${BW.escape(BW.t("review.name_item_title"))}">${options}</select></div>`;
}

async function show() {
  const stage = document.getElementById("stage");
  const item = current();
  state.chosen.clear();
  renderPicker();
  if (!item) {
    delete document.body.dataset.item;
    stage.innerHTML = `<div class="empty">${BW.t("review.nothing_left")}</div>`;
    for (const id of FIELDS) document.getElementById(id).textContent = "";
    return;
  }
  const url = await image(item);
  image(state.items[state.index + 1]);  // preload the next one
  if (current() !== item) return;  // moved on meanwhile
  stage.innerHTML = url ? `<img id="photo" alt="${BW.escape(BW.t("review.photo"))}" src="${url}">`
                        : `<div class="empty">${BW.t("review.no_image")}</div>`;
  const photo = document.getElementById("photo");
  if (photo) photo.onload = drawOverlay;
  document.getElementById("reason").innerHTML = `<span class="tag ${BW.escape(item.reason)}">${BW.t("review.reason." + item.reason)}</span>`;
  const event = item.event;
  document.getElementById("bin").innerHTML = event
    ? `${BW.catLabel(event.bin_category)}<bdi class="code">${BW.escape(event.bin)}</bdi>` : "–";
  document.getElementById("verdict").innerHTML = event
    ? verdictName(event.verdict) + (event.offending.length ? " (" + BW.d(event.offending.map(c => BW.catName(c)).join(", ")) + ")" : "")
    : BW.t("review.public_report");
  document.getElementById("place").innerHTML = event ? BW.d(`${event.compound || ""} · ${event.station}`)
                                                     : (item.place ? BW.d(item.place) : "–");
  document.getElementById("household").innerHTML = event && event.household ? BW.d(event.household.slice(0, 12) + "…") : "–";
  document.getElementById("time").textContent = BW.time(event ? event.captured_at : item.created_at);
  document.getElementById("note").innerHTML = item.note ? BW.d(item.note) : "";
  let named = [];
  if (event) {
    try { named = await labelsOf(event.profile || "national"); } catch (e) { offline(e); }
  }
  if (current() !== item) return;
  const options = `<option value="">${BW.t("review.name_item")}</option>` + named.map(l =>
    `<option value="${BW.escape(l.code)}" data-category="${BW.escape(l.category || "")}" data-d>${BW.escape(BW.lang() === "en" ? l.en : l.zh)}</option>`).join("");
  const nums = event ? numbers(event) : [];
  const list = document.getElementById("items");
  list.classList.toggle("with-earlier", nums.includes(null));
  list.innerHTML = event
    ? event.items.map((i, k) => itemRow(i, k, nums[k], named, options)).join("") : "";
  for (const select of document.querySelectorAll("#items select")) {
    select.onchange = () => {
      const picked = select.selectedOptions[0];
      if (picked && picked.dataset.category) { state.chosen.add(picked.dataset.category); renderPicker(); }
      select.blur();  // the keys go back to the page
    };
  }
  document.body.dataset.item = item.id;  // drawn in full (the tests wait for it)
}

function renderPicker() {
  document.getElementById("picker").innerHTML = ORDER.map((code, n) =>
    `<button type="button" data-code="${code}" class="${state.chosen.has(code) ? "on" : ""}" aria-pressed="${state.chosen.has(code)}"><kbd>${n + 1}</kbd><i style="background:${catHex(code)}"></i>${BW.d(BW.catName(code))}</button>`).join("");
  for (const button of document.querySelectorAll("#picker button")) {
    button.onclick = () => toggle(button.dataset.code);
  }
}

function toggle(code) {
  if (state.chosen.has(code)) state.chosen.delete(code); else state.chosen.add(code);
  renderPicker();
}

// --- decisions ----------------------------------------------------------------------------

async function decide(decision) {
  const item = current();
  if (!item || state.busy) return;
  state.busy = true;
  try {
    const labels = [...document.querySelectorAll("#items select")].map(s => s.value || null);
    const body = { decision, true_categories: [...state.chosen] };
    if (labels.some(Boolean)) body.labels = labels;
    let response;
    try {
      response = await BW.api(`/api/v1/review/items/${item.id}/decision`, { method: "POST", json: body });
    } catch (e) { offline(e); return; }
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) { say("common.refused", { why: why(answer, response) }, "err"); return; }
    say("review.done." + decision, { verdict: lang => verdictName(answer.verdict, lang) }, "ok");
    state.history.push(item);
    state.items.splice(state.index, 1);
    if (state.index >= state.items.length) await refill();
    await show();
    await counter();
  } catch (e) {
    offline(e);
  } finally {
    state.busy = false;
  }
}

async function skip() {
  const item = current();
  if (!item || state.busy) return;
  state.busy = true;
  try {
    state.skipped.add(item.id);
    state.index += 1;
    if (state.index >= state.items.length) await refill();
    say("review.skipped");
    await show();
  } catch (e) {
    offline(e);
  } finally {
    state.busy = false;
  }
}

async function undo() {
  if (state.busy) return;
  const item = state.history[state.history.length - 1];
  if (!item) { say("review.nothing_to_undo", {}, "err"); return; }
  state.busy = true;
  try {
    let response;
    try {
      response = await BW.api(`/api/v1/review/items/${item.id}/undo`, { method: "POST" });
    } catch (e) { offline(e); return; }
    const answer = await response.json().catch(() => ({}));
    state.history.pop();  // refused or done: either way not to be undone again from here
    if (!response.ok) { say("review.undo_refused", { why: why(answer, response) }, "err"); return; }
    state.skipped.delete(item.id);
    state.items = state.items.filter(i => i.id !== item.id);
    state.items.splice(state.index, 0, item);
    say("review.undone", {}, "ok");
    await show();
    await counter();
  } catch (e) {
    offline(e);
  } finally {
    state.busy = false;
  }
}

// /review?item=ID: that item first (the dashboard's thumbnails link here), held for this
// reviewer; when it is no longer open, the status line says why and the queue goes on.
async function openLinked(id) {
  let response;
  try {
    response = await BW.api(`/api/v1/review/items/${encodeURIComponent(id)}/claim`, { method: "POST" });
  } catch (e) { offline(e); return; }
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) {
    say("review.item_not_open", { id: BW.d(id), why: why(answer, response) }, "err");
    return;
  }
  state.skipped.delete(answer.id);
  state.items = [answer, ...state.items.filter(i => i.id !== answer.id)];
  state.index = 0;
  say("review.opened", { id: BW.d(answer.id) }, "ok");
}

function keyOf(action) { return BW.t("review.key." + action).toLowerCase(); }

document.addEventListener("keydown", (event) => {
  const tag = event.target && event.target.tagName;
  if (event.ctrlKey || event.metaKey || event.altKey || tag === "SELECT" || tag === "INPUT" || tag === "TEXTAREA") return;
  const key = (event.key || "").toLowerCase();
  const action = ACTIONS.find(a => keyOf(a) === key);
  if (action) { event.preventDefault(); act(action); }
  else if (key.length === 1 && "1234".includes(key)) { event.preventDefault(); toggle(ORDER[Number(key) - 1]); }
});

function act(action) {
  if (action === "skip") return skip();
  if (action === "undo") return undo();
  return decide(action);
}
for (const action of ACTIONS) document.getElementById(action).onclick = () => act(action);

(async () => {
  if (!BW.header("review")) return;
  document.title = `${BW.t("app.name")} · ${BW.t("nav.review")}`;
  say("review.hint");
  try {
    await Promise.all([BW.loadCategories(), BW.serviceDay().catch(() => {})]);
    renderPicker();
    await refill();
    const params = new URLSearchParams(location.search);
    const linked = params.get("item");
    if (linked) {
      await openLinked(linked);
      history.replaceState(null, "", location.pathname);  // a reload goes on with the queue
    }
    await show();
    await counter();
  } catch (e) {
    offline(e);
  }
  document.body.dataset.ready = "1";
})();
