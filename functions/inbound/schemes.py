"""The six signature schemes of inbound webhooks: pure functions, no AWS, no I/O.

Which scheme a source uses, and everything else hookstack knows about its kind, is in
:mod:`functions.inbound.kinds`; :func:`functions.inbound.verify.verify` dispatches through it.

Every scheme is checked on the RAW request body (the bytes the provider signed, base64-decoded when
the function URL event says ``isBase64Encoded``) with constant-time comparisons of the MAC bytes.
Each verifier takes several secrets (the current one and, during a rotation, the previous one) and
returns the index of the secret that signed the request, or raises :class:`VerificationError` with a
short machine-readable ``reason`` (used as a metric dimension and log field, never containing
secrets):

``missing_header``  a header the scheme needs is absent or empty
``malformed_header`` a header is present but not in the scheme's format
``stale_timestamp`` the signed timestamp is more than ``tolerance`` seconds from now (either way)
``bad_signature``   well-formed, but no secret produces any of the signatures
``unsigned_body``   (Twilio) the request carries a body that the signature would not cover
``malformed_body``  (Microsoft Graph, whose shared secret is in the body) the body is not a notification

Schemes (header names are lower-case, as function URLs deliver them):

- ``github``: ``x-hub-signature-256: sha256=<hex HMAC-SHA256(secret, body)>``.
- ``twilio``: ``x-twilio-signature: base64 HMAC(auth token, URL + sorted form params)``; the URL
  is the configured public URL plus the request's query string, tried with and without the default
  port (as Twilio's own library does); JSON bodies are covered by the ``bodySHA256`` query parameter
  instead of params. HMAC-SHA1 unless ``x-twilio-webhooks-signature-settings`` names
  ``algorithm=HMAC_SHA256``.
- ``stripe``: ``stripe-signature: t=<ts>,v1=<hex>[,v1=<hex>...]`` over ``"{t}.{body}"``.
- ``slack``: ``x-slack-signature: v0=<hex>`` over ``"v0:{ts}:{body}"`` with
  ``x-slack-request-timestamp``.
- ``shopify``: ``x-shopify-hmac-sha256: base64 HMAC-SHA256(secret, body)``.
- ``standard``: Standard Webhooks, ``webhook-id``/``webhook-timestamp``/``webhook-signature``
  (or the same with ``svix-``), space-separated ``v1,<base64>`` over ``"{id}.{ts}.{body}"`` with the
  key base64-decoded from ``whsec_...`` (strictly: a stored secret that is not ``whsec_`` + canonical
  base64 of 24-64 bytes raises :class:`SecretFormatError`, never a 401 and never an empty key).

- ``msgraph``: Microsoft Graph change notifications carry no signature: each notification in
  ``value[]`` carries the ``clientState`` the subscription was created with, compared in constant
  time with the secret. It authenticates the sender, not the body's integrity (TLS does).

The generic HMAC scheme (``kind: hmac``) is :mod:`functions.inbound.hmac_scheme`, the public-key
ones (SendGrid, Discord) :mod:`functions.inbound.asymmetric`.

Replay: stripe, slack and standard sign a timestamp (and standard its message id), so a captured
request stops verifying after ``tolerance`` seconds. GitHub, Shopify and Twilio sign neither a
timestamp nor their delivery id: a captured request verifies forever and its unsigned id can be
changed at will. :func:`body_content` and :func:`twilio_content` give, for those kinds, exactly what
the signature covers, so the ingest can refuse a second request carrying the same signed content.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol
from urllib.parse import parse_qs, parse_qsl, urlparse

from functions import whsec
from functions.inbound.payload import FORM_MEDIA_TYPE, loads_json, media_type
from functions.records import record

TOLERANCE_SECONDS = 300

_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")
# Unix seconds as providers send them: ASCII digits (not \d, which takes other scripts' digits), at most 12.
UNIX_SECONDS_RE = re.compile(r"[0-9]{1,12}")
_TWILIO_ALGORITHMS: dict[str, Callable[..., Any]] = {
    "HMAC_SHA1": hashlib.sha1,
    "HMAC_SHA256": hashlib.sha256,
}


class VerificationError(Exception):
    """The request is not authentic; ``reason`` is one of the codes in the module docstring."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@record
class SignedRequest:
    """What a verifier needs from an HTTP request."""

    headers: Mapping[str, str]
    """Header names in lower case (function URLs and HTTP APIs deliver them so)."""
    body: bytes
    """The raw body, exactly as received."""
    query: str = ""
    """The raw query string, without ``?`` (Twilio signs it as part of the URL)."""


class Verifier(Protocol):
    """A scheme: the index in ``secrets`` of the secret that signed ``request``; raises otherwise."""

    def __call__(
        self, request: SignedRequest, secrets: Sequence[str], *, public_url: str, now: float, tolerance: int
    ) -> int: ...


# --------------------------------------------------------------------------------------------
# Schemes
# --------------------------------------------------------------------------------------------


def verify_github(request: SignedRequest, secrets: Sequence[str], **_: object) -> int:
    header = required_header(request, "x-hub-signature-256")
    scheme, separator, value = header.partition("=")
    if scheme != "sha256" or not separator or not _HEX64.fullmatch(value):
        raise VerificationError("malformed_header", "x-hub-signature-256 must be sha256=<64 hex digits>")
    provided = bytes.fromhex(value)
    return match(secrets, lambda key: _hmac(key, request.body, hashlib.sha256), [provided])


def verify_stripe(request: SignedRequest, secrets: Sequence[str], *, now: float, tolerance: int, **_: object) -> int:
    header = required_header(request, "stripe-signature")
    timestamp: str | None = None
    signatures: list[bytes] = []
    for item in header.split(","):
        key, separator, value = item.strip().partition("=")
        if not separator:
            raise VerificationError("malformed_header", "stripe-signature items must be key=value")
        if key == "t":
            if timestamp is not None or not UNIX_SECONDS_RE.fullmatch(value):
                raise VerificationError("malformed_header", "stripe-signature needs exactly one numeric t=")
            timestamp = value
        elif key == "v1" and _HEX64.fullmatch(value):
            signatures.append(bytes.fromhex(value))
    if timestamp is None:
        raise VerificationError("malformed_header", "stripe-signature has no t= timestamp")
    if not signatures:
        raise VerificationError("malformed_header", "stripe-signature has no v1= signature")
    check_timestamp(int(timestamp), now, tolerance)
    signed = timestamp.encode() + b"." + request.body
    return match(secrets, lambda key: _hmac(key, signed, hashlib.sha256), signatures)


def verify_slack(request: SignedRequest, secrets: Sequence[str], *, now: float, tolerance: int, **_: object) -> int:
    timestamp = required_header(request, "x-slack-request-timestamp")
    header = required_header(request, "x-slack-signature")
    if not UNIX_SECONDS_RE.fullmatch(timestamp):
        raise VerificationError("malformed_header", "x-slack-request-timestamp must be unix seconds")
    version, separator, value = header.partition("=")
    if version != "v0" or not separator or not _HEX64.fullmatch(value):
        raise VerificationError("malformed_header", "x-slack-signature must be v0=<64 hex digits>")
    check_timestamp(int(timestamp), now, tolerance)
    signed = b"v0:" + timestamp.encode() + b":" + request.body
    return match(secrets, lambda key: _hmac(key, signed, hashlib.sha256), [bytes.fromhex(value)])


def verify_shopify(request: SignedRequest, secrets: Sequence[str], **_: object) -> int:
    header = required_header(request, "x-shopify-hmac-sha256")
    provided = whsec.strict_b64decode(header)
    if provided is None or len(provided) != hashlib.sha256().digest_size:
        raise VerificationError("malformed_header", "x-shopify-hmac-sha256 must be a base64 SHA-256 HMAC")
    return match(secrets, lambda key: _hmac(key, request.body, hashlib.sha256), [provided])


def verify_standard(request: SignedRequest, secrets: Sequence[str], *, now: float, tolerance: int, **_: object) -> int:
    # Standard Webhooks headers, or Svix's names for the same scheme; never a mix of both.
    prefix = "webhook-" if request.headers.get("webhook-id") else "svix-"
    message_id = required_header(request, f"{prefix}id")
    timestamp = required_header(request, f"{prefix}timestamp")
    header = required_header(request, f"{prefix}signature")
    if not UNIX_SECONDS_RE.fullmatch(timestamp):
        raise VerificationError("malformed_header", f"{prefix}timestamp must be unix seconds")
    signatures = []
    for entry in header.split(" "):
        version, separator, value = entry.partition(",")
        if version == "v1" and separator and (decoded := whsec.strict_b64decode(value)) is not None:
            signatures.append(decoded)
    if not signatures:
        raise VerificationError("malformed_header", f"{prefix}signature has no v1,<base64> signature")
    # Every configured key is decoded before any signature is tried: a malformed one is a
    # misconfiguration to report (SecretFormatError), whichever secret happens to sign the request.
    keys = {secret: whsec.key(secret) for secret in secrets}
    check_timestamp(int(timestamp), now, tolerance)
    signed = f"{message_id}.{timestamp}.".encode() + request.body
    return match(secrets, lambda secret: _hmac(keys[secret], signed, hashlib.sha256), signatures)


def verify_msgraph(request: SignedRequest, secrets: Sequence[str], **_: object) -> int:
    try:
        document = loads_json(request.body)
    except ValueError:
        raise VerificationError("malformed_body", "the body is not a Graph notification (JSON)") from None
    items = document.get("value") if isinstance(document, dict) else None
    if not isinstance(items, list) or not items or not all(isinstance(item, dict) for item in items):
        raise VerificationError("malformed_body", "the body has no value[] of notifications")
    states = [item.get("clientState") for item in items]
    if not all(isinstance(state, str) and state for state in states):
        raise VerificationError("missing_header", "every notification needs its clientState")
    for index, secret in enumerate(secrets):
        # Every notification of the batch must carry the same secret (one subscription's clientState).
        if all(hmac.compare_digest(str(state).encode(), secret.encode()) for state in states):
            return index
    raise VerificationError("bad_signature", "no configured secret is the notifications' clientState")


def verify_twilio(request: SignedRequest, secrets: Sequence[str], *, public_url: str, **_: object) -> int:
    if not public_url:
        raise ValueError("twilio verification needs the public URL the provider was configured with")
    header = required_header(request, "x-twilio-signature")
    algorithm = twilio_algorithm(request.headers.get("x-twilio-webhooks-signature-settings", ""))
    digest = _TWILIO_ALGORITHMS.get(algorithm)
    if digest is None:
        raise VerificationError("malformed_header", f"unsupported Twilio signature algorithm {algorithm!r}")
    provided = whsec.strict_b64decode(header)
    if provided is None or len(provided) != digest().digest_size:
        raise VerificationError("malformed_header", f"x-twilio-signature must be a base64 {algorithm}")
    url = signed_url(public_url, request.query)
    params = _twilio_params(request, urlparse(url).query)
    candidates = twilio_signed_strings(url, params)
    return match(
        secrets,
        lambda key: [_hmac(key, text.encode("utf-8"), digest) for text in candidates],
        [provided],
    )


def _twilio_params(request: SignedRequest, query: str) -> list[tuple[str, str]]:
    """The form params Twilio signs after the URL; none when the URL carries ``bodySHA256``."""
    signed_hash = parse_qs(query).get("bodySHA256")
    if signed_hash:
        # JSON (or other non-form) bodies: the URL carries the body's hash and no params are signed.
        expected_hash = hashlib.sha256(request.body).hexdigest()
        if not hmac.compare_digest(expected_hash.encode(), signed_hash[0].encode()):
            raise VerificationError("bad_signature", "the body does not match bodySHA256")
        return []
    if media_type(request.headers.get("content-type", "")) == FORM_MEDIA_TYPE:
        try:
            return parse_qsl(request.body.decode("utf-8"), keep_blank_values=True, errors="strict")
        except (UnicodeDecodeError, ValueError) as error:
            raise VerificationError("malformed_header", f"form body is not UTF-8 url-encoded ({error})") from None
    if request.body:
        raise VerificationError("unsigned_body", "a non-form body needs bodySHA256 in the URL to be signed")
    return []


# --------------------------------------------------------------------------------------------
# Twilio URL rules (public: the sandbox and docs state the same rule)
# --------------------------------------------------------------------------------------------


def signed_url(public_url: str, query: str) -> str:
    """The URL Twilio signs: the configured public URL plus the request's raw query string."""
    return f"{public_url}?{query}" if query else public_url


def twilio_algorithm(settings_header: str) -> str:
    """``algorithm=`` of ``X-Twilio-Webhooks-Signature-Settings``; HMAC_SHA1 when absent."""
    for part in settings_header.split(","):
        name, separator, value = part.partition("=")
        if separator and name.strip() == "algorithm" and value.strip():
            return value.strip().upper()
    return "HMAC_SHA1"


def twilio_signed_strings(url: str, params: Sequence[tuple[str, str]]) -> list[str]:
    """The strings Twilio may have signed: URL with and without its default port, plus params.

    Params are sorted by name, and each name's distinct values sorted, exactly as Twilio's library
    builds the string (``name + value`` with no delimiters).
    """
    suffix = _twilio_params_suffix(params)
    variants = []
    for variant in (_without_port(url), _with_port(url)):
        if variant not in variants:
            variants.append(variant)
    return [variant + suffix for variant in variants]


def _twilio_params_suffix(params: Sequence[tuple[str, str]]) -> str:
    values: dict[str, set[str]] = {}
    for name, value in params:
        values.setdefault(name, set()).add(value)
    return "".join(name + value for name in sorted(values) for value in sorted(values[name]))


# --------------------------------------------------------------------------------------------
# What the signature covers, for kinds that sign no timestamp (replay protection)
# --------------------------------------------------------------------------------------------


def body_content(request: SignedRequest) -> bytes:
    """What GitHub and Shopify sign: the raw body."""
    return request.body


def twilio_content(request: SignedRequest) -> bytes:
    """What Twilio signs, canonical: its URL (the configured public URL, constant per source, plus
    the raw query string) followed by the form params sorted and de-duplicated as its library
    builds them, so re-ordering or re-encoding the params does not make a new request."""
    suffix = _twilio_params_suffix(_twilio_params(request, request.query))
    return f"{len(request.query)}:{request.query}{suffix}".encode()


def _without_port(url: str) -> str:
    parsed = urlparse(url)
    if not parsed.port:
        return parsed.geturl()
    return parsed._replace(netloc=parsed.netloc.split(":")[0]).geturl()


def _with_port(url: str) -> str:
    parsed = urlparse(url)
    if parsed.port:
        return parsed.geturl()
    port = 443 if parsed.scheme == "https" else 80
    return parsed._replace(netloc=f"{parsed.netloc}:{port}").geturl()


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def required_header(request: SignedRequest, name: str) -> str:
    value = request.headers.get(name, "").strip()
    if not value:
        raise VerificationError("missing_header", f"{name} is required")
    return value


def check_timestamp(timestamp: int, now: float, tolerance: int) -> None:
    if abs(now - timestamp) > tolerance:
        raise VerificationError("stale_timestamp", f"signed timestamp is more than {tolerance} s from now")


def _hmac(key: str | bytes, message: bytes, digest: Callable[..., Any]) -> bytes:
    key_bytes = key if isinstance(key, bytes) else key.encode("utf-8")
    return hmac.new(key_bytes, message, digest).digest()


def match(
    secrets: Sequence[str],
    expected: Callable[[str], bytes | list[bytes]],
    provided: Sequence[bytes],
) -> int:
    for index, secret in enumerate(secrets):
        computed = expected(secret)
        candidates = computed if isinstance(computed, list) else [computed]
        if any(hmac.compare_digest(c, p) for c in candidates for p in provided):
            return index
    raise VerificationError("bad_signature", "no configured secret produces the signature")
