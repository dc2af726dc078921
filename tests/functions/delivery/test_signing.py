"""Signatures made by hookstack verify with the official Standard Webhooks library (and svix's)."""

from __future__ import annotations

import base64
import json
import time

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from functions import whsec
from functions.delivery import signing


def test_generated_secret_is_whsec_with_32_random_bytes() -> None:
    first, second = whsec.generate(), whsec.generate()
    assert first.startswith("whsec_") and second.startswith("whsec_")
    assert len(base64.b64decode(first.removeprefix("whsec_"))) == 32
    assert first != second


def test_delivery_headers_verify_with_the_standard_webhooks_library() -> None:
    secret = whsec.generate()
    body = signing.payload(
        "widget.created", "2026-01-01T00:00:00Z", {"tenantId": "1", "eventId": "evt_1", "name": "W1"}
    )
    headers = signing.delivery_headers([secret], "evt_1", int(time.time()), body)

    parsed = Webhook(secret).verify(body, headers)

    assert parsed == {
        "type": "widget.created",
        "timestamp": "2026-01-01T00:00:00Z",
        "data": {"tenantId": "1", "eventId": "evt_1", "name": "W1"},
    }
    assert headers["webhook-id"] == "evt_1"
    assert headers["content-type"] == "application/json"


def test_svix_library_accepts_the_same_signature_under_svix_headers() -> None:
    from svix.webhooks import Webhook as SvixWebhook
    from svix.webhooks import WebhookVerificationError as SvixVerificationError

    secret = whsec.generate()
    body = signing.payload("widget.updated", "2026-01-01T00:00:00Z", {"eventId": "evt_2"})
    headers = signing.delivery_headers([secret], "evt_2", int(time.time()), body)
    svix_headers = {name.replace("webhook-", "svix-"): value for name, value in headers.items()}

    SvixWebhook(secret).verify(body, svix_headers)  # raises when the signature does not match
    with pytest.raises(SvixVerificationError):
        SvixWebhook(secret).verify(body + b" ", svix_headers)


def test_during_rotation_both_the_old_and_the_new_secret_verify() -> None:
    old, new = whsec.generate(), whsec.generate()
    body = signing.payload("widget.created", "2026-01-01T00:00:00Z", {"eventId": "evt_3"})
    headers = signing.delivery_headers([new, old], "evt_3", int(time.time()), body)

    assert len(headers["webhook-signature"].split(" ")) == 2
    Webhook(old).verify(body, headers)
    Webhook(new).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(whsec.generate()).verify(body, headers)


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda b, h: (b.replace(b"W1", b"W2"), h), id="body"),
        pytest.param(lambda b, h: (b + b" ", h), id="trailing-space"),
        pytest.param(lambda b, h: (b, {**h, "webhook-id": "evt_other"}), id="message-id"),
        pytest.param(
            lambda b, h: (b, {**h, "webhook-timestamp": str(int(h["webhook-timestamp"]) + 1)}), id="timestamp"
        ),
    ],
)
def test_tampered_deliveries_fail_verification(tamper) -> None:
    secret = whsec.generate()
    body = signing.payload("widget.created", "2026-01-01T00:00:00Z", {"eventId": "evt_4", "name": "W1"})
    headers = signing.delivery_headers([secret], "evt_4", int(time.time()), body)
    Webhook(secret).verify(body, headers)

    bad_body, bad_headers = tamper(body, headers)

    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(bad_body, bad_headers)


def test_signature_matches_the_spec_formula_for_a_known_vector() -> None:
    # HMAC-SHA256(key, "msg_p5jXN8AQM9LWM0D4loKWxJek.1614265330.{\"test\": 2432232314}"), the spec's example.
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'
    assert signing.sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body) == (
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    )


def test_payload_is_compact_utf8_json_with_type_timestamp_and_data() -> None:
    body = signing.payload("widget.created", "2026-01-01T00:00:00Z", {"name": "Grüße"})
    assert body == '{"type":"widget.created","timestamp":"2026-01-01T00:00:00Z","data":{"name":"Grüße"}}'.encode()
    assert json.loads(body)["data"]["name"] == "Grüße"


@pytest.mark.parametrize(
    "value",
    [
        "",
        "whsec_",
        "plain-text-value",
        "whsec_not base64!",
        "whsec_" + base64.b64encode(b"x" * 23).decode(),
        "whsec_" + base64.b64encode(b"x" * 65).decode(),
    ],
)
def test_malformed_secrets_are_refused_without_echoing_them(value: str) -> None:
    with pytest.raises(whsec.SecretFormatError) as caught:
        whsec.key(value)
    assert value.removeprefix("whsec_") not in str(caught.value) or value in ("", "whsec_")


def test_duplicate_secrets_produce_one_signature() -> None:
    secret = whsec.generate()
    header = signing.signature_header([secret, secret], "evt_5", 1, b"{}")
    assert len(header.split(" ")) == 1
