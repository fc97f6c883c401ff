// A compound's rates over a period, from /api/v1/stats/*; charts are plain SVG.
"use strict";

const pct = v => v === null || v === undefined ? "–" : (100 * v).toFixed(1) + "%";

function weeks(start, end) {
  // consecutive 7-day windows ending on `end`, at most 13, oldest first
  const out = [];
  let last = new Date(end + "T00:00:00Z");
  const first = new Date(start + "T00:00:00Z");
  while (out.length < 13 && last >= first) {
    const from = new Date(Math.max(first.getTime(), last.getTime() - 6 * 86400000));
    out.unshift([from.toISOString().slice(0, 10), last.toISOString().slice(0, 10)]);
    last = new Date(from.getTime() - 86400000);
  }
  return out;
}

function trend(series) {
  // participation, raw accuracy and audit-corrected accuracy (with its 95 % band) per week
  const svg = document.getElementById("trend");
  const points = series.filter(p => p.accuracy !== null || p.participation !== null);
  if (!points.length) { svg.innerHTML = `<text x="10" y="100">no drop-offs 暂无数据</text>`; return; }
  const x = i => 40 + (series.length === 1 ? 230 : (i * 460) / (series.length - 1));
  const y = v => 180 - v * 160;
  const grid = [0, 0.5, 1].map(v => `<line x1="40" x2="500" y1="${y(v)}" y2="${y(v)}" stroke="#e3e7eb"/><text x="4" y="${y(v) + 4}">${v * 100}%</text>`).join("");
  const path = key => series.map((p, i) => p[key] === null ? null : [x(i), y(p[key])]).filter(Boolean)
    .map(([px, py], i) => `${i ? "L" : "M"}${px},${py}`).join(" ");
  const banded = series.map((p, i) => [i, p]).filter(([, p]) => p.low !== null);
  const band = banded.length ? `<path d="${banded.map(([i, p], k) => `${k ? "L" : "M"}${x(i)},${y(p.high)}`).join(" ")} ${
    [...banded].reverse().map(([i, p]) => `L${x(i)},${y(p.low)}`).join(" ")} Z" fill="#1565c0" opacity="0.12"/>` : "";
  const dots = series.map((p, i) => p.accuracy === null ? "" : `<circle cx="${x(i)}" cy="${y(p.accuracy)}" r="3" fill="#1565c0"><title>${p.start}–${p.end}: accuracy ${pct(p.accuracy)}, corrected ${pct(p.corrected)} (${pct(p.low)}–${pct(p.high)}), participation ${pct(p.participation)}</title></circle>`).join("");
  const labels = [0, series.length - 1].map(i => `<text x="${x(i) - 16}" y="196">${series[i].end.slice(5)}</text>`).join("");
  const whiskers = series.map((p, i) => p.low === null ? "" : `<line x1="${x(i) + 5}" x2="${x(i) + 5}" y1="${y(p.low)}" y2="${y(p.high)}" stroke="#0d47a1"/><circle cx="${x(i) + 5}" cy="${y(p.corrected)}" r="3" fill="#fff" stroke="#0d47a1"/>`).join("");
  const legend = `<text x="44" y="12" fill="#1565c0">● accuracy 准确率</text><text x="190" y="12" fill="#0d47a1">○ corrected 校正 (95%)</text><text x="360" y="12" fill="#2e7d32">— participation 参与率</text>`;
  svg.innerHTML = grid + band + `<path d="${path("corrected")}" fill="none" stroke="#0d47a1" stroke-dasharray="5 4" stroke-width="1.5"/>` +
    `<path d="${path("accuracy")}" fill="none" stroke="#1565c0" stroke-width="2"/>` +
    `<path d="${path("participation")}" fill="none" stroke="#2e7d32" stroke-width="2"/>` + whiskers + dots + labels + legend;
}

async function weekly(place, start, end) {
  return Promise.all(weeks(start, end).map(async ([from, to]) => {
    const s = await BW.json(`/api/v1/stats/summary?place=${encodeURIComponent(place)}&start=${from}&end=${to}`);
    const c = s.totals.corrected;
    return { start: from, end: to, accuracy: s.totals.accuracy, participation: s.participation,
             corrected: c.accuracy, low: c.low, high: c.high };
  }));
}

function bars(svgId, rows, fmt) {
  const svg = document.getElementById(svgId);
  if (!rows.length) { svg.innerHTML = `<text x="10" y="100">no data 暂无数据</text>`; return; }
  const max = Math.max(...rows.map(r => r.value), 1e-9);
  const w = 300 / rows.length;
  svg.innerHTML = rows.map((r, i) => {
    const h = (r.value / max) * 150;
    return `<rect x="${10 + i * w + 2}" y="${170 - h}" width="${Math.max(1, w - 4)}" height="${h}" fill="${r.colour}"><title>${r.label}: ${fmt(r.value)}</title></rect>` +
      (rows.length <= 6 ? `<text x="${10 + i * w + 2}" y="186">${r.label}</text><text x="${10 + i * w + 2}" y="${165 - h}">${fmt(r.value)}</text>` :
        (i % 6 === 0 ? `<text x="${10 + i * w}" y="186">${r.label}</text>` : ""));
  }).join("");
}

async function load() {
  const place = document.getElementById("place").value;
  const start = document.getElementById("start").value, end = document.getElementById("end").value;
  if (!place) return;
  const q = `place=${encodeURIComponent(place)}&start=${start}&end=${end}`;
  const [summary, hourly, follow] = await Promise.all([
    BW.json(`/api/v1/stats/summary?${q}`), BW.json(`/api/v1/stats/summary?${q}&bucket=hour`),
    BW.json(`/api/v1/stats/households?${q}&follow_up=true&limit=10`)]);
  const t = summary.totals, c = t.corrected;
  // the month is what an office signs: how many decided audits it still needs for a number
  const day = await BW.serviceDay();
  const monthStart = `${day.month}-01`;
  const month = await BW.json(`/api/v1/stats/summary?place=${encodeURIComponent(place)}&start=${monthStart}&end=${day.today}`);
  const m = month.totals.corrected;
  const audits = document.getElementById("month-audits");
  audits.dataset.needed = m.audits_needed;
  audits.textContent = m.audits_needed
    ? `${day.month}: ${m.audited} audits decided, ${m.audits_needed} more needed 本月还需审核 ${m.audits_needed} 条`
    : `${day.month}: ${m.audited} audits decided 本月已审核`;
  document.getElementById("participation").textContent = pct(summary.participation);
  document.getElementById("participation-detail").textContent = `${summary.participating_households} / ${summary.registered_households} households`;
  document.getElementById("accuracy").textContent = pct(t.accuracy);
  document.getElementById("accuracy").dataset.value = t.accuracy ?? "";
  document.getElementById("accuracy-detail").textContent = `${t.correct} of ${t.scored} scored`;
  // no corrected number without enough audits: say so, and how many the period still needs
  document.getElementById("corrected").textContent = c.accuracy === null ? `not enough audits (${c.audited}) 审核不足` : pct(c.accuracy);
  document.getElementById("corrected-detail").textContent = c.accuracy === null
    ? `${c.audits_needed ? `${c.audits_needed} more audits needed 还需审核 ${c.audits_needed} 条` : (c.reason || "")}`
    : `95%: ${pct(c.low)} – ${pct(c.high)} (${c.audited} audited 已审核)`;
  document.getElementById("purity").textContent = pct(summary.kitchen_purity);
  document.getElementById("dropoffs").textContent = `${t.dropoffs} drop-offs, ${t.identified} identified`;
  trend(await weekly(place, start, end));
  bars("contamination", summary.by_category.map(r => ({ label: (BW.categories[r.category] || {}).zh || r.category,
    value: r.contamination || 0, colour: (BW.categories[r.category] || {}).hex || "#888" })), pct);
  const byHour = Array(24).fill(0);
  for (const b of hourly.buckets) byHour[Number(b.start.slice(11, 13))] += b.dropoffs;  // the service's local hour
  bars("hours", byHour.map((v, h) => ({ label: String(h), value: v, colour: "#5c7cfa" })), v => String(v));
  document.getElementById("follow").innerHTML = `<tr><th>Household</th><th>Drop-offs</th><th>Accuracy</th><th>Points</th><th title="deductions not confirmed yet: no points taken">Pending 待定</th></tr>` +
    (follow.map(h => `<tr data-household="${BW.escape(h.household)}"><td>${BW.escape(h.household)}</td><td>${h.dropoffs}</td><td>${pct(h.accuracy)}</td><td>${h.points}</td><td class="pending">${h.pending_deductions ? `${h.pending_deductions} (${h.pending_points})` : ""}</td></tr>`).join("") ||
     `<tr><td colspan="5" class="muted">none 无</td></tr>`);
  const thumbs = document.getElementById("thumbs");
  thumbs.innerHTML = "";
  if (["admin", "supervisor"].includes(BW.user().role)) {
    const items = await BW.json(`/api/v1/review/queue?reason=flagged&place=${encodeURIComponent(place)}&limit=8`);
    for (const item of items) {
      if (!item.event || !item.event.evidence_url) continue;
      const url = await BW.blobUrl(item.event.evidence_url);
      if (url) thumbs.insertAdjacentHTML("beforeend", `<img src="${url}" title="${BW.escape(item.event.bin_category)}">`);
    }
  }
  if (!thumbs.children.length) thumbs.innerHTML = `<span class="muted">none 无</span>`;
  document.body.dataset.ready = "1";
}

(async () => {
  if (!BW.header("dashboard")) return;
  await BW.loadCategories();
  const compounds = await BW.json("/api/v1/places?kind=compound");
  const select = document.getElementById("place");
  select.innerHTML = compounds.map(p => `<option value="${p.code}">${BW.escape(p.name)} (${p.code})</option>`).join("");
  const wanted = new URLSearchParams(location.search).get("place");
  if (wanted) select.value = wanted;
  const today = new Date((await BW.serviceDay()).today + "T00:00:00Z"), from = new Date(today.getTime() - 29 * 86400000);
  document.getElementById("start").value = new URLSearchParams(location.search).get("start") || from.toISOString().slice(0, 10);
  document.getElementById("end").value = new URLSearchParams(location.search).get("end") || today.toISOString().slice(0, 10);
  for (const id of ["place", "start", "end"]) document.getElementById(id).onchange = () => { document.body.dataset.ready = ""; load(); };
  await load();
  setInterval(() => { if (!document.hidden) { document.body.dataset.ready = ""; load(); } }, 20000);  // new drop-offs keep arriving
})();
