"""Issue 14's kinds through the real ingest handler on moto: generic HMAC sources, SendGrid, Discord,
Microsoft Graph, and the providers' endpoint checks (nothing is enqueued for those)."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any
from urllib.parse import quote

from functions.inbound import ingest
from functions.inbound.verify import SignedRequest
from tests.functions.inbound import recipes, signers
from tests.functions.inbound.conftest import InboundStack, body_of, function_url_event, status
from tests.functions.inbound.signers import NOW


def send(path: str, request: SignedRequest, *, method: str = "POST") -> dict[str, Any]:
    return ingest.handle(function_url_event(path, request, method=method), ingest.runtime(), now=NOW)


def envelopes(stack: InboundStack) -> list[dict[str, Any]]:
    return [json.loads(m["Body"]) for m in stack.messages()]


def test_a_generic_hmac_source_is_verified_enqueued_and_deduplicated(inbound_stack: InboundStack) -> None:
    body = json.dumps({"type": "Issue", "action": "create", "data": {"id": "i1"}}).encode()
    request = recipes.linear(body, "lin-secret")
    first = send("/linear", request)
    assert status(first) == 200
    (envelope,) = envelopes(inbound_stack)
    assert (envelope["kind"], envelope["eventType"]) == ("hmac", "Issue")
    assert envelope["deliveryId"] == request.headers["linear-delivery"]
    # A replay under a fresh (unsigned) Linear-Delivery: the signed content was claimed, a duplicate.
    replayed = replace(request, headers={**request.headers, "linear-delivery": "a-new-id"})
    assert body_of(send("/linear", replayed)) == {"status": "duplicate", "eventId": body_of(first)["eventId"]}
    forged = replace(request, body=body.replace(b"i1", b"i2"))
    assert status(send("/linear", forged)) == 401
    assert len(envelopes(inbound_stack)) == 1


def test_timed_hmac_and_url_signing_sources(inbound_stack: InboundStack) -> None:
    paddle = recipes.paddle(json.dumps({"event_id": "evt_1", "event_type": "transaction.paid"}).encode(), "pdl-secret")
    assert status(send("/paddle", paddle)) == 200
    assert status(send("/paddle", paddle)) == 200  # Paddle's retry of the same request: a duplicate
    stale = recipes.paddle(b"{}", "pdl-secret", timestamp=NOW - 6)
    assert body_of(send("/paddle", stale)) == {"error": "signature verification failed (stale_timestamp)"}
    square = recipes.square(b'{"type":"payment.created","event_id":"e1"}', "sq-key")
    assert status(send("/square", square)) == 200
    # Square signs the notification URL: a query string appended by whoever posts breaks it.
    assert status(send("/square", replace(square, query="x=1"))) == 401
    types = sorted(e["eventType"] for e in envelopes(inbound_stack))
    assert types == ["transaction.paid", "webhook"]


def test_zoom_url_validation_is_answered_after_verification_and_not_enqueued(inbound_stack: InboundStack) -> None:
    body = json.dumps(
        {"event": "endpoint.url_validation", "payload": {"plainToken": "qgg8vlvZRS6UYooatFL8Aw"}}
    ).encode()
    response = send("/zoom", recipes.zoom(body, "zoom-secret"))
    assert status(response) == 200
    answer = body_of(response)
    assert answer["plainToken"] == "qgg8vlvZRS6UYooatFL8Aw"
    assert (
        answer["encryptedToken"]
        == __import__("hmac").new(b"zoom-secret", b"qgg8vlvZRS6UYooatFL8Aw", "sha256").hexdigest()
    )
    assert status(send("/zoom", recipes.zoom(body, "not-the-secret"))) == 401  # unsigned: no answer
    assert envelopes(inbound_stack) == []


def test_unsigned_challenges_are_echoed_and_nothing_else_passes_unsigned(inbound_stack: InboundStack) -> None:
    dropbox = send("/dropbox", SignedRequest(headers={}, body=b"", query="challenge=QrB6hW1dq2"), method="GET")
    assert (status(dropbox), dropbox["body"], dropbox["headers"]["content-type"]) == (
        200,
        "QrB6hW1dq2",
        "text/plain; charset=utf-8",
    )
    assert dropbox["headers"]["x-content-type-options"] == "nosniff"
    assert status(send("/dropbox", SignedRequest(headers={}, body=b"", query="other=1"), method="GET")) == 401
    token = "Validation: Testing client application reachability for subscription Request-Id: 3b3f9821"
    graph = send(
        "/msgraph",
        SignedRequest(headers={"content-type": "text/plain"}, body=b"", query="validationToken=" + quote(token)),
    )
    assert (status(graph), graph["body"]) == (200, token)
    # Another source's challenge is not answered (GitHub allows no GET; Linear has no challenge).
    assert status(send("/github", SignedRequest(headers={}, body=b"", query="challenge=x"), method="GET")) == 405
    assert status(send("/linear", SignedRequest(headers={}, body=b"", query="validationToken=x"))) == 401
    dropbox_event = recipes.dropbox(b'{"list_folder":{"accounts":["dbid:1"]}}', "dbx-secret")
    assert status(send("/dropbox", dropbox_event)) == 200
    assert len(envelopes(inbound_stack)) == 1


def test_sendgrid_discord_and_graph_events_are_enqueued(inbound_stack: InboundStack) -> None:
    sendgrid = signers.sendgrid(b'[{"event":"delivered","sg_event_id":"e1"},{"event":"open","sg_event_id":"e2"}]')
    assert status(send("/sendgrid", sendgrid)) == 200
    assert status(send("/sendgrid", sendgrid)) == 200  # the same signed batch again: a duplicate (body key)
    discord = signers.discord(b'{"version":1,"type":1,"event":{"type":"APPLICATION_AUTHORIZED","data":{}}}')
    assert status(send("/discord", discord)) == 200
    graph = json.dumps({"value": [{"clientState": "graph-client-state", "changeType": "updated", "resource": "r"}]})
    assert (
        status(send("/msgraph", SignedRequest(headers={"content-type": "application/json"}, body=graph.encode())))
        == 200
    )
    assert sorted(e["eventType"] for e in envelopes(inbound_stack)) == ["APPLICATION_AUTHORIZED", "updated", "webhook"]
    wrong = SignedRequest(
        headers={"content-type": "application/json"}, body=graph.replace("graph-client", "x").encode()
    )
    assert status(send("/msgraph", wrong)) == 401


def test_discord_pings_are_answered_and_not_enqueued(inbound_stack: InboundStack) -> None:
    events_ping = send("/discord", signers.discord(b'{"version":1,"application_id":"1","type":0}'))
    assert (status(events_ping), events_ping["body"]) == (204, "")
    interactions_ping = send("/discord", signers.discord(b'{"type":1,"id":"1","application_id":"1","token":"t"}'))
    assert body_of(interactions_ping) == {"type": 1}
    # Discord's own check sends a bad signature and expects 401.
    unsigned = replace(signers.discord(b'{"type":1}'), body=b'{"type":1 }')
    assert status(send("/discord", unsigned)) == 401
    assert envelopes(inbound_stack) == []


def test_a_malformed_public_key_is_a_500(inbound_stack: InboundStack) -> None:
    inbound_stack.set_secret("sendgrid", "not-a-key")
    response = send("/sendgrid", signers.sendgrid(b"[]"))
    assert status(response) == 500 and "misconfigured" in response["body"]
