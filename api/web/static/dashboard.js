// A compound's rates over a period, from /api/v1/stats/*; charts are plain SVG.
"use strict";

const pct = v => v === null || v === undefined ? "–" : (100 * v).toFixed(1) + "%";

function trend(buckets) {
  const svg = document.getElementById("trend");
  const days = buckets.filter(b => b.accuracy !== null);
  if (!days.length) { svg.innerHTML = `<text x="10" y="100">no drop-offs 暂无数据</text>`; return; }
  const x = i => 40 + (days.length === 1 ? 220 : (i * 460) / (days.length - 1));
  const y = v => 180 - v * 160;
  const grid = [0, 0.5, 1].map(v => `<line x1="40" x2="500" y1="${y(v)}" y2="${y(v)}" stroke="#e3e7eb"/><text x="4" y="${y(v) + 4}">${v * 100}%</text>`).join("");
  const line = days.map((b, i) => `${i ? "L" : "M"}${x(i)},${y(b.accuracy)}`).join(" ");
  const dots = days.map((b, i) => `<circle cx="${x(i)}" cy="${y(b.accuracy)}" r="3" fill="#1565c0"><title>${b.start.slice(0, 10)} ${pct(b.accuracy)}</title></circle>`).join("");
  const labels = [0, days.length - 1].map(i => `<text x="${x(i) - 20}" y="196">${days[i].start.slice(5, 10)}</text>`).join("");
  svg.innerHTML = grid + `<path d="${line}" fill="none" stroke="#1565c0" stroke-width="2"/>` + dots + labels;
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
  document.getElementById("participation").textContent = pct(summary.participation);
  document.getElementById("participation-detail").textContent = `${summary.participating_households} / ${summary.registered_households} households`;
  document.getElementById("accuracy").textContent = pct(t.accuracy);
  document.getElementById("accuracy").dataset.value = t.accuracy ?? "";
  document.getElementById("accuracy-detail").textContent = `${t.correct} of ${t.scored} scored`;
  document.getElementById("corrected").textContent = pct(c.accuracy);
  document.getElementById("corrected-detail").textContent = c.low === null ? "" : `95%: ${pct(c.low)} – ${pct(c.high)} (${c.audited} audited)`;
  document.getElementById("purity").textContent = pct(summary.kitchen_purity);
  document.getElementById("dropoffs").textContent = `${t.dropoffs} drop-offs, ${t.identified} identified`;
  trend(summary.buckets);
  bars("contamination", summary.by_category.map(r => ({ label: (BW.categories[r.category] || {}).zh || r.category,
    value: r.contamination || 0, colour: (BW.categories[r.category] || {}).hex || "#888" })), pct);
  const byHour = Array(24).fill(0);
  for (const b of hourly.buckets) byHour[Number(b.start.slice(11, 13))] += b.dropoffs;  // the service's local hour
  bars("hours", byHour.map((v, h) => ({ label: String(h), value: v, colour: "#5c7cfa" })), v => String(v));
  document.getElementById("follow").innerHTML = `<tr><th>Household</th><th>Drop-offs</th><th>Accuracy</th><th>Points</th></tr>` +
    (follow.map(h => `<tr><td>${BW.escape(h.household)}</td><td>${h.dropoffs}</td><td>${pct(h.accuracy)}</td><td>${h.points}</td></tr>`).join("") ||
     `<tr><td colspan="4" class="muted">none 无</td></tr>`);
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
  BW.header("dashboard");
  await BW.loadCategories();
  const compounds = await BW.json("/api/v1/places?kind=compound");
  const select = document.getElementById("place");
  select.innerHTML = compounds.map(p => `<option value="${p.code}">${BW.escape(p.name)} (${p.code})</option>`).join("");
  const wanted = new URLSearchParams(location.search).get("place");
  if (wanted) select.value = wanted;
  const today = new Date(), from = new Date(today.getTime() - 29 * 86400000);
  document.getElementById("start").value = new URLSearchParams(location.search).get("start") || from.toISOString().slice(0, 10);
  document.getElementById("end").value = new URLSearchParams(location.search).get("end") || today.toISOString().slice(0, 10);
  for (const id of ["place", "start", "end"]) document.getElementById(id).onchange = () => { document.body.dataset.ready = ""; load(); };
  await load();
})();
