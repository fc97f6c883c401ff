// Public, no sign-in: a resident's error report (纠错) from the poster at the bins. The station
// comes from the link (?place=ST1); a photo (downscaled here, so it goes through a weak
// network), an optional note; sent with one key for all its tries, so a retry never stores it
// twice; the reference shown at the end. Plain JS for the in-app browsers people use.
"use strict";

const TRIES = 4;
const state = { place: null, photo: null, key: null, days: 180 };

function newKey() {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, b => b.toString(16).padStart(2, "0")).join("");
}

function tell(html, kind) {
  const status = document.getElementById("status");
  status.innerHTML = html;
  status.className = kind === "ok" ? "muted" : "error";
}

// a phone photo is 3-8 MB: sent at most 1600 px on its long side, as a JPEG
function shrink(file) {
  return new Promise(resolve => {
    const url = URL.createObjectURL(file);
    const img = new Image();
    img.onload = () => {
      const scale = Math.min(1, 1600 / Math.max(img.naturalWidth, img.naturalHeight));
      const canvas = document.createElement("canvas");
      canvas.width = Math.round(img.naturalWidth * scale);
      canvas.height = Math.round(img.naturalHeight * scale);
      canvas.getContext("2d").drawImage(img, 0, 0, canvas.width, canvas.height);
      URL.revokeObjectURL(url);
      canvas.toBlob(blob => resolve(blob || file), "image/jpeg", 0.85);
    };
    img.onerror = () => { URL.revokeObjectURL(url); resolve(file); };  // sent as it is
    img.src = url;
  });
}

const wait = ms => new Promise(resolve => setTimeout(resolve, ms));

async function send(event) {
  event.preventDefault();
  const text = document.getElementById("text").value.trim();
  if (!state.photo && !text) { tell(BW.t("report.need_something")); return; }
  const button = document.getElementById("send");
  button.disabled = true;
  state.key = state.key || newKey();  // one key for every try of this report
  try {
    for (let n = 1; n <= TRIES; n++) {
      tell(BW.t("report.sending", { n, of: TRIES }), "ok");
      const body = new FormData();
      body.append("place", state.place);
      body.append("text", text);
      body.append("key", state.key);
      if (state.photo) body.append("image", state.photo, "photo.jpg");
      let response = null;
      try {
        response = await fetch("/api/v1/public/reports", { method: "POST", body });
      } catch (e) {
        response = null;  // no answer: the network
      }
      if (response && response.ok) { done(await response.json()); return; }
      if (response && response.status === 429) { tell(BW.t("report.too_many")); return; }
      if (response && response.status < 500) {
        const answer = await response.json().catch(() => ({}));
        const why = typeof answer.detail === "string" ? answer.detail : response.statusText;
        tell(BW.t("common.refused", { why: BW.d(why) }));
        return;
      }
      if (n < TRIES) {
        const seconds = 2 ** n;
        tell(BW.t("report.retrying", { s: seconds }), "ok");
        await wait(seconds * 1000);
      }
    }
    tell(BW.t("report.failed"));
  } finally {
    button.disabled = false;
  }
}

function done(answer) {
  document.getElementById("form").hidden = true;
  document.getElementById("code").textContent = answer.code || "";
  document.getElementById("done").hidden = false;
  document.body.dataset.ready = "sent";
}

function again() {
  state.photo = null;
  state.key = null;
  document.getElementById("text").value = "";
  document.getElementById("photo").value = "";
  document.getElementById("preview").textContent = BW.t("report.photo_hint");
  document.getElementById("status").textContent = "";
  document.getElementById("done").hidden = true;
  document.getElementById("form").hidden = false;
}

document.getElementById("photo").onchange = async () => {
  const file = document.getElementById("photo").files[0];
  if (!file) return;
  state.photo = await shrink(file);
  state.key = null;  // another photo: another report
  const preview = document.getElementById("preview");
  preview.innerHTML = "";
  const img = document.createElement("img");
  img.alt = "";
  img.src = URL.createObjectURL(state.photo);
  preview.appendChild(img);
};
document.getElementById("form").onsubmit = send;
document.getElementById("another").onclick = again;

(async () => {
  BW.translate();
  document.getElementById("lang-slot").replaceWith(BW.langButton());
  const params = new URLSearchParams(location.search);
  const code = (params.get("place") || params.get("station") || "").trim();
  const form = document.getElementById("form");
  if (!code) {
    tell(BW.t("report.no_place"));
    document.getElementById("send").disabled = true;
  } else {
    const response = await fetch(`/api/v1/public/places/${encodeURIComponent(code)}`).catch(() => null);
    if (response && response.ok) {
      const place = await response.json();
      state.place = place.code;
      state.days = place.retention_days;
      document.getElementById("place").textContent = `${place.name} (${place.code})`;
    } else if (response && response.status === 404) {
      tell(BW.t("report.unknown_place"));
      document.getElementById("send").disabled = true;
    } else {
      state.place = code;  // the network, now: the report can still go once it is back
      document.getElementById("place").textContent = code;
    }
  }
  document.getElementById("privacy").textContent = BW.t("report.privacy", { days: state.days });
  form.hidden = false;
  document.body.dataset.ready = "1";
})();
