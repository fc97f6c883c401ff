// Shared by every page: the session token, API calls, the header bar, category names.
"use strict";

const BW = {
  token() { return sessionStorage.getItem("bw.token"); },
  user() { return JSON.parse(sessionStorage.getItem("bw.user") || "null"); },
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
    if (!BW._day) BW._day = BW.json("/api/v1/stats/today");
    return BW._day;
  },
  categories: {},
  async loadCategories() {
    for (const c of await BW.json("/api/v1/taxonomy")) BW.categories[c.code] = c;
  },
  catLabel(code) {
    const c = BW.categories[code];
    if (!c) return code;
    return `<span class="cat"><i style="background:${c.hex}"></i>${c.zh} ${c.en}</span>`;
  },
  pages: [["review", "Review 审核", ["admin", "supervisor"]],
          ["dashboard", "Dashboard 看板", ["admin", "office", "supervisor"]],
          ["map", "Map 地图", ["admin", "office"]],
          ["assessment", "Assessment 考核", ["admin", "office"]],
          ["inspections", "Inspections 检查", ["admin", "office", "supervisor"]],
          ["models", "Models 模型", ["admin", "engineer"]]],
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
    const links = BW.pages.filter(([, , roles]) => roles.includes(user.role))
      .map(([page, label]) => `<a href="/${page}" class="${page === here ? "here" : ""}">${label}</a>`);
    const bar = document.createElement("header");
    bar.className = "bar";
    bar.innerHTML = `<strong>binwatch</strong>${links.join("")}
      <span class="who">${BW.escape(user.username)} · ${BW.escape(user.role)}</span><button id="signout">Sign out 退出</button>`;
    document.body.prepend(bar);
    document.getElementById("signout").onclick = async () => {
      await BW.api("/api/v1/auth/logout", { method: "POST" });
      sessionStorage.clear();
      location.href = "/login";
    };
    const roles = BW.rolesFor("/" + here) || [];
    if (roles.includes(user.role)) return true;
    const main = document.querySelector("main") || document.body;
    main.innerHTML = `<section class="denied" id="denied">
      <p>This page is for ${roles.join(", ")}; you are signed in as ${BW.escape(user.role)}.</p>
      <p>此页面仅限 ${roles.join("、")} 使用；您当前的角色是 ${BW.escape(user.role)}。</p>
      <p><a href="${BW.home(user.role)}">Go to your page 前往您的页面</a></p></section>`;
    document.body.dataset.ready = "denied";
    return false;
  },
  escape(text) {
    return String(text ?? "").replace(/[&<>"]/g, ch => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[ch]));
  },
};
