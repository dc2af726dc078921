"""Standard Webhooks secrets: ``whsec_`` + base64 of the HMAC key. The one place they are made and read.

Everything that holds such a secret uses this module: the stack configuration (signed destinations,
``standard`` inbound sources), the inbound verifier, the delivery signer, the subscription API, the
component that generates a secret at deploy time and the sandbox. So a secret accepted in one place
is accepted in all of them.

Strict on purpose: the canonical base64 of 24 to 64 bytes (the range the specification names).
The reference library tolerates missing padding and decodes ``whsec_`` to an empty key, with which
anyone can sign; here that is a :class:`SecretFormatError`, never a key.
"""

from __future__ import annotations

import base64
import binascii
import secrets

PREFIX = "whsec_"
MIN_KEY_BYTES, MAX_KEY_BYTES = 24, 64
GENERATED_KEY_BYTES = 32


class SecretFormatError(ValueError):
    """A value is not a Standard Webhooks secret (the message never contains the value)."""


def strict_b64decode(text: str) -> bytes | None:
    """The bytes ``text`` is the canonical base64 of, else ``None`` (no stray bits, no missing padding)."""
    try:
        decoded = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    return decoded if base64.b64encode(decoded).decode("ascii") == text else None


def key(secret: str) -> bytes:
    """The HMAC key of ``secret``; :class:`SecretFormatError` unless it is well-formed."""
    if not isinstance(secret, str) or not secret.startswith(PREFIX):
        raise SecretFormatError(f"must be '{PREFIX}' followed by base64")
    decoded = strict_b64decode(secret[len(PREFIX) :])
    if decoded is None:
        raise SecretFormatError(f"must be '{PREFIX}' followed by valid, canonical base64")
    if not MIN_KEY_BYTES <= len(decoded) <= MAX_KEY_BYTES:
        raise SecretFormatError(f"must encode {MIN_KEY_BYTES} to {MAX_KEY_BYTES} bytes of key, got {len(decoded)}")
    return decoded


def problem(secret: str) -> str | None:
    """Why ``secret`` is not a Standard Webhooks secret, or ``None`` when it is one."""
    try:
        key(secret)
    except SecretFormatError as error:
        return str(error)
    return None


def encode(key_bytes: bytes) -> str:
    """The secret for ``key_bytes`` (the deploy-time generator passes base64 it already has: see :func:`from_base64`)."""
    return from_base64(base64.b64encode(key_bytes).decode("ascii"))


def from_base64(encoded_key: str) -> str:
    return PREFIX + encoded_key


def generate() -> str:
    """A new secret: 32 bytes from the OS CSPRNG."""
    return encode(secrets.token_bytes(GENERATED_KEY_BYTES))
