// Registered models: card metrics, states, canary stations; promote and roll back; drift.
"use strict";

const pct = v => BW.pct(v);
let picked = null;

function say(text, ok) {
  const status = document.getElementById("status");
  status.innerHTML = text;
  status.className = "status " + (ok ? "ok" : "error");
}

async function move(version, state, stations = []) {
  const response = await BW.api(`/api/v1/models/${encodeURIComponent(version)}/state`, { method: "POST", json: { state, stations } });
  const body = await response.json().catch(() => ({}));
  if (response.ok) say(BW.t("models.moved", { version: BW.d(version), state: BW.t("models.state." + body.state) }), true);
  else say(BW.t("common.refused", { why: BW.d(body.detail || response.statusText) }), false);
  picked = version;
  await load();
}

function actions(m, activeCount) {
  const id = BW.escape(m.version);
  const button = (act, key) => `<button data-act="${act}" data-v="${id}">${BW.t(key)}</button>`;
  if (m.state === "candidate") return `<input placeholder="${BW.t("models.canary_stations")}" data-stations="${id}">${button("canary", "models.canary")}`;
  if (m.state === "canary") return button("active", "models.promote") + button("candidate", "models.withdraw");
  if (m.state === "retired") return button("active", "models.roll_back");
  // the only active model cannot be retired: devices would have nothing to run
  if (activeCount <= 1) return `<button data-act="retired" data-v="${id}" disabled title="${BW.t("models.retire_only")}">${BW.t("models.retire")}</button>`;
  return button("retired", "models.retire");
}

async function drift(version) {
  picked = version;
  document.getElementById("which").textContent = version;
  for (const row of document.querySelectorAll("tr[data-version]")) row.classList.toggle("picked", row.dataset.version === version);
  const rows = await BW.json(`/api/v1/models/${encodeURIComponent(version)}/drift`);
  const sign = v => v === null ? "–" : BW.t("models.points", { v: (v >= 0 ? "+" : "") + BW.num(100 * v, 1) });
  const head = [["common.station", ""], ["models.dropoffs", "num"], ["models.flag_rate", "num"], ["models.flag_rate_before", "num"],
                ["models.mean_conf_since", "num"], ["models.mean_conf_before", "num"], ["models.drift", "num"]];
  document.getElementById("drift").innerHTML = `<tr>${head.map(([k, c]) => `<th class="${c}">${BW.t(k)}</th>`).join("")}</tr>` +
    (rows.map(r => `<tr><td>${BW.d(r.station)}</td><td class="num">${BW.num(r.events)}</td><td class="num">${pct(r.flag_rate)}</td>
      <td class="num">${pct(r.baseline_flag_rate)}</td><td class="num">${pct(r.mean_score)}</td><td class="num">${pct(r.baseline_mean_score)}</td>
      <td class="num">${sign(r.score_drift)}</td></tr>`).join("") || `<tr><td colspan="7" class="muted">${BW.t("models.not_promoted")}</td></tr>`);
}

async function rollout(version) {
  // the picked model beside the active one over the same days (canaries, mostly)
  const table = document.getElementById("rollout");
  const response = await BW.api(`/api/v1/models/${encodeURIComponent(version)}/rollout`);
  if (!response.ok) {
    table.innerHTML = `<tr><td class="muted">${BW.t("models.nothing_to_compare")}</td></tr>`;
    document.getElementById("rollout-window").textContent = "";
    return;
  }
  const r = await response.json();
  document.getElementById("rollout-window").textContent = `${BW.time(r.start)} → ${BW.time(r.end)}`;
  const count = v => BW.num(v);
  const rows = [["models.dropoffs", "events", count], ["models.flag_rate", "flag_rate", pct], ["models.reviewed", "reviewed", count],
    ["models.overturn_rate", "overturn_rate", pct], ["models.mean_conf_since", "mean_confidence", pct], ["models.confidence_p10", "confidence_p10", pct]];
  const bars = h => { const top = Math.max(1, ...h); return h.map(n => `<span title="${n}" style="display:inline-block;width:6px;margin-right:1px;background:#5c7cfa;height:${Math.round(24 * n / top)}px"></span>`).join(""); };
  table.innerHTML = `<tr><th></th><th class="num">${BW.d(r.model.version)}</th><th class="num">${BW.d(r.active.version)} ${BW.t("models.active_suffix")}</th></tr>` +
    rows.map(([key, field, show]) => `<tr><td>${BW.t(key)}</td><td class="num">${show(r.model[field])}</td><td class="num">${show(r.active[field])}</td></tr>`).join("") +
    `<tr><td>${BW.t("models.confidence_histogram")}</td><td class="num">${bars(r.model.confidence_histogram)}</td><td class="num">${bars(r.active.confidence_histogram)}</td></tr>`;
}

function driftStatus(r) {
  // said from the numbers (the service's own `reason` is English): moved, too few, or stable
  const said = [];
  if (r.confidence_psi === null || r.category_psi === null) said.push(BW.t("models.drift.too_few"));
  if (r.confidence_psi !== null && r.confidence_psi >= 0.25) said.push(BW.t("models.drift.confidence", { psi: BW.num(r.confidence_psi, 2) }));
  if (r.category_psi !== null && r.category_psi >= 0.25) said.push(BW.t("models.drift.category", { psi: BW.num(r.category_psi, 2) }));
  return said.length ? said.join("; ") : BW.t("models.drift.stable");
}

async function stations() {
  const rows = await BW.json("/api/v1/stations/drift");
  const num = v => BW.num(v, 2);
  const head = [["common.station", ""], ["models.items_recent", "num"], ["models.items_reference", "num"], ["models.confidence_psi", "num"],
                ["models.category_psi", "num"], ["models.mean_conf_recent", "num"], ["models.mean_conf_reference", "num"], ["models.status", ""]];
  document.getElementById("stations").innerHTML = `<tr>${head.map(([k, c]) => `<th class="${c}">${BW.t(k)}</th>`).join("")}</tr>` +
    (rows.map(r => `<tr data-station="${BW.escape(r.station)}"><td>${BW.d(r.station)}</td><td class="num">${BW.num(r.recent_items)}</td><td class="num">${BW.num(r.reference_items)}</td>
      <td class="num">${num(r.confidence_psi)}</td><td class="num">${num(r.category_psi)}</td><td class="num">${pct(r.recent_mean_confidence)}</td>
      <td class="num">${pct(r.reference_mean_confidence)}</td><td class="${r.drifting ? "error" : "muted"}" title="${BW.escape(r.reason)}">${r.drifting ? "⚠ " : ""}${driftStatus(r)}</td></tr>`).join("") ||
     `<tr><td colspan="8" class="muted">${BW.t("models.no_stations")}</td></tr>`);
}

async function load() {
  const models = await BW.json("/api/v1/models");
  const activeCount = models.filter(m => m.state === "active").length;
  const metric = (m, k) => pct(m.metrics[k]);
  const head = [["models.version", ""], ["models.state", ""], ["models.stations", ""], ["models.test_accuracy", "num"],
                ["models.test_macro_recall", "num"], ["models.test_ece", "num"], ["", ""], ["", ""]];
  document.getElementById("models").innerHTML = `<tr>${head.map(([k, c]) => `<th class="${c}">${k ? BW.t(k) : ""}</th>`).join("")}</tr>` +
    models.map(m => `<tr data-version="${BW.escape(m.version)}"><td><a href="#" data-drift="${BW.escape(m.version)}">${BW.d(m.version)}</a></td>
      <td class="state ${m.state}">${BW.t("models.state." + m.state)}</td><td>${m.state === "active" ? BW.t("models.all_others") : BW.d(m.stations.join(", ") || "–")}</td>
      <td class="num">${metric(m, "test_category_accuracy")}</td><td class="num">${metric(m, "test_category_macro_recall")}</td>
      <td class="num">${metric(m, "test_ece")}</td><td class="muted"><bdi title="sha256">${m.sha256.slice(0, 12)}</bdi></td><td>${actions(m, activeCount)}</td></tr>`).join("");
  for (const b of document.querySelectorAll("button[data-act]")) {
    b.onclick = () => {
      const input = document.querySelector(`input[data-stations="${b.dataset.v}"]`);
      const stations = input ? input.value.split(/[ ,]+/).filter(Boolean) : [];
      move(b.dataset.v, b.dataset.act, stations);
    };
  }
  for (const a of document.querySelectorAll("a[data-drift]")) a.onclick = (e) => { e.preventDefault(); drift(a.dataset.drift); rollout(a.dataset.drift); };
  const first = picked || (models.find(m => m.state === "canary") || models.find(m => m.state === "active") || models[0] || {}).version;
  if (first) { await drift(first); await rollout(first); }
  await stations();
  document.body.dataset.ready = "1";
}

(async () => {
  if (!BW.header("models")) return;
  await load();
})();
