// The review queue: one image at a time, one key per decision, the next image preloaded.
"use strict";

const ORDER = ["recyclable", "hazardous", "kitchen", "other"];
const state = { items: [], index: 0, skipped: new Set(), chosen: new Set(), images: new Map(),
                history: [], busy: false, labels: new Map() };

async function labelsOf(profile) {
  // the fine labels a reviewer can name, with their category under the station's profile
  if (!state.labels.has(profile)) state.labels.set(profile, BW.json(`/api/v1/taxonomy/labels?profile=${encodeURIComponent(profile)}`));
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
    state.images.set(item.id, path ? BW.blobUrl(path) : Promise.resolve(null));
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
  document.getElementById("left").textContent = count.open;
  document.getElementById("left").dataset.count = count.open;
}

function boxes(item, width, height) {
  if (!item.event) return "";
  return item.event.items.filter(i => i.box).map(i => {
    const c = BW.categories[i.category] || { hex: "#fff" };
    const b = i.box;
    return `<rect x="${b.x}" y="${b.y}" width="${b.w}" height="${b.h}" fill="none" stroke="${c.hex}" stroke-width="${Math.max(2, width / 200)}"/>
      <rect x="${b.x}" y="${Math.max(0, b.y - height / 22)}" width="${Math.min(width - b.x, width / 3)}" height="${height / 22}" fill="${c.hex}"/>
      <text x="${b.x + 4}" y="${Math.max(0, b.y - height / 22) + height / 30}" fill="#fff" font-size="${height / 32}">${BW.escape(i.label)} ${(i.confidence * 100).toFixed(0)}%</text>`;
  }).join("");
}

async function show() {
  const stage = document.getElementById("stage");
  const item = current();
  state.chosen.clear();
  renderPicker();
  if (!item) {
    stage.innerHTML = `<div class="empty">Nothing left to review · 全部审核完毕</div>`;
    for (const id of ["bin", "verdict", "place", "household", "time", "items", "note", "reason"]) document.getElementById(id).textContent = "";
    return;
  }
  const url = await image(item);
  image(state.items[state.index + 1]);  // preload the next one
  if (current() !== item) return;  // moved on meanwhile
  stage.innerHTML = url ? `<img id="photo" alt="evidence" src="${url}">` : `<div class="empty">No image 无图片</div>`;
  const photo = document.getElementById("photo");
  if (photo) {
    photo.onload = () => {
      const w = photo.naturalWidth, h = photo.naturalHeight;
      stage.insertAdjacentHTML("beforeend", `<svg viewBox="0 0 ${w} ${h}" preserveAspectRatio="xMidYMid meet">${boxes(item, w, h)}</svg>`);
    };
  }
  document.getElementById("reason").innerHTML = `<span class="tag ${item.reason}">${item.reason}</span>`;
  const event = item.event;
  document.getElementById("bin").innerHTML = event ? BW.catLabel(event.bin_category) + ` <span class="muted">${BW.escape(event.bin)}</span>` : "–";
  document.getElementById("verdict").textContent = event ? `${event.verdict}${event.offending.length ? " (" + event.offending.join(", ") + ")" : ""}` : "public report 纠错";
  document.getElementById("place").textContent = event ? `${event.compound || ""} · ${event.station}` : (item.place || "");
  document.getElementById("household").textContent = event && event.household ? event.household.slice(0, 12) + "…" : "–";
  document.getElementById("time").textContent = new Date(event ? event.captured_at : item.created_at).toLocaleString();
  const named = event ? await labelsOf(event.profile || "national") : [];
  if (current() !== item) return;
  const options = `<option value="">is it? 实为…</option>` + named.map(l => `<option value="${l.code}" data-category="${l.category || ""}">${BW.escape(l.zh)} ${BW.escape(l.en)}</option>`).join("");
  document.getElementById("items").innerHTML = event ? event.items.map((i, k) =>
    `<div><span>${BW.escape(i.label)} · ${BW.catLabel(i.category)}</span><span class="muted">${(i.confidence * 100).toFixed(0)}%</span>
     <select data-item="${k}" title="name the item (used for retraining)">${options}</select></div>`).join("") : "";
  for (const select of document.querySelectorAll("#items select")) {
    select.onchange = () => {
      const picked = select.selectedOptions[0];
      if (picked && picked.dataset.category) { state.chosen.add(picked.dataset.category); renderPicker(); }
      select.blur();  // the keys go back to the page
    };
  }
  document.getElementById("note").textContent = item.note || "";
}

function renderPicker() {
  document.getElementById("picker").innerHTML = ORDER.map((code, n) =>
    `<button data-code="${code}" class="${state.chosen.has(code) ? "on" : ""}"><kbd>${n + 1}</kbd> ${BW.catLabel(code)}</button>`).join("");
  for (const button of document.querySelectorAll("#picker button")) {
    button.onclick = () => toggle(button.dataset.code);
  }
}

function toggle(code) {
  if (state.chosen.has(code)) state.chosen.delete(code); else state.chosen.add(code);
  renderPicker();
}

function say(text) { document.getElementById("status").textContent = text; }

async function decide(decision) {
  const item = current();
  if (!item || state.busy) return;
  state.busy = true;
  try {
    const labels = [...document.querySelectorAll("#items select")].map(s => s.value || null);
    const body = { decision, true_categories: [...state.chosen] };
    if (labels.some(Boolean)) body.labels = labels;
    const response = await BW.api(`/api/v1/review/items/${item.id}/decision`, { method: "POST", json: body });
    const answer = await response.json();
    if (!response.ok) { say(typeof answer.detail === "string" ? answer.detail : "refused"); return; }
    say(`${decision} → ${answer.verdict}`);
    state.history.push(item);
    state.items.splice(state.index, 1);
    if (state.index >= state.items.length) await refill();
    await show();
    counter();
  } finally {
    state.busy = false;
  }
}

async function skip() {
  const item = current();
  if (!item) return;
  state.skipped.add(item.id);
  state.index += 1;
  if (state.index >= state.items.length) await refill();
  show();
}

async function undo() {
  const item = state.history.pop();
  if (!item || state.busy) return;
  const response = await BW.api(`/api/v1/review/items/${item.id}/undo`, { method: "POST" });
  if (!response.ok) { say("cannot undo: " + ((await response.json()).detail || response.statusText)); return; }
  state.items.splice(state.index, 0, item);
  say("undone 已撤销");
  await show();
  counter();
}

document.addEventListener("keydown", (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey || event.target.tagName === "SELECT") return;
  const key = event.key.toLowerCase();
  const actions = { c: () => decide("confirm"), o: () => decide("overturn"), u: () => decide("unclear"),
                    s: skip, z: undo };
  if (actions[key]) { event.preventDefault(); actions[key](); }
  else if ("1234".includes(key) && key) { event.preventDefault(); toggle(ORDER[Number(key) - 1]); }
});
document.getElementById("confirm").onclick = () => decide("confirm");
document.getElementById("overturn").onclick = () => decide("overturn");
document.getElementById("unclear").onclick = () => decide("unclear");
document.getElementById("skip").onclick = skip;
document.getElementById("undo").onclick = undo;

(async () => {
  if (!BW.header("review")) return;
  await BW.loadCategories();
  await refill();
  await show();
  await counter();
  document.body.dataset.ready = "1";
})();
