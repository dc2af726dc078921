// A tenant's views: endpoints (list, create, edit, secret, test event, replay, attempts) and messages.
import { segment } from "./api.js";
import { field, h, replace, time } from "./dom.js";
import { health, healthCell } from "./health.js";
import { act, ui } from "./ui.js";

const AUTH_TYPES = ["none", "apiKey", "basic", "bearer"];

function base(session) {
  return session.api.tenant(session.subject);
}

function endpointPath(session, endpointId) {
  return `${base(session)}/endpoints/${segment(endpointId)}`;
}

function lines(text) {
  return text.split(/[\n,]/).map((s) => s.trim()).filter(Boolean);
}

// -- endpoints ------------------------------------------------------------------------------------

export async function endpointsView(session) {
  const listing = await session.api.call("GET", `${base(session)}/endpoints?limit=100`);
  const endpoints = listing.data || [];
  const attempts = await Promise.all(
    endpoints.map((e) => session.api.call("GET", `${endpointPath(session, e.id)}/attempts?limit=50`).then((r) => r.data || [], () => [])),
  );
  const rows = endpoints.map((endpoint, index) =>
    h("tr", {},
      h("td", {}, h("a", { href: `#/endpoints/${encodeURIComponent(endpoint.id)}`, class: "endpoint-link" }, endpoint.url)),
      h("td", {}, endpoint.description || ""),
      h("td", {}, (endpoint.eventTypes || []).length ? endpoint.eventTypes.join(", ") : "all"),
      h("td", {}, healthCell(health(attempts[index], endpoint), endpoint.enabled)),
    ));
  return h("section", { "aria-labelledby": "endpoints-heading" },
    h("h2", { id: "endpoints-heading" }, "Endpoints"),
    endpoints.length
      ? h("table", { class: "data", id: "endpoints-table" },
        h("caption", { class: "visually-hidden" }, "Your endpoints and their health"),
        h("thead", {}, h("tr", {}, ["URL", "Description", "Event types", "Health"].map((c) => h("th", { scope: "col" }, c)))),
        h("tbody", {}, rows))
      : h("p", { class: "empty" }, "No endpoints yet."),
    session.scopes.has("endpoints:write") || session.operator ? createForm(session) : null);
}

function endpointFields(endpoint) {
  const e = endpoint || {};
  const auth = e.auth || { type: "none" };
  const controls = {
    url: h("input", { type: "url", name: "url", required: true, value: e.url || "", autocomplete: "off", spellcheck: "false" }),
    description: h("input", { type: "text", name: "description", value: e.description || "", maxlength: "256" }),
    eventTypes: h("input", { type: "text", name: "eventTypes", value: (e.eventTypes || []).join(", "), placeholder: "invoice.paid, order.*" }),
    filter: h("textarea", { name: "filter", rows: "3", spellcheck: "false", placeholder: '{"detail": {"amount": [{"numeric": [">", 100]}]}}' }),
    authType: h("select", { name: "authType" }, AUTH_TYPES.map((t) => h("option", { value: t, selected: t === auth.type }, t))),
    authHeader: h("input", { type: "text", name: "authHeader", value: auth.header || "", autocomplete: "off" }),
    authUsername: h("input", { type: "text", name: "authUsername", value: auth.username || "", autocomplete: "off" }),
    authSecret: h("input", { type: "password", name: "authSecret", autocomplete: "new-password" }),
    headers: h("textarea", { name: "headers", rows: "2", spellcheck: "false", placeholder: "x-team: billing" }),
    rateLimit: h("input", { type: "number", name: "rateLimitPerSecond", min: "1", max: "300", value: e.rateLimitPerSecond ?? "" }),
    timeout: h("input", { type: "number", name: "timeoutSeconds", min: "1", max: "60", value: e.timeoutSeconds ?? "" }),
  };
  controls.filter.value = e.filter ? JSON.stringify(e.filter) : "";
  controls.headers.value = Object.entries(e.headers || {}).map(([k, v]) => `${k}: ${v}`).join("\n");
  if (auth.type && !AUTH_TYPES.includes(auth.type)) {
    controls.authType.appendChild(h("option", { value: auth.type, selected: true }, auth.type));
  }
  const nodes = h("div", { class: "fields" },
    field("URL", controls.url),
    field("Description", controls.description),
    field("Event types", controls.eventTypes, "Comma separated; exact types or prefixes ending in .*; empty: every type."),
    field("Filter", controls.filter, "An event pattern the event must also match (JSON); empty: none."),
    h("fieldset", {},
      h("legend", {}, "Authentication"),
      field("Type", controls.authType),
      field("Header (apiKey)", controls.authHeader),
      field("Username (basic)", controls.authUsername),
      field("Key, password or token", controls.authSecret, endpoint ? "Leave empty to keep the current one." : null)),
    field("Headers", controls.headers, "One name: value per line."),
    field("Rate limit per second", controls.rateLimit, "1-300; empty: the default."),
    field("Timeout seconds", controls.timeout, "1-60; empty: the default."));
  return { controls, nodes };
}

function endpointBody(controls, existing) {
  const body = {
    url: controls.url.value.trim(),
    description: controls.description.value.trim() || null,
    eventTypes: lines(controls.eventTypes.value),
    rateLimitPerSecond: controls.rateLimit.value ? Number(controls.rateLimit.value) : null,
    timeoutSeconds: controls.timeout.value ? Number(controls.timeout.value) : null,
  };
  if (!existing && !body.description) delete body.description;
  const filterText = controls.filter.value.trim();
  try {
    body.filter = filterText ? JSON.parse(filterText) : null;
  } catch (error) {
    throw new Error(`Filter is not valid JSON: ${error.message}`);
  }
  const headers = {};
  for (const line of controls.headers.value.split("\n").map((s) => s.trim()).filter(Boolean)) {
    const colon = line.indexOf(":");
    if (colon < 1) throw new Error(`Headers: "${line}" is not "name: value"`);
    headers[line.slice(0, colon).trim()] = line.slice(colon + 1).trim();
  }
  body.headers = headers;
  const type = controls.authType.value;
  const secret = controls.authSecret.value;
  const current = (existing && existing.auth) || { type: "none" };
  const authChanged = !existing || type !== current.type || secret
    || (type === "apiKey" && controls.authHeader.value !== current.header)
    || (type === "basic" && controls.authUsername.value !== current.username);
  if (authChanged) {
    if (type === "none") body.auth = { type };
    else if (type === "apiKey") body.auth = { type, header: controls.authHeader.value.trim(), value: secret };
    else if (type === "basic") body.auth = { type, username: controls.authUsername.value.trim(), password: secret };
    else if (type === "bearer") body.auth = { type, token: secret };
  }
  if (!existing) {
    for (const key of ["filter", "rateLimitPerSecond", "timeoutSeconds"]) if (body[key] === null) delete body[key];
  }
  return body;
}

function secretReveal(secret) {
  const value = h("code", { class: "secret", id: "secret-value", hidden: true }, secret);
  const toggle = h("button", { type: "button", class: "secondary", "aria-controls": "secret-value", "aria-expanded": "false" }, "Reveal");
  toggle.addEventListener("click", () => {
    value.hidden = !value.hidden;
    toggle.setAttribute("aria-expanded", String(!value.hidden));
    toggle.textContent = value.hidden ? "Reveal" : "Hide";
  });
  const copy = h("button", { type: "button", class: "secondary" }, "Copy");
  copy.addEventListener("click", () => navigator.clipboard.writeText(secret).then(() => ui.say("Secret copied."), (e) => ui.fail(e)));
  return h("div", { class: "card secret-card", id: "secret-card" },
    h("p", {}, "Signing secret (shown this once: store it now; verify deliveries with it):"),
    h("p", { class: "secret-row" }, value, " ", toggle, " ", copy));
}

function createForm(session) {
  const { controls, nodes } = endpointFields(null);
  const submit = h("button", { type: "submit" }, "Create endpoint");
  const result = h("div", { "aria-live": "polite" });
  const form = h("form", { class: "card", "aria-labelledby": "create-heading", id: "create-form" },
    h("h3", { id: "create-heading" }, "Add an endpoint"), nodes, submit, result);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const created = await act(submit, () => session.api.call("POST", `${base(session)}/endpoints`, endpointBody(controls, null)),
      (e) => `Endpoint ${e.id} created.`);
    if (created) {
      replace(result, secretReveal(created.secret),
        h("p", {}, h("a", { href: `#/endpoints/${encodeURIComponent(created.id)}`, id: "created-link" }, "Open the new endpoint")));
    }
  });
  return form;
}

export async function endpointView(session, endpointId) {
  const path = endpointPath(session, endpointId);
  const [endpoint, attemptPage] = await Promise.all([
    session.api.call("GET", path),
    session.api.call("GET", `${path}/attempts?limit=50`),
  ]);
  const attempts = attemptPage.data || [];
  const writable = session.scopes.has("endpoints:write") || session.operator;
  const replayable = session.scopes.has("messages:replay") || session.operator;
  const secretArea = h("div", { "aria-live": "polite" });
  const testArea = h("div", { "aria-live": "polite", id: "test-result" });
  const attemptsArea = h("div", { id: "endpoint-attempts" }, attemptsTable(attempts, "Recent attempts of this endpoint"));
  const readOnly = endpoint.managedBy === "config";

  const actions = h("div", { class: "actions" });
  if (writable) {
    const toggle = h("button", { type: "button", class: "secondary", id: "toggle-enabled" }, endpoint.enabled ? "Disable" : "Enable");
    toggle.addEventListener("click", async () => {
      const updated = await act(toggle, () => session.api.call("PATCH", path, { enabled: !endpoint.enabled }),
        (e) => (e.enabled ? "Endpoint enabled." : "Endpoint disabled."));
      if (updated) window.dispatchEvent(new HashChangeEvent("hashchange"));
    });
    const test = h("button", { type: "button", id: "send-test" }, "Send test event");
    test.addEventListener("click", async () => {
      const result = await act(test, () => session.api.call("POST", `${path}/test`, {}),
        (r) => `Test event ${r.eventId}: ${r.attempt ? r.attempt.outcome : r.status}.`);
      if (!result) return;
      const first = result.attempt ? [{ ...result.attempt, eventId: result.eventId, eventType: result.eventType }] : [];
      replace(testArea, h("h3", {}, "Test event"), first.length ? attemptsTable(first, "The test event's first attempt")
        : h("p", {}, `Queued (${result.status}): its attempt will appear below.`));
      const page = await session.api.call("GET", `${path}/attempts?limit=50`).catch(() => null);
      if (page) replace(attemptsArea, attemptsTable(page.data || [], "Recent attempts of this endpoint"));
    });
    actions.append(toggle, " ", test);
    if (!readOnly) {
      const rotate = h("button", { type: "button", class: "secondary", id: "rotate-secret" }, "Rotate signing secret");
      rotate.addEventListener("click", async () => {
        const rotated = await act(rotate, () => session.api.call("POST", `${path}/rotate-secret`, {}),
          "Secret rotated: the previous one keeps signing for the overlap period.");
        if (rotated) replace(secretArea, secretReveal(rotated.secret));
      });
      actions.append(" ", rotate);
    }
  }

  let editForm = null;
  if (writable && !readOnly) {
    const { controls, nodes } = endpointFields(endpoint);
    const save = h("button", { type: "submit" }, "Save changes");
    editForm = h("form", { class: "card", "aria-labelledby": "edit-heading", id: "edit-form" },
      h("h3", { id: "edit-heading" }, "Edit"), nodes, save);
    editForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      await act(save, () => session.api.call("PATCH", path, endpointBody(controls, endpoint)), "Changes saved.");
    });
  }

  let replayForm = null;
  if (replayable) {
    const since = h("input", { type: "datetime-local", name: "since", required: true });
    const go = h("button", { type: "submit" }, "Replay failed messages");
    replayForm = h("form", { class: "card", "aria-labelledby": "replay-heading" },
      h("h3", { id: "replay-heading" }, "Replay"),
      field("Failed since", since, "Every message that failed for good on this endpoint since then is sent again."),
      go);
    replayForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      const when = new Date(since.value);
      await act(go, () => session.api.call("POST", `${path}/replay`, { since: when.toISOString() }),
        (r) => `Replay queued${r && typeof r.queued === "number" ? `: ${r.queued} messages` : ""}.`);
    });
  }

  const summary = health(attempts, endpoint);
  return h("section", { "aria-labelledby": "endpoint-heading" },
    h("p", {}, h("a", { href: "#/endpoints" }, "← All endpoints")),
    h("h2", { id: "endpoint-heading" }, "Endpoint ", h("span", { class: "mono", id: "endpoint-url" }, endpoint.url)),
    h("dl", { class: "facts" },
      h("dt", {}, "Id"), h("dd", { class: "mono" }, endpoint.id),
      h("dt", {}, "Status"), h("dd", { id: "endpoint-status" }, endpoint.enabled ? "enabled" : `disabled (${endpoint.disabledReason || "manual"})`),
      h("dt", {}, "Health"), h("dd", {}, healthCell(summary, endpoint.enabled)),
      h("dt", {}, "Circuit breaker"), h("dd", {}, (endpoint.circuitBreaker && endpoint.circuitBreaker.state) || "closed"),
      h("dt", {}, "Event types"), h("dd", {}, (endpoint.eventTypes || []).join(", ") || "all"),
      h("dt", {}, "Signing"), h("dd", {}, (endpoint.signing && endpoint.signing.scheme) || "v1"),
      h("dt", {}, "Managed by"), h("dd", {}, endpoint.managedBy || "api")),
    actions, secretArea, testArea,
    editForm, replayForm,
    h("h3", {}, "Recent attempts"),
    attemptsArea);
}

// -- attempts and messages ------------------------------------------------------------------------

function attemptsTable(attempts, caption) {
  if (!attempts.length) return h("p", { class: "empty" }, "No attempts yet.");
  return h("table", { class: "data attempts" },
    h("caption", { class: "visually-hidden" }, caption),
    h("thead", {}, h("tr", {}, ["Time", "Event", "Type", "Outcome", "Status", "Latency", "Response"].map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, attempts.map((a) => h("tr", { class: `outcome-${String(a.outcome || "").replace(/[^a-z]/g, "")}` },
      h("td", {}, time(a.at)),
      h("td", {}, a.eventId ? h("a", { href: `#/messages/${encodeURIComponent(a.eventId)}`, class: "mono" }, a.eventId) : ""),
      h("td", {}, a.eventType || ""),
      h("td", {}, h("span", { class: `badge badge-${a.outcome === "succeeded" ? "ok" : a.outcome === "retrying" ? "warn" : "danger"}` }, a.outcome || "")),
      h("td", {}, a.statusCode ?? (a.error ? "—" : "")),
      h("td", {}, typeof a.latencyMs === "number" ? `${a.latencyMs} ms` : ""),
      h("td", {}, responseCell(a))))));
}

function responseCell(attempt) {
  const text = attempt.response || attempt.error || "";
  if (!text) return "";
  return h("details", {}, h("summary", {}, attempt.responseTruncated ? "Body (truncated)" : "Body"), h("pre", { class: "body" }, text));
}

export async function messagesView(session) {
  const page = await session.api.call("GET", `${base(session)}/attempts?limit=50`);
  const search = h("input", { type: "search", name: "eventId", autocomplete: "off", spellcheck: "false" });
  const find = h("button", { type: "submit" }, "Open message");
  const form = h("form", { role: "search", class: "inline-form" }, field("Event id", search), find);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (search.value.trim()) window.location.hash = `#/messages/${encodeURIComponent(search.value.trim())}`;
  });
  const table = h("div", {}, attemptsTable(page.data || [], "Recent attempts of every endpoint"));
  let cursor = page.nextCursor;
  const more = h("button", { type: "button", class: "secondary", hidden: !cursor }, "Load more");
  more.addEventListener("click", async () => {
    const next = await act(more, () => session.api.call("GET", `${base(session)}/attempts?limit=50&cursor=${encodeURIComponent(cursor)}`));
    if (next) {
      table.appendChild(attemptsTable(next.data || [], "More attempts"));
      cursor = next.nextCursor;
      more.hidden = !cursor;
    }
  });
  return h("section", { "aria-labelledby": "messages-heading" },
    h("h2", { id: "messages-heading" }, "Messages"), form, table, more);
}

export async function messageView(session, eventId) {
  const path = `${base(session)}/messages/${segment(eventId)}`;
  const message = await session.api.call("GET", path);
  const replayable = session.scopes.has("messages:replay") || session.operator;
  const resendAll = h("button", { type: "button", id: "resend-all" }, "Resend to every endpoint");
  resendAll.addEventListener("click", () => act(resendAll, () => session.api.call("POST", `${path}/resend`, {}), "Resend queued."));
  const deliveries = (message.deliveries || []).map((d) => {
    const again = h("button", { type: "button", class: "secondary" }, "Resend to this endpoint");
    again.addEventListener("click", () => act(again, () => session.api.call("POST", `${path}/resend`, { endpointId: d.endpointId }), "Resend queued."));
    return h("article", { class: "card" },
      h("h3", {}, "Endpoint ", h("a", { href: `#/endpoints/${encodeURIComponent(d.endpointId)}`, class: "mono" }, d.endpointId)),
      h("p", {}, "Status: ", h("span", { class: "badge" }, d.status || "")),
      attemptsTable((Array.isArray(d.history) ? d.history : []).map((a) => ({ ...a, eventId: null })), "Attempts of this delivery"),
      replayable ? again : null);
  });
  return h("section", { "aria-labelledby": "message-heading" },
    h("p", {}, h("a", { href: "#/messages" }, "← Messages")),
    h("h2", { id: "message-heading" }, "Message ", h("span", { class: "mono" }, message.eventId || eventId)),
    h("dl", { class: "facts" },
      h("dt", {}, "Type"), h("dd", {}, message.eventType || ""),
      h("dt", {}, "Received"), h("dd", {}, time(message.receivedAt || message.eventTime))),
    h("details", { open: true }, h("summary", {}, "Body"), h("pre", { class: "body" }, JSON.stringify(message.payload, null, 2))),
    replayable ? resendAll : null,
    deliveries);
}
