// The street's assessment (考核) for a month: every compound scored under its street's scheme,
// each indicator with its colour band (or why it lacks data), the score, the grade and the
// change against last month; ranked by the score, sortable; monthly report downloads.
"use strict";

const INDICATORS = [["participation", "Participation 参与率"], ["corrected_accuracy", "Corrected accuracy 校正准确率"],
                    ["kitchen_purity", "Kitchen purity 厨余纯度"], ["reports_handled", "Reports handled 纠错处理"],
                    ["inspections", "Inspections 检查"]];
const view = { rows: [], sort: "rank", up: true };
const pct = v => v === null || v === undefined ? "–" : (100 * v).toFixed(1) + "%";
const num = v => v === null || v === undefined ? "–" : v.toFixed(1);

function value(row, key) {
  if (key === "rank") return row.rank ?? 1e9;  // unranked (score withheld) last
  if (key === "place" || key === "name" || key === "grade") return row[key];
  if (key === "score" || key === "change") return row[key];
  const found = row.indicators.find(i => i.key === key);
  return found ? found.value : null;
}

function cell(row, key) {
  const found = row.indicators.find(i => i.key === key);
  if (!found) return `<td class="num muted">n/a</td>`;
  if (found.value === null) return `<td class="num lacks" data-key="${key}" title="${BW.escape(found.lacks)}">${BW.escape(found.lacks)}</td>`;
  const rests = found.n === null ? "" : ` title="n = ${found.n}"`;
  return `<td class="num band-${found.colour}" data-key="${key}"${rests}>${pct(found.value)}</td>`;
}

function render() {
  const columns = [["rank", "Rank 排名"], ["place", "Compound 小区"], ["name", "Name 名称"], ...INDICATORS,
                   ["score", "Score 得分"], ["grade", "Grade 等级"], ["change", "vs last month 环比"]];
  const rows = [...view.rows].sort((a, b) => {
    const x = value(a, view.sort), y = value(b, view.sort);
    const order = (x ?? -1) < (y ?? -1) ? -1 : (x ?? -1) > (y ?? -1) ? 1 : 0;
    return view.up ? order : -order;
  });
  const head = columns.map(([key, label]) =>
    `<th data-key="${key}" class="${view.sort === key ? "sorted" + (view.up ? " up" : "") : ""}">${label}</th>`).join("");
  const body = rows.map(r => {
    const change = r.change === null ? "–" : `${r.change >= 0 ? "▲ +" : "▼ "}${num(r.change)}`;
    const score = r.score === null ? `<td class="num lacks" title="${BW.escape(r.reason)}">not enough data 数据不足</td>` : `<td class="num score">${num(r.score)}</td>`;
    return `<tr data-place="${BW.escape(r.place)}"><td class="num">${r.rank ?? "–"}</td>
      <td><a href="/dashboard?place=${encodeURIComponent(r.place)}">${BW.escape(r.place)}</a></td><td>${BW.escape(r.name)}</td>
      ${INDICATORS.map(([key]) => cell(r, key)).join("")}${score}<td class="grade">${BW.escape(r.grade ?? "–")}</td>
      <td class="num change">${change}</td></tr>`;
  }).join("");
  document.getElementById("table").innerHTML = `<tr>${head}</tr>${body || `<tr><td colspan="${columns.length}" class="muted">no compounds 无</td></tr>`}`;
  for (const th of document.querySelectorAll("th")) {
    th.onclick = () => { view.up = view.sort === th.dataset.key ? !view.up : true; view.sort = th.dataset.key; render(); };
  }
  const schemes = [...new Set(view.rows.map(r => r.scheme))];
  document.getElementById("scheme").textContent = schemes.length ? `Scheme 方案: ${schemes.join("; ")}` : "";
}

async function load() {
  const place = document.getElementById("place").value, month = document.getElementById("month").value;
  if (!place || !month) return;
  view.rows = await BW.json(`/api/v1/assessment?place=${encodeURIComponent(place)}&month=${month}`);
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
  if (!BW.header("assessment")) return;
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
