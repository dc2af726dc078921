"""Mailgun's webhook signature (``kind: mailgun``): pure functions, no AWS.

Mailgun does not fit the generic HMAC model (``kind: hmac``): it puts its signature in the body,
``{"signature": {"timestamp", "token", "signature"}, "event-data": {...}}`` (JSON; legacy webhooks
send the three as form fields), and the HMAC covers only ``timestamp + token``, not the event:

    signature = hex(HMAC-SHA256(webhook signing key, timestamp + token))

So the signature proves that whoever sent the request held a fresh ``(timestamp, token)`` pair
signed by Mailgun, not that the body is the one Mailgun sent. Mailgun's own advice (securing
webhooks) is to remember tokens and refuse a token seen before, and to check the timestamp; this
kind does both, which makes each signed pair admit exactly one body, the first to arrive:

- the **token is the delivery id**, so the ledger claims it: a second request with the same token
  (a Mailgun retry, or a captured signature put on another body) is a duplicate and enqueues nothing;
- the **timestamp** must be within :data:`MAILGUN_TOLERANCE_SECONDS` of now, so a captured pair is
  useless once the ledger could have forgotten its token. The window is wide because Mailgun's
  retries (10 min, 10 min, 15 min, 30 min, 1 h, 2 h, 4 h: about 8 h) are not documented to be signed
  anew, and refusing a genuine retry would lose the event. The configuration therefore refuses a
  ``dedupeTtlHours`` shorter than this window for a stack with a Mailgun source.

What remains (docs/consumer.md): the body is authenticated by TLS, not by the signature; a request
that beats the genuine delivery with a captured pair (it would need the pair before Mailgun's own
request arrives) wins. Multipart bodies (inbound routes with attachments) are not parsed: use a
JSON webhook.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Sequence

from functions.inbound.payload import MalformedPayload, parse_payload
from functions.inbound.schemes import UNIX_SECONDS_RE, SignedRequest, VerificationError, check_timestamp, match

# Mailgun's retry schedule spans about 8 h 5 min; an hour more for clock skew and queueing.
MAILGUN_TOLERANCE_SECONDS = 9 * 3600
_TOKEN = re.compile(r"[A-Za-z0-9]{1,256}")
_HEX_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
# Where the three values are: JSON webhooks nest them, legacy (form) webhooks do not.
TOKEN_PATHS = ("signature.token", "token")
EVENT_TYPE_PATHS = ("event-data.event", "event")


def verify_mailgun(request: SignedRequest, secrets: Sequence[str], *, now: float, **_: object) -> int:
    """The index in ``secrets`` of the signing key that signed ``timestamp + token``; raises otherwise."""
    timestamp, token, signature = _signature_fields(request)
    check_timestamp(int(timestamp), now, MAILGUN_TOLERANCE_SECONDS)
    message = (timestamp + token).encode()
    return match(
        [secret.strip() for secret in secrets],
        lambda key: hmac.new(key.encode(), message, hashlib.sha256).digest(),
        [bytes.fromhex(signature)],
    )


def _signature_fields(request: SignedRequest) -> tuple[str, str, str]:
    try:
        payload = parse_payload(request.body, request.headers.get("content-type", ""))
    except MalformedPayload as error:
        raise VerificationError("malformed_body", str(error)) from None
    if payload.encoding == "json" and isinstance(payload.value, dict):
        fields = payload.value.get("signature")
    else:  # a legacy webhook's form fields, or anything else (refused below)
        fields = payload.value if payload.encoding == "form" else None
    if not isinstance(fields, dict):
        raise VerificationError("missing_header", "the body carries no Mailgun signature (signature.token...)")
    values = [fields.get(name) for name in ("timestamp", "token", "signature")]
    if any(value is None or value == "" for value in values):
        raise VerificationError("missing_header", "the body's signature needs timestamp, token and signature")
    # JSON may give the timestamp as a number (Mailgun documents it as an int).
    timestamp, token, signature = (
        str(value) if isinstance(value, int) and not isinstance(value, bool) else value for value in values
    )
    if not (
        isinstance(timestamp, str)
        and UNIX_SECONDS_RE.fullmatch(timestamp)
        and isinstance(token, str)
        and _TOKEN.fullmatch(token)
        and isinstance(signature, str)
        and _HEX_SHA256.fullmatch(signature)
    ):
        raise VerificationError("malformed_header", "timestamp (digits), token (alphanumeric), signature (64 hex)")
    return timestamp, token, signature
