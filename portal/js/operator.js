// The operator's view: every tenant, endpoints worst health first, dead-letter queue depths, and a
// link into each tenant's own view (a tenant token minted with the operator token).
import { segment } from "./api.js";
import { h } from "./dom.js";
import { healthCell, verdict } from "./health.js";
import { act } from "./ui.js";

export const TENANT_SCOPES = ["endpoints:read", "endpoints:write", "messages:read", "messages:replay"];
const ORDER = ["failing", "breaker open", "breaker half-open", "degraded", "disabled", "no traffic", "healthy"];

function summaryOf(endpoint) {
  const h = endpoint.health || {};
  return {
    rate: typeof h.successRate === "number" ? h.successRate : null,
    total: h.attempts || 0,
    breaker: (endpoint.circuitBreaker && endpoint.circuitBreaker.state) || "closed",
  };
}

function rank(endpoint) {
  const index = ORDER.indexOf(verdict(summaryOf(endpoint), endpoint.enabled));
  return index < 0 ? 0 : index;
}

export async function operatorView(session) {
  const [tenants, queues] = await Promise.all([
    session.api.call("GET", "/operator/tenants"),
    session.api.call("GET", "/operator/dead-letter-queues"),
  ]);
  const endpoints = (tenants.data || []).flatMap((t) => (t.endpoints || []).map((e) => ({ ...e, tenantId: t.tenantId })));
  endpoints.sort((a, b) => rank(a) - rank(b) || String(a.tenantId).localeCompare(String(b.tenantId)));
  return h("section", { "aria-labelledby": "operator-heading" },
    h("h2", { id: "operator-heading" }, "Operator"),
    h("h3", {}, "Dead-letter queues"),
    h("table", { class: "data", id: "dlq-table" },
      h("caption", { class: "visually-hidden" }, "Messages waiting in each dead-letter queue"),
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Queue"), h("th", { scope: "col" }, "Messages"))),
      h("tbody", {}, (queues.data || []).map((q) => h("tr", {},
        h("td", { class: "mono" }, q.name),
        h("td", {}, h("span", { class: `badge badge-${q.depth ? "danger" : "ok"}` }, String(q.depth ?? "?"))))))),
    h("h3", {}, "Tenants"),
    h("table", { class: "data", id: "tenants-table" },
      h("caption", { class: "visually-hidden" }, "Tenants and their endpoints"),
      h("thead", {}, h("tr", {}, ["Tenant", "Endpoints", "Portal"].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, (tenants.data || []).map((t) => h("tr", {},
        h("td", { class: "mono" }, t.tenantId),
        h("td", {}, String((t.endpoints || []).length)),
        h("td", {}, openPortalButton(session, t.tenantId)))))),
    h("h3", {}, "Endpoints by health"),
    h("table", { class: "data", id: "operator-endpoints" },
      h("caption", { class: "visually-hidden" }, "Every endpoint, least healthy first"),
      h("thead", {}, h("tr", {}, ["Tenant", "URL", "Health", "Consecutive failures"].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, endpoints.map((e) => h("tr", {},
        h("td", { class: "mono" }, e.tenantId),
        h("td", { class: "mono" }, e.url),
        h("td", {}, healthCell(summaryOf(e), e.enabled)),
        h("td", {}, String(e.consecutiveFailures ?? 0)))))));
}

function openPortalButton(session, tenantId) {
  const button = h("button", { type: "button", class: "secondary", "data-tenant": tenantId }, "Open portal");
  button.addEventListener("click", async () => {
    const minted = await act(button, () => session.api.call("POST", `/tenants/${segment(tenantId)}/tokens`,
      { scopes: TENANT_SCOPES, expiresInSeconds: 3600 }), `Opened tenant ${tenantId}'s portal in a new tab.`);
    if (!minted) return;
    // A new tab with no opener and no referrer; the click is still within the user's activation.
    const link = h("a", { href: `${session.portalUrl}?token=${encodeURIComponent(minted.token)}`, target: "_blank", rel: "noopener noreferrer" });
    link.click();
  });
  return button;
}
