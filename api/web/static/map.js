// The stations of a street or district as points coloured by their compound's accuracy.
// Drawn on their own (no map tiles): the page works on a network without internet.
"use strict";

const colour = a => a === null || a === undefined ? "#9e9e9e" : a >= 0.9 ? "#2e7d32" : a >= 0.75 ? "#f9a825" : "#c62828";

async function load() {
  const place = document.getElementById("place").value, month = document.getElementById("month").value;
  if (!place || !month) return;
  const [y, m] = month.split("-").map(Number);
  const end = `${month}-${String(new Date(Date.UTC(y, m, 0)).getUTCDate()).padStart(2, "0")}`;
  const [stations, ranks] = await Promise.all([
    BW.json(`/api/v1/places?kind=station&under=${encodeURIComponent(place)}`),
    BW.json(`/api/v1/stats/rankings?place=${encodeURIComponent(place)}&start=${month}-01&end=${end}`)]);
  const byCompound = Object.fromEntries(ranks.map(r => [r.place, r]));
  const located = stations.filter(s => s.lat !== null && s.lon !== null);
  const svg = document.getElementById("map");
  if (!located.length) { svg.innerHTML = `<text x="40" y="60">No station has coordinates · 暂无坐标 (add lat, lon to the place import)</text>`; document.body.dataset.ready = "1"; return; }
  const lats = located.map(s => s.lat), lons = located.map(s => s.lon);
  const [minLat, maxLat, minLon, maxLon] = [Math.min(...lats), Math.max(...lats), Math.min(...lons), Math.max(...lons)];
  const kx = Math.cos((minLat + maxLat) / 2 * Math.PI / 180);  // metres per degree of longitude shrink
  const spanX = Math.max((maxLon - minLon) * kx, 1e-4), spanY = Math.max(maxLat - minLat, 1e-4);
  const scale = Math.min(880 / spanX, 440 / spanY);
  const x = lon => 60 + ((lon - minLon) * kx) * scale + (880 - spanX * scale) / 2;
  const yy = lat => 500 - (lat - minLat) * scale - (440 - spanY * scale) / 2;
  const metres = 111320 * (200 / scale);  // what 200 px are on the ground
  svg.innerHTML = `<line x1="40" y1="540" x2="240" y2="540" stroke="#1d2329" stroke-width="2"/>
    <text x="40" y="532">${metres >= 1000 ? (metres / 1000).toFixed(1) + " km" : Math.round(metres) + " m"}</text>` +
    located.map(s => {
      const rank = byCompound[s.parent] || {};
      return `<a href="/dashboard?place=${encodeURIComponent(s.parent)}" data-station="${BW.escape(s.code)}">
        <circle cx="${x(s.lon)}" cy="${yy(s.lat)}" r="11" fill="${colour(rank.accuracy)}" stroke="#fff" stroke-width="2">
        <title>${BW.escape(s.name)} · ${BW.escape(s.parent)} · ${rank.accuracy == null ? "no data" : (100 * rank.accuracy).toFixed(1) + "%"}</title></circle>
        <text x="${x(s.lon) + 14}" y="${yy(s.lat) + 4}">${BW.escape(s.parent)} ${rank.accuracy == null ? "" : (100 * rank.accuracy).toFixed(0) + "%"}</text></a>`;
    }).join("");
  document.body.dataset.ready = "1";
}

(async () => {
  if (!BW.header("map")) return;
  const nodes = [...await BW.json("/api/v1/places?kind=district"), ...await BW.json("/api/v1/places?kind=street")];
  document.getElementById("place").innerHTML = nodes.map(p => `<option value="${p.code}">${BW.escape(p.name)} (${p.code})</option>`).join("");
  const params = new URLSearchParams(location.search);
  if (params.get("place")) document.getElementById("place").value = params.get("place");
  document.getElementById("month").value = params.get("month") || (await BW.serviceDay()).month;
  for (const id of ["place", "month"]) document.getElementById(id).onchange = () => { document.body.dataset.ready = ""; load(); };
  await load();
})();
