"""Standard Webhooks signatures for outgoing deliveries (pure: no AWS, no I/O).

A delivery carries three headers (https://www.standardwebhooks.com, ``spec/standard-webhooks.md``):

- ``webhook-id``: the event's stable id (``detail.eventId``), the same on every attempt, resend and
  replay, so receivers deduplicate on it;
- ``webhook-timestamp``: unix seconds of this attempt (receivers reject stale ones, +-5 min);
- ``webhook-signature``: ``v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>``, several
  space-separated while a secret rotation overlaps (one per valid secret).

A secret is ``whsec_`` + base64 of the key (24 to 64 bytes); hookstack generates 32 random bytes.

The body sent is ``{"type": <detail-type>, "timestamp": <event time, ISO 8601>, "data": <detail>}``
serialised once (compact JSON) and stored, so a resend carries byte-identical content.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets as random_source
from collections.abc import Iterable, Mapping
from typing import Any

SECRET_PREFIX = "whsec_"  # noqa: S105 (the scheme prefix, not a secret)
GENERATED_KEY_BYTES = 32
MIN_KEY_BYTES, MAX_KEY_BYTES = 24, 64
SIGNATURE_VERSION = "v1"
USER_AGENT = "hookstack-webhooks/1.0"
_SECRET_RE = re.compile(r"^whsec_[A-Za-z0-9+/]+={0,2}$")


class SecretError(ValueError):
    """A value is not a Standard Webhooks secret (the message never contains the value)."""


def generate_secret() -> str:
    """A new signing secret: ``whsec_`` + base64 of 32 bytes from the OS CSPRNG."""
    return SECRET_PREFIX + base64.b64encode(random_source.token_bytes(GENERATED_KEY_BYTES)).decode("ascii")


def secret_key(secret: str) -> bytes:
    """The HMAC key of a ``whsec_`` secret; raises :class:`SecretError` when it is not one."""
    if not isinstance(secret, str) or not _SECRET_RE.match(secret):
        raise SecretError("a signing secret must be 'whsec_' followed by base64")
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX):], validate=True)
    except (binascii.Error, ValueError):
        raise SecretError("a signing secret must be 'whsec_' followed by valid base64") from None
    if not MIN_KEY_BYTES <= len(key) <= MAX_KEY_BYTES:
        raise SecretError(f"a signing secret must encode {MIN_KEY_BYTES} to {MAX_KEY_BYTES} bytes, got {len(key)}")
    return key


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """One ``v1,<base64>`` signature of ``body`` for ``message_id`` at ``timestamp``."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode('ascii')}"


def signature_header(secrets: Iterable[str], message_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value: one signature per secret, space-separated, no duplicates."""
    signatures: list[str] = []
    for secret in secrets:
        signature = sign(secret, message_id, timestamp, body)
        if signature not in signatures:
            signatures.append(signature)
    if not signatures:
        raise SecretError("at least one signing secret is needed")
    return " ".join(signatures)


def delivery_headers(secrets: Iterable[str], message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """Every header of a signed delivery request."""
    return {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": message_id,
        "webhook-timestamp": str(int(timestamp)),
        "webhook-signature": signature_header(secrets, message_id, int(timestamp), body),
    }


def payload(event_type: str, event_time: str, data: Mapping[str, Any]) -> bytes:
    """The Standard Webhooks body for an event (compact JSON, UTF-8, keys in a stable order)."""
    document = {"type": event_type, "timestamp": event_time, "data": data}
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False, default=str).encode("utf-8")
