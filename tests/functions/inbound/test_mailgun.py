"""``kind: mailgun``: Mailgun's signature over timestamp + token (in the body), its vector, and the
token claim that makes each signed pair admit one body (functions/inbound/mailgun.py)."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from components.config import StackConfigError, parse_stack_config
from functions.inbound import ingest
from functions.inbound.hmac_scheme import parse_hmac
from functions.inbound.mailgun import MAILGUN_TOLERANCE_SECONDS
from functions.inbound.schemes import VerificationError
from functions.inbound.verify import SignedRequest, verify
from tests.functions.inbound.conftest import InboundStack, body_of, function_url_event, status

# Mailgun's PHP SDK test vector (tests/MailgunTest.php, testVerifyWebhookGood / testVerifyWebhookBad).
SDK_KEY = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0"
SDK_TIMESTAMP = "1403645220"
SDK_TOKEN = "5egbgr1vjgqxtrnp65xfznchgdccwh5d6i09vijqi3whgowmn6"
SDK_OTHER_TOKEN = "owyldpe6nxhmrn78epljl6bj0orrki1u3d2v5e6cnlmmuox8jr"
SDK_SIGNATURE = "9cfc5c41582e51246e73c88d34db3af0a3a2692a76fbab81492842f000256d33"
NOW = int(SDK_TIMESTAMP)


def signed(timestamp: str, token: str, key: str) -> str:
    """Mailgun's documented formula ("Securing Webhooks"): hex HMAC-SHA256(key, timestamp + token)."""
    return hmac.new(key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()


def json_request(signature: dict[str, Any], event: dict[str, Any] | None = None) -> SignedRequest:
    """The JSON webhook as Mailgun's docs show it: the signature object beside the event data."""
    body = {"signature": signature, "event-data": event or {"event": "delivered", "id": "CPgfbmQMTCKtHW6uIWtuVe"}}
    return SignedRequest(headers={"content-type": "application/json"}, body=json.dumps(body).encode())


def form_request(fields: dict[str, str]) -> SignedRequest:
    """A legacy webhook: the three values are form fields among the event's."""
    body = urlencode({"event": "opened", "recipient": "a@example.com", **fields}).encode()
    return SignedRequest(headers={"content-type": "application/x-www-form-urlencoded"}, body=body)


SDK_FIELDS = {"timestamp": SDK_TIMESTAMP, "token": SDK_TOKEN, "signature": SDK_SIGNATURE}


def test_the_sdk_vector_verifies_in_both_body_shapes_and_its_bad_twin_does_not() -> None:
    assert signed(SDK_TIMESTAMP, SDK_TOKEN, SDK_KEY) == SDK_SIGNATURE  # the formula is the SDK's
    assert verify("mailgun", json_request(SDK_FIELDS), [SDK_KEY], now=NOW) == 0
    assert verify("mailgun", form_request(SDK_FIELDS), [SDK_KEY], now=NOW) == 0
    assert verify("mailgun", json_request({**SDK_FIELDS, "timestamp": NOW}), [SDK_KEY], now=NOW) == 0  # a number
    assert verify("mailgun", json_request(SDK_FIELDS), ["rotated-in", SDK_KEY], now=NOW) == 1  # previousSecret
    with pytest.raises(VerificationError, match="bad_signature"):
        verify("mailgun", json_request({**SDK_FIELDS, "token": SDK_OTHER_TOKEN}), [SDK_KEY], now=NOW)


@pytest.mark.parametrize(
    ("request_", "reason"),
    [
        (json_request({**SDK_FIELDS, "timestamp": str(NOW + 1)}), "bad_signature"),
        (json_request({k: v for k, v in SDK_FIELDS.items() if k != "token"}), "missing_header"),
        (SignedRequest(headers={"content-type": "application/json"}, body=b'{"event-data": {}}'), "missing_header"),
        (SignedRequest(headers={"content-type": "application/json"}, body=b"[1]"), "missing_header"),
        (SignedRequest(headers={"content-type": "application/json"}, body=b"{not json"), "malformed_body"),
        (SignedRequest(headers={"content-type": "text/plain"}, body=b"timestamp=1"), "missing_header"),
        (json_request({**SDK_FIELDS, "signature": SDK_SIGNATURE[:-1]}), "malformed_header"),
        (json_request({**SDK_FIELDS, "signature": "sha256=" + SDK_SIGNATURE}), "malformed_header"),
        (json_request({**SDK_FIELDS, "timestamp": "1403645220.5"}), "malformed_header"),
        (json_request({**SDK_FIELDS, "timestamp": True}), "malformed_header"),
        (json_request({**SDK_FIELDS, "token": ["a", "b"]}), "malformed_header"),
        (json_request({**SDK_FIELDS, "token": SDK_TOKEN + "\n"}), "malformed_header"),
        # A repeated form field is a list: which value was signed would be ambiguous.
        (
            SignedRequest(
                headers={"content-type": "application/x-www-form-urlencoded"},
                body=(urlencode(SDK_FIELDS) + "&token=" + SDK_OTHER_TOKEN).encode(),
            ),
            "malformed_header",
        ),
    ],
)
def test_malformed_or_mutated_signatures_are_refused(request_: SignedRequest, reason: str) -> None:
    with pytest.raises(VerificationError, match=reason):
        verify("mailgun", request_, [SDK_KEY], now=NOW)


def test_the_timestamp_window_covers_mailguns_retries_and_no_more() -> None:
    request = json_request(SDK_FIELDS)
    # Mailgun retries for about 8 hours (10, 10, 15, 30, 60, 120, 240 minutes).
    assert MAILGUN_TOLERANCE_SECONDS >= (10 + 10 + 15 + 30 + 60 + 120 + 240) * 60
    assert verify("mailgun", request, [SDK_KEY], now=NOW + MAILGUN_TOLERANCE_SECONDS) == 0
    with pytest.raises(VerificationError, match="stale_timestamp"):
        verify("mailgun", request, [SDK_KEY], now=NOW + MAILGUN_TOLERANCE_SECONDS + 1)
    with pytest.raises(VerificationError, match="stale_timestamp"):
        verify("mailgun", request, [SDK_KEY], now=NOW - MAILGUN_TOLERANCE_SECONDS - 1)


@settings(max_examples=150, deadline=None)
@given(
    field=st.sampled_from(["timestamp", "token", "signature"]),
    position=st.integers(min_value=0, max_value=63),
    replacement=st.sampled_from("0123456789abcdefXYZ"),
)
def test_any_change_to_a_signed_value_is_refused(field: str, position: int, replacement: str) -> None:
    value = SDK_FIELDS[field]
    index = position % len(value)
    mutated = value[:index] + replacement + value[index + 1 :]
    request = json_request({**SDK_FIELDS, field: mutated})
    if mutated == value:
        assert verify("mailgun", request, [SDK_KEY], now=NOW) == 0
        return
    with pytest.raises(VerificationError):
        verify("mailgun", request, [SDK_KEY], now=NOW)


# --- through the ingest handler on moto ----------------------------------------------------------

KEY = "mg-signing-key"  # the mailgun source's secret in tests/functions/inbound/conftest.py


def send(request: SignedRequest, now: int) -> dict[str, Any]:
    return ingest.handle(function_url_event("/mailgun", request), ingest.runtime(), now=now)


def test_the_token_is_claimed_so_a_captured_signature_carries_no_other_body(inbound_stack: InboundStack) -> None:
    now = 1_767_225_600
    token = "t" * 49 + "1"
    fields = {"timestamp": str(now), "token": token, "signature": signed(str(now), token, KEY)}
    genuine = json_request(fields, {"event": "delivered", "id": "ev-1", "recipient": "a@example.com"})
    assert status(send(genuine, now)) == 200
    assert body_of(send(genuine, now + 600))["status"] == "duplicate"  # Mailgun's retry, 10 minutes later
    # The same signed pair on another body (the signature does not cover it): a duplicate, not an event.
    forged = json_request(fields, {"event": "unsubscribed", "id": "ev-forged", "recipient": "a@example.com"})
    assert body_of(send(forged, now + 60))["status"] == "duplicate"
    assert status(send(json_request({**fields, "signature": signed(str(now), token, "other")}), now)) == 401

    (message,) = inbound_stack.messages()
    envelope = json.loads(message["Body"])
    assert (envelope["kind"], envelope["eventType"], envelope["deliveryId"]) == ("mailgun", "delivered", token)
    assert "ev-1" in message["Body"] and "ev-forged" not in message["Body"]  # the first body, only


def test_a_legacy_form_webhook_is_keyed_by_its_token_and_typed_by_its_event(inbound_stack: InboundStack) -> None:
    now = 1_767_225_600
    token = "f" * 50
    request = form_request({"timestamp": str(now), "token": token, "signature": signed(str(now), token, KEY)})
    assert status(send(request, now)) == 200
    (message,) = inbound_stack.messages()
    envelope = json.loads(message["Body"])
    assert (envelope["eventType"], envelope["deliveryId"]) == ("opened", token)


# --- configuration ------------------------------------------------------------------------------


def consumer(**extra: Any) -> dict[str, Any]:
    return {"consumer": {"sources": [{"name": "mg", "kind": "mailgun", "secret": "key-x"}], **extra}}


def test_the_configuration_accepts_mailgun_and_keeps_tokens_as_long_as_they_verify() -> None:
    assert parse_stack_config(consumer()).consumer.sources[0].kind == "mailgun"
    assert parse_stack_config(consumer(dedupeTtlHours=9)).consumer.dedupe_ttl_hours == 9
    with pytest.raises(StackConfigError) as raised:
        parse_stack_config(consumer(dedupeTtlHours=8))
    assert [str(p) for p in raised.value.problems] == [
        "hookstack:consumer.dedupeTtlHours: must be at least 9 with a mailgun source (its tokens are remembered "
        "for as long as its signatures verify); got 8"
    ]
    # Other stacks keep the full range.
    github = {"consumer": {"sources": [{"name": "gh", "kind": "github", "secret": "s"}], "dedupeTtlHours": 1}}
    assert parse_stack_config(github).consumer.dedupe_ttl_hours == 1


def test_the_generic_model_still_refuses_a_template_without_the_body() -> None:
    """Why Mailgun is a kind of its own: ``kind: hmac`` never signs less than the body."""
    _, problems = parse_hmac(
        {"header": "x-sig", "algorithm": "sha256", "encoding": "hex", "signedContent": "{header:x-ts}{header:x-token}"}
    )
    assert any(key == "signedContent" and "must sign {body}" in message for key, message in problems)
