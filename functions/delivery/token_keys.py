"""The token signing keys: RSA private keys in one Secrets Manager secret, current first.

The secret (:func:`secret_name`, under the delivery table's name: the one prefix the API role may
read and write) holds ``{"keys": [{"privateKey": "<PKCS#8 PEM>"}, ...]}``: the first key signs, the
others (the previous one after a rotation) are still published in the JWKS so tokens they signed
stay valid until they expire. The API makes the secret at its first token (or JWKS) request, so no
private key ever passes through Pulumi's state or the deployment's inputs; two processes racing to
make it both read back the one that won. :func:`rotate` puts a new current key in front (``python -m
ops token-keys rotate``) and keeps one previous key.

Each process keeps the keys :data:`KEY_CACHE_SECONDS` for signing; the JWKS route reads them fresh,
so a key that signs is published before API Gateway can meet a token naming it.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from typing import Any

from functions.delivery import jws
from functions.records import record

KEY_CACHE_SECONDS = 300.0
KEPT_KEYS = 2  # current and previous


def secret_name(table_name: str) -> str:
    return f"{table_name}/tokens/signing-keys"


@record
class KeyRing:
    private_pems: tuple[str, ...]

    @property
    def current(self) -> tuple[str, str]:
        """``(private PEM, kid)`` of the key that signs."""
        pem = self.private_pems[0]
        return pem, jws.public_jwk(pem)["kid"]

    def jwks(self) -> dict[str, Any]:
        return {"keys": [jws.public_jwk(pem) for pem in self.private_pems]}


def _parse(secret_string: str) -> KeyRing:
    document = json.loads(secret_string)
    pems = tuple(str(entry["privateKey"]) for entry in document["keys"])
    if not pems:
        raise ValueError("the token key secret holds no key")
    return KeyRing(pems)


def _render(pems: tuple[str, ...]) -> str:
    return json.dumps({"keys": [{"privateKey": pem} for pem in pems]})


def read(manager: Any, table_name: str, *, create: bool = True) -> KeyRing:
    """The keys, making the secret with a first key if there is none (and ``create``)."""
    name = secret_name(table_name)
    try:
        return _parse(manager.get_secret_value(SecretId=name)["SecretString"])
    except manager.exceptions.ResourceNotFoundException:
        if not create:
            raise
    # Another process may make it first: then its key is the one read back.
    with contextlib.suppress(manager.exceptions.ResourceExistsException):
        manager.create_secret(
            Name=name,
            SecretString=_render((jws.generate_private_pem(),)),
            Description="hookstack tenant token signing keys (RS256, current first): docs/tokens.md",
        )
    return _parse(manager.get_secret_value(SecretId=name)["SecretString"])


def rotate(manager: Any, table_name: str) -> KeyRing:
    """A new current key; the old current one stays published as the previous key."""
    existing = read(manager, table_name)
    pems = (jws.generate_private_pem(), *existing.private_pems)[:KEPT_KEYS]
    manager.put_secret_value(SecretId=secret_name(table_name), SecretString=_render(pems))
    return KeyRing(pems)


class KeyCache:
    """One process's keys for signing, read at most every :data:`KEY_CACHE_SECONDS`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ring: KeyRing | None = None
        self._table = ""
        self._read_at = 0.0

    def get(self, manager: Any, table_name: str) -> KeyRing:
        with self._lock:
            stale = time.monotonic() - self._read_at > KEY_CACHE_SECONDS
            if self._ring is None or self._table != table_name or stale:
                self._ring = read(manager, table_name)
                self._table, self._read_at = table_name, time.monotonic()
            return self._ring

    def clear(self) -> None:
        with self._lock:
            self._ring = None


CACHE = KeyCache()
