"""Compact JWS tokens signed with RS256, their JWKS, and the checks a JWT authorizer makes.

RS256 because API Gateway's JWT authorizer (HTTP APIs) verifies RSA signatures only (docs/tokens.md).
Signing and key generation use ``cryptography`` (the crypto layer; imported at the first token, never at
a handler's import). :func:`verify` applies the rules the authorizer documents, in its order: a
well-formed compact token, the algorithm pinned to RS256 (``none``, ``HS256`` and every other ``alg``
refused before any key is looked at), the ``kid`` found in the key set, the signature, then ``iss``,
``aud``, ``exp`` and ``nbf`` (with :data:`LEEWAY_SECONDS`). The sandbox's self-service server runs it in
front of the handler; the tests hold it to PyJWT.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any, TypeGuard

ALGORITHM = "RS256"
RSA_BITS = 2048
PUBLIC_EXPONENT = 65537
# Clock skew tolerated on exp and nbf (and iat in the future): seconds.
LEEWAY_SECONDS = 30
MAX_TOKEN_CHARS = 8192


class InvalidToken(Exception):
    """Why a token is refused (401); the message never contains the token."""


class UnknownKey(InvalidToken):
    """The token's ``kid`` is not in the key set (a verifier may fetch the key set again)."""


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    if not isinstance(text, str) or any(c not in _B64URL for c in text) or len(text) % 4 == 1:
        raise InvalidToken("the token is not base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise InvalidToken("the token is not base64url") from None


_B64URL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def _int_b64(value: int) -> str:
    return b64url(value.to_bytes((value.bit_length() + 7) // 8 or 1, "big"))


# -- keys -----------------------------------------------------------------------------------------------


def generate_private_pem() -> str:
    """A new RSA key as PKCS#8 PEM (what the key secret holds)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=PUBLIC_EXPONENT, key_size=RSA_BITS)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")


def public_jwk(private_pem: str) -> dict[str, str]:
    """The public JWK of a private key, with ``kid`` = its RFC 7638 thumbprint (stable, derived)."""
    return dict(_public_jwk(private_pem))


@functools.lru_cache(maxsize=4)
def _public_jwk(private_pem: str) -> dict[str, str]:
    key = _private_key(private_pem)
    numbers = key.public_key().public_numbers()
    jwk = {"e": _int_b64(numbers.e), "kty": "RSA", "n": _int_b64(numbers.n)}
    thumbprint = b64url(hashlib.sha256(json.dumps(jwk, separators=(",", ":"), sort_keys=True).encode()).digest())
    return {**jwk, "kid": thumbprint, "alg": ALGORITHM, "use": "sig"}


@functools.lru_cache(maxsize=4)  # loading checks the key (tens of ms): once per key and process
def _private_key(private_pem: str) -> Any:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = serialization.load_pem_private_key(private_pem.encode("ascii"), password=None)
    if not isinstance(key, rsa.RSAPrivateKey) or key.key_size < RSA_BITS:
        raise ValueError(f"the token signing key must be an RSA key of at least {RSA_BITS} bits")
    return key


# -- signing --------------------------------------------------------------------------------------------


def sign(claims: Mapping[str, Any], private_pem: str, kid: str) -> str:
    """The compact token of ``claims``, signed RS256 with ``private_pem`` and naming ``kid``."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    header = {"alg": ALGORITHM, "kid": kid, "typ": "JWT"}
    signing_input = f"{_segment(header)}.{_segment(claims)}".encode("ascii")
    signature = _private_key(private_pem).sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input.decode('ascii')}.{b64url(signature)}"


def _segment(document: Mapping[str, Any]) -> str:
    return b64url(json.dumps(document, separators=(",", ":"), sort_keys=True).encode("utf-8"))


# -- verification (the authorizer's rules) ----------------------------------------------------------------


def verify(token: str, keys: Sequence[Mapping[str, Any]], *, issuer: str, audience: str, now: float) -> dict[str, Any]:
    """The claims of ``token`` if it passes every rule, else :class:`InvalidToken` naming the rule."""
    if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS:
        raise InvalidToken("the token is missing or too long")
    parts = token.split(".")
    if len(parts) != 3 or not all(parts):
        raise InvalidToken("the token is not a compact JWS (header.payload.signature)")
    if not set(token) <= _B64URL | {"."}:  # before the signing input is encoded as ASCII
        raise InvalidToken("the token is not base64url")
    header = _json_object(b64url_decode(parts[0]), "header")
    if header.get("alg") != ALGORITHM:
        raise InvalidToken(f"the token's alg must be {ALGORITHM}")
    if "crit" in header:
        raise InvalidToken("the token names critical header parameters this verifier does not implement")
    kid = header.get("kid")
    jwk = next((k for k in keys if isinstance(kid, str) and k.get("kid") == kid and k.get("kty") == "RSA"), None)
    if jwk is None:
        raise UnknownKey("the token's kid is not in the key set")
    _check_signature(jwk, f"{parts[0]}.{parts[1]}".encode("ascii"), b64url_decode(parts[2]))
    claims = _json_object(b64url_decode(parts[1]), "payload")
    if claims.get("iss") != issuer:
        raise InvalidToken("the token's issuer is not this API's")
    aud = claims.get("aud")
    if not (aud == audience or (isinstance(aud, list) and audience in aud)):
        raise InvalidToken("the token is not for this audience")
    exp = claims.get("exp")
    if not _number(exp) or now > exp + LEEWAY_SECONDS:
        raise InvalidToken("the token has expired (or has no exp)")
    nbf = claims.get("nbf")
    if nbf is not None and (not _number(nbf) or now + LEEWAY_SECONDS < nbf):
        raise InvalidToken("the token is not valid yet")
    iat = claims.get("iat")
    if iat is not None and (not _number(iat) or now + LEEWAY_SECONDS < iat):
        raise InvalidToken("the token was issued in the future")
    return claims


def _number(value: Any) -> TypeGuard[float]:
    """A JSON number that is a time: not a boolean, and finite (json.loads reads NaN and Infinity)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _json_object(data: bytes, what: str) -> dict[str, Any]:
    try:
        document = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise InvalidToken(f"the token's {what} is not JSON") from None
    if not isinstance(document, dict):
        raise InvalidToken(f"the token's {what} is not a JSON object")
    return document


def _check_signature(jwk: Mapping[str, Any], signing_input: bytes, signature: bytes) -> None:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    try:
        n = int.from_bytes(b64url_decode(str(jwk["n"])), "big")
        e = int.from_bytes(b64url_decode(str(jwk["e"])), "big")
        public = rsa.RSAPublicNumbers(e, n).public_key()
    except (KeyError, ValueError):
        raise InvalidToken("the key set's key is not a valid RSA key") from None
    try:
        public.verify(signature, signing_input, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        raise InvalidToken("the token's signature does not verify") from None
