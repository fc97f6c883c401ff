// One colour scale per rate, everywhere (map, assessment, dashboard): the bands of the street's
// assessment scheme (GET /api/v1/assessment/scheme), painted from one palette. A value takes the
// colour of the first band whose `at_least` it reaches, as the service scores it
// (api/assessment/score.py). Loaded after common.js.
"use strict";

BW.colours = {
  // the one palette: the scheme's colour names, and no data (or no bands for the rate)
  palette: { green: "#2e7d32", yellow: "#f9a825", red: "#c62828", none: "#9e9e9e" },
  // which of the scheme's indicators bands each rate the pages show: the model's accuracy
  // (raw, on the map and the dashboard) is banded like the audit-corrected accuracy
  indicatorOf: { participation: "participation", accuracy: "corrected_accuracy",
                 corrected_accuracy: "corrected_accuracy", kitchen_purity: "kitchen_purity",
                 reports_handled: "reports_handled", inspections: "inspections" },
  _schemes: {},
  // the scheme a street runs, for the street or any place under it: {street, source, scheme}
  scheme(code) {
    if (!BW.colours._schemes[code]) {
      BW.colours._schemes[code] = BW.json(`/api/v1/assessment/scheme?place=${encodeURIComponent(code)}`);
    }
    return BW.colours._schemes[code];
  },
  // The schemes for everything under a district or street (each street may run its own):
  // {all: [scheme, …], forCompound(code) → scheme}. One request per street, not per compound.
  async under(code, kind) {
    if (kind !== "district") {
      const one = await BW.colours.scheme(code);
      return { all: [one], forCompound: () => one };
    }
    const q = k => BW.json(`/api/v1/places?kind=${k}&under=${encodeURIComponent(code)}&limit=10000`);
    const [streets, communities, compounds] = await Promise.all([q("street"), q("community"), q("compound")]);
    const parent = Object.fromEntries([...communities, ...compounds].map(p => [p.code, p.parent]));
    const schemes = Object.fromEntries(await Promise.all(
      streets.map(async s => [s.code, await BW.colours.scheme(s.code)])));
    const streetOf = c => {
      let at = c;
      for (let hops = 0; at && !(at in schemes) && hops < 8; hops++) at = parent[at];
      return at;
    };
    return { all: Object.values(schemes), forCompound: c => schemes[streetOf(c)] || null };
  },
  bands(scheme, rate) {
    const indicator = scheme && scheme.scheme.indicators[BW.colours.indicatorOf[rate] || rate];
    return indicator ? indicator.bands : null;
  },
  // the colour name of a value under a rate's bands: green, yellow, red, or none
  band(scheme, rate, value) {
    const bands = BW.colours.bands(scheme, rate);
    if (!bands || value === null || value === undefined) return "none";
    const found = bands.find(b => value >= b.at_least);
    return found ? found.colour : "none";
  },
  // Why a rate has no value (so no colour): the service's reasons (api/stats/correction.py,
  // api/assessment/indicators.py) in the chosen language; one it does not know stays as data.
  why(reason) {
    if (!reason) return "";
    const known = [[/^not enough audits \((\d+)\)$/, "colour.why_audits"], [/^no scored drop-offs$/, "colour.why_no_scored"],
                   [/^not enough reviewed flag samples \((\d+)\)$/, "colour.why_flag_samples"],
                   [/^no kitchen drop-offs$/, "colour.why_no_kitchen"], [/^no registered households$/, "colour.why_no_households"],
                   [/^no reports due$/, "colour.why_no_reports"], [/^the scheme expects no inspections$/, "colour.why_no_inspections"],
                   [/^not measured$/, "colour.why_not_measured"]];
    for (const [pattern, key] of known) {
      const found = reason.match(pattern);
      if (found) return BW.t(key, { n: found[1] === undefined ? "" : BW.num(Number(found[1])) });
    }
    return BW.d(reason);
  },
  // The months a page offers (a <select>: the browser's own month picker speaks the browser's
  // language, not the page's), newest first: the service's month and 23 before it, written as
  // the chosen locale writes a month (a date: data, like the times BW.time writes).
  monthOptions(select, current, wanted) {
    const [cy, cm] = current.split("-").map(Number);
    const months = Array.from({ length: 24 }, (_, k) => {
      const at = new Date(Date.UTC(cy, cm - 1 - k, 1));
      return at.toISOString().slice(0, 7);
    });
    if (wanted && /^\d{4}-\d{2}$/.test(wanted) && !months.includes(wanted)) months.push(wanted);
    const label = m => new Intl.DateTimeFormat(BW.lang(), { year: "numeric", month: "2-digit", timeZone: "UTC" })
      .format(new Date(m + "-01T00:00:00Z"));
    select.innerHTML = months.sort().reverse().map(m => `<option value="${m}" data-d>${label(m)}</option>`).join("");
    select.value = wanted && months.includes(wanted) ? wanted : current;
  },
  hex(name) { return BW.colours.palette[name] || BW.colours.palette.none; },
  of(scheme, rate, value) { return BW.colours.hex(BW.colours.band(scheme, rate, value)); },
  // a band's bound as a percentage, with as many digits as it needs (0.9 → 90 %, 0.725 → 72.5 %)
  _bound(v) {
    const digits = [0, 1, 2].find(d => Math.abs(Math.round(v * 100 * 10 ** d) - v * 100 * 10 ** d) < 1e-6);
    return BW.pct(v, digits ?? 2);
  },
  // each band, highest first: "≥ 90 %", "75–90 %", "< 75 %" (signs and numbers in the chosen
  // locale; no words, so no message: one made of placeholders would let the language check pass
  // any text with a dash in it)
  labels(bands) {
    const bound = BW.colours._bound;
    return bands.map((b, i) => {
      const text = bands.length === 1 ? BW.t("colour.any")
        : i === 0 ? `≥ ${bound(b.at_least)}`
        : i === bands.length - 1 ? `< ${bound(bands[i - 1].at_least)}`
        : `${bound(b.at_least)}–${bound(bands[i - 1].at_least)}`;
      return { colour: b.colour, text };
    });
  },
  chip(colour, text) {
    return `<span class="chip" data-band="${colour}"><i style="background:${BW.colours.hex(colour)}"></i>${text}</span>`;
  },
  // a legend of a rate's bands (and the no-data grey) in the chosen language
  legend(scheme, rate, withNoData = true) {
    const bands = BW.colours.bands(scheme, rate);
    if (!bands) {
      return BW.colours.chip("none", BW.t("colour.no_bands", { scheme: BW.d(scheme ? scheme.scheme.name : "–") }));
    }
    const chips = BW.colours.labels(bands).map(l => BW.colours.chip(l.colour, l.text));
    if (withNoData) chips.push(BW.colours.chip("none", BW.t("common.no_data")));
    return chips.join("");
  },
};

// the chips' look, once for every page that loads this file
document.head.insertAdjacentHTML("beforeend", `<style>
  .chip { display: inline-flex; align-items: center; gap: 4px; margin-right: 10px; white-space: nowrap; }
  .chip i, i.swatch { display: inline-block; width: 11px; height: 11px; border-radius: 50%; flex: none; }
</style>`);
