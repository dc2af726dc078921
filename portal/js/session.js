// The token: read once from ?token=..., dropped from the address bar and the history at once
// (history.replaceState), kept in sessionStorage only (gone with the tab; never in localStorage,
// cookies or a URL the page links to). Its claims are read for display and routing only: the API
// checks the signature, the expiry, the tenant and the scopes on every request.

const KEY = "hookstack.portal.token";

export function takeToken() {
  const url = new URL(window.location.href);
  const fromUrl = url.searchParams.get("token");
  if (fromUrl !== null) {
    url.searchParams.delete("token");
    window.history.replaceState(null, "", url.pathname + url.search + url.hash);
    if (fromUrl) sessionStorage.setItem(KEY, fromUrl);
  }
  return sessionStorage.getItem(KEY);
}

export function forgetToken() {
  sessionStorage.removeItem(KEY);
}

/** The JWT's claims ({sub, scope, exp}), or null when it is not a JWT. */
export function claims(token) {
  const parts = (token || "").split(".");
  if (parts.length !== 3) return null;
  try {
    const base64 = parts[1].replace(/-/g, "+").replace(/_/g, "/");
    const padded = base64 + "=".repeat((4 - (base64.length % 4)) % 4);
    const bytes = Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
    const value = JSON.parse(new TextDecoder().decode(bytes));
    return value && typeof value === "object" ? value : null;
  } catch (_error) {
    return null;
  }
}

export function scopes(claimSet) {
  return new Set(String((claimSet && claimSet.scope) || "").split(" ").filter(Boolean));
}
