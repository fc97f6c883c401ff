// The compounds of a street or district by name, each with its accuracy for the month, at the
// mean of its stations' coordinates, coloured by the bands of its street's assessment scheme
// (colours.js); the stations as small markers. Drawn on their own (no map tiles): the page
// works on a network without internet.
"use strict";

const view = { data: null };
const RATE = "accuracy";  // the compound's accuracy this month (rankings), banded like corrected accuracy

function legend(schemes) {
  // one line of bands per distinct scale (streets of a district may run different schemes)
  const scales = new Map();
  for (const s of schemes) {
    const key = JSON.stringify(BW.colours.bands(s, RATE));
    if (!scales.has(key)) scales.set(key, s);
  }
  const lines = [...scales.values()].map(s => (scales.size > 1 ? `${BW.d(s.scheme.name)}: ` : "") +
    BW.colours.legend(s, RATE, false)).join(" · ");
  document.getElementById("legend").innerHTML =
    `<span class="rate">${BW.t("map.legend_rate")}</span><span>${lines}${BW.colours.chip("none", BW.t("common.no_data"))}</span>
     <span class="marks"><span class="mark"><svg width="16" height="16"><circle cx="8" cy="8" r="6" fill="#fff" stroke="#1d2329" stroke-width="2"/></svg>${BW.t("map.compound_marker")}</span>
     <span class="mark"><svg width="12" height="12"><circle cx="6" cy="6" r="3.5" fill="#263238" stroke="#fff"/></svg>${BW.t("map.station_marker")}</span></span>`;
}

function scaleBar(pxPerMetre, y) {
  // a round distance about 100–160 px long
  const steps = [10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000];
  const metres = [...steps].reverse().find(m => m * pxPerMetre <= 160) || steps[0];
  const w = metres * pxPerMetre;
  const words = metres >= 1000 ? BW.t("map.kilometres", { n: BW.num(metres / 1000) }) : BW.t("map.metres", { n: BW.num(metres) });
  return `<g id="scale" data-metres="${metres}"><path d="M20,${y - 6} V${y} H${20 + w} V${y - 6}" fill="none" stroke="#1d2329" stroke-width="2"/>
    <text x="20" y="${y - 10}">${words}</text></g>`;
}

const overlap = (a, b) => a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;

function placeLabels(svg, width, height) {
  // greedy: each label (top to bottom) takes the first spot beside its marker that overlaps
  // no label placed before it and no marker; else the spot that overlaps least
  const markers = [...svg.querySelectorAll("a[data-compound] circle.compound")].map(c => {
    const r = Number(c.getAttribute("r")), cx = Number(c.getAttribute("cx")), cy = Number(c.getAttribute("cy"));
    return { x: cx - r, y: cy - r, width: 2 * r, height: 2 * r };
  });
  const placed = [];
  const groups = [...svg.querySelectorAll("g.label")].sort((a, b) => a.dataset.cy - b.dataset.cy);
  for (const g of groups) {
    const cx = Number(g.dataset.cx), cy = Number(g.dataset.cy);
    const box = g.querySelector("text").getBBox();
    const w = box.width + 8, h = box.height + 4;
    const spots = [[18, -h / 2], [-18 - w, -h / 2], [-w / 2, -18 - h], [-w / 2, 18]];
    for (let k = 1; k <= 6; k++) spots.push([18, -h / 2 + k * (h + 2)], [18, -h / 2 - k * (h + 2)],
                                            [-18 - w, -h / 2 + k * (h + 2)], [-18 - w, -h / 2 - k * (h + 2)]);
    let best = null;
    for (const [dx, dy] of spots) {
      const spot = { x: cx + dx, y: cy + dy, width: w, height: h };
      const outside = spot.x < 0 || spot.y < 0 || spot.x + w > width || spot.y + h > height;
      const hits = [...placed, ...markers].filter(b => overlap(spot, b)).length + (outside ? 10 : 0);
      if (!best || hits < best.hits) best = { spot, hits };
      if (!hits) break;
    }
    const { spot } = best;
    placed.push(spot);
    g.querySelector("rect").setAttribute("x", spot.x);
    g.querySelector("rect").setAttribute("y", spot.y);
    g.querySelector("rect").setAttribute("width", w);
    g.querySelector("rect").setAttribute("height", h);
    const text = g.querySelector("text");
    text.setAttribute("x", spot.x + 4);
    text.setAttribute("y", spot.y + 2 - box.y);  // the baseline: box.y is above it (text drawn at y 0)
    g.dataset.nudged = String(Math.hypot(spot.x + w / 2 - cx, spot.y + h / 2 - cy) > w / 2 + 24);
    if (g.dataset.nudged === "true") {  // far from its marker: a leader line back to it
      const lx = Math.max(spot.x, Math.min(cx, spot.x + w)), ly = Math.max(spot.y, Math.min(cy, spot.y + h));
      g.insertAdjacentHTML("afterbegin", `<line x1="${cx}" y1="${cy}" x2="${lx}" y2="${ly}" stroke="#5f6b76"/>`);
    }
  }
}

function draw() {
  const svg = document.getElementById("map");
  if (!view.data) return;
  const { stations, compounds, byCompound, under } = view.data;
  const width = Math.max(svg.clientWidth, 280), height = Math.max(svg.clientHeight, 280);
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  const located = stations.filter(s => s.lat !== null && s.lon !== null);
  const spots = compounds.map(c => {
    const own = located.filter(s => s.parent === c.code);
    return own.length ? { ...c, lat: own.reduce((a, s) => a + s.lat, 0) / own.length,
                          lon: own.reduce((a, s) => a + s.lon, 0) / own.length } : null;
  }).filter(Boolean);
  const missing = compounds.filter(c => !spots.some(s => s.code === c.code));
  document.getElementById("unlocated").innerHTML = missing.length
    ? BW.t("map.unlocated", { names: missing.map(c => BW.d(c.name)).join(BW.lang() === "en" ? ", " : "、") }) : "";
  if (!located.length) {
    svg.innerHTML = `<text x="20" y="40">${BW.t("map.no_coordinates")}</text>`;
    return;
  }
  const lats = located.map(s => s.lat), lons = located.map(s => s.lon);
  const [minLat, maxLat, minLon, maxLon] = [Math.min(...lats), Math.max(...lats), Math.min(...lons), Math.max(...lons)];
  const kx = Math.cos((minLat + maxLat) / 2 * Math.PI / 180);  // a degree of longitude shrinks away from the equator
  const padX = Math.min(170, width / 4), padTop = 40, padBottom = 60;
  const innerW = width - 2 * padX, innerH = height - padTop - padBottom;
  const spanX = Math.max((maxLon - minLon) * kx, 1e-4), spanY = Math.max(maxLat - minLat, 1e-4);
  const scale = Math.min(innerW / spanX, innerH / spanY);  // px per degree of latitude
  const x = lon => padX + ((lon - minLon) * kx) * scale + (innerW - spanX * scale) / 2;
  const y = lat => padTop + innerH - (lat - minLat) * scale - (innerH - spanY * scale) / 2;
  const compoundMarks = spots.map(c => {
    const rank = byCompound[c.code] || {};
    const value = rank[RATE] ?? null;
    const scheme = under.forCompound(c.code);
    const band = BW.colours.band(scheme, RATE, value);
    const [cx, cy] = [x(c.lon), y(c.lat)];
    const title = BW.t(value === null ? "map.compound_title_no_data" : "map.compound_title",
      { name: BW.escape(c.name), rate: BW.pct(value), n: BW.num(rank.dropoffs ?? 0) });
    return `<a href="/dashboard?place=${encodeURIComponent(c.code)}" data-compound="${BW.escape(c.code)}" data-band="${band}">
      <title>${title}</title>
      <circle class="compound" cx="${cx}" cy="${cy}" r="13" fill="${BW.colours.hex(band)}" stroke="#fff" stroke-width="3"/>
      <g class="label" data-cx="${cx}" data-cy="${cy}"><rect rx="4"/><text data-d>${BW.escape(c.name)} <tspan font-weight="700">${BW.pct(value)}</tspan></text></g></a>`;
  }).join("");
  const stationMarks = located.map(s => `<a href="/dashboard?place=${encodeURIComponent(s.parent)}" data-station="${BW.escape(s.code)}">
      <title>${BW.escape(s.name)}</title>
      <circle class="station" cx="${x(s.lon)}" cy="${y(s.lat)}" r="4" fill="#263238" stroke="#fff" stroke-width="1.5"/></a>`).join("");
  svg.innerHTML = compoundMarks + stationMarks + scaleBar(scale / 111320, height - 16);
  placeLabels(svg, width, height);
}

async function load() {
  const select = document.getElementById("place");
  const place = select.value, month = document.getElementById("month").value;
  if (!place || !month) return;
  const kind = select.selectedOptions[0].dataset.kind;
  const [y, m] = month.split("-").map(Number);
  const end = `${month}-${String(new Date(Date.UTC(y, m, 0)).getUTCDate()).padStart(2, "0")}`;
  const under = encodeURIComponent(place);
  const [stations, compounds, ranks, schemes] = await Promise.all([
    BW.json(`/api/v1/places?kind=station&under=${under}&limit=10000`),
    BW.json(`/api/v1/places?kind=compound&under=${under}&limit=10000`),
    BW.json(`/api/v1/stats/rankings?place=${under}&start=${month}-01&end=${end}`),
    BW.colours.under(place, kind)]);
  view.data = { stations, compounds, byCompound: Object.fromEntries(ranks.map(r => [r.place, r])), under: schemes };
  legend(schemes.all);
  draw();
  document.body.dataset.ready = "1";
}

(async () => {
  if (!BW.header("map")) return;
  document.title = `${BW.t("app.name")} · ${BW.t("nav.map")}`;
  const nodes = [...await BW.json("/api/v1/places?kind=district"), ...await BW.json("/api/v1/places?kind=street")];
  document.getElementById("place").innerHTML = nodes.map(p =>
    `<option value="${BW.escape(p.code)}" data-kind="${p.kind}" data-d>${BW.escape(p.name)} (${BW.escape(p.code)})</option>`).join("");
  const params = new URLSearchParams(location.search);
  if (params.get("place")) document.getElementById("place").value = params.get("place");
  BW.colours.monthOptions(document.getElementById("month"), (await BW.serviceDay()).month, params.get("month"));
  for (const id of ["place", "month"]) document.getElementById(id).onchange = () => { document.body.dataset.ready = ""; load(); };
  let pending = null;
  window.addEventListener("resize", () => { clearTimeout(pending); pending = setTimeout(draw, 150); });
  await load();
})();
