// The self-service API: Authorization: Bearer <token> on the subscription API's own paths.

export class ApiError extends Error {
  constructor(status, code, message, field) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field;
  }
}

// Ids are drawn from characters a path segment carries as is (the API refuses '%' in them): keep
// those, encode anything else, so no value can add a segment, a query or a fragment.
export function segment(value) {
  return String(value).replace(/[^A-Za-z0-9\-_.~:@!$&'()*+,;=]/g, (c) => encodeURIComponent(c));
}

export class Api {
  constructor(baseUrl, token) {
    this.baseUrl = String(baseUrl).replace(/\/+$/, "");
    this.token = token;
  }

  async call(method, path, body) {
    const headers = { Authorization: `Bearer ${this.token}`, Accept: "application/json" };
    const init = { method, headers, credentials: "omit", cache: "no-store", referrerPolicy: "no-referrer" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(this.baseUrl + path, init);
    } catch (error) {
      throw new ApiError(0, "network_error", `the API could not be reached (${error.message})`);
    }
    const text = await response.text();
    let document = null;
    try {
      document = text ? JSON.parse(text) : null;
    } catch (_error) {
      document = null;
    }
    if (!response.ok) {
      const problem = (document && document.error) || document || {};
      const message = typeof problem.message === "string" ? problem.message : `HTTP ${response.status}`;
      throw new ApiError(response.status, problem.code || "http_error", message, problem.field);
    }
    return document;
  }

  tenant(tenantId) {
    return `/tenants/${segment(tenantId)}`;
  }
}
