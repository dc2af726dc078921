"""The endpoint model's fields: their rules, defined once for the stack config and the subscription API.

One endpoint model, two engines (docs/endpoints.md). An endpoint declared in the stack config
(``hookstack:tenants[].destinations[]``) and one created through the subscription API take the same
camelCase fields; ``components/config/`` and ``functions/delivery/api/`` both check them here, so a
value accepted by one is accepted by the other:

- ``engine``: ``apiDestination`` (EventBridge API destination: a connection, a rule, a target) or
  ``worker`` (hookstack's delivery worker). API-created endpoints are always ``worker``.
- ``signing``: ``{scheme, secret, previousSecret}``, Standard Webhooks signatures (worker only);
- ``auth``: ``apiKey`` / ``basic`` / ``bearer`` / ``oauth`` / ``none`` (``oauth``: API destinations
  only, for now);
- ``headers``: static headers; :data:`RESERVED_HEADERS` and ``webhook-*`` are the engines' own;
- ``transform`` (:mod:`functions.transform`), ``eventTypes`` and ``filter``
  (:mod:`functions.patterns`), ``rateLimitPerSecond``, ``timeoutSeconds`` (worker only).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from functions.events import REDRIVE_MARKER_KEY

API_DESTINATION, WORKER = "apiDestination", "worker"
ENGINES = (API_DESTINATION, WORKER)
# Keys only the worker delivers: an endpoint with one of them defaults to engine worker.
WORKER_ONLY_KEYS = ("signing", "timeoutSeconds")
# Keys only EventBridge API destinations deliver (the worker retries on hookstack:delivery's schedule).
API_DESTINATION_ONLY_KEYS = ("retry",)

OAUTH = "oauth"
"""The OAuth auth type (:mod:`functions.delivery.oauth`), named here so that comparing to it imports nothing."""
AUTH_TYPES = ("apiKey", "basic", "bearer", OAUTH, "none")
# OAuth client credentials on the worker (a token cache shared by the workers) is not built yet.
WORKER_AUTH_TYPES = ("apiKey", "basic", "bearer", "none")
AUTH_NOT_YET_ON_WORKER = (
    "oauth is not yet supported by engine worker (only API destinations fetch OAuth tokens today); "
    "use engine apiDestination, or apiKey, basic or bearer auth"
)
# The OAuth token request's method (EventBridge connections: GET, POST, PUT).
OAUTH_METHODS = ("GET", "POST", "PUT")
BEARER_PREFIX = "Bearer "
METHODS = ("POST", "PUT", "PATCH")

# EventBridge connection auth and invocation HTTP parameters: at most 512 characters per value.
MAX_HEADER_VALUE_CHARS = 512
MAX_HEADERS = 20
# A bearer token becomes "Bearer <token>" in one such value (an API key header on API destinations).
MAX_BEARER_TOKEN_CHARS = MAX_HEADER_VALUE_CHARS - len(BEARER_PREFIX)
HEADER_NAME_RE = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}$")
# Visible ASCII with inner spaces (what the worker's sender puts on the wire; EventBridge's
# HeaderParameters pattern is printable ASCII too): no CR/LF injection, nothing re-encoded in transit.
HEADER_VALUE_RE = re.compile(r"^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$")
# Headers the engines set themselves (framing, body type, who is calling, the Standard Webhooks
# headers); an endpoint's static headers may not replace them. Compared in lower case.
RESERVED_HEADERS = frozenset(
    {
        "host",
        "content-length",
        "content-type",
        "transfer-encoding",
        "connection",
        "user-agent",
        "x-hookstack-destination",
    }
)
RESERVED_HEADER_PREFIXES = ("webhook-",)

# API destinations allow 1-300 invocations per second; the worker takes the same range.
MAX_RATE_LIMIT = 300
# timeoutSeconds (worker only): API destinations always give up after 5 s.
API_DESTINATION_TIMEOUT_SECONDS = 5
MIN_TIMEOUT_SECONDS, MAX_TIMEOUT_SECONDS = 1, 60

# What a filter may not name: the rule's own tenant clause and the redrive marker (events.py).
FILTER_RESERVED_FIELDS = (("detail", "tenantId"), ("detail", REDRIVE_MARKER_KEY))


def reserved_header_problem(name: str, auth_headers: Collection[str] = ()) -> str | None:
    """Why ``name`` may not be a static header (``auth_headers``: what the endpoint's auth sets)."""
    lower = name.lower()
    if lower in RESERVED_HEADERS or lower.startswith(RESERVED_HEADER_PREFIXES):
        return (
            f"is reserved ({', '.join(sorted(RESERVED_HEADERS))} and webhook-* are set by hookstack and "
            "EventBridge themselves)"
        )
    if lower in {header.lower() for header in auth_headers}:
        return "is set by the endpoint's auth"
    return None


def header_name_problem(name: Any) -> str | None:
    if not isinstance(name, str) or not HEADER_NAME_RE.fullmatch(name):
        return "must be an HTTP header name (1-256 characters of letters, digits and !#$%&'*+.^_`|~-)"
    return None


def header_value_problem(value: Any, limit: int = MAX_HEADER_VALUE_CHARS) -> str | None:
    """Why ``value`` cannot travel as a header value (the message never repeats the value: it may be a secret)."""
    if not isinstance(value, str) or not 1 <= len(value) <= limit:
        return f"must be a string of 1-{limit} characters"
    if not HEADER_VALUE_RE.fullmatch(value):
        return "must be visible ASCII (spaces only between other characters): HTTP cannot carry it as is"
    return None


def auth_headers(auth_type: str, api_key_header: str | None = None) -> tuple[str, ...]:
    """The header an auth type sets on every request."""
    if auth_type == "apiKey":
        return (api_key_header,) if api_key_header else ()
    if auth_type in ("basic", "bearer", "oauth"):
        return ("Authorization",)
    return ()


def filter_event_types_problem(event_filter: Mapping[str, Any], event_types: Sequence[str]) -> tuple[str, str] | None:
    """A filter matching ``detail-type`` at its top level next to ``eventTypes``: one rule pattern
    cannot hold both on one field (and ``eventTypes`` is the way to choose types)."""
    if event_types and "detail-type" in event_filter:
        return "detail-type", "cannot be combined with eventTypes (both match detail-type): keep one"
    return None
