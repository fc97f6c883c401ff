// Registered models: card metrics, states, canary stations; promote and roll back; drift.
"use strict";

const pct = v => v === null || v === undefined ? "–" : (100 * v).toFixed(1) + "%";
let picked = null;

async function move(version, state, stations = []) {
  const response = await BW.api(`/api/v1/models/${encodeURIComponent(version)}/state`, { method: "POST", json: { state, stations } });
  const body = await response.json();
  document.getElementById("status").textContent = response.ok ? `${version} is now ${body.state}` : (body.detail || "refused");
  picked = version;
  await load();
}

function actions(m) {
  const id = BW.escape(m.version);
  if (m.state === "candidate") return `<input placeholder="ST1, ST2" data-stations="${id}"><button data-act="canary" data-v="${id}">Canary 试点</button>`;
  if (m.state === "canary") return `<button data-act="active" data-v="${id}">Promote 全面启用</button><button data-act="candidate" data-v="${id}">Withdraw 撤回</button>`;
  if (m.state === "retired") return `<button data-act="active" data-v="${id}">Roll back to this 回滚</button>`;
  return `<button data-act="retired" data-v="${id}">Retire 停用</button>`;
}

async function drift(version) {
  picked = version;
  document.getElementById("which").textContent = version;
  for (const row of document.querySelectorAll("tr[data-version]")) row.classList.toggle("picked", row.dataset.version === version);
  const rows = await BW.json(`/api/v1/models/${encodeURIComponent(version)}/drift`);
  const sign = v => v === null ? "–" : (v >= 0 ? "+" : "") + (100 * v).toFixed(1) + " pts";
  document.getElementById("drift").innerHTML = `<tr><th>Station 投放点</th><th class="num">Drop-offs</th><th class="num">Flag rate 混投率</th>
    <th class="num">before 之前</th><th class="num">Mean score 置信</th><th class="num">before 之前</th><th class="num">Drift 漂移</th></tr>` +
    (rows.map(r => `<tr><td>${BW.escape(r.station)}</td><td class="num">${r.events}</td><td class="num">${pct(r.flag_rate)}</td>
      <td class="num">${pct(r.baseline_flag_rate)}</td><td class="num">${pct(r.mean_score)}</td><td class="num">${pct(r.baseline_mean_score)}</td>
      <td class="num">${sign(r.score_drift)}</td></tr>`).join("") || `<tr><td colspan="7" class="muted">not promoted yet, or no drop-offs 暂无</td></tr>`);
}

async function rollout(version) {
  // the picked model beside the active one over the same days (canaries, mostly)
  const table = document.getElementById("rollout");
  const response = await BW.api(`/api/v1/models/${encodeURIComponent(version)}/rollout`);
  if (!response.ok) { table.innerHTML = `<tr><td class="muted">no other active model to compare 无可对比</td></tr>`; return; }
  const r = await response.json();
  document.getElementById("rollout-window").textContent = `${r.start.slice(0, 16)} → ${r.end.slice(0, 16)}`;
  const rows = [["Drop-offs 投放", "events", String], ["Flag rate 混投率", "flag_rate", pct], ["Reviewed 已审", "reviewed", String],
    ["Overturned 推翻率", "overturn_rate", pct], ["Mean confidence 平均置信", "mean_confidence", pct], ["10th pct confidence", "confidence_p10", pct]];
  const bars = h => { const top = Math.max(1, ...h); return h.map(n => `<span title="${n}" style="display:inline-block;width:6px;margin-right:1px;background:#5c7cfa;height:${Math.round(24 * n / top)}px"></span>`).join(""); };
  table.innerHTML = `<tr><th></th><th class="num">${BW.escape(r.model.version)}</th><th class="num">${BW.escape(r.active.version)} (active)</th></tr>` +
    rows.map(([name, key, show]) => `<tr><td>${name}</td><td class="num">${show(r.model[key])}</td><td class="num">${show(r.active[key])}</td></tr>`).join("") +
    `<tr><td>Confidence 0→1 置信分布</td><td class="num">${bars(r.model.confidence_histogram)}</td><td class="num">${bars(r.active.confidence_histogram)}</td></tr>`;
}

async function stations() {
  const rows = await BW.json("/api/v1/stations/drift");
  const num = v => v === null ? "–" : v.toFixed(2);
  document.getElementById("stations").innerHTML = `<tr><th>Station 投放点</th><th class="num">Items recent</th><th class="num">reference</th>
    <th class="num">Confidence PSI</th><th class="num">Category PSI</th><th class="num">Mean conf. now</th><th class="num">before</th><th>Status 状态</th></tr>` +
    (rows.map(r => `<tr data-station="${BW.escape(r.station)}"><td>${BW.escape(r.station)}</td><td class="num">${r.recent_items}</td><td class="num">${r.reference_items}</td>
      <td class="num">${num(r.confidence_psi)}</td><td class="num">${num(r.category_psi)}</td><td class="num">${pct(r.recent_mean_confidence)}</td>
      <td class="num">${pct(r.reference_mean_confidence)}</td><td class="${r.drifting ? "error" : "muted"}">${r.drifting ? "⚠ " : ""}${BW.escape(r.reason)}</td></tr>`).join("") ||
     `<tr><td colspan="8" class="muted">no stations 暂无</td></tr>`);
}

async function load() {
  const models = await BW.json("/api/v1/models");
  const metric = (m, k) => pct(m.metrics[k]);
  document.getElementById("models").innerHTML = `<tr><th>Version 版本</th><th>State 状态</th><th>Stations 投放点</th>
    <th class="num">Category acc.</th><th class="num">Macro recall</th><th class="num">ECE</th><th>sha256</th><th></th></tr>` +
    models.map(m => `<tr data-version="${BW.escape(m.version)}"><td><a href="#" data-drift="${BW.escape(m.version)}">${BW.escape(m.version)}</a></td>
      <td class="state ${m.state}">${m.state}</td><td>${m.state === "active" ? "all others 其余全部" : BW.escape(m.stations.join(", ") || "–")}</td>
      <td class="num">${metric(m, "test_category_accuracy")}</td><td class="num">${metric(m, "test_category_macro_recall")}</td>
      <td class="num">${metric(m, "test_ece")}</td><td class="muted">${m.sha256.slice(0, 12)}</td><td>${actions(m)}</td></tr>`).join("");
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
