"""Issue 14's kinds through the sandbox: a generic-HMAC source and SendGrid, signed as the providers sign.

The sources are in the session stack file (tests/e2e/conftest.py): ``square`` is ``kind: hmac`` with
Square's recipe (base64 HMAC-SHA256 of the notification URL + body: the URL is the one the sandbox
publishes, so the sandbox's ``publicUrl`` is exercised too), ``sendgrid`` verifies ECDSA P-256 with the
public half of ``SENDGRID_E2E_KEY``; SendGrid's own SDK checks every signature made here first.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from typing import Any

import pytest
import requests

from tests.e2e.conftest import SENDGRID_E2E_KEY, sendgrid_public_key
from tests.e2e.test_inbound import wait_for_events

pytestmark = pytest.mark.e2e

SQUARE_KEY = "e2e-square-signature-key"  # plain in the stack file (allowed locally)
SQUARE_HEADER = "X-Square-HmacSha256-Signature"


def square_headers(url: str, body: bytes, *, key: str = SQUARE_KEY) -> dict[str, str]:
    """Square's documented scheme, written out: base64(HMAC-SHA256(key, notification URL + body))."""
    digest = hmac.new(key.encode(), url.encode() + body, hashlib.sha256).digest()
    return {"Content-Type": "application/json", SQUARE_HEADER: base64.b64encode(digest).decode()}


def sendgrid_headers(body: bytes, *, timestamp: int | None = None) -> dict[str, str]:
    """Signed as SendGrid signs its Event Webhook: ECDSA P-256 / SHA-256 over timestamp + body, DER, base64."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from sendgrid.helpers.eventwebhook import EventWebhook

    stamp = str(int(time.time()) if timestamp is None else timestamp)
    key = ec.derive_private_key(SENDGRID_E2E_KEY, ec.SECP256R1())
    signature = base64.b64encode(key.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))).decode()
    oracle = EventWebhook()
    assert oracle.verify_signature(
        body.decode(), signature, stamp, oracle.convert_public_key_to_ecdsa(sendgrid_public_key())
    ), "SendGrid's SDK must accept what the test signs"
    return {
        "Content-Type": "application/json",
        "X-Twilio-Email-Event-Webhook-Signature": signature,
        "X-Twilio-Email-Event-Webhook-Timestamp": stamp,
    }


def post(url: str, body: bytes, headers: dict[str, str]) -> requests.Response:
    return requests.post(url, data=body, headers=headers, timeout=15)


def one_event(state: dict[str, Any], source: str, predicate: Any) -> dict[str, Any]:
    events = wait_for_events(state, lambda e: e["source"] == f"e2e.{source}" and predicate(e))
    assert len(events) == 1, events
    return events[0]


def test_a_generic_hmac_source_is_verified_deduplicated_and_becomes_an_event(sandbox_state: dict[str, Any]) -> None:
    url = sandbox_state["inbound"]["square"]
    event_id = str(uuid.uuid4())
    body = json.dumps(
        {"merchant_id": "MLX", "type": "payment.updated", "event_id": event_id, "data": {"id": "p1"}}
    ).encode()

    # Refused before anything is stored: another key, another URL signed, a body changed after signing.
    assert post(url, body, square_headers(url, body, key="not-the-key")).status_code == 401
    assert post(url, body, square_headers(url + "-elsewhere", body)).status_code == 401
    assert post(url, body.replace(b"p1", b"p2"), square_headers(url, body)).status_code == 401
    assert post(url, body, {"Content-Type": "application/json"}).status_code == 401  # no signature at all

    first = post(url, body, square_headers(url, body))
    assert first.status_code == 200 and first.json()["status"] == "accepted", first.text
    again = post(url, body, square_headers(url, body))  # Square's retry of the same notification
    assert again.status_code == 200 and again.json()["status"] == "duplicate"

    event = one_event(sandbox_state, "square", lambda e: e["detail"]["payload"].get("event_id") == event_id)
    assert event["detail-type"] == "payment.updated"  # eventTypePath: type
    assert event["detail"]["kind"] == "hmac" and event["detail"]["sourceName"] == "square"
    assert event["detail"]["deliveryId"].startswith("body:")  # Square sends no delivery id header


def test_a_sendgrid_batch_is_verified_deduplicated_and_becomes_an_event(sandbox_state: dict[str, Any]) -> None:
    url = sandbox_state["inbound"]["sendgrid"]
    marker = str(uuid.uuid4())
    body = json.dumps(
        [
            {"email": "a@example.com", "event": "processed", "sg_event_id": marker, "timestamp": int(time.time())},
            {"email": "b@example.com", "event": "delivered", "sg_event_id": marker + "-2"},
        ]
    ).encode()

    stale = post(url, body, sendgrid_headers(body, timestamp=int(time.time()) - 3600))
    assert stale.status_code == 401  # outside the 300 s tolerance, however well signed
    forged = post(url, body.replace(b"processed", b"dropped"), sendgrid_headers(body))
    assert forged.status_code == 401  # a valid signature moved onto another body
    first = post(url, body, sendgrid_headers(body))
    assert first.status_code == 200 and first.json()["status"] == "accepted", first.text
    again = post(url, body, sendgrid_headers(body))  # SendGrid's retry of the batch, signed anew
    assert again.status_code == 200 and again.json()["status"] == "duplicate"

    event = one_event(
        sandbox_state,
        "sendgrid",
        lambda e: isinstance(p := e["detail"]["payload"], list) and p[0]["sg_event_id"] == marker,
    )
    assert event["detail-type"] == "webhook"  # a batch mixes event types
    assert event["detail"]["kind"] == "sendgrid"
    assert event["detail"]["deliveryId"] == "body:" + hashlib.sha256(body).hexdigest()
