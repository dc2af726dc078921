"""Standard Webhooks ``v1a`` signatures: ed25519 over ``{webhook-id}.{webhook-timestamp}.{body}``.

- ``webhook-signature: v1a,<base64 of the 64-byte signature>`` (space-separated when several keys sign).
- Secret key: ``whsk_`` + base64 of the 32-byte ed25519 seed (a 64-byte ``seed || public key``, the
  libsodium form, is read too, and its public half must match the seed).
- Public key: ``whpk_`` + base64 of the 32-byte public key. Receivers verify with it; it is not a
  secret (``GET /tenants/{t}/endpoints/{e}/public-key``, the stack output ``signingPublicKeys``).

The private key lives in Secrets Manager only, named by :func:`secret_name` (one secret per ``v1a``
endpoint, $0.40 a month each); the worker reads it once per process and keeps it
:data:`KEY_CACHE_SECONDS`. The Lambda runtime has no ed25519: ``cryptography`` comes from the crypto
layer (``components/layers.py``), and is imported only when a ``v1a`` key is made or used, so no
handler's import, and no cold start of a function that never signs ``v1a``, pays for it.
"""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from functions.delivery import schema
from functions.delivery.signing import V1A
from functions.whsec import strict_b64decode

SCHEME = V1A
KEYS_GENERATED = (
    "is not taken with scheme v1a: its key pair is generated (the private key never leaves Secrets Manager; "
    "receivers get the public key)"
)
PRIVATE_PREFIX, PUBLIC_PREFIX = "whsk_", "whpk_"
SEED_BYTES = PUBLIC_KEY_BYTES = 32
PUBLIC_KEY_PREFIX = "PUB#"
# How long a worker keeps a private key it read (a deleted endpoint's key stops signing within it).
KEY_CACHE_SECONDS = 300.0
# Secrets Manager names allow letters, digits and /_+=.@- : a tenant id's ':' becomes '@' (which no
# tenant id holds, so the mapping is one-to-one).
_NAME_TRANSLATION = str.maketrans({":": "@"})


class KeyFormatError(ValueError):
    """Not a ``whsk_`` / ``whpk_`` key (the message never contains the value)."""


def secret_name(table_name: str, tenant_id: str, endpoint_id: str) -> str:
    """The Secrets Manager name of an endpoint's private key (under ``<table>/v1a/``: one IAM prefix).
    It ends in ``/key`` so it never ends in ``-`` + six characters, which Secrets Manager reads as
    its own ARN suffix."""
    return f"{secret_name_prefix(table_name)}{tenant_id.translate(_NAME_TRANSLATION)}/{endpoint_id}/key"


def public_key_item_key(tenant_id: str, endpoint_id: str) -> dict[str, str]:
    """The table item holding an endpoint's public key (``T#<tenant>`` / ``PUB#<endpointId>``): an item
    of its own, so Pulumi (config endpoints) and the API write it without touching the definition."""
    return {schema.PK: schema.tenant_pk(tenant_id), schema.SK: f"{PUBLIC_KEY_PREFIX}{endpoint_id}"}


def public_key_item(tenant_id: str, endpoint_id: str, public: str) -> dict[str, str]:
    return {**public_key_item_key(tenant_id, endpoint_id), "publicKey": public, "tenantId": tenant_id}


def secret_name_prefix(table_name: str) -> str:
    return f"{table_name}/{SCHEME}/"


def seed(private_key: str) -> bytes:
    """The 32-byte seed of a ``whsk_`` key."""
    if not isinstance(private_key, str) or not private_key.startswith(PRIVATE_PREFIX):
        raise KeyFormatError(f"must be '{PRIVATE_PREFIX}' followed by base64")
    raw = strict_b64decode(private_key[len(PRIVATE_PREFIX) :])
    if raw is None or len(raw) not in (SEED_BYTES, SEED_BYTES + PUBLIC_KEY_BYTES):
        raise KeyFormatError(f"must be '{PRIVATE_PREFIX}' + canonical base64 of a 32-byte ed25519 seed")
    if len(raw) > SEED_BYTES and _public_bytes(raw[:SEED_BYTES]) != raw[SEED_BYTES:]:
        raise KeyFormatError("its public half does not belong to its seed")
    return raw[:SEED_BYTES]


def private_key_from_seed(raw_seed: bytes) -> str:
    if len(raw_seed) != SEED_BYTES:
        raise KeyFormatError(f"an ed25519 seed is {SEED_BYTES} bytes")
    return PRIVATE_PREFIX + base64.b64encode(raw_seed).decode("ascii")


def public_key(private_key: str) -> str:
    """The ``whpk_`` public key of a ``whsk_`` private key."""
    return PUBLIC_PREFIX + base64.b64encode(_public_bytes(seed(private_key))).decode("ascii")


def public_key_bytes(public: str) -> bytes:
    if not isinstance(public, str) or not public.startswith(PUBLIC_PREFIX):
        raise KeyFormatError(f"must be '{PUBLIC_PREFIX}' followed by base64")
    raw = strict_b64decode(public[len(PUBLIC_PREFIX) :])
    if raw is None or len(raw) != PUBLIC_KEY_BYTES:
        raise KeyFormatError(f"must be '{PUBLIC_PREFIX}' + canonical base64 of a 32-byte ed25519 public key")
    return raw


def generate() -> tuple[str, str]:
    """A new key pair: (``whsk_`` private, ``whpk_`` public)."""
    import secrets

    private = private_key_from_seed(secrets.token_bytes(SEED_BYTES))
    return private, public_key(private)


def sign(private_key: str, message_id: str, timestamp: int, body: bytes) -> str:
    """One ``v1a,<base64>`` signature."""
    key = _ed25519().Ed25519PrivateKey.from_private_bytes(seed(private_key))
    signature = key.sign(f"{message_id}.{timestamp}.".encode() + body)
    return f"{SCHEME}," + base64.b64encode(signature).decode("ascii")


def signature_header(private_keys: Iterable[str], message_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value: one ``v1a`` signature per key."""
    signatures = [sign(key, message_id, timestamp, body) for key in private_keys]
    if not signatures:
        raise ValueError("at least one private key is needed to sign")
    return " ".join(signatures)


def _public_bytes(raw_seed: bytes) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    key = _ed25519().Ed25519PrivateKey.from_private_bytes(raw_seed)
    return bytes(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))


def _ed25519() -> Any:
    # From the crypto layer on Lambda; imported at first use only (see the module's docstring).
    from cryptography.hazmat.primitives.asymmetric import ed25519

    return ed25519


class KeyCache:
    """Private keys read from Secrets Manager, kept per process for :data:`KEY_CACHE_SECONDS`."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._keys: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()

    def private_key(self, secretsmanager: Any, name: str) -> str:
        now = self._clock()
        with self._lock:
            cached = self._keys.get(name)
        if cached is not None and now - cached[0] < KEY_CACHE_SECONDS:
            return cached[1]
        value = str(secretsmanager.get_secret_value(SecretId=name)["SecretString"])
        seed(value)  # a malformed stored value fails here, naming no value
        with self._lock:
            self._keys[name] = (now, value)
        return value


keys = KeyCache()


def with_private_key(
    secrets: Any, secretsmanager: Any, table_name: str, tenant_id: str, endpoint_id: str
) -> tuple[Any, Any]:
    """An endpoint's :class:`~functions.delivery.store.SigningSecrets` with its ``v1a`` private key
    (from Secrets Manager) as the one signing key (the auth's value kept), or, when the key does not
    exist or is malformed, the failed attempt's response (not retried: a deploy or the API fixes it).
    Any other Secrets Manager error propagates: the task is retried."""
    import dataclasses

    from functions.delivery.sender import Response

    name = secret_name(table_name, tenant_id, endpoint_id)
    try:
        key = keys.private_key(secretsmanager, name)
    except secretsmanager.exceptions.ResourceNotFoundException:
        return secrets, Response(
            None, 0, error=f"request cannot be sent: no v1a private key {name}", error_kind="request"
        )
    except KeyFormatError as error:
        return secrets, Response(
            None, 0, error=f"request cannot be sent: v1a private key {error}", error_kind="request"
        )
    return dataclasses.replace(secrets, current=key, previous=None, previous_expires_at=None), None
