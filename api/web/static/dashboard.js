// A compound's rates over a period, from /api/v1/stats/*; charts are plain SVG. The rates take
// their colours from the bands of the compound's street's assessment scheme (colours.js), as on
// the map and the assessment table.
"use strict";

const pct = v => BW.pct(v);
const day = iso => iso.slice(5);  // "MM-DD" of a service day (no words: the same in both languages)

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

const LINES = { accuracy: "#1565c0", corrected: "#0d47a1", participation: "#6a1b9a" };

function trend(series) {
  // participation, raw accuracy and audit-corrected accuracy (with its 95 % band) per week
  const svg = document.getElementById("trend");
  document.getElementById("trend-key").innerHTML =
    `<span style="color:${LINES.accuracy}"><b>●</b> ${BW.t("dashboard.line_accuracy")}</span>` +
    `<span style="color:${LINES.corrected}"><b>○</b> ${BW.t("dashboard.line_corrected")}</span>` +
    `<span style="color:${LINES.participation}"><b>—</b> ${BW.t("dashboard.line_participation")}</span>`;
  const points = series.filter(p => p.accuracy !== null || p.participation !== null);
  if (!points.length) { svg.innerHTML = `<text x="10" y="100">${BW.t("dashboard.no_dropoffs")}</text>`; return; }
  const x = i => 44 + (series.length === 1 ? 230 : (i * 456) / (series.length - 1));
  const y = v => 180 - v * 165;
  const grid = [0, 0.5, 1].map(v => `<line x1="44" x2="500" y1="${y(v)}" y2="${y(v)}" stroke="#e3e7eb"/><text x="2" y="${y(v) + 4}">${BW.pct(v, 0)}</text>`).join("");
  const path = key => series.map((p, i) => p[key] === null ? null : [x(i), y(p[key])]).filter(Boolean)
    .map(([px, py], i) => `${i ? "L" : "M"}${px},${py}`).join(" ");
  const banded = series.map((p, i) => [i, p]).filter(([, p]) => p.low !== null);
  const band = banded.length ? `<path d="${banded.map(([i, p], k) => `${k ? "L" : "M"}${x(i)},${y(p.high)}`).join(" ")} ${
    [...banded].reverse().map(([i, p]) => `L${x(i)},${y(p.low)}`).join(" ")} Z" fill="${LINES.accuracy}" opacity="0.12"/>` : "";
  const title = p => BW.t("dashboard.week_title", { start: day(p.start), end: day(p.end), accuracy: pct(p.accuracy),
    corrected: pct(p.corrected), low: pct(p.low), high: pct(p.high), participation: pct(p.participation) });
  const dots = series.map((p, i) => p.accuracy === null ? "" : `<circle cx="${x(i)}" cy="${y(p.accuracy)}" r="3" fill="${LINES.accuracy}"><title>${title(p)}</title></circle>`).join("");
  const labels = [0, series.length - 1].map(i => `<text x="${x(i) - 16}" y="197">${day(series[i].end)}</text>`).join("");
  const whiskers = series.map((p, i) => p.low === null ? "" : `<line x1="${x(i) + 5}" x2="${x(i) + 5}" y1="${y(p.low)}" y2="${y(p.high)}" stroke="${LINES.corrected}"/><circle cx="${x(i) + 5}" cy="${y(p.corrected)}" r="3" fill="#fff" stroke="${LINES.corrected}"/>`).join("");
  svg.innerHTML = grid + band + `<path d="${path("corrected")}" fill="none" stroke="${LINES.corrected}" stroke-dasharray="5 4" stroke-width="1.5"/>` +
    `<path d="${path("accuracy")}" fill="none" stroke="${LINES.accuracy}" stroke-width="2"/>` +
    `<path d="${path("participation")}" fill="none" stroke="${LINES.participation}" stroke-width="2"/>` + whiskers + dots + labels;
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
  // rows: {label (escaped), data (whether the label is data), value, colour}
  const svg = document.getElementById(svgId);
  if (!rows.length) { svg.innerHTML = `<text x="10" y="100">${BW.t("common.no_data")}</text>`; return; }
  const max = Math.max(...rows.map(r => r.value), 1e-9);
  const w = 300 / rows.length;
  // a category keeps its bin colour beside its name; the bars stay neutral (green and red
  // are the rates' bands: a green bar must not read as "good")
  const label = (r, x) => (r.swatch ? `<rect x="${x}" y="180" width="9" height="9" rx="2" fill="${r.swatch}"/>` : "") +
    `<text x="${r.swatch ? x + 12 : x}" y="188"${r.data ? " data-d" : ""}>${r.label}</text>`;
  svg.innerHTML = rows.map((r, i) => {
    const h = (r.value / max) * 150;
    return `<rect x="${10 + i * w + 2}" y="${170 - h}" width="${Math.max(1, w - 4)}" height="${h}" fill="${r.colour}"><title>${r.label}: ${fmt(r.value)}</title></rect>` +
      (rows.length <= 6 ? label(r, 10 + i * w + 2) + `<text x="${10 + i * w + 2}" y="${165 - h}">${fmt(r.value)}</text>` :
        (i % 6 === 0 ? label(r, 10 + i * w) : ""));
  }).join("");
}

// a KPI card in its rate's colour, with the bands that colour it
function paint(rate, value, scheme) {
  const card = document.getElementById("kpi-" + rate);
  const band = BW.colours.band(scheme, rate, value);
  card.dataset.band = band;
  card.style.setProperty("--band", BW.colours.hex(band));
  card.querySelector(".bands").innerHTML = BW.colours.legend(scheme, rate, false);
}

async function flagged(place, totals) {
  const thumbs = document.getElementById("thumbs");
  if (!["admin", "supervisor"].includes(BW.user().role)) {
    // offices do not review: the compound's supervisors do; say so, and how many were flagged
    thumbs.innerHTML = `<p class="muted" id="flagged-note" style="margin:0"><span>${BW.t("dashboard.flagged_by_supervisors")}</span>${BW.lang() === "en" ? " " : ""}<span id="flagged-count">${BW.t("dashboard.flagged_count", { n: BW.num(totals.contaminated) })}</span></p>`;
    return;
  }
  const items = await BW.json(`/api/v1/review/queue?reason=flagged&place=${encodeURIComponent(place)}&limit=8`);
  const shown = [];
  for (const item of items) {
    if (!item.event || !item.event.evidence_url) continue;
    const url = await BW.blobUrl(item.event.evidence_url);
    if (!url) continue;
    const when = BW.time(item.event.captured_at);
    shown.push(`<a href="/review?item=${encodeURIComponent(item.id)}" data-item="${BW.escape(item.id)}"
      title="${BW.escape(BW.t("dashboard.open_in_review", { when }))}"><img src="${url}" alt="${BW.escape(BW.t("dashboard.open_in_review", { when }))}"></a>`);
  }
  thumbs.innerHTML = shown.join("") || `<p class="muted" style="margin:0">${BW.t("dashboard.no_flagged")}</p>`;
}

async function load() {
  const place = document.getElementById("place").value;
  const start = document.getElementById("start").value, end = document.getElementById("end").value;
  if (!place) return;
  const q = `place=${encodeURIComponent(place)}&start=${start}&end=${end}`;
  const [summary, hourly, follow, scheme] = await Promise.all([
    BW.json(`/api/v1/stats/summary?${q}`), BW.json(`/api/v1/stats/summary?${q}&bucket=hour`),
    BW.json(`/api/v1/stats/households?${q}&follow_up=true&limit=10`),
    BW.colours.scheme(place).catch(() => null)]);
  const t = summary.totals, c = t.corrected;
  // the month is what an office signs: how many decided audits it still needs for a number
  const today = await BW.serviceDay();
  const monthStart = `${today.month}-01`;
  const month = await BW.json(`/api/v1/stats/summary?place=${encodeURIComponent(place)}&start=${monthStart}&end=${today.today}`);
  const m = month.totals.corrected;
  const audits = document.getElementById("month-audits");
  audits.dataset.needed = m.audits_needed;
  audits.textContent = m.audits_needed
    ? BW.t("dashboard.month_audits_needed", { month: today.month, audited: BW.num(m.audited), needed: BW.num(m.audits_needed) })
    : BW.t("dashboard.month_audits", { month: today.month, audited: BW.num(m.audited) });
  document.getElementById("participation").textContent = pct(summary.participation);
  document.getElementById("participation-detail").textContent = BW.t("dashboard.households_detail",
    { n: BW.num(summary.participating_households), total: BW.num(summary.registered_households) });
  document.getElementById("accuracy").textContent = pct(t.accuracy);
  document.getElementById("accuracy").dataset.value = t.accuracy ?? "";
  document.getElementById("accuracy-detail").textContent = BW.t("dashboard.scored_detail",
    { correct: BW.num(t.correct), scored: BW.num(t.scored) });
  // no corrected number without enough audits: say so, and how many the period still needs
  const corrected = document.getElementById("corrected");
  corrected.innerHTML = c.accuracy === null ? BW.colours.why(c.reason || `not enough audits (${c.audited})`) : pct(c.accuracy);
  corrected.style.fontSize = c.accuracy === null ? "18px" : "";
  document.getElementById("corrected-detail").innerHTML = c.accuracy === null
    ? (c.audits_needed ? BW.t("dashboard.audits_needed", { n: BW.num(c.audits_needed) }) : "")
    : BW.t("dashboard.interval", { low: pct(c.low), high: pct(c.high), n: BW.num(c.audited) });
  document.getElementById("purity").textContent = pct(summary.kitchen_purity);
  document.getElementById("dropoffs").textContent = BW.t("dashboard.dropoffs_detail",
    { dropoffs: BW.num(t.dropoffs), identified: BW.num(t.identified) });
  paint("participation", summary.participation, scheme);
  paint("accuracy", t.accuracy, scheme);
  paint("corrected_accuracy", c.accuracy, scheme);
  paint("kitchen_purity", summary.kitchen_purity, scheme);
  document.getElementById("scheme").innerHTML = scheme
    ? BW.t("dashboard.scheme", { scheme: BW.d(scheme.scheme.name), street: BW.d(scheme.street) }) : "";
  trend(await weekly(place, start, end));
  bars("contamination", summary.by_category.map(r => ({ label: BW.escape(BW.catName(r.category)), data: true,
    value: r.contamination || 0, colour: "#78909c", swatch: (BW.categories[r.category] || {}).hex || "#888" })), pct);
  const byHour = Array(24).fill(0);
  for (const b of hourly.buckets) byHour[Number(b.start.slice(11, 13))] += b.dropoffs;  // the service's local hour
  bars("hours", byHour.map((v, h) => ({ label: String(h), value: v, colour: "#5c7cfa" })), v => BW.num(v));
  document.getElementById("follow").innerHTML = `<tr><th>${BW.t("dashboard.household")}</th><th>${BW.t("dashboard.dropoffs")}</th>` +
    `<th>${BW.t("dashboard.accuracy")}</th><th>${BW.t("dashboard.points")}</th>` +
    `<th title="${BW.escape(BW.t("dashboard.pending_title"))}">${BW.t("dashboard.pending")}</th></tr>` +
    (follow.map(h => `<tr data-household="${BW.escape(h.household)}"><td>${BW.d(h.household)}</td><td>${BW.num(h.dropoffs)}</td>` +
      `<td>${pct(h.accuracy)}</td><td>${BW.num(h.points)}</td><td class="pending">${h.pending_deductions
        ? `${BW.num(h.pending_deductions)} (${BW.num(h.pending_points)})` : ""}</td></tr>`).join("") ||
     `<tr><td colspan="5" class="muted">${BW.t("common.none")}</td></tr>`);
  await flagged(place, t);
  document.body.dataset.ready = "1";
}

(async () => {
  if (!BW.header("dashboard")) return;
  document.title = `${BW.t("app.name")} · ${BW.t("nav.dashboard")}`;
  await BW.loadCategories();
  const compounds = await BW.json("/api/v1/places?kind=compound");
  const select = document.getElementById("place");
  select.innerHTML = compounds.map(p => `<option value="${BW.escape(p.code)}" data-d>${BW.escape(p.name)} (${BW.escape(p.code)})</option>`).join("");
  const wanted = new URLSearchParams(location.search).get("place");
  if (wanted) select.value = wanted;
  const today = new Date((await BW.serviceDay()).today + "T00:00:00Z"), from = new Date(today.getTime() - 29 * 86400000);
  document.getElementById("start").value = new URLSearchParams(location.search).get("start") || from.toISOString().slice(0, 10);
  document.getElementById("end").value = new URLSearchParams(location.search).get("end") || today.toISOString().slice(0, 10);
  for (const id of ["place", "start", "end"]) document.getElementById(id).onchange = () => { document.body.dataset.ready = ""; load(); };
  await load();
  setInterval(() => { if (!document.hidden) { document.body.dataset.ready = ""; load(); } }, 20000);  // new drop-offs keep arriving
})();
