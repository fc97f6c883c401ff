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
  document.getElementById("count").textContent = `${rows.length} this month 本月 · ${rows.filter(r => !r.rectified_on).length} open 待整改`;
  document.getElementById("list").innerHTML = `<tr><th>Day 日期</th><th>Place 地点</th><th>Kind 类型</th><th>Inspector 检查人</th><th>Findings 问题</th><th>Rectified 整改</th></tr>` +
    (rows.map(r => `<tr data-id="${r.id}"><td>${r.day}</td><td>${BW.escape(r.place)}</td><td>${r.kind}</td><td>${BW.escape(r.inspector)}</td>
      <td>${BW.escape(r.findings)}</td><td>${r.rectified_on ?? `<button data-fix="${r.id}">rectified today 今日已整改</button>`}</td></tr>`).join("") ||
     `<tr><td colspan="6" class="muted">none 无</td></tr>`);
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
  } catch (e) {
    error.textContent = e.message;
  }
  await list();
};

(async () => {
  if (!BW.header("inspections")) return;
  const places = [...await BW.json("/api/v1/places?kind=compound"), ...await BW.json("/api/v1/places?kind=station")];
  document.getElementById("place").innerHTML = places.map(p => `<option value="${p.code}">${BW.escape(p.name)} (${p.code})</option>`).join("");
  const wanted = new URLSearchParams(location.search).get("place");
  if (wanted) document.getElementById("place").value = wanted;
  const day = await BW.serviceDay();
  document.getElementById("day").value = day.today;
  document.getElementById("month").value = day.month;
  for (const id of ["place", "month"]) document.getElementById(id).onchange = () => { document.body.dataset.ready = ""; list(); };
  await list();
})();
