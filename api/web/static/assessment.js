// Compounds ranked within a street or district for a month; sortable; monthly report downloads.
"use strict";

const COLUMNS = [["rank", "Rank 排名", true], ["place", "Compound 小区", false], ["name", "Name 名称", false],
                 ["accuracy", "Accuracy 准确率", true], ["participation", "Participation 参与率", true],
                 ["dropoffs", "Drop-offs 投放", true]];
const view = { rows: [], sort: "rank", up: true };
const pct = v => v === null || v === undefined ? "–" : (100 * v).toFixed(1) + "%";

function monthBounds(month) {
  const [y, m] = month.split("-").map(Number);
  const last = new Date(Date.UTC(y, m, 0)).getUTCDate();
  return [`${month}-01`, `${month}-${String(last).padStart(2, "0")}`];
}

function render() {
  const rows = [...view.rows].sort((a, b) => {
    const x = a[view.sort], y = b[view.sort];
    const order = (x ?? -1) < (y ?? -1) ? -1 : (x ?? -1) > (y ?? -1) ? 1 : 0;
    return view.up ? order : -order;
  });
  const head = COLUMNS.map(([key, label, num]) =>
    `<th data-key="${key}" class="${num ? "num" : ""} ${view.sort === key ? "sorted" + (view.up ? " up" : "") : ""}">${label}</th>`).join("");
  const body = rows.map(r => `<tr data-place="${BW.escape(r.place)}"><td class="num">${r.rank}</td><td><a href="/dashboard?place=${encodeURIComponent(r.place)}">${BW.escape(r.place)}</a></td>
    <td>${BW.escape(r.name)}</td><td class="num"><span class="bar" style="width:${Math.round(60 * (r.accuracy || 0))}px"></span>${pct(r.accuracy)}</td>
    <td class="num">${pct(r.participation)}</td><td class="num">${r.dropoffs}</td></tr>`).join("");
  document.getElementById("table").innerHTML = `<tr>${head}</tr>${body || `<tr><td colspan="6" class="muted">no compounds 无</td></tr>`}`;
  for (const th of document.querySelectorAll("th")) {
    th.onclick = () => { view.up = view.sort === th.dataset.key ? !view.up : true; view.sort = th.dataset.key; render(); };
  }
}

async function load() {
  const place = document.getElementById("place").value, month = document.getElementById("month").value;
  if (!place || !month) return;
  const [start, end] = monthBounds(month);
  view.rows = await BW.json(`/api/v1/stats/rankings?place=${encodeURIComponent(place)}&start=${start}&end=${end}`);
  render();
  document.body.dataset.ready = "1";
}

async function download(format) {
  const place = document.getElementById("place").value, month = document.getElementById("month").value;
  const response = await BW.api(`/api/v1/reports/monthly?place=${encodeURIComponent(place)}&month=${month}&format=${format}`);
  if (!response.ok) { document.getElementById("status").textContent = "download failed"; return; }
  const link = document.createElement("a");
  link.href = URL.createObjectURL(await response.blob());
  link.download = `binwatch-${place}-${month}.${format}`;
  document.body.appendChild(link);
  link.click();
  link.remove();
}

(async () => {
  BW.header("assessment");
  const nodes = [...await BW.json("/api/v1/places?kind=district"), ...await BW.json("/api/v1/places?kind=street")];
  document.getElementById("place").innerHTML = nodes.map(p => `<option value="${p.code}">${BW.escape(p.name)} (${p.code})</option>`).join("");
  const params = new URLSearchParams(location.search);
  if (params.get("place")) document.getElementById("place").value = params.get("place");
  document.getElementById("month").value = params.get("month") || (await BW.serviceDay()).month;
  for (const id of ["place", "month"]) document.getElementById(id).onchange = () => { document.body.dataset.ready = ""; load(); };
  document.getElementById("csv").onclick = () => download("csv");
  document.getElementById("xlsx").onclick = () => download("xlsx");
  await load();
})();
