"""Public-key signature schemes of inbound webhooks: SendGrid (ECDSA P-256) and Discord (ed25519).

The Lambda runtime has no crypto library beyond ``hashlib``/``hmac``: these schemes need
``cryptography``, which ships in a layer attached to the ingest function only when a source of such
a kind is configured (``components/layers.py``). It is imported here lazily, inside the verifier, so
the ingest of every other source never loads it (its cold start stays ``import boto3`` plus our own
code: ``docs/benchmarks/cold-start.md``). The key-format checks are pure and run at config time.

- ``sendgrid``: ``X-Twilio-Email-Event-Webhook-Signature: <base64 DER ECDSA signature>`` over
  ``{timestamp}{body}`` with ``X-Twilio-Email-Event-Webhook-Timestamp``; SHA-256; the verification key is
  SendGrid's base64 DER SubjectPublicKeyInfo of a P-256 point (as its dashboard shows it).
- ``discord``: ``X-Signature-Ed25519: <hex signature>`` over ``{timestamp}{body}`` with
  ``X-Signature-Timestamp``; the key is the application's public key, 64 hex digits.

The "secrets" of these sources are public keys (still stored per source, with rotation through
``previousSecret``). Every configured key is decoded before any signature is tried: a malformed one
is a :class:`~functions.whsec.SecretFormatError` (500), never a 401.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from typing import Any

from functions import whsec
from functions.inbound.schemes import (
    UNIX_SECONDS_RE,
    SignedRequest,
    VerificationError,
    check_timestamp,
    required_header,
)

SENDGRID_SIGNATURE = "x-twilio-email-event-webhook-signature"
SENDGRID_TIMESTAMP = "x-twilio-email-event-webhook-timestamp"
DISCORD_SIGNATURE = "x-signature-ed25519"
DISCORD_TIMESTAMP = "x-signature-timestamp"
# DER SubjectPublicKeyInfo of an uncompressed P-256 point: this fixed header (id-ecPublicKey,
# prime256v1, a 66-byte BIT STRING) followed by 0x04 and the 64 bytes of x and y.
P256_SPKI_HEADER = bytes.fromhex("3059301306072a8648ce3d020106082a8648ce3d030107034200")
P256_SPKI_BYTES = len(P256_SPKI_HEADER) + 65
# A DER ECDSA-P256 signature is a SEQUENCE of two INTEGERs: at most 72 bytes.
MAX_ECDSA_DER_BYTES = 72
_HEX_KEY = re.compile(r"^[0-9a-fA-F]{64}$")
_HEX_SIGNATURE = re.compile(r"^[0-9a-fA-F]{128}$")


def sendgrid_key_problem(secret: str) -> str | None:
    """Why ``secret`` is not a SendGrid verification key, or None (the value is never in the message)."""
    der = whsec.strict_b64decode(secret.strip())
    if der is None or len(der) != P256_SPKI_BYTES or not der.startswith(P256_SPKI_HEADER + b"\x04"):
        return (
            "must be SendGrid's verification key: the base64 of a P-256 public key "
            "(SubjectPublicKeyInfo, starting MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE)"
        )
    return None


def discord_key_problem(secret: str) -> str | None:
    """Why ``secret`` is not a Discord application public key, or None."""
    return None if _HEX_KEY.fullmatch(secret.strip()) else "must be the application's public key: 64 hex digits"


def verify_sendgrid(request: SignedRequest, secrets: Sequence[str], *, now: float, tolerance: int, **_: object) -> int:
    timestamp = _timestamp(request, SENDGRID_TIMESTAMP)
    signature = whsec.strict_b64decode(required_header(request, SENDGRID_SIGNATURE))
    if signature is None or not 8 <= len(signature) <= MAX_ECDSA_DER_BYTES:
        raise VerificationError("malformed_header", f"{SENDGRID_SIGNATURE} must be a base64 DER ECDSA signature")
    keys = [_sendgrid_key(secret.strip()) for secret in secrets]
    check_timestamp(int(timestamp), now, tolerance)
    crypto = _crypto()
    message = timestamp.encode() + request.body
    for index, key in enumerate(keys):
        try:
            key.verify(signature, message, crypto.ec.ECDSA(crypto.hashes.SHA256()))
        except crypto.InvalidSignature:
            continue
        return index
    raise VerificationError("bad_signature", "no configured key verifies the signature")


def verify_discord(request: SignedRequest, secrets: Sequence[str], *, now: float, tolerance: int, **_: object) -> int:
    timestamp = _timestamp(request, DISCORD_TIMESTAMP)
    header = required_header(request, DISCORD_SIGNATURE)
    if not _HEX_SIGNATURE.fullmatch(header):
        raise VerificationError("malformed_header", f"{DISCORD_SIGNATURE} must be 128 hex digits")
    keys = [_discord_key(secret.strip()) for secret in secrets]
    check_timestamp(int(timestamp), now, tolerance)
    crypto = _crypto()
    message = timestamp.encode() + request.body
    for index, key in enumerate(keys):
        try:
            key.verify(bytes.fromhex(header), message)
        except crypto.InvalidSignature:
            continue
        return index
    raise VerificationError("bad_signature", "no configured key verifies the signature")


def _timestamp(request: SignedRequest, name: str) -> str:
    value = required_header(request, name)
    if not UNIX_SECONDS_RE.fullmatch(value):
        raise VerificationError("malformed_header", f"{name} must be unix seconds")
    return value


class _Crypto:
    """The parts of ``cryptography`` these schemes use, imported on first use only."""

    def __init__(self) -> None:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec, ed25519

        self.InvalidSignature = InvalidSignature
        self.hashes = hashes
        self.ec = ec
        self.ed25519 = ed25519


@functools.cache
def _crypto() -> _Crypto:
    return _Crypto()


@functools.lru_cache(maxsize=32)
def _sendgrid_key(secret: str) -> Any:
    if problem := sendgrid_key_problem(secret):
        raise whsec.SecretFormatError(f"sendgrid source key {problem}")
    der = whsec.strict_b64decode(secret)
    assert der is not None
    crypto = _crypto()
    try:
        return crypto.ec.EllipticCurvePublicKey.from_encoded_point(crypto.ec.SECP256R1(), der[len(P256_SPKI_HEADER) :])
    except ValueError:
        raise whsec.SecretFormatError("sendgrid source key is not a point on P-256") from None


@functools.lru_cache(maxsize=32)
def _discord_key(secret: str) -> Any:
    if problem := discord_key_problem(secret):
        raise whsec.SecretFormatError(f"discord source key {problem}")
    crypto = _crypto()
    try:
        return crypto.ed25519.Ed25519PublicKey.from_public_bytes(bytes.fromhex(secret))
    except ValueError:
        raise whsec.SecretFormatError("discord source key is not an ed25519 public key") from None
