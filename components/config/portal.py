"""``hookstack:portal``: the tenant web portal (``TenantPortal``, docs/portal.md).

On by default with the delivery pipeline (off without it). The theme variable names are owned here
(:data:`THEME_VARIABLES`); ``portal/js/main.js`` holds the same list (a test compares them).
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from components.config.model import NAMESPACE, PortalSettings
from components.config.reader import Reader

PORTAL_KEYS = ("enabled", "frameAncestors", "theme")
# The CSS variables config.json may set (--hs-<name>); portal/js/main.js applies only these.
THEME_VARIABLES = (
    "bg",
    "surface",
    "fg",
    "muted",
    "accent",
    "accent-fg",
    "ok",
    "warn",
    "danger",
    "border",
    "font",
    "radius",
    "focus",
)
# A CSS value without anything that could end a declaration or open a URL: colours, lengths, font lists.
THEME_VALUE_RE = re.compile(r"^[A-Za-z0-9#%.,()\-\s\"']{1,100}$")
# A CSP frame-ancestors source: an https origin (scheme and host, optional port, optional leading
# `*.` wildcard label), or 'self'. Nothing else: no paths, no schemes-only sources such as `https:`.
FRAME_ANCESTOR_RE = re.compile(r"^(?:'self'|https://(?:\*\.)?[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*(?::\d{1,5})?)$")
MAX_FRAME_ANCESTORS = 20
# The sources' share of CloudFront's 1,783-character Content-Security-Policy quota (the rest of the
# policy takes under 500: tests/components/test_portal.py builds the longest one).
MAX_FRAME_ANCESTORS_CHARS = 1200


def parse_portal(reader: Reader, value: Any) -> PortalSettings:
    raw, path = reader.section(value, "portal", PORTAL_KEYS)
    defaults = PortalSettings()
    ancestors = []
    for index, origin in enumerate(reader.strings(raw, "frameAncestors", path)):
        if FRAME_ANCESTOR_RE.fullmatch(origin):
            ancestors.append(origin)
        else:
            reader.problem(
                f"{path}.frameAncestors[{index}]",
                f"must be an https origin (https://app.example.com, https://*.example.com, optional :port) "
                f"or 'self'; got {origin[:80]!r}",
            )
    if len(ancestors) > MAX_FRAME_ANCESTORS or len(" ".join(ancestors)) > MAX_FRAME_ANCESTORS_CHARS:
        reader.problem(
            f"{path}.frameAncestors",
            f"must have at most {MAX_FRAME_ANCESTORS} entries of at most {MAX_FRAME_ANCESTORS_CHARS} characters "
            "together (CloudFront limits the Content-Security-Policy header to 1783)",
        )
    theme: list[tuple[str, str]] = []
    raw_theme = reader.mapping(raw.get("theme"), f"{path}.theme") or {}
    for name, css in raw_theme.items():
        if name not in THEME_VARIABLES:
            reader.problem(f"{path}.theme.{name}", f"unknown theme variable; allowed: {', '.join(THEME_VARIABLES)}")
        elif not isinstance(css, str) or not THEME_VALUE_RE.fullmatch(css):
            reader.problem(
                f"{path}.theme.{name}",
                "must be a CSS value of 1-100 letters, digits, spaces and # % . , ( ) - ' \" (a colour, a length, "
                f"a font list); got {css!r}",
            )
        else:
            theme.append((name, css))
    return PortalSettings(
        enabled=bool(reader.get(raw, "enabled", path, bool, default=defaults.enabled)),
        frame_ancestors=tuple(dict.fromkeys(ancestors)),
        theme=tuple(theme),
    )


def portal_needs_delivery(reader: Reader, raw: Any, portal: PortalSettings, delivery_enabled: bool) -> PortalSettings:
    """The portal manages the delivery worker's endpoints: without the delivery pipeline it is off by
    default, and asking for it is a problem."""
    if delivery_enabled or not portal.enabled:
        return portal
    if isinstance(raw, dict) and raw.get("enabled") in (True, "true"):
        reader.problem(
            f"{NAMESPACE}:portal.enabled",
            "is true, but hookstack:delivery.enabled is false: the portal manages the delivery worker's "
            "endpoints (enable delivery, or set portal.enabled: false)",
        )
    return dataclasses.replace(portal, enabled=False)
