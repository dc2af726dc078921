"""SendGrid (ECDSA P-256), Discord (ed25519), Microsoft Graph (clientState), and the providers' endpoint
checks (Zoom, Dropbox, Graph, Discord PING): oracles are the providers' SDKs, vectors and documents."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from components.config import StackConfigError, parse_stack_config
from functions import whsec
from functions.inbound.handshakes import Reply, discord_ping, dropbox_challenge, graph_validation, zoom_url_validation
from functions.inbound.payload import Payload
from functions.inbound.verify import SignedRequest, VerificationError, verify
from tests.functions.inbound import recipes, signers
from tests.functions.inbound.signers import NOW

ROOT = Path(__file__).resolve().parents[3]

# sendgrid/sendgrid-python, test/unit/test_eventwebhook.py: key, signature, timestamp and payload (with its
# trailing CRLF) of SendGrid's published example.
SENDGRID_KEY = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE83T4O/n84iotIvIW4mdBgQ/7dAfSmpqIM8kF9mN1flpVKS3GRqe62gw+2fNNRaINXvVpiglSI8eNEc6wEA3F+g=="
SENDGRID_SIGNATURE = "MEUCIGHQVtGj+Y3LkG9fLcxf3qfI10QysgDWmMOVmxG0u6ZUAiEAyBiXDWzM+uOe5W0JuG+luQAbPIqHh89M15TluLtEZtM="
SENDGRID_TIMESTAMP = 1600112502
SENDGRID_PAYLOAD = (
    json.dumps(
        [
            {
                "email": "hello@world.com",
                "event": "dropped",
                "reason": "Bounced Address",
                "sg_event_id": "ZHJvcC0xMDk5NDkxOS1MUnpYbF9OSFN0T0doUTRrb2ZTbV9BLTA",
                "sg_message_id": "LRzXl_NHStOGhQ4kofSm_A.filterdrecv-p3mdw1-756b745b58-kmzbl-18-5F5FC76C-9.0",
                "smtp-id": "<LRzXl_NHStOGhQ4kofSm_A@ismtpd0039p1iad1.sendgrid.net>",
                "timestamp": 1600112492,
            }
        ],
        sort_keys=True,
        separators=(",", ":"),
    )
    + "\r\n"
).encode()


def sendgrid_vector(**headers: str) -> SignedRequest:
    return SignedRequest(
        headers={
            "x-twilio-email-event-webhook-signature": SENDGRID_SIGNATURE,
            "x-twilio-email-event-webhook-timestamp": str(SENDGRID_TIMESTAMP),
            **headers,
        },
        body=SENDGRID_PAYLOAD,
    )


def test_sendgrid_published_vector() -> None:
    assert verify("sendgrid", sendgrid_vector(), [SENDGRID_KEY], now=SENDGRID_TIMESTAMP + 10) == 0
    other_key = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEqTxd43gyp8IOEto2LdIfjRQrIbsd4SXZkLW6jDutdhXSJCWHw8REntlo7aNDthvj+y7GjUuFDb/R1NGe1OPzpA=="
    with pytest.raises(VerificationError, match="bad_signature"):
        verify("sendgrid", sendgrid_vector(), [other_key], now=SENDGRID_TIMESTAMP)
    # Rotation: the old key first, the current one second.
    assert verify("sendgrid", sendgrid_vector(), [other_key, SENDGRID_KEY], now=SENDGRID_TIMESTAMP) == 1
    bad = "MEUCIQCtIHJeH93Y+qpYeWrySphQgpNGNr/U+UyUlBkU6n7RAwIgJTz2C+8a8xonZGi6BpSzoQsbVRamr2nlxFDWYNH3j/0="
    with pytest.raises(VerificationError, match="bad_signature"):
        verify(
            "sendgrid",
            sendgrid_vector(**{"x-twilio-email-event-webhook-signature": bad}),
            [SENDGRID_KEY],
            now=SENDGRID_TIMESTAMP,
        )
    with pytest.raises(VerificationError, match="malformed_header"):
        verify(
            "sendgrid",
            sendgrid_vector(**{"x-twilio-email-event-webhook-timestamp": "timestamp"}),
            [SENDGRID_KEY],
            now=SENDGRID_TIMESTAMP,
        )
    with pytest.raises(VerificationError, match="stale_timestamp"):
        verify("sendgrid", sendgrid_vector(), [SENDGRID_KEY], now=SENDGRID_TIMESTAMP + 301)


def test_sendgrid_accepts_what_a_key_signs_as_its_sdk_verifies_it() -> None:
    request = signers.sendgrid(b'[{"event":"delivered","sg_event_id":"e1"}]')
    assert verify("sendgrid", request, [signers.sendgrid_public_key()], now=NOW) == 0


def test_discord_accepts_what_pynacl_signs() -> None:
    request = signers.discord(b'{"type":1,"event":{"type":"APPLICATION_AUTHORIZED"}}')
    assert verify("discord", request, [signers.discord_public_key()], now=NOW) == 0
    assert verify("discord", request, [signers.discord_public_key().upper()], now=NOW) == 0  # hex either case
    with pytest.raises(VerificationError, match="bad_signature"):
        verify("discord", request, ["11" * 32], now=NOW)
    with pytest.raises(VerificationError, match="stale_timestamp"):
        verify("discord", request, [signers.discord_public_key()], now=NOW + 301)
    short = replace(
        request, headers={**request.headers, "x-signature-ed25519": request.headers["x-signature-ed25519"][:-2]}
    )
    with pytest.raises(VerificationError, match="malformed_header"):
        verify("discord", short, [signers.discord_public_key()], now=NOW)


def test_malformed_public_keys_are_500s_not_401s() -> None:
    with pytest.raises(whsec.SecretFormatError, match="sendgrid source key must be"):
        verify("sendgrid", sendgrid_vector(), ["not-a-key"], now=SENDGRID_TIMESTAMP)
    with pytest.raises(whsec.SecretFormatError, match="discord source key must be"):
        verify("discord", signers.discord(b"{}"), ["zz" * 32], now=NOW)
    # A well-formed header around a point that is not on the curve.
    off_curve = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE" + "A" * 86 + "=="
    with pytest.raises(whsec.SecretFormatError, match="not a point on P-256"):
        verify("sendgrid", sendgrid_vector(), [off_curve], now=SENDGRID_TIMESTAMP)


def test_key_formats_are_checked_at_config_time_with_their_key_paths() -> None:
    sources = [
        {"name": "sg", "kind": "sendgrid", "secret": "MFkw-not-base64"},
        {"name": "dc", "kind": "discord", "secret": SENDGRID_KEY, "previousSecret": "ab" * 31},
        {"name": "ok", "kind": "sendgrid", "secret": SENDGRID_KEY},
        {"name": "gr", "kind": "msgraph", "secret": "x" * 129},
    ]
    with pytest.raises(StackConfigError) as raised:
        parse_stack_config({"consumer": {"sources": sources}})
    paths = {p.path for p in raised.value.problems}
    assert paths == {
        "hookstack:consumer.sources[0].secret",
        "hookstack:consumer.sources[1].secret",
        "hookstack:consumer.sources[1].previousSecret",
        "hookstack:consumer.sources[3].secret",
    }
    assert not any(SENDGRID_KEY in p.message for p in raised.value.problems)


def test_msgraph_client_state_is_compared_on_every_notification() -> None:
    def notification(*states: object) -> SignedRequest:
        items = [{"subscriptionId": "s", "clientState": s, "changeType": "created"} for s in states]
        return SignedRequest(headers={"content-type": "application/json"}, body=json.dumps({"value": items}).encode())

    assert verify("msgraph", notification("secretClientValue"), ["old", "secretClientValue"], now=NOW) == 1
    for request, reason in (
        (notification("secretClientValue", "other"), "bad_signature"),
        (notification("secretClientValuf"), "bad_signature"),
        (notification(None), "missing_header"),
        (SignedRequest(headers={}, body=b'{"value": []}'), "malformed_body"),
        (SignedRequest(headers={}, body=b"not json"), "malformed_body"),
    ):
        with pytest.raises(VerificationError, match=reason):
            verify("msgraph", request, ["secretClientValue"], now=NOW)


# --------------------------------------------------------------------------------------------
# Endpoint checks
# --------------------------------------------------------------------------------------------


def test_discord_ping_is_answered_as_its_docs_say() -> None:
    # Webhook Events: PING is type 0, acknowledged with 204 and no body.
    assert discord_ping(Payload({"version": 1, "application_id": "1", "type": 0}, "json"), "") == Reply(204)
    # Interactions: PING is type 1, answered with {"type": 1} (PONG).
    assert discord_ping(Payload({"type": 1, "id": "1", "token": "t"}, "json"), "") == Reply.json({"type": 1})
    # An event (type 1 with an event object) is no PING: it is enqueued.
    assert discord_ping(Payload({"type": 1, "event": {"type": "APPLICATION_AUTHORIZED"}}, "json"), "") is None
    assert discord_ping(Payload({"type": True}, "json"), "") is None
    assert Reply(204).to_response() == {
        "statusCode": 204,
        "headers": {"x-content-type-options": "nosniff"},
        "body": "",
        "isBase64Encoded": False,
    }


def test_zoom_url_validation_answers_with_the_hmac_of_the_plain_token() -> None:
    """Zoom's docs: encryptedToken = hex HMAC-SHA256(secret token, plainToken); the answer echoes plainToken."""
    payload = Payload({"event": "endpoint.url_validation", "payload": {"plainToken": "qgg8vlvZRS6UYooatFL8Aw"}}, "json")
    reply = zoom_url_validation(payload, "Jefe")
    assert reply is not None and json.loads(reply.body) == {
        "plainToken": "qgg8vlvZRS6UYooatFL8Aw",
        "encryptedToken": __import__("hmac").new(b"Jefe", b"qgg8vlvZRS6UYooatFL8Aw", "sha256").hexdigest(),
    }
    assert zoom_url_validation(Payload({"event": "meeting.started"}, "json"), "k") is None
    assert (
        zoom_url_validation(Payload({"event": "endpoint.url_validation", "payload": {"plainToken": 7}}, "json"), "k")
        is None
    )


def test_unsigned_challenges_echo_only_a_short_printable_token_as_text() -> None:
    def request(query: str) -> SignedRequest:
        return SignedRequest(headers={}, body=b"", query=query)

    reply = dropbox_challenge("GET", request("challenge=abc123"))
    assert reply == Reply.text("abc123") and reply.to_response()["headers"] == {
        "x-content-type-options": "nosniff",
        "content-type": "text/plain; charset=utf-8",
    }
    assert dropbox_challenge("POST", request("challenge=abc")) is None  # the notifications are POSTs
    token = "Validation: Testing client application reachability for subscription Request-Id: 3b3f9821"
    assert graph_validation(
        "POST", request("validationToken=" + __import__("urllib.parse").parse.quote(token))
    ) == Reply.text(token)
    for query in (
        "challenge=",
        "challenge=a&challenge=b",
        "challenge=%0d%0aSet-Cookie:x",
        "challenge=" + "a" * 1025,
        "challenge=%ff",
    ):
        assert dropbox_challenge("GET", request(query)) is None, query


# --------------------------------------------------------------------------------------------
# cryptography is loaded only when a public-key source verifies
# --------------------------------------------------------------------------------------------


def test_cryptography_is_imported_only_by_a_public_key_verification() -> None:
    script = f"""
import hashlib, hmac, sys
import functions.inbound.ingest
from functions.inbound.hmac_scheme import parse_hmac
from functions.inbound.kinds import kind_of
from functions.inbound.verify import SignedRequest, verify
assert "cryptography" not in sys.modules, "imported by the ingest"
config, _ = parse_hmac({{"header": "X-Sig", "algorithm": "sha256", "encoding": "hex"}})
signature = hmac.new(b"k", b"{{}}", hashlib.sha256).hexdigest()
assert verify(kind_of("hmac", config), SignedRequest(headers={{"x-sig": signature}}, body=b"{{}}"), ["k"], now=0) == 0
assert "cryptography" not in sys.modules, "imported by an hmac verification"
try:
    verify("discord", SignedRequest(headers={{"x-signature-ed25519": "00" * 64, "x-signature-timestamp": "1"}}, body=b""), ["{"ab" * 32}"], now=1)
except Exception:
    pass
assert "cryptography" in sys.modules
"""
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0, result.stderr


def test_a_github_source_never_imports_the_modules_of_other_kinds() -> None:
    """The cold start of a stack without such sources does not compile the generic HMAC scheme, the
    public-key verifiers or the handshakes (functions.lazy); each comes with the first source using it."""
    script = """
import hashlib, hmac, json, sys
import functions.inbound.ingest
from functions.inbound.settings import parse_sources
from functions.inbound.verify import SignedRequest, verify
OTHERS = ("functions.inbound.hmac_scheme", "functions.inbound.asymmetric", "functions.inbound.handshakes")
parse_sources({"gh": {"kind": "github", "secretId": "s"}})
signature = "sha256=" + hmac.new(b"k", b"{}", hashlib.sha256).hexdigest()
assert verify("github", SignedRequest(headers={"x-hub-signature-256": signature}, body=b"{}"), ["k"]) == 0
assert not [m for m in OTHERS if m in sys.modules], [m for m in OTHERS if m in sys.modules]
parse_sources({"p": {"kind": "hmac", "secretId": "s", "hmac": {"header": "X", "algorithm": "sha1", "encoding": "hex"}}})
assert "functions.inbound.hmac_scheme" in sys.modules and "functions.inbound.asymmetric" not in sys.modules
from functions.inbound.hmac_scheme import parse_hmac
from functions.inbound.kinds import kind_of
plain, _ = parse_hmac({"header": "X-Sig", "algorithm": "sha256", "encoding": "hex"})
signature = hmac.new(b"k", b"{}", hashlib.sha256).hexdigest()
assert verify(kind_of("hmac", plain), SignedRequest(headers={"x-sig": signature}, body=b"{}"), ["k"]) == 0
assert "functions.inbound.handshakes" not in sys.modules, "imported by an hmac source without a handshake"
zoom, _ = parse_hmac({"header": "X-Sig", "algorithm": "sha256", "encoding": "hex", "handshake": "zoom"})
assert kind_of("hmac", zoom).handshake is not None and "functions.inbound.handshakes" in sys.modules
"""
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0, result.stderr


def test_recipes_module_signs_the_zoom_validation_like_any_event() -> None:
    body = json.dumps({"event": "endpoint.url_validation", "payload": {"plainToken": "tok"}}).encode()
    request = recipes.zoom(body, "zoom-secret")
    assert verify(recipes.kind("zoom"), request, ["zoom-secret"], now=NOW) == 0
