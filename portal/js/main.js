// The portal's entry point: config.json (API base URL, optional theme), the token, the views.
import { Api } from "./api.js";
import { h, replace } from "./dom.js";
import { operatorView } from "./operator.js";
import { claims, forgetToken, scopes, takeToken } from "./session.js";
import { endpointsView, endpointView, messagesView, messageView } from "./tenant.js";
import { ui } from "./ui.js";

// The theme variables config.json may set (docs/portal.md#theming): nothing else reaches the CSSOM.
const THEME_VARIABLES = ["bg", "surface", "fg", "muted", "accent", "accent-fg", "ok", "warn", "danger", "border", "font", "radius", "focus"];

const main = document.getElementById("main");


function applyTheme(theme) {
  if (!theme || typeof theme !== "object") return;
  for (const name of THEME_VARIABLES) {
    if (typeof theme[name] === "string") document.documentElement.style.setProperty(`--hs-${name}`, theme[name]);
  }
}

async function loadConfig() {
  const response = await fetch("config.json", { cache: "no-store", credentials: "omit" });
  if (!response.ok) throw new Error(`config.json: HTTP ${response.status}`);
  const config = await response.json();
  if (typeof config.apiBaseUrl !== "string" || !/^https?:\/\//.test(config.apiBaseUrl)) {
    throw new Error("config.json: apiBaseUrl must be an http(s) URL");
  }
  return config;
}

function signedOut(message) {
  replace(main, h("section", { class: "card", "aria-labelledby": "signed-out" },
    h("h2", { id: "signed-out" }, "Not signed in"),
    h("p", {}, message)));
}

async function start() {
  let config;
  try {
    config = await loadConfig();
  } catch (error) {
    ui.fail(error);
    replace(main);
    return;
  }
  applyTheme(config.theme);
  const token = takeToken();
  const claimSet = claims(token);
  if (!token || !claimSet || typeof claimSet.sub !== "string") {
    signedOut("Open the portal from your account: it signs you in with a link.");
    return;
  }
  const session = {
    api: new Api(config.apiBaseUrl, token),
    subject: claimSet.sub,
    operator: claimSet.sub === "operator" || scopes(claimSet).has("operator"),
    scopes: scopes(claimSet),
    expires: typeof claimSet.exp === "number" ? new Date(claimSet.exp * 1000) : null,
    portalUrl: window.location.origin + window.location.pathname,
  };
  document.getElementById("who").textContent = session.operator
    ? "Operator"
    : `Tenant ${session.subject}${session.expires ? ` · session ends ${session.expires.toLocaleTimeString()}` : ""}`;
  document.getElementById("nav").hidden = false;
  const operatorLink = document.querySelector('[data-view="operator"]');
  operatorLink.hidden = !session.operator;
  for (const view of ["endpoints", "messages"]) {
    document.querySelector(`[data-view="${view}"]`).parentElement.hidden = session.operator;
  }
  const signOut = document.getElementById("sign-out");
  signOut.hidden = false;
  signOut.addEventListener("click", () => {
    forgetToken();
    window.location.hash = "";
    window.location.reload();
  });
  window.addEventListener("hashchange", () => route(session));
  if (!window.location.hash) window.location.hash = session.operator ? "#/operator" : "#/endpoints";
  else route(session);
}

async function route(session) {
  ui.clear();
  const parts = window.location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  for (const link of document.querySelectorAll("[data-view]")) {
    if (link.dataset.view === parts[0]) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  const views = {
    endpoints: () => (parts[1] ? endpointView(session, parts[1]) : endpointsView(session)),
    messages: () => (parts[1] ? messageView(session, parts[1]) : messagesView(session)),
    operator: () => operatorView(session),
  };
  const view = views[parts[0]] || views[session.operator ? "operator" : "endpoints"];
  ui.say("Loading…");
  try {
    const node = await view();
    replace(main, node);
    const heading = main.querySelector("h2");
    if (heading) {
      heading.setAttribute("tabindex", "-1");
      heading.focus();
    }
    ui.say("");
  } catch (error) {
    ui.say("");
    ui.fail(error);
    replace(main);
  }
}

start();
