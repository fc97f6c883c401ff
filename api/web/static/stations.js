// Station set-up: a frame of the station's camera (uploaded here, or sent by the device when
// asked), each bin's region drawn on it by clicking its corners, its code and category chosen
// from the station's profile, and the station's YAML downloaded for the device.
"use strict";

const COLOURS = ["#1e6fd9", "#2e7d32", "#d32f2f", "#ef8f00", "#6a1b9a", "#00838f"];
const view = { station: null, size: null, regions: [], drawing: [], bins: [], devices: [] };

function tell(html, ok) {
  const status = document.getElementById("status");
  status.innerHTML = html;
  status.className = ok ? "ok" : "error";
}

function stationOf(code) { return view.stations.find(s => s.code === code); }

async function loadSnapshot() {
  const code = view.station;
  const state = await BW.json(`/api/v1/stations/${encodeURIComponent(code)}/snapshot`);
  const stage = document.getElementById("stage");
  view.size = state.width ? [state.width, state.height] : null;
  const line = document.getElementById("snapshot");
  if (!state.width) {
    stage.innerHTML = `<div class="empty">${BW.t("stations.no_snapshot")}</div>`;
    line.textContent = state.wanted ? BW.t("stations.asked", { minutes: 5 }) : "";
    return state;
  }
  line.innerHTML = BW.t("stations.snapshot_from", { w: state.width, h: state.height,
    source: BW.t("stations.source." + state.source), when: BW.time(state.taken_at) });
  const url = await BW.blobUrl(`/api/v1/stations/${encodeURIComponent(code)}/snapshot.jpg?t=${Date.now()}`);
  stage.innerHTML = `<img id="frame-img" alt="" src="${url}"><svg id="draw" viewBox="0 0 ${state.width} ${state.height}" preserveAspectRatio="xMidYMid meet"></svg>`;
  const svg = document.getElementById("draw");
  svg.addEventListener("click", click);
  draw();
  return state;
}

// a click on the frame, in the frame's pixels
function pointOf(event) {
  const svg = document.getElementById("draw");
  const p = svg.createSVGPoint();
  p.x = event.clientX;
  p.y = event.clientY;
  const q = p.matrixTransform(svg.getScreenCTM().inverse());
  const [w, h] = view.size;
  return [Math.round(Math.min(w, Math.max(0, q.x))), Math.round(Math.min(h, Math.max(0, q.y)))];
}

function click(event) {
  const point = pointOf(event);
  const first = view.drawing[0];
  const near = first && Math.hypot(first[0] - point[0], first[1] - point[1]) < view.size[0] / 80;
  if (near && view.drawing.length >= 3) { finish(); return; }
  view.drawing.push(point);
  draw();
}

function finish() {
  if (view.drawing.length < 3) { tell(BW.t("stations.too_few")); return; }
  const n = view.regions.length;
  const category = (view.bins[n % view.bins.length] || {}).code || "";
  view.regions.push({ id: `${view.station}-${n + 1}`, category, roi: view.drawing });
  view.drawing = [];
  tell("", true);
  draw();
  list();
}

function undoPoint() {
  if (view.drawing.length) view.drawing.pop();
  else if (view.regions.length) { view.drawing = view.regions.pop().roi; list(); }
  draw();
}

function draw() {
  const svg = document.getElementById("draw");
  if (!svg) return;
  const width = Math.max(2, view.size[0] / 300);
  const shapes = view.regions.map((r, k) => {
    const c = COLOURS[k % COLOURS.length];
    const [x, y] = r.roi[0];
    return `<polygon points="${r.roi.map(p => p.join(",")).join(" ")}" fill="${c}" fill-opacity="0.18" stroke="${c}" stroke-width="${width}"/>
      <circle cx="${x}" cy="${y}" r="${width * 6}" fill="${c}"/><text x="${x}" y="${y + width * 2}" fill="#fff" font-size="${width * 7}" text-anchor="middle">${k + 1}</text>`;
  }).join("");
  const open = view.drawing.length ? `<polyline points="${view.drawing.map(p => p.join(",")).join(" ")}" fill="none" stroke="#fff" stroke-width="${width}" stroke-dasharray="${width * 3}"/>` +
    view.drawing.map(([x, y], i) => `<circle cx="${x}" cy="${y}" r="${width * (i ? 2.5 : 4)}" fill="${i ? "#fff" : "#ffeb3b"}"/>`).join("") : "";
  svg.innerHTML = shapes + open;
}

function list() {
  const options = view.bins.map(b => `<option value="${BW.escape(b.code)}" data-d>${BW.escape(BW.lang() === "en" ? b.en : b.zh)}</option>`).join("");
  document.getElementById("regions").innerHTML = view.regions.map((r, k) =>
    `<div class="region" data-region="${k}"><span class="n" style="background:${COLOURS[k % COLOURS.length]}">${k + 1}</span>
      <input data-field="id" value="${BW.escape(r.id)}" aria-label="${BW.t("stations.bin_code")}" data-d>
      <select data-field="category" aria-label="${BW.t("stations.category")}">${options}</select>
      <button data-remove="${k}" title="${BW.t("stations.corners", { n: r.roi.length })}">${BW.t("stations.remove")}</button></div>`).join("") ||
    `<div class="muted">${BW.t("stations.no_regions")}</div>`;
  for (const row of document.querySelectorAll("#regions .region")) {
    const region = view.regions[Number(row.dataset.region)];
    const select = row.querySelector("select");
    select.value = region.category;
    select.onchange = () => { region.category = select.value; };
    const input = row.querySelector("input");
    input.onchange = () => { region.id = input.value.trim(); };
  }
  for (const button of document.querySelectorAll("#regions button[data-remove]")) {
    button.onclick = () => { view.regions.splice(Number(button.dataset.remove), 1); draw(); list(); };
  }
}

async function upload() {
  const file = document.getElementById("frame").files[0];
  if (!file) return;
  document.body.dataset.ready = "";
  const response = await BW.api(`/api/v1/stations/${encodeURIComponent(view.station)}/snapshot`,
    { method: "PUT", body: file, headers: { "Content-Type": file.type || "image/jpeg" } });
  if (!response.ok) {
    const answer = await response.json().catch(() => ({}));
    tell(BW.t("common.refused", { why: BW.d(answer.detail || response.statusText) }));
  } else {
    view.regions = [];
    view.drawing = [];
    list();
    await loadSnapshot();
  }
  document.getElementById("frame").value = "";
  document.body.dataset.ready = "1";
}

async function ask() {
  const response = await BW.api(`/api/v1/stations/${encodeURIComponent(view.station)}/snapshot/request`, { method: "POST" });
  if (response.ok) document.getElementById("snapshot").textContent = BW.t("stations.asked", { minutes: 5 });
  // the device answers at its next poll: look again now and then until the frame is there
  const started = Date.now();
  const look = setInterval(async () => {
    if (Date.now() - started > 15 * 60000) { clearInterval(look); return; }
    const state = await BW.json(`/api/v1/stations/${encodeURIComponent(view.station)}/snapshot`);
    if (!state.wanted && state.width) { clearInterval(look); await loadSnapshot(); }
  }, 10000);
}

async function download() {
  if (view.drawing.length >= 3) finish();
  if (!view.regions.length || !view.size) { tell(BW.t("stations.need_region")); return; }
  document.body.dataset.ready = "";
  const body = { bins: view.regions, width: view.size[0], height: view.size[1],
                 source_uri: document.getElementById("source").value.trim() };
  const response = await BW.api(`/api/v1/stations/${encodeURIComponent(view.station)}/station.yaml`, { method: "POST", json: body });
  if (!response.ok) {
    const answer = await response.json().catch(() => ({}));
    const why = Array.isArray(answer.detail) ? answer.detail.map(d => typeof d === "string" ? d : (d.msg || JSON.stringify(d))).join("\n") : (answer.detail || response.statusText);
    tell(BW.t("common.refused", { why: BW.d(why) }));
    document.body.dataset.ready = "1";
    return;
  }
  const file = `${view.station}.yaml`;
  const link = document.createElement("a");
  link.href = URL.createObjectURL(await response.blob());
  link.download = file;
  document.body.appendChild(link);
  link.click();
  link.remove();
  tell(BW.t("stations.downloaded", { file: BW.d(file) }), true);
  document.body.dataset.ready = "1";
}

async function pick(code) {
  view.station = code;
  view.regions = [];
  view.drawing = [];
  const station = stationOf(code);
  view.bins = await BW.json(`/api/v1/taxonomy/bins?profile=${encodeURIComponent(station.profile || "national")}`);
  list();
  await loadSnapshot();
}

(async () => {
  if (!BW.header("stations")) return;
  view.stations = await BW.json("/api/v1/places?kind=station");
  const select = document.getElementById("station");
  select.innerHTML = view.stations.map(s => `<option value="${BW.escape(s.code)}" data-d>${BW.escape(s.name)} (${BW.escape(s.code)})</option>`).join("");
  const wanted = new URLSearchParams(location.search).get("station");
  if (wanted && stationOf(wanted)) select.value = wanted;
  select.onchange = async () => { document.body.dataset.ready = ""; await pick(select.value); document.body.dataset.ready = "1"; };
  document.getElementById("frame").onchange = upload;
  document.getElementById("ask").onclick = ask;
  document.getElementById("finish").onclick = finish;
  document.getElementById("undo").onclick = undoPoint;
  document.getElementById("download").onclick = download;
  if (select.value) await pick(select.value);
  document.body.dataset.ready = "1";
})();
