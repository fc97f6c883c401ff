// Public, no sign-in: a resident looks up the drop-off behind the code on their feedback slip,
// sees whether its deduction is pending or stands, and appeals a contaminated verdict.
"use strict";

BW.translate();
document.getElementById("lang-slot").replaceWith(BW.langButton());

async function lookUp(code) {
  const error = document.getElementById("error");
  error.textContent = "";
  const response = await fetch(`/api/v1/public/appeals/${encodeURIComponent(code.trim())}`);
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    error.innerHTML = response.status === 404 ? BW.t("appeal.not_found") : BW.t("common.refused", { why: BW.d(body.detail || response.statusText) });
    document.getElementById("result").hidden = true;
    document.body.dataset.ready = "1";
    return;
  }
  await BW.loadCategories().catch(() => {});
  document.getElementById("day").innerHTML = `${BW.escape(body.day)} · ${BW.d(body.station)}`;
  document.getElementById("bin").innerHTML = BW.catLabel(body.bin_category);
  document.getElementById("verdict").textContent =
    `${BW.t("verdict." + body.verdict)} · ${BW.t(body.reviewed ? "appeal.reviewed" : "appeal.by_camera")}`;
  const points = document.getElementById("points");
  if (body.deduction === "pending") {
    const when = body.stands_on ? BW.t("appeal.not_deducted_until", { day: BW.escape(body.stands_on) }) : BW.t("appeal.not_deducted_confirm");
    points.innerHTML = `<span class="pending" id="deduction" data-state="pending">${BW.t("appeal.pending", { points: body.pending_points })}</span> ${when}`;
  } else if (body.deduction === "standing") {
    points.innerHTML = `<span class="standing" id="deduction" data-state="standing">${BW.t("appeal.deducted", { points: body.points })}</span>`;
  } else {
    points.innerHTML = `<span id="deduction" data-state="none">${body.points >= 0 ? "+" : ""}${body.points}</span>`;
  }
  document.getElementById("appeal-state").textContent = BW.t("appeal.state." + body.appeal);
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
    document.getElementById("error").innerHTML = BW.t("common.refused", { why: BW.d(body.detail || response.statusText) });
  }
  await lookUp(code);
  if (response.ok) document.getElementById("sent").textContent = BW.t("appeal.sent");
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
