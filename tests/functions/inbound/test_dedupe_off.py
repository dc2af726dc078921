"""``dedupe: off`` through the real ingest (and enrichment) on moto: Dropbox and Microsoft Graph
notifications that repeat byte for byte are each their own event, and the ledger is never touched.

The conftest's ``dropbox-sync`` and ``graph-sync`` sources are ``dedupe: off``; ``dropbox`` and
``msgraph`` are the same providers with the default ``content``.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from functions.environ import SettingsError
from functions.inbound import enrich, ingest
from functions.inbound.envelope import PER_REQUEST, Envelope, parse_envelope, request_key
from functions.inbound.settings import IngestSettings, SourceConfig
from functions.inbound.verify import SignedRequest
from tests.functions.inbound import recipes
from tests.functions.inbound.conftest import InboundStack, body_of, function_url_event
from tests.functions.inbound.test_cost import record_calls
from tests.functions.inbound.test_enrich import pipes_batch

DROPBOX = b'{"list_folder": {"accounts": ["dbid:AAH4f99"]}, "delta": {"users": [12345678]}}'
GRAPH = json.dumps(
    {"value": [{"clientState": "graph-client-state", "changeType": "updated", "resource": "me/drive/root"}]}
).encode()


def dropbox_notification() -> SignedRequest:
    return recipes.dropbox(DROPBOX, "dbx-secret")


def graph_notification() -> SignedRequest:
    return SignedRequest(headers={"content-type": "application/json"}, body=GRAPH)


PROVIDERS = [
    pytest.param("/dropbox-sync", "/dropbox", dropbox_notification, id="dropbox"),
    pytest.param("/graph-sync", "/msgraph", graph_notification, id="msgraph"),
]


def send(path: str, request: SignedRequest) -> dict[str, Any]:
    # The same function URL event twice, request id included (the stored sample's): a provider's retry
    # of a request already answered 200 looks exactly like this, and so does a repeated notification.
    return ingest.handler(function_url_event(path, request))


def queued(stack: InboundStack, source: str) -> list[dict[str, Any]]:
    return [m for m in stack.messages() if json.loads(m["Body"])["source"] == source]


def ledger_items(stack: InboundStack) -> list[dict[str, Any]]:
    return list(stack.client("dynamodb").scan(TableName=stack.table)["Items"])


@pytest.mark.parametrize(("off", "content", "notification"), PROVIDERS)
def test_identical_notifications_to_a_dedupe_off_source_are_two_events_and_the_ledger_is_untouched(
    inbound_stack: InboundStack, off: str, content: str, notification: Any
) -> None:
    first, second = send(off, notification()), send(off, notification())
    assert body_of(first)["status"] == body_of(second)["status"] == "accepted"
    assert body_of(first)["eventId"] != body_of(second)["eventId"]
    messages = queued(inbound_stack, off.strip("/"))
    assert len(messages) == 2
    dedup_ids = {m["Attributes"]["MessageDeduplicationId"] for m in messages}
    envelopes = [json.loads(m["Body"]) for m in messages]
    assert len(dedup_ids) == 2
    assert {e["eventId"] for e in envelopes} == {body_of(first)["eventId"], body_of(second)["eventId"]}
    assert all(e["recordKey"].startswith(PER_REQUEST) for e in envelopes)
    assert envelopes[0]["deliveryId"] == envelopes[1]["deliveryId"]  # the body's hash: consumers see the repeat
    # Ordering is unchanged: one group, the source, in the order accepted.
    assert {m["Attributes"]["MessageGroupId"] for m in messages} == {off.strip("/")}
    assert ledger_items(inbound_stack) == []

    # The default (content) source of the same provider: the second is a duplicate, as before.
    accepted, duplicate = send(content, notification()), send(content, notification())
    assert body_of(accepted)["status"] == "accepted"
    assert body_of(duplicate) == {"status": "duplicate", "eventId": body_of(accepted)["eventId"]}
    assert len(queued(inbound_stack, content.strip("/"))) == 1
    assert len(ledger_items(inbound_stack)) == 1


def test_a_dedupe_off_webhook_costs_one_send_and_no_ledger_request(inbound_stack: InboundStack) -> None:
    send("/dropbox-sync", dropbox_notification())  # the secret is read once per instance
    calls = record_calls()
    assert body_of(send("/dropbox-sync", dropbox_notification()))["status"] == "accepted"
    assert calls == {"sqs:SendMessage": 1}  # default sources: + one eventually consistent GetItem + one PutItem


def test_dedupe_off_claim_checks_each_request_under_its_own_key(inbound_stack: InboundStack) -> None:
    large = b'{"list_folder": {"accounts": ["dbid:AAH4f99"]}, "pad": "' + b"p" * 1200 + b'"}'  # threshold 1000
    for _ in range(2):
        assert body_of(send("/dropbox-sync", recipes.dropbox(large, "dbx-secret")))["status"] == "accepted"
    keys = [k for k in inbound_stack.objects() if k.startswith("payloads/dropbox-sync/")]
    pointers = [json.loads(m["Body"])["claimCheck"]["key"] for m in queued(inbound_stack, "dropbox-sync")]
    assert len(keys) == 2 and sorted(pointers) == sorted(keys)


def test_the_enrichment_takes_dedupe_off_messages_each_with_its_own_event_id(inbound_stack: InboundStack) -> None:
    send("/graph-sync", graph_notification())
    send("/graph-sync", graph_notification())
    bodies = [m["Body"] for m in queued(inbound_stack, "graph-sync")]
    items = enrich.handler(pipes_batch(*bodies))
    assert len({item["detail"]["eventId"] for item in items}) == 2
    assert [item["detail"]["eventId"] for item in items] == [parse_envelope(b).event_id for b in bodies]
    assert all(item["detailType"] == "updated" for item in items)


def test_the_settings_carry_dedupe_and_refuse_what_the_configuration_refuses() -> None:
    sources = {
        "dbx": SourceConfig("dbx", "hmac", "s", hmac=recipes.config("dropbox"), dedupe="off"),
        "graph": SourceConfig("graph", "msgraph", "s", dedupe="off"),
        "gh": SourceConfig("gh", "github", "s"),
    }
    settings = IngestSettings(sources=sources, table_name="t", queue_url="q", bucket_name="b")
    environ = settings.to_environ()
    document = json.loads(environ["CONSUMER_SOURCES"])
    assert (document["dbx"]["dedupe"], document["graph"]["dedupe"]) == ("off", "off")
    assert "dedupe" not in document["gh"]  # the default is not written: existing stacks' environment is unchanged
    assert IngestSettings.from_environ(environ) == settings
    for entry, message in [
        ({"kind": "msgraph", "secretId": "s", "dedupe": "none"}, r"\.dedupe must be one of content, off; got 'none'"),
        ({"kind": "msgraph", "secretId": "s", "dedupe": False}, r"must be one of content, off; got False"),
        (
            {"kind": "github", "secretId": "s", "dedupe": "off"},
            r"CONSUMER_SOURCES\['x'\]\.dedupe must be content for a github source: off is accepted only for kinds "
            r"hmac and msgraph",
        ),
        (
            {"kind": "hmac", "secretId": "s", "hmac": recipes.RECIPES["linear"], "dedupe": "off"},
            r"\.dedupe must be content for an hmac source with hmac\.deliveryIdHeader",
        ),
    ]:
        with pytest.raises(SettingsError, match=message):
            IngestSettings.from_environ({**environ, "CONSUMER_SOURCES": json.dumps({"x": entry})})


def test_a_per_request_record_key_round_trips_through_the_envelope_and_others_are_refused() -> None:
    envelope = Envelope(
        source="graph-sync",
        kind="msgraph",
        delivery_key="body:" + "0" * 64,
        event_type="updated",
        received_at="2026-01-01T00:00:00.000Z",
        content_type="application/json",
        headers={},
        body=GRAPH,
        record_key=request_key(),
    )
    assert parse_envelope(envelope.serialize()) == envelope
    assert request_key() != request_key() and len(request_key()) == len(PER_REQUEST) + 32
    forged = envelope.to_json() | {"recordKey": "other:1"}
    with pytest.raises(ValueError, match="envelope recordKey must start with sig: or req:"):
        parse_envelope(json.dumps(forged))
