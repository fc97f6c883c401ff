// Public, no sign-in: a resident looks up the drop-off behind the code on their feedback slip,
// sees whether its deduction is pending or stands, and appeals a contaminated verdict.
"use strict";

const VERDICT = { correct: "correct 分类正确", contaminated: "contaminated 混投", uncertain: "uncertain 待定", empty: "empty 空" };

async function lookUp(code) {
  const error = document.getElementById("error");
  error.textContent = "";
  const response = await fetch(`/api/v1/public/appeals/${encodeURIComponent(code.trim())}`);
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    error.textContent = body.detail || response.statusText;
    document.getElementById("result").hidden = true;
    return;
  }
  await BW.loadCategories().catch(() => {});
  document.getElementById("day").textContent = `${body.day} · ${body.station}`;
  document.getElementById("bin").innerHTML = BW.catLabel(body.bin_category);
  document.getElementById("verdict").textContent = `${VERDICT[body.verdict] || body.verdict}${body.reviewed ? " · reviewed 已复核" : " · by the camera 摄像头判定"}`;
  const points = document.getElementById("points");
  if (body.deduction === "pending") {
    const when = body.stands_on ? `; stands on ${body.stands_on} unless appealed 未申诉则于该日生效` : "; stands only once a supervisor confirms it 督导员确认后生效";
    points.innerHTML = `<span class="pending" id="deduction" data-state="pending">pending 待定: ${body.pending_points}</span> (not deducted yet 尚未扣分${when})`;
  } else if (body.deduction === "standing") {
    points.innerHTML = `<span class="standing" id="deduction" data-state="standing">${body.points} (deducted 已扣分)</span>`;
  } else {
    points.innerHTML = `<span id="deduction" data-state="none">${body.points >= 0 ? "+" : ""}${body.points}</span>`;
  }
  document.getElementById("appeal-state").textContent =
    { none: "none 无", open: "under review 复核中", decided: "decided 已复核" }[body.appeal];
  document.getElementById("appeal").hidden = !body.can_appeal;
  document.getElementById("result").hidden = false;
  document.body.dataset.ready = "1";
}

document.getElementById("find").onsubmit = async (event) => {
  event.preventDefault();
  document.body.dataset.ready = "";
  const code = document.getElementById("code").value;
  history.replaceState(null, "", `/appeal?code=${encodeURIComponent(code.trim())}`);
  await lookUp(code);
};

document.getElementById("appeal").onsubmit = async (event) => {
  event.preventDefault();
  document.body.dataset.ready = "";
  const code = document.getElementById("code").value;
  const response = await fetch("/api/v1/public/appeals", {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ code: code.trim(), text: document.getElementById("text").value }),
  });
  if (!response.ok) {
    const body = await response.json().catch(() => ({}));
    document.getElementById("error").textContent = body.detail || response.statusText;
  }
  await lookUp(code);
};

(async () => {
  const code = new URLSearchParams(location.search).get("code");
  if (code) {
    document.getElementById("code").value = code;
    await lookUp(code);
  } else {
    document.body.dataset.ready = "1";
  }
})();
