"""Replays under a fresh delivery id: GitHub, Shopify and Twilio sign neither a timestamp nor their id.

The ingest deduplicates these kinds on their signed content, not on the unsigned delivery id
(docs/consumer.md, "Idempotency"): the same signed request re-posted under a new id is a duplicate
while the original is remembered, and nothing is ever enqueued twice.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from twilio.request_validator import RequestValidator

from functions.inbound import ingest
from functions.inbound.envelope import content_key, dedupe_key, parse_envelope
from functions.inbound.verify import SignedRequest
from tests.functions.inbound import signers
from tests.functions.inbound.conftest import InboundStack, body_of, status
from tests.functions.inbound.test_ingest import FailingCall, github_request, send

ID_HEADERS = {"github": "x-github-delivery", "shopify": "x-shopify-webhook-id", "twilio": "i-twilio-idempotency-token"}


def original(kind: str) -> SignedRequest:
    if kind == "github":
        return github_request()
    if kind == "shopify":
        return signers.shopify(json.dumps({"id": 820982911946154508, "total_price": "10.00"}).encode(), "shop-secret")
    request = signers.twilio_form([("MessageSid", "SM1"), ("MessageStatus", "delivered")], "tw-token", query="tenant=7")
    return with_id(request, "twilio", "token-1")


def with_id(request: SignedRequest, kind: str, delivery: str) -> SignedRequest:
    return SignedRequest(
        headers={**request.headers, ID_HEADERS[kind]: delivery}, body=request.body, query=request.query
    )


def ledger_keys(stack: InboundStack) -> list[str]:
    items = stack.client("dynamodb").scan(TableName=stack.table)["Items"]
    return sorted(item["pk"]["S"] for item in items)


@pytest.mark.parametrize("kind", ["github", "shopify", "twilio"])
def test_the_same_signed_request_under_a_fresh_id_is_a_duplicate(
    inbound_stack: InboundStack, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    request = original(kind)
    assert body_of(send(f"/{kind}", request))["status"] == "accepted"
    capsys.readouterr()
    keys_after_original = ledger_keys(inbound_stack)
    assert len(keys_after_original) == 1  # one record: the signed content (naming the delivery id)
    replay = send(f"/{kind}", with_id(request, kind, "attacker-chosen-id"))
    assert status(replay) == 200 and body_of(replay)["status"] == "duplicate"
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert [(r["InboundDuplicates"], r["matched"]) for r in emf] == [(1, "signed_content")]  # a replay, counted as such
    # The provider's own retry (same id) is still a duplicate too.
    assert body_of(send(f"/{kind}", request))["status"] == "duplicate"
    assert len(inbound_stack.messages()) == 1
    assert ledger_keys(inbound_stack) == keys_after_original  # a duplicate writes nothing


def test_twilio_params_reordered_or_re_encoded_are_the_same_signed_content(inbound_stack: InboundStack) -> None:
    request = original("twilio")
    assert body_of(send("/twilio", request))["status"] == "accepted"
    # Twilio signs the params sorted (and de-duplicated), not the body bytes: these all verify.
    for body in (
        b"MessageStatus=delivered&MessageSid=SM1",
        b"MessageSid=SM1&&MessageStatus=delivered",
        b"MessageSid=SM1&MessageStatus=delivered&MessageSid=SM1",
    ):
        variant = SignedRequest(
            headers={**request.headers, "i-twilio-idempotency-token": body.decode()}, body=body, query=request.query
        )
        response = send("/twilio", variant)
        assert status(response) == 200 and body_of(response)["status"] == "duplicate", body
    assert len(inbound_stack.messages()) == 1


def test_a_failed_send_leaves_nothing_so_the_retry_is_processed(inbound_stack: InboundStack) -> None:
    rt = ingest.runtime()
    rt.sqs.send_message = FailingCall(rt.sqs.send_message, times=1)
    request = github_request()
    assert status(send("/github", request)) == 503
    assert ledger_keys(inbound_stack) == []  # nothing is written before the send
    assert body_of(send("/github", request))["status"] == "accepted"
    assert body_of(send("/github", with_id(request, "github", "fresh")))["status"] == "duplicate"
    assert len(inbound_stack.messages()) == 1


def test_an_unreadable_ledger_is_a_503_and_nothing_is_sent(inbound_stack: InboundStack) -> None:
    rt = ingest.runtime()
    rt.dynamodb.get_item = FailingCall(rt.dynamodb.get_item, times=1)
    answer = send("/github", github_request())
    assert status(answer) == 503 and answer["headers"]["retry-after"]
    assert ledger_keys(inbound_stack) == [] and inbound_stack.messages() == []
    assert body_of(send("/github", github_request()))["status"] == "accepted"


def during_enqueue(action: Callable[[], None]) -> None:
    """Run ``action`` while the request in flight holds its claims, just before its SendMessage."""
    rt = ingest.runtime()
    real = rt.sqs.send_message

    def send_message(**kwargs: Any) -> Any:
        rt.sqs.send_message = real
        action()
        return real(**kwargs)

    rt.sqs.send_message = send_message


def test_concurrent_replays_never_enqueue_twice(inbound_stack: InboundStack) -> None:
    request = github_request()
    answers: list[dict[str, Any]] = []
    during_enqueue(
        lambda: answers.extend([send("/github", with_id(request, "github", "fresh")), send("/github", request)])
    )
    original = send("/github", request)
    # Before the original was recorded, the replay and the provider's retry looked up nothing and sent
    # too: one deduplication id (the signed content's), so SQS kept the first message only.
    assert [status(a) for a in [*answers, original]] == [200, 200, 200]
    assert {body_of(a)["eventId"] for a in [*answers, original]} == {body_of(original)["eventId"]}
    [message] = inbound_stack.messages()
    assert parse_envelope(message["Body"]).delivery_id == "fresh"  # whichever sent first
    # Once recorded, both are duplicates.
    assert body_of(send("/github", with_id(request, "github", "fresh")))["status"] == "duplicate"
    assert body_of(send("/github", request))["status"] == "duplicate"
    assert len(inbound_stack.messages()) == 1


def test_one_body_under_two_event_types_is_two_events(inbound_stack: InboundStack) -> None:
    """Shopify sends the order resource for several topics; neither delivery may be dropped."""
    request = original("shopify")
    paid = SignedRequest(
        headers={**request.headers, "x-shopify-topic": "orders/paid", "x-shopify-webhook-id": "w-2"}, body=request.body
    )
    assert body_of(send("/shopify", request))["status"] == "accepted"
    assert body_of(send("/shopify", paid))["status"] == "accepted"
    assert sorted(parse_envelope(m["Body"]).event_type for m in inbound_stack.messages()) == [
        "orders/create",
        "orders/paid",
    ]


# What an attacker can put in the unsigned event-type header of a captured request. HTTP headers
# arrive as latin-1 text: a UTF-8 zero-width space is three characters ("\xe2\x80\x8b") by then.
ZERO_WIDTH = "\u200b".encode().decode("latin-1")
RELABELS = {
    "github": ("Push", f"push{ZERO_WIDTH}", "pu sh", "p" * 129),
    "shopify": ("Orders/Create", f"orders/create{ZERO_WIDTH}"),
}
EVENT_HEADERS = {"github": "x-github-event", "shopify": "x-shopify-topic"}


def relabelled(request: SignedRequest, kind: str, event_type: str, delivery: str) -> SignedRequest:
    headers = {**request.headers, EVENT_HEADERS[kind]: event_type, ID_HEADERS[kind]: delivery}
    return SignedRequest(headers=headers, body=request.body, query=request.query)


@pytest.mark.parametrize("kind", ["github", "shopify"])
def test_a_replay_under_an_event_type_no_provider_sends_is_refused(inbound_stack: InboundStack, kind: str) -> None:
    """`Push`, zero-width and other spellings of the unsigned header are not new events: 400, nothing kept."""
    request = original(kind)
    assert body_of(send(f"/{kind}", request))["status"] == "accepted"
    keys = ledger_keys(inbound_stack)
    for number, event_type in enumerate(RELABELS[kind]):
        answer = send(f"/{kind}", relabelled(request, kind, event_type, f"fresh-{number}"))
        assert status(answer) == 400, event_type
        assert f"the {EVENT_HEADERS[kind]} header must be the provider's event type" in body_of(answer)["error"]
    # Surrounding whitespace is not a spelling (HTTP trims it): the same event type, a duplicate.
    assert (
        body_of(send(f"/{kind}", relabelled(request, kind, f" {request.headers[EVENT_HEADERS[kind]]} ", "fresh-x")))[
            "status"
        ]
        == "duplicate"
    )
    assert len(inbound_stack.messages()) == 1
    assert ledger_keys(inbound_stack) == keys  # nothing claimed by the refused ones


def test_a_github_replay_under_another_event_type_is_a_duplicate(inbound_stack: InboundStack) -> None:
    """A GitHub body is specific to its event: the signed-content key leaves the unsigned header out."""
    request = original("github")
    assert body_of(send("/github", request))["status"] == "accepted"
    for event_type in ("issues", "pull_request", "ping"):
        answer = send("/github", relabelled(request, "github", event_type, f"fresh-{event_type}"))
        assert status(answer) == 200 and body_of(answer)["status"] == "duplicate", event_type
    [message] = inbound_stack.messages()
    assert parse_envelope(message["Body"]).event_type == "push"


def test_an_unsigned_request_with_a_bad_event_type_is_a_401_not_a_400(inbound_stack: InboundStack) -> None:
    """The event type is only looked at once the signature verified: a forgery stays a signature failure."""
    request = original("github")
    forged = SignedRequest(
        headers={**request.headers, "x-github-event": "Push", "x-hub-signature-256": "sha256=" + "0" * 64},
        body=request.body,
    )
    assert status(send("/github", forged)) == 401


def test_timestamped_kinds_claim_only_their_delivery_id(inbound_stack: InboundStack) -> None:
    import time

    body = json.dumps({"id": "evt_9", "type": "invoice.paid", "data": {"object": {}}}).encode()
    assert status(send("/stripe", signers.stripe_request(body, "whsec_stripe", timestamp=int(time.time())))) == 200
    assert ledger_keys(inbound_stack) == ["stripe#id:evt_9"]


def test_the_content_record_names_its_delivery_and_expires_with_the_ttl(inbound_stack: InboundStack) -> None:
    import time

    request = github_request()
    before = int(time.time())
    assert status(send("/github", request)) == 200
    signed = dedupe_key("github", content_key(None, request.body))  # a GitHub body names its event
    record = inbound_stack.ledger(signed)
    assert record is not None and record["deliveryKey"] == "github#id:d-1" and record["status"] == "enqueued"
    assert before + 3600 <= int(record["expiresAt"]) <= int(time.time()) + 3600  # dedupeTtl (the stack's 3600 s)
    assert inbound_stack.ledger(dedupe_key("github", "id:d-1")) is None  # the unsigned id has no record of its own


def test_twilio_get_webhooks_with_different_queries_are_different_deliveries(inbound_stack: InboundStack) -> None:
    """A GET carries its data in the query and has no body: the query keeps two of them apart."""

    def get(query: str) -> SignedRequest:
        signature = RequestValidator("tw-token").compute_signature(f"{signers.TWILIO_URL}?{query}", {})
        return SignedRequest(headers={"x-twilio-signature": signature}, body=b"", query=query)

    first, second = "MessageSid=SM1&MessageStatus=sent", "MessageSid=SM2&MessageStatus=sent"
    assert body_of(send("/twilio", get(first), method="GET"))["status"] == "accepted"
    assert body_of(send("/twilio", get(second), method="GET"))["status"] == "accepted"
    assert body_of(send("/twilio", get(first), method="GET"))["status"] == "duplicate"
    envelopes = [parse_envelope(m["Body"]) for m in inbound_stack.messages()]
    assert sorted(e.query for e in envelopes) == [first, second]
    assert all(e.delivery_key.startswith("body:") and e.body == b"" for e in envelopes)


def test_an_unsigned_query_is_not_carried(inbound_stack: InboundStack) -> None:
    request = github_request()
    assert (
        status(send("/github", SignedRequest(headers=request.headers, body=request.body, query="tenant=evil"))) == 200
    )
    [message] = inbound_stack.messages()
    assert parse_envelope(message["Body"]).query == "" and "tenant=evil" not in message["Body"]
