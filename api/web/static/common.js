// Shared by every page: the session token, API calls, the header bar, category names, and the
// language layer: every UI string comes from the one catalogue (/i18n.js, from messages.json) by
// key; data (place names, labels, category names from profiles) is shown as data, inside <bdi>.
"use strict";

const BW = {
  token() { return sessionStorage.getItem("bw.token"); },
  user() { return JSON.parse(sessionStorage.getItem("bw.user") || "null"); },
  // The pages' language: the signed-in user's choice (kept with the account), else this
  // browser's last choice, else the browser's own language.
  lang() {
    const user = BW.user();
    const chosen = (user && user.language) || localStorage.getItem("bw.lang");
    if (chosen === "en" || chosen === "zh-CN") return chosen;
    return (navigator.language || "").toLowerCase().startsWith("zh") ? "zh-CN" : "en";
  },
  // A catalogue message with {name} filled from params (values put in as given: escape data,
  // or pass it through BW.d). A key the catalogue lacks shows as the key, so tests see it.
  t(key, params = {}, lang = BW.lang()) {
    const texts = (typeof BW_MESSAGES === "object" && BW_MESSAGES[key]) || null;
    if (!texts) { console.error("no message", key); return key; }
    return texts[lang].replace(/\{(\w+)\}/g, (whole, name) => name in params ? String(params[name]) : whole);
  },
  // data shown among UI strings: escaped and isolated, so the language check knows it is data
  d(value) { return `<bdi>${BW.escape(value)}</bdi>`; },
  // fills [data-t] (text), [data-t-placeholder], [data-t-title] and [data-t-aria] under root
  translate(root = document) {
    document.documentElement.lang = BW.lang();
    for (const el of root.querySelectorAll("[data-t]")) el.textContent = BW.t(el.dataset.t);
    for (const el of root.querySelectorAll("[data-t-placeholder]")) el.placeholder = BW.t(el.dataset.tPlaceholder);
    for (const el of root.querySelectorAll("[data-t-title]")) el.title = BW.t(el.dataset.tTitle);
    for (const el of root.querySelectorAll("[data-t-aria]")) el.setAttribute("aria-label", BW.t(el.dataset.tAria));
  },
  async setLang(lang) {
    localStorage.setItem("bw.lang", lang);
    const user = BW.user();
    if (user && BW.token()) {
      const saved = await BW.json("/api/v1/auth/me", { method: "PATCH", json: { language: lang } });
      sessionStorage.setItem("bw.user", JSON.stringify(Object.assign(user, { language: saved.language })));
    }
    location.reload();
  },
  // the other language's button (for pages without the bar: sign-in, residents' pages)
  langButton() {
    const button = document.createElement("button");
    button.type = "button";
    button.id = "lang";
    button.className = "lang";
    button.textContent = BW.t("nav.switch_language");
    button.onclick = () => BW.setLang(BW.lang() === "en" ? "zh-CN" : "en");
    return button;
  },
  // numbers, rates and times in the chosen locale; times in the place's zone (the service's)
  pct(v, digits = 1) {
    if (v === null || v === undefined) return "–";
    return new Intl.NumberFormat(BW.lang(), { style: "percent", minimumFractionDigits: digits,
                                              maximumFractionDigits: digits }).format(v);
  },
  num(v, digits = 0) {
    if (v === null || v === undefined) return "–";
    return new Intl.NumberFormat(BW.lang(), { minimumFractionDigits: digits, maximumFractionDigits: digits }).format(v);
  },
  zone: "Asia/Shanghai",
  time(iso, withSeconds = false) {
    if (!iso) return "–";
    const options = { timeZone: BW.zone, year: "numeric", month: "2-digit", day: "2-digit",
                      hour: "2-digit", minute: "2-digit", hourCycle: "h23" };
    if (withSeconds) options.second = "2-digit";
    return new Intl.DateTimeFormat(BW.lang(), options).format(new Date(iso));
  },
  // Where to go after sign-in: only a path on this site ("/review?x=1"), never "//evil.example",
  // "/\\evil.example" or "https://…" (an open redirect would send a supervisor to a phishing page).
  sameSiteNext(next) {
    if (!next || !next.startsWith("/") || next.startsWith("//") || next.startsWith("/\\")) return null;
    let url;
    try { url = new URL(next, location.origin); } catch (e) { return null; }
    if (url.origin !== location.origin || url.pathname === "/login") return null;
    return url.pathname + url.search + url.hash;
  },
  async api(path, options = {}) {
    const headers = Object.assign({}, options.headers || {});
    if (BW.token()) headers["Authorization"] = "Bearer " + BW.token();
    if (options.json !== undefined) {
      headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(options.json);
    }
    const response = await fetch(path, Object.assign({}, options, { headers }));
    if (response.status === 401 && !path.endsWith("/auth/login")) {
      sessionStorage.clear();
      location.href = "/login?next=" + encodeURIComponent(location.pathname);
      throw new Error("signed out");
    }
    return response;
  },
  async json(path, options) {
    const response = await BW.api(path, options);
    const body = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(body.detail ? JSON.stringify(body.detail) : response.statusText);
    return body;
  },
  async blobUrl(path) {
    const response = await BW.api(path);
    if (!response.ok) return null;
    return URL.createObjectURL(await response.blob());
  },
  _day: null,
  serviceDay() {
    // {timezone, today, month}: the service counts days in its own zone, not the browser's
    if (!BW._day) {
      BW._day = BW.json("/api/v1/stats/today");
      BW._day.then(day => { BW.zone = day.timezone; }, () => {});
    }
    return BW._day;
  },
  categories: {},
  async loadCategories() {
    for (const c of await BW.json("/api/v1/taxonomy")) BW.categories[c.code] = c;
  },
  // a category's name (data, from the taxonomy) in the chosen language, with its colour
  catName(code) {
    const c = BW.categories[code];
    if (!c) return code || "";
    return BW.lang() === "en" ? c.en : c.zh;
  },
  catLabel(code) {
    const c = BW.categories[code];
    if (!c) return BW.d(code);
    return `<span class="cat"><i style="background:${c.hex}"></i><bdi>${BW.escape(c.zh)} ${BW.escape(c.en)}</bdi></span>`;
  },
  pages: [["review", "nav.review", ["admin", "supervisor"]],
          ["dashboard", "nav.dashboard", ["admin", "office", "supervisor"]],
          ["map", "nav.map", ["admin", "office"]],
          ["assessment", "nav.assessment", ["admin", "office"]],
          ["inspections", "nav.inspections", ["admin", "office", "supervisor"]],
          ["models", "nav.models", ["admin", "engineer"]],
          ["stations", "nav.stations", ["admin", "engineer"]]],
  // each role's own page: where sign-in and "/" take it
  home(role) {
    return { office: "/dashboard", engineer: "/models" }[role] || "/review";
  },
  rolesFor(path) {
    const page = BW.pages.find(([name]) => path === "/" + name || path.startsWith("/" + name + "?")
                                          || path.startsWith("/" + name + "#"));
    return page ? page[2] : null;
  },
  // whether the role may open a path of this site: a page of the table (public pages: anyone)
  mayOpen(role, path) {
    const roles = BW.rolesFor(path);
    return roles === null || roles.includes(role);
  },
  // The bar with the pages the user may open. False (and a message in place of the page) when
  // nobody is signed in (off to sign-in) or the user's role may not open this page.
  header(here) {
    const user = BW.user();
    if (!user) { location.href = "/login?next=" + encodeURIComponent(location.pathname + location.search); return false; }
    BW.translate();
    BW.serviceDay().catch(() => {});  // the place's time zone, for times
    const links = BW.pages.filter(([, , roles]) => roles.includes(user.role))
      .map(([page, key]) => `<a href="/${page}" class="${page === here ? "here" : ""}">${BW.t(key)}</a>`);
    const bar = document.createElement("header");
    bar.className = "bar";
    bar.innerHTML = `<strong>${BW.t("app.name")}</strong><nav>${links.join("")}</nav>
      <span class="who">${BW.d(user.username)} · ${BW.t("role." + user.role)}</span>`;
    bar.append(BW.langButton());
    const out = document.createElement("button");
    out.id = "signout";
    out.textContent = BW.t("nav.sign_out");
    bar.append(out);
    document.body.prepend(bar);
    document.getElementById("signout").onclick = async () => {
      await BW.api("/api/v1/auth/logout", { method: "POST" });
      sessionStorage.clear();
      location.href = "/login";
    };
    const roles = BW.rolesFor("/" + here) || [];
    if (roles.includes(user.role)) return true;
    const main = document.querySelector("main") || document.body;
    // said in both languages: whoever opened a link not meant for them may read either
    const say = lang => {
      const names = roles.map(r => BW.t("role." + r, {}, lang)).join(lang === "en" ? ", " : "、");
      const text = BW.t("denied.text", { roles: names, role: BW.t("role." + user.role, {}, lang) }, lang);
      return `<p lang="${lang}">${text}</p><p lang="${lang}"><a href="${BW.home(user.role)}">${BW.t("denied.go_home", {}, lang)}</a></p>`;
    };
    const first = BW.lang(), second = first === "en" ? "zh-CN" : "en";
    main.innerHTML = `<section class="denied" id="denied">${say(first)}${say(second)}</section>`;
    document.body.dataset.ready = "denied";
    return false;
  },
  escape(text) {
    return String(text ?? "").replace(/[&<>"]/g, ch => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[ch]));
  },
};
