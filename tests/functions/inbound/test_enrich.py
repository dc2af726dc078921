"""The Pipe enrichment under moto: rehydration, pointers, integrity, and the bus mapping end to end."""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from functions.inbound import enrich, ingest
from functions.inbound.envelope import ClaimCheck, Envelope
from functions.inbound.target import bus_entry
from tests.functions.inbound import signers
from tests.functions.inbound.conftest import EVENTS, InboundStack, function_url_event, status
from tests.functions.inbound.test_ingest import FailingCall, github_request


def pipes_batch(*bodies: str) -> list[dict[str, Any]]:
    """Records shaped as EventBridge Pipes delivers an SQS batch (from the stored sample)."""
    template = json.loads((EVENTS / "pipes_sqs_batch.json").read_text())[0]
    records = []
    for index, body in enumerate(bodies):
        record = copy.deepcopy(template)
        record.update(messageId=f"m-{index}", body=body)
        records.append(record)
    return records


def queued_bodies(stack: InboundStack) -> list[str]:
    return [m["Body"] for m in stack.messages()]


def envelope(body: bytes | None = None, pointer: ClaimCheck | None = None) -> Envelope:
    return Envelope(
        source="github",
        kind="github",
        delivery_key="id:d-9",
        event_type="push",
        received_at="2026-01-01T00:00:00.000Z",
        content_type="application/json",
        headers={},
        body=body,
        claim_check=pointer,
    )


def test_inline_message_becomes_an_item_with_the_parsed_payload(inbound_stack: InboundStack) -> None:
    assert status(ingest.handler(function_url_event("/github", github_request()))) == 200
    [item] = enrich.handler(pipes_batch(*queued_bodies(inbound_stack)))
    assert item["source"] == "hookstack.github" and item["detailType"] == "push"
    assert item["detail"]["payload"]["repository"]["id"] == 1296269
    assert item["detail"]["deliveryId"] == "d-1"


def test_claim_checked_payload_is_rehydrated_when_the_event_fits(inbound_stack: InboundStack) -> None:
    document = {"repository": {"id": 1}, "blob": "x" * 5000}  # above the 1000-byte test threshold
    assert status(ingest.handler(function_url_event("/github", github_request(document)))) == 200
    [body] = queued_bodies(inbound_stack)
    assert "claimCheck" in json.loads(body)
    [item] = enrich.handler(pipes_batch(body))
    assert item["detail"]["payload"] == document and "payloadRef" not in item["detail"]


def test_payload_too_big_for_the_bus_keeps_the_pointer_and_is_not_read(inbound_stack: InboundStack) -> None:
    document = {"repository": {"id": 1}, "blob": "x" * 300_000}
    assert status(ingest.handler(function_url_event("/github", github_request(document)))) == 200
    gets = FailingCall(enrich.s3().get_object, times=0)
    enrich.s3().get_object = gets
    [item] = enrich.handler(pipes_batch(*queued_bodies(inbound_stack)))
    assert gets.calls == 0
    ref = item["detail"]["payloadRef"]
    assert ref["size"] > 300_000 and ref["key"].startswith("payloads/github/")
    assert "payload" not in item["detail"]


def test_tampered_or_missing_payload_fails_the_batch(inbound_stack: InboundStack) -> None:
    s3 = inbound_stack.client("s3")
    s3.put_object(Bucket=inbound_stack.bucket, Key="payloads/github/x", Body=b'{"a":2}')
    wrong = ClaimCheck(inbound_stack.bucket, "payloads/github/x", 7, hashlib.sha256(b'{"a":1}').hexdigest())
    with pytest.raises(enrich.PayloadIntegrityError):
        enrich.handler(pipes_batch(envelope(pointer=wrong).serialize()))
    missing = ClaimCheck(inbound_stack.bucket, "payloads/github/gone", 7, wrong.sha256)
    with pytest.raises(
        enrich.PayloadMissingError, match=r"s3://inbound-payloads/payloads/github/gone is gone \(expired"
    ):
        enrich.handler(pipes_batch(envelope(pointer=missing).serialize()))


class RefusingGet:
    """``get_object`` answering with one S3 error, as the real service would."""

    def __init__(self, code: str, status_code: int) -> None:
        self.error = ClientError(
            {"Error": {"Code": code, "Message": "x"}, "ResponseMetadata": {"HTTPStatusCode": status_code}}, "GetObject"
        )

    def __call__(self, **kwargs: Any) -> Any:
        raise self.error


@pytest.mark.parametrize(
    ("code", "status_code", "expected", "message"),
    [
        ("NoSuchKey", 404, enrich.PayloadMissingError, "is gone"),
        # HEAD-style answers carry only the status as their code.
        ("404", 404, enrich.PayloadMissingError, "is gone"),
        # Without s3:ListBucket S3 answers 403 for a missing object: named, with that possibility.
        ("AccessDenied", 403, enrich.PayloadAccessDeniedError, "without s3:ListBucket S3 also answers 403"),
    ],
)
def test_missing_or_denied_payload_is_named_for_what_it_is(
    inbound_stack: InboundStack, code: str, status_code: int, expected: type[Exception], message: str
) -> None:
    pointer = ClaimCheck(inbound_stack.bucket, "payloads/github/k", 7, "0" * 64)
    enrich.s3().get_object = RefusingGet(code, status_code)
    with pytest.raises(expected, match=message) as caught:
        enrich.handler(pipes_batch(envelope(pointer=pointer).serialize()))
    assert isinstance(caught.value.__cause__, ClientError)  # the S3 error stays attached


def test_other_s3_errors_are_raised_as_they_are(inbound_stack: InboundStack) -> None:
    pointer = ClaimCheck(inbound_stack.bucket, "payloads/github/k", 7, "0" * 64)
    refusing = RefusingGet("SlowDown", 503)
    enrich.s3().get_object = refusing
    with pytest.raises(ClientError) as caught:
        enrich.handler(pipes_batch(envelope(pointer=pointer).serialize()))
    assert caught.value is refusing.error


def test_foreign_message_fails_the_batch_rather_than_being_dropped(inbound_stack: InboundStack) -> None:
    with pytest.raises(ValueError, match="not a version 1 inbound envelope"):
        enrich.handler(pipes_batch(envelope(b"{}").serialize(), '{"hello": "world"}'))


def test_batch_keeps_order_and_accepts_the_lambda_sqs_shape(inbound_stack: InboundStack) -> None:
    bodies = [envelope(json.dumps({"n": n}).encode()).serialize() for n in range(3)]
    items = enrich.handler(pipes_batch(*bodies))
    assert [i["detail"]["payload"]["n"] for i in items] == [0, 1, 2]
    assert enrich.handler({"Records": pipes_batch(*bodies)}) == items


def test_events_use_the_configured_event_source(inbound_stack: InboundStack, monkeypatch: pytest.MonkeyPatch) -> None:
    body = envelope(b"{}").serialize()
    assert enrich.handler(pipes_batch(body))[0]["source"] == "hookstack.github"  # unset: the default
    monkeypatch.setenv("CONSUMER_EVENT_SOURCE", "acme")
    enrich.reset()  # settings are read once per process (Lambda's environment never changes in one)
    assert enrich.handler(pipes_batch(body))[0]["source"] == "acme.github"


def test_end_to_end_ingest_queue_enrich_bus_rule(inbound_stack: InboundStack, monkeypatch: pytest.MonkeyPatch) -> None:
    """What the Pipe does, step by step: receive, enrich, put on the bus; a rule routes the event."""
    monkeypatch.setenv("CONSUMER_EVENT_SOURCE", "acme")  # provider.eventSource: acme
    enrich.reset()  # settings are read once per process
    events = inbound_stack.client("events")
    sqs = inbound_stack.client("sqs")
    events.create_event_bus(Name="entry")
    sink = sqs.create_queue(QueueName="sink")["QueueUrl"]
    sink_arn = sqs.get_queue_attributes(QueueUrl=sink, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(
        Name="inbound-github",
        EventBusName="entry",
        EventPattern=json.dumps({"source": ["acme.github"], "detail-type": ["push"]}),
    )
    events.put_targets(Rule="inbound-github", EventBusName="entry", Targets=[{"Id": "sink", "Arn": sink_arn}])

    import time

    stripe_body = json.dumps({"id": "evt_1", "type": "invoice.paid", "data": {"object": {"customer": "c"}}}).encode()
    assert status(ingest.handler(function_url_event("/github", github_request()))) == 200
    assert (
        status(
            ingest.handler(
                function_url_event(
                    "/stripe", signers.stripe_request(stripe_body, "whsec_stripe", timestamp=int(time.time()))
                )
            )
        )
        == 200
    )
    received = sqs.receive_message(QueueUrl=inbound_stack.queue_url, MaxNumberOfMessages=10)["Messages"]
    items = enrich.handler(pipes_batch(*[m["Body"] for m in received]))
    result = events.put_events(Entries=[bus_entry(item, "entry") for item in items])
    assert result["FailedEntryCount"] == 0
    [routed] = sqs.receive_message(QueueUrl=sink, MaxNumberOfMessages=10)["Messages"]
    event = json.loads(routed["Body"])
    assert event["source"] == "acme.github" and event["detail-type"] == "push"
    assert event["detail"]["payload"]["repository"]["id"] == 1296269
    assert event["detail"]["eventId"].startswith("in_")
