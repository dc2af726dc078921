"""The generic-HMAC recipes of docs/consumer.md, each with a signer written from its provider's docs.

The signers do not use hookstack's template engine: each computes its provider's documented formula
directly, so a test that verifies what they sign checks the recipe (and the engine) against the
provider's scheme. The recipes are the YAML blocks of docs/consumer.md (``test_the_documented_recipes``
holds the two together).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable
from typing import Any

from benchmarks.ingest_cold_start import PADDLE
from functions.inbound.hmac_scheme import HmacConfig, parse_hmac
from functions.inbound.kinds import SourceKind, kind_of
from functions.inbound.verify import SignedRequest
from tests.functions.inbound.signers import NOW

SQUARE_URL = "https://abc123.lambda-url.us-east-1.on.aws/square"

RECIPES: dict[str, dict[str, Any]] = {
    # Intercom: X-Hub-Signature: sha1=<hex HMAC-SHA1 of the body with the app's client secret>.
    "intercom": {"header": "X-Hub-Signature", "algorithm": "sha1", "encoding": "hex", "prefix": "sha1="},
    # Linear: Linear-Signature: <hex HMAC-SHA256 of the body>; Linear-Delivery is the delivery id.
    "linear": {
        "header": "Linear-Signature",
        "algorithm": "sha256",
        "encoding": "hex",
        "deliveryIdHeader": "Linear-Delivery",
    },
    # Paddle Billing: Paddle-Signature: ts=<unix>;h1=<hex HMAC-SHA256 of "{ts}:{body}"> (several h1 while rotating).
    "paddle": {**PADDLE, "toleranceSeconds": 5},
    # Square: x-square-hmacsha256-signature: <base64 HMAC-SHA256 of notification URL + body>.
    "square": {
        "header": "X-Square-HmacSha256-Signature",
        "algorithm": "sha256",
        "encoding": "base64",
        "signedContent": "{url}{body}",
    },
    # Zoom: x-zm-signature: v0=<hex HMAC-SHA256 of "v0:{ts}:{body}">, x-zm-request-timestamp.
    "zoom": {
        "header": "X-Zm-Signature",
        "algorithm": "sha256",
        "encoding": "hex",
        "prefix": "v0=",
        "timestampHeader": "X-Zm-Request-Timestamp",
        "signedContent": "v0:{timestamp}:{body}",
        "handshake": "zoom",
    },
    # Dropbox: X-Dropbox-Signature: <hex HMAC-SHA256 of the body with the app secret>; GET ?challenge= first.
    "dropbox": {"header": "X-Dropbox-Signature", "algorithm": "sha256", "encoding": "hex", "handshake": "dropbox"},
}


def config(name: str) -> HmacConfig:
    parsed, problems = parse_hmac(RECIPES[name])
    assert parsed is not None, problems
    return parsed


def kind(name: str) -> SourceKind:
    return kind_of("hmac", config(name))


def _mac(secret: str, message: bytes, digest: Any = hashlib.sha256) -> bytes:
    return hmac.new(secret.encode(), message, digest).digest()


def intercom(body: bytes, secret: str, timestamp: int = NOW) -> SignedRequest:
    return SignedRequest(headers={"x-hub-signature": "sha1=" + _mac(secret, body, hashlib.sha1).hex()}, body=body)


def linear(body: bytes, secret: str, timestamp: int = NOW) -> SignedRequest:
    headers = {"linear-signature": _mac(secret, body).hex(), "linear-delivery": "8f1c0a52-4f7e-4d0e-9c2a-1b1f0c3a7d10"}
    return SignedRequest(headers=headers, body=body)


def paddle(body: bytes, secret: str, timestamp: int = NOW) -> SignedRequest:
    signature = _mac(secret, f"{timestamp}:".encode() + body).hex()
    return SignedRequest(headers={"paddle-signature": f"ts={timestamp};h1={signature}"}, body=body)


def square(body: bytes, secret: str, timestamp: int = NOW) -> SignedRequest:
    signature = base64.b64encode(_mac(secret, SQUARE_URL.encode() + body)).decode()
    return SignedRequest(headers={"x-square-hmacsha256-signature": signature}, body=body)


def zoom(body: bytes, secret: str, timestamp: int = NOW) -> SignedRequest:
    signature = "v0=" + _mac(secret, f"v0:{timestamp}:".encode() + body).hex()
    return SignedRequest(headers={"x-zm-signature": signature, "x-zm-request-timestamp": str(timestamp)}, body=body)


def dropbox(body: bytes, secret: str, timestamp: int = NOW) -> SignedRequest:
    return SignedRequest(headers={"x-dropbox-signature": _mac(secret, body).hex()}, body=body)


SIGNERS: dict[str, Callable[..., SignedRequest]] = {
    "intercom": intercom,
    "linear": linear,
    "paddle": paddle,
    "square": square,
    "zoom": zoom,
    "dropbox": dropbox,
}
SIGNATURE_HEADERS = {
    "intercom": "x-hub-signature",
    "linear": "linear-signature",
    "paddle": "paddle-signature",
    "square": "x-square-hmacsha256-signature",
    "zoom": "x-zm-signature",
    "dropbox": "x-dropbox-signature",
}
