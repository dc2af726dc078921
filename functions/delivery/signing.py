"""Standard Webhooks signatures for outgoing deliveries (pure: no AWS, no I/O).

A delivery carries three headers (https://www.standardwebhooks.com, ``spec/standard-webhooks.md``):

- ``webhook-id``: the event's stable id (``detail.eventId``), the same on every attempt, resend and
  replay, so receivers deduplicate on it;
- ``webhook-timestamp``: unix seconds of this attempt (receivers reject stale ones, +-5 min);
- ``webhook-signature``: ``v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>``, several
  space-separated while a secret rotation overlaps (one per valid secret).

A secret is ``whsec_`` + base64 of the key (24 to 64 bytes; :mod:`functions.whsec` reads and makes them).

The body sent is ``{"type": <detail-type>, "timestamp": <event time, ISO 8601>, "data": <detail>}``
serialised once (compact JSON) and stored, so a resend carries byte-identical content (an endpoint
with a ``transform`` sends the template filled from the event instead, signed the same way).

Schemes: an endpoint's ``signing.scheme`` is ``v1`` (HMAC-SHA256, above) or ``v1a`` (ed25519, the
spec's asymmetric scheme: :mod:`functions.delivery.v1a`, signed with the endpoint's private key
from Secrets Manager). :data:`SIGNERS` holds one signer per scheme.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from functions import whsec
from functions.lazy import lazy

SIGNATURE_VERSION = "v1"
V1A = "v1a"
"""The ed25519 scheme (:mod:`functions.delivery.v1a`), named here so that comparing to it imports nothing."""
SCHEMES = ("v1", V1A)
DEFAULT_SCHEME = SIGNATURE_VERSION
SCHEME_NOT_YET = "v1a (ed25519) signing is not yet supported; use v1 (HMAC-SHA256, the default)"
USER_AGENT = "hookstack-webhooks/1.0"


class UnsupportedScheme(ValueError):
    """A signing scheme of the model that this worker cannot sign with."""


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """One ``v1,<base64>`` signature of ``body`` for ``message_id`` at ``timestamp``."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(whsec.key(secret), signed, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode('ascii')}"


def signature_header(secrets: Iterable[str], message_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value: one signature per secret, space-separated, no duplicates."""
    signatures: list[str] = []
    for secret in secrets:
        signature = sign(secret, message_id, timestamp, body)
        if signature not in signatures:
            signatures.append(signature)
    if not signatures:
        raise whsec.SecretFormatError("at least one signing secret is needed")
    return " ".join(signatures)


# scheme -> the webhook-signature value for (secrets, id, timestamp, body): the one extension point.
SIGNERS: dict[str, Callable[[Iterable[str], str, int, bytes], str]] = {
    "v1": signature_header,
    # Imported at the first v1a signature (functions.lazy): a v1 endpoint never compiles v1a.
    V1A: lazy("functions.delivery.v1a", "signature_header"),
}


def delivery_headers(
    secrets: Iterable[str], message_id: str, timestamp: int, body: bytes, scheme: str = DEFAULT_SCHEME
) -> dict[str, str]:
    """Every header of a signed delivery request; :class:`UnsupportedScheme` for a scheme without a signer."""
    signer = SIGNERS.get(scheme)
    if signer is None:
        raise UnsupportedScheme(f"signing scheme {scheme!r}: {SCHEME_NOT_YET}")
    return {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": message_id,
        "webhook-timestamp": str(int(timestamp)),
        "webhook-signature": signer(secrets, message_id, int(timestamp), body),
    }


def payload(event_type: str, event_time: str, data: Mapping[str, Any]) -> bytes:
    """The Standard Webhooks body for an event (compact JSON, UTF-8, keys in a stable order)."""
    document = {"type": event_type, "timestamp": event_time, "data": data}
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False, default=str).encode("utf-8")
