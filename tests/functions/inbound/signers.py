"""Signed requests made with each provider's official library (the test oracles).

Shopify publishes no Python SDK helper for webhook HMACs; its documented scheme (base64 of
HMAC-SHA256 over the raw body) is computed here by hand. GitHub's scheme is checked against the
test vector in GitHub's documentation (see test_verify.py).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime
from urllib.parse import urlencode

import nacl.encoding
import nacl.signing
import standardwebhooks
import stripe
import svix.webhooks
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sendgrid.helpers.eventwebhook import EventWebhook
from slack_sdk.signature import SignatureVerifier
from twilio.request_validator import RequestValidator

from functions.inbound.verify import SignedRequest

NOW = 1_767_225_600  # 2026-01-01T00:00:00Z
TWILIO_URL = "https://abc123.lambda-url.us-east-1.on.aws/twilio"


def github(body: bytes, secret: str) -> SignedRequest:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return SignedRequest(
        headers={
            "x-hub-signature-256": f"sha256={digest}",
            "x-github-event": "push",
            "x-github-delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
            "content-type": "application/json",
        },
        body=body,
    )


def stripe_request(body: bytes, *secrets: str, timestamp: int = NOW) -> SignedRequest:
    parts = [f"t={timestamp}"]
    for secret in secrets:
        header = stripe.WebhookSignature.generate_signature_header(body.decode(), secret, timestamp=timestamp)
        parts.extend(p for p in header.split(",") if p.startswith("v1="))
    return SignedRequest(headers={"stripe-signature": ",".join(parts), "content-type": "application/json"}, body=body)


def slack(body: bytes, secret: str, timestamp: int = NOW) -> SignedRequest:
    signature = SignatureVerifier(secret).generate_signature(timestamp=str(timestamp), body=body)
    assert signature is not None
    return SignedRequest(
        headers={
            "x-slack-signature": signature,
            "x-slack-request-timestamp": str(timestamp),
            "content-type": "application/json",
        },
        body=body,
    )


def shopify(body: bytes, secret: str) -> SignedRequest:
    digest = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
    return SignedRequest(
        headers={
            "x-shopify-hmac-sha256": digest,
            "x-shopify-topic": "orders/create",
            "x-shopify-webhook-id": "b54557e4",
        },
        body=body,
    )


def standard(
    body: bytes, *secrets: str, timestamp: int = NOW, msg_id: str = "msg_2Lh9KRb", prefix: str = "webhook-"
) -> SignedRequest:
    when = datetime.fromtimestamp(timestamp, tz=UTC)
    library = standardwebhooks.Webhook if prefix == "webhook-" else svix.webhooks.Webhook
    signatures = " ".join(library(secret).sign(msg_id, when, body.decode()) for secret in secrets)
    return SignedRequest(
        headers={
            f"{prefix}id": msg_id,
            f"{prefix}timestamp": str(timestamp),
            f"{prefix}signature": signatures,
            "content-type": "application/json",
        },
        body=body,
    )


def twilio_form(
    params: list[tuple[str, str]], token: str, *, url: str = TWILIO_URL, query: str = "", algorithm: str | None = None
) -> SignedRequest:
    """A form POST signed as Twilio's library signs it (params as a multi-valued mapping)."""
    full = f"{url}?{query}" if query else url
    grouped: dict[str, list[str]] = {}
    for name, value in params:
        grouped.setdefault(name, []).append(value)
    signature = RequestValidator(token).compute_signature(full, _MultiDict(grouped), algorithm)
    headers = {"x-twilio-signature": signature, "content-type": "application/x-www-form-urlencoded"}
    if algorithm:
        headers["x-twilio-webhooks-signature-settings"] = f"key=webhooks_sharedkey_1,algorithm={algorithm}"
    return SignedRequest(headers=headers, body=urlencode(params).encode(), query=query)


def twilio_json(document: object, token: str, *, url: str = TWILIO_URL, extra_query: str = "") -> SignedRequest:
    body = json.dumps(document).encode()
    query = urlencode({"bodySHA256": hashlib.sha256(body).hexdigest()})
    if extra_query:
        query = f"{extra_query}&{query}"
    signature = RequestValidator(token).compute_signature(f"{url}?{query}", {})
    return SignedRequest(
        headers={"x-twilio-signature": signature, "content-type": "application/json"}, body=body, query=query
    )


class _MultiDict(dict[str, list[str]]):
    def getall(self, name: str) -> list[str]:
        return self[name]


def whsec(seed: bytes) -> str:
    return "whsec_" + base64.b64encode(hashlib.sha256(seed).digest()[:24]).decode()


# --------------------------------------------------------------------------------------------
# Public-key providers (issue 14): the requests are signed here, and each is checked by the
# provider's own library where one exists (SendGrid's EventWebhook verifies what we sign).
# --------------------------------------------------------------------------------------------

# Fixed keys, so every run signs the same way (the scalar and seed are arbitrary test values).
SENDGRID_PRIVATE_KEY = ec.derive_private_key(0x5E4D_6A11_2026, ec.SECP256R1())
DISCORD_SIGNING_KEY = nacl.signing.SigningKey(bytes(range(32)))


def sendgrid_public_key(private_key: ec.EllipticCurvePrivateKey = SENDGRID_PRIVATE_KEY) -> str:
    """The verification key as SendGrid's dashboard shows it: base64 DER SubjectPublicKeyInfo."""
    der = private_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode()


def sendgrid(
    body: bytes, private_key: ec.EllipticCurvePrivateKey = SENDGRID_PRIVATE_KEY, timestamp: int = NOW
) -> SignedRequest:
    signature = base64.b64encode(private_key.sign(str(timestamp).encode() + body, ec.ECDSA(hashes.SHA256()))).decode()
    # The oracle: SendGrid's SDK accepts what is signed here.
    webhook = EventWebhook()
    key = webhook.convert_public_key_to_ecdsa(sendgrid_public_key(private_key))
    assert webhook.verify_signature(body.decode(), signature, str(timestamp), key)
    return SignedRequest(
        headers={
            "x-twilio-email-event-webhook-signature": signature,
            "x-twilio-email-event-webhook-timestamp": str(timestamp),
            "content-type": "application/json",
        },
        body=body,
    )


def discord_public_key(signing_key: nacl.signing.SigningKey = DISCORD_SIGNING_KEY) -> str:
    """The application's public key as the Developer Portal shows it (hex)."""
    return signing_key.verify_key.encode(nacl.encoding.HexEncoder).decode()


def discord(
    body: bytes, signing_key: nacl.signing.SigningKey = DISCORD_SIGNING_KEY, timestamp: int = NOW
) -> SignedRequest:
    """Signed as Discord documents it: ed25519 over timestamp + body, hex, with PyNaCl (its docs' library)."""
    signature = signing_key.sign(str(timestamp).encode() + body).signature.hex()
    return SignedRequest(
        headers={
            "x-signature-ed25519": signature,
            "x-signature-timestamp": str(timestamp),
            "content-type": "application/json",
        },
        body=body,
    )
