// The street's assessment (考核) for a month: every compound scored under its street's scheme,
// each indicator with its colour band (or why it lacks data), the score, the grade and the
// change against last month; ranked by the score, sortable; monthly report downloads. The
// colours and their legend come from the schemes' bands (colours.js), as on the map and the
// dashboard.
"use strict";

const INDICATORS = ["participation", "corrected_accuracy", "kitchen_purity", "reports_handled", "inspections"];
const view = { rows: [], schemes: [], sort: "rank", up: true };

function value(row, key) {
  if (key === "rank") return row.rank ?? 1e9;  // unranked (score withheld) last
  if (key === "place" || key === "name" || key === "grade") return row[key];
  if (key === "score" || key === "change") return row[key];
  const found = row.indicators.find(i => i.key === key);
  return found ? found.value : null;
}

function cell(row, key) {
  const found = row.indicators.find(i => i.key === key);
  if (!found) return `<td class="num lacks" data-key="${key}">${BW.t("assessment.not_in_scheme")}</td>`;
  if (found.value === null) return `<td class="num lacks" data-key="${key}" title="${BW.escape(found.lacks)}">${BW.colours.why(found.lacks)}</td>`;
  // the service's band under the row's scheme, painted from the one palette
  const band = found.colour || "none", hex = BW.colours.hex(band);
  const rests = found.n === null ? "" : ` title="${BW.escape(BW.t("assessment.rests_on", { n: BW.num(found.n) }))}"`;
  return `<td class="num band band-${band}" data-key="${key}" data-band="${band}" style="--band:${hex};--tint:${hex}24"${rests}>` +
    `<i class="swatch"></i>${BW.pct(found.value)}</td>`;
}

function legend() {
  // each scheme the rows are scored under, with every indicator's bands
  const names = [...new Set(view.rows.map(r => r.scheme))];
  document.getElementById("scheme").innerHTML = names.map(name => {
    const scheme = view.schemes.find(s => `${s.scheme.name} (${s.source})` === name);
    const bands = scheme ? INDICATORS.filter(k => scheme.scheme.indicators[k]).map(k =>
      `<span class="indicator"><b>${BW.t("assessment." + k)}</b> ${BW.colours.legend(scheme, k, false)}</span>`).join("") : "";
    // whose scheme: the street's own or the default (the service writes "name (street)")
    const title = scheme ? BW.t(scheme.source === "street" ? "assessment.scheme_street" : "assessment.scheme_default",
      { scheme: BW.d(scheme.scheme.name) })
      : BW.t("assessment.scheme", { scheme: BW.d(name) });
    return `<div>${title}${bands ? "<br>" + bands : ""}</div>`;
  }).join("");
}

function render() {
  const columns = [["rank", "assessment.rank", "num"], ["place", "common.compound", ""], ["name", "assessment.name", ""],
                   ...INDICATORS.map(k => [k, "assessment." + k, "num"]),
                   ["score", "assessment.score", "num"], ["grade", "assessment.grade", ""], ["change", "assessment.change", "num"]];
  const rows = [...view.rows].sort((a, b) => {
    const x = value(a, view.sort), y = value(b, view.sort);
    const order = (x ?? -1) < (y ?? -1) ? -1 : (x ?? -1) > (y ?? -1) ? 1 : 0;
    return view.up ? order : -order;
  });
  const head = columns.map(([key, label, align]) =>
    `<th data-key="${key}" class="${align} ${view.sort === key ? "sorted" + (view.up ? " up" : "") : ""}">${BW.t(label)}</th>`).join("");
  const body = rows.map(r => {
    const change = r.change === null ? "–" : `${r.change >= 0 ? "▲ +" : "▼ "}${BW.num(Math.abs(r.change), 1)}`;
    const score = r.score === null ? `<td class="num lacks" title="${BW.escape(r.reason)}">${BW.t("common.not_enough_data")}</td>`
      : `<td class="num score">${BW.num(r.score, 1)}</td>`;
    return `<tr data-place="${BW.escape(r.place)}"><td class="num">${r.rank ?? "–"}</td>
      <td><a href="/dashboard?place=${encodeURIComponent(r.place)}">${BW.d(r.place)}</a></td><td>${BW.d(r.name)}</td>
      ${INDICATORS.map(key => cell(r, key)).join("")}${score}<td class="grade">${r.grade === null ? "–" : BW.d(r.grade)}</td>
      <td class="num change">${change}</td></tr>`;
  }).join("");
  document.getElementById("table").innerHTML = `<tr>${head}</tr>${body ||
    `<tr><td colspan="${columns.length}" class="muted">${BW.t("assessment.no_compounds")}</td></tr>`}`;
  for (const th of document.querySelectorAll("th")) {
    th.onclick = () => { view.up = view.sort === th.dataset.key ? !view.up : true; view.sort = th.dataset.key; render(); };
  }
  legend();
}

async function load() {
  const select = document.getElementById("place");
  const place = select.value, month = document.getElementById("month").value;
  if (!place || !month) return;
  document.getElementById("status").textContent = "";
  const [rows, under] = await Promise.all([
    BW.json(`/api/v1/assessment?place=${encodeURIComponent(place)}&month=${month}`),
    BW.colours.under(place, select.selectedOptions[0].dataset.kind).catch(() => ({ all: [] }))]);
  view.rows = rows;
  view.schemes = under.all;
  render();
  document.body.dataset.ready = "1";
}

async function download(format) {
  const place = document.getElementById("place").value, month = document.getElementById("month").value;
  const status = document.getElementById("status");
  status.textContent = "";
  const response = await BW.api(`/api/v1/reports/monthly?place=${encodeURIComponent(place)}&month=${month}&format=${format}`);
  if (!response.ok) { status.textContent = BW.t("assessment.download_failed"); return; }
  const link = document.createElement("a");
  link.href = URL.createObjectURL(await response.blob());
  link.download = `binwatch-${place}-${month}.${format}`;
  document.body.appendChild(link);
  link.click();
  link.remove();
}

(async () => {
  if (!BW.header("assessment")) return;
  document.title = `${BW.t("app.name")} · ${BW.t("nav.assessment")}`;
  const nodes = [...await BW.json("/api/v1/places?kind=district"), ...await BW.json("/api/v1/places?kind=street")];
  document.getElementById("place").innerHTML = nodes.map(p =>
    `<option value="${BW.escape(p.code)}" data-kind="${p.kind}" data-d>${BW.escape(p.name)} (${BW.escape(p.code)})</option>`).join("");
  const params = new URLSearchParams(location.search);
  if (params.get("place")) document.getElementById("place").value = params.get("place");
  BW.colours.monthOptions(document.getElementById("month"), (await BW.serviceDay()).month, params.get("month"));
  for (const id of ["place", "month"]) document.getElementById(id).onchange = () => { document.body.dataset.ready = ""; load(); };
  document.getElementById("csv").onclick = () => download("csv");
  document.getElementById("xlsx").onclick = () => download("xlsx");
  await load();
})();
