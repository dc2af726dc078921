"""Providers' endpoint checks, answered by the ingest instead of enqueueing: pure functions, no AWS.

Two families (each kind names its own in :mod:`functions.inbound.kinds`):

- **handshakes**, on a request that VERIFIED like any event: Slack's ``url_verification``, Discord's
  PING (Webhook Events: 204; Interactions: ``{"type": 1}``), Zoom's ``endpoint.url_validation``
  (answered with the HMAC of its ``plainToken`` made with the secret that verified the request);
- **challenges**, which the provider does not sign, answered before verification: Dropbox's
  ``GET ?challenge=`` and Microsoft Graph's ``POST ?validationToken=``. They only ever echo one
  short printable token, as ``text/plain`` with ``nosniff``, and store nothing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qs

from functions.inbound import hmac_scheme
from functions.inbound.payload import Payload
from functions.inbound.schemes import SignedRequest
from functions.records import record

# An echoed challenge is answered as text: at most this long, printable, never markup-sniffed.
MAX_CHALLENGE_CHARS = 1024
_CHALLENGE_RE = re.compile(rf"^[\x20-\x7e]{{1,{MAX_CHALLENGE_CHARS}}}$")


@record
class Reply:
    """What the ingest answers a handshake or challenge with (nothing is enqueued)."""

    status: int
    body: str = ""
    content_type: str | None = None
    """None: no body (204)."""

    @classmethod
    def json(cls, document: Mapping[str, Any]) -> Reply:
        return cls(200, json.dumps(document, separators=(",", ":")), "application/json")

    @classmethod
    def text(cls, text: str) -> Reply:
        return cls(200, text, "text/plain; charset=utf-8")

    def to_response(self) -> dict[str, Any]:
        """The function URL response (payload format 2.0); text is never sniffed as markup."""
        headers = {"x-content-type-options": "nosniff"}
        if self.content_type is not None:
            headers["content-type"] = self.content_type
        return {"statusCode": self.status, "headers": headers, "body": self.body, "isBase64Encoded": False}


Handshake = Callable[[Payload, str], Reply | None]
"""The reply when a VERIFIED request is the provider's endpoint check, else None. Gets the parsed
payload and the secret that verified it (Zoom answers with an HMAC made with it)."""
Challenge = Callable[[str, SignedRequest], Reply | None]
"""The reply when an UNSIGNED request is the provider's endpoint check (method, request), else None:
answered before verification, because the provider does not sign it (Dropbox, Microsoft Graph)."""


def slack_url_verification(payload: Payload, secret: str = "") -> Reply | None:
    """Slack's endpoint check: echo the challenge (verified first: Slack signs it like any event)."""
    value = payload.value
    if payload.encoding == "json" and isinstance(value, dict) and value.get("type") == "url_verification":
        return Reply.json({"challenge": str(value.get("challenge", ""))})
    return None


def discord_ping(payload: Payload, secret: str = "") -> Reply | None:
    """Discord's signed PING: a Webhook Events PING (``type`` 0) is answered 204, an Interactions PING
    (``type`` 1 without an ``event``) with ``{"type": 1}`` (PONG)."""
    value = payload.value
    if payload.encoding != "json" or not isinstance(value, dict) or isinstance(value.get("type"), bool):
        return None
    if value.get("type") == 0:
        return Reply(204)
    if value.get("type") == 1 and "event" not in value:
        return Reply.json({"type": 1})
    return None


def zoom_url_validation(payload: Payload, secret: str) -> Reply | None:
    """Zoom's ``endpoint.url_validation`` (signed like any event): ``plainToken`` and its HMAC-SHA256."""
    value = payload.value
    if payload.encoding != "json" or not isinstance(value, dict) or value.get("event") != "endpoint.url_validation":
        return None
    inner = value.get("payload")
    token = inner.get("plainToken") if isinstance(inner, dict) else None
    if not isinstance(token, str) or not _CHALLENGE_RE.match(token):
        return None
    return Reply.json({"plainToken": token, "encryptedToken": hmac_scheme.zoom_encrypted_token(secret, token)})


def _query_token(request: SignedRequest, name: str) -> str | None:
    """The one value of query parameter ``name`` when it is a short printable token, else None."""
    try:
        values = parse_qs(request.query, keep_blank_values=True, errors="strict").get(name)
    except (UnicodeDecodeError, ValueError):
        return None
    if not values or len(values) != 1 or not _CHALLENGE_RE.match(values[0]):
        return None
    return values[0]


def dropbox_challenge(method: str, request: SignedRequest) -> Reply | None:
    """Dropbox's endpoint check: ``GET ?challenge=<token>``, echoed as text (Dropbox does not sign it)."""
    token = _query_token(request, "challenge") if method == "GET" else None
    return Reply.text(token) if token is not None else None


def graph_validation(method: str, request: SignedRequest) -> Reply | None:
    """Microsoft Graph's subscription validation: ``POST ?validationToken=<token>``, echoed (decoded) as text."""
    token = _query_token(request, "validationToken") if method == "POST" else None
    return Reply.text(token) if token is not None else None
