"""The tenant portal's derived values, shared by ``TenantPortal`` and the sandbox's portal server.

- :func:`portal_files`: the static files under ``portal/`` with their content types (``config.json``
  is generated, never a file of the repository);
- :func:`portal_config`: ``config.json``, the one document the page reads before calling the API;
- :func:`security_headers`: the response headers both serve (CloudFront's response headers policy,
  the sandbox's HTTP server): a strict Content-Security-Policy (scripts and styles from the portal's
  own origin only, Trusted Types required, API calls to the self-service API's origin only, framing
  by the configured ``portal.frameAncestors`` only), HSTS, ``nosniff``, ``no-referrer``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from components.config import PortalSettings

PORTAL_DIR = Path(__file__).resolve().parents[2] / "portal"
CONFIG_FILE = "config.json"
INDEX_DOCUMENT = "index.html"
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
}
# CloudFront's quota on a response headers policy's Content-Security-Policy value.
MAX_CSP_CHARS = 1783
HSTS_MAX_AGE_SECONDS = 63_072_000  # two years: the value the HSTS preload list asks for
# Browsers revalidate the page and its modules at most this often (new code after a deploy within 5 min).
CACHE_CONTROL = "public, max-age=300"
CONFIG_CACHE_CONTROL = "no-cache"  # config.json: always revalidated, so a new API URL is seen at once


def content_type(path: str) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in CONTENT_TYPES:
        raise ValueError(f"portal/{path}: no content type for {suffix or 'files without an extension'!r}")
    return CONTENT_TYPES[suffix]


def portal_files(root: Path = PORTAL_DIR) -> list[tuple[str, Path, str]]:
    """``(key, path, content type)`` of every file the portal serves, sorted; ``config.json`` excluded."""
    files = []
    for path in sorted(root.rglob("*")):
        key = path.relative_to(root).as_posix()
        if path.is_file() and key != CONFIG_FILE and not any(p.startswith(".") for p in key.split("/")):
            files.append((key, path, content_type(key)))
    return files


def portal_config(api_base_url: str, settings: PortalSettings) -> str:
    """``config.json``: where the API is, and the theme (portal/js/main.js reads both)."""
    document: dict[str, Any] = {"apiBaseUrl": api_base_url.rstrip("/")}
    if settings.theme:
        document["theme"] = dict(settings.theme)
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def origin(url: str) -> str:
    """``scheme://host[:port]`` of ``url``: what CSP ``connect-src`` and CORS compare."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{url!r} is not an http(s) URL")
    return f"{parts.scheme}://{parts.netloc}"


def execute_api_source(region: str) -> str:
    """The CSP source of every API Gateway API in ``region``: what the deployed portal may call.

    Not the API's exact origin: the API answers CORS for the portal's CloudFront origin, so the API
    depends on the distribution, and a policy naming the API's id would make the distribution depend
    on the API (a cycle Pulumi cannot create). Scripts come from the portal's origin only and Trusted
    Types forbid string-to-code sinks, so the wider source opens no path for an injected script.
    """
    return f"https://*.execute-api.{region}.amazonaws.com"


def content_security_policy(api_source: str, frame_ancestors: Sequence[str]) -> str:
    directives = {
        "default-src": "'none'",
        "script-src": "'self'",
        "style-src": "'self'",
        "img-src": "'self'",
        "connect-src": f"'self' {api_source}",
        "base-uri": "'none'",
        "form-action": "'none'",
        "object-src": "'none'",
        "frame-ancestors": " ".join(frame_ancestors) or "'none'",
        # No string ever becomes HTML or script: innerHTML and friends throw (defence in depth).
        "require-trusted-types-for": "'script'",
        "trusted-types": "'none'",
    }
    return "; ".join(f"{name} {value}" for name, value in directives.items())


def security_headers(api_source: str, frame_ancestors: Sequence[str]) -> Mapping[str, str]:
    """Every security header the portal is served with (CloudFront and the sandbox alike).

    ``api_source``: the CSP source the page may call (the sandbox's API origin; deployed:
    :func:`execute_api_source`)."""
    headers = {
        "Content-Security-Policy": content_security_policy(api_source, frame_ancestors),
        "Strict-Transport-Security": f"max-age={HSTS_MAX_AGE_SECONDS}; includeSubDomains",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }
    if not frame_ancestors:
        # Old browsers without frame-ancestors: DENY says the same. With embedders configured it is
        # left out: X-Frame-Options cannot name another origin (ALLOW-FROM is obsolete), CSP does.
        headers["X-Frame-Options"] = "DENY"
    return headers
