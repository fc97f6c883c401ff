// Inspections (检查): record a guidance visit or an undercover check of a compound or station,
// list the month's, and note when findings were put right. The assessment counts them.
"use strict";

function monthBounds(month) {
  const [y, m] = month.split("-").map(Number);
  const last = new Date(Date.UTC(y, m, 0)).getUTCDate();
  return [`${month}-01`, `${month}-${String(last).padStart(2, "0")}`];
}

async function list() {
  const place = document.getElementById("place").value, month = document.getElementById("month").value;
  const [start, end] = monthBounds(month);
  const rows = await BW.json(`/api/v1/inspections?place=${encodeURIComponent(place)}&start=${start}&end=${end}`);
  const today = (await BW.serviceDay()).today;
  document.getElementById("count").textContent = BW.t("inspections.count", { n: rows.length, open: rows.filter(r => !r.rectified_on).length });
  const head = ["common.day", "common.place", "inspections.kind", "inspections.inspector", "inspections.findings", "inspections.rectified"];
  document.getElementById("list").innerHTML = `<tr>${head.map(k => `<th>${BW.t(k)}</th>`).join("")}</tr>` +
    (rows.map(r => `<tr data-id="${r.id}"><td>${r.day}</td><td>${BW.d(r.place)}</td><td>${BW.t("inspections.kind." + r.kind)}</td><td>${BW.d(r.inspector)}</td>
      <td>${BW.d(r.findings)}</td><td>${r.rectified_on ?? `<button data-fix="${r.id}">${BW.t("inspections.rectified_today")}</button>`}</td></tr>`).join("") ||
     `<tr><td colspan="6" class="muted">${BW.t("common.none")}</td></tr>`);
  for (const button of document.querySelectorAll("button[data-fix]")) {
    button.onclick = async () => {
      document.body.dataset.ready = "";
      await BW.json(`/api/v1/inspections/${button.dataset.fix}`, { method: "PATCH", json: { rectified_on: today } });
      await list();
    };
  }
  document.body.dataset.ready = "1";
}

document.getElementById("new").onsubmit = async (event) => {
  event.preventDefault();
  const error = document.getElementById("error");
  error.textContent = "";
  document.body.dataset.ready = "";
  const rectified = document.getElementById("rectified").value;
  try {
    await BW.json("/api/v1/inspections", { method: "POST", json: {
      place: document.getElementById("place").value, day: document.getElementById("day").value,
      kind: document.getElementById("kind").value, inspector: document.getElementById("inspector").value,
      findings: document.getElementById("findings").value, rectified_on: rectified || null } });
    document.getElementById("findings").value = "";
    document.getElementById("rectified").value = "";
    error.className = "muted";
    error.textContent = BW.t("inspections.recorded");
  } catch (e) {
    error.className = "error";
    error.innerHTML = BW.t("common.refused", { why: BW.d(e.message) });
  }
  await list();
};

(async () => {
  if (!BW.header("inspections")) return;
  const places = [...await BW.json("/api/v1/places?kind=compound"), ...await BW.json("/api/v1/places?kind=station")];
  document.getElementById("place").innerHTML = places.map(p => `<option value="${p.code}" data-d>${BW.escape(p.name)} (${p.code})</option>`).join("");
  const wanted = new URLSearchParams(location.search).get("place");
  if (wanted) document.getElementById("place").value = wanted;
  const day = await BW.serviceDay();
  document.getElementById("day").value = day.today;
  document.getElementById("month").value = day.month;
  for (const id of ["place", "month"]) document.getElementById(id).onchange = () => { document.body.dataset.ready = ""; list(); };
  await list();
})();
