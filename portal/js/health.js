// An endpoint's health: the success rate over its recent attempts, and its circuit breaker.
import { h } from "./dom.js";

export const HEALTH_WINDOW = 50; // attempts the success rate is computed over

/** {rate (0-1 or null), succeeded, total, breaker} from attempts (newest first) and the endpoint. */
export function health(attempts, endpoint) {
  const recent = attempts.slice(0, HEALTH_WINDOW);
  const succeeded = recent.filter((a) => a.outcome === "succeeded").length;
  const breaker = (endpoint && endpoint.circuitBreaker && endpoint.circuitBreaker.state) || "closed";
  return { rate: recent.length ? succeeded / recent.length : null, succeeded, total: recent.length, breaker };
}

/** The word a person reads first: healthy, degraded, failing, open breaker, disabled, no traffic. */
export function verdict(summary, enabled) {
  if (enabled === false) return "disabled";
  if (summary.breaker && summary.breaker !== "closed") return `breaker ${summary.breaker}`;
  if (summary.rate === null) return "no traffic";
  if (summary.rate >= 0.95) return "healthy";
  if (summary.rate >= 0.5) return "degraded";
  return "failing";
}

export function healthCell(summary, enabled) {
  const word = verdict(summary, enabled);
  const tone = { healthy: "ok", degraded: "warn", "no traffic": "muted", disabled: "muted" }[word] || "danger";
  const rate = summary.rate === null ? "" : `${Math.round(summary.rate * 100)}% of last ${summary.total}`;
  return h("span", { class: `badge badge-${tone}` }, word, rate ? h("span", { class: "badge-detail" }, ` · ${rate}`) : null);
}
