"""The publishing helper: FailedEntryCount is checked, failed entries retried, nothing silently lost."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import boto3
import pytest

from functions.events import (
    MAX_REQUEST_BYTES,
    REDRIVE_MARKER_KEY,
    Event,
    PublishError,
    entry_size,
    make_event,
    mark_for_redrive,
    publish,
)


class FlakyEvents:
    """A PutEvents double answering with per-entry error codes, as EventBridge does (HTTP 200)."""

    def __init__(self, plan: list[list[str | None]]) -> None:
        self.plan = plan
        self.calls: list[list[dict[str, Any]]] = []

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.calls.append(Entries)
        codes = self.plan.pop(0) if self.plan else [None] * len(Entries)
        results = [{"ErrorCode": c, "ErrorMessage": "boom"} if c else {"EventId": "id"} for c in codes]
        return {"FailedEntryCount": sum(1 for c in codes if c), "Entries": results}


def events(count: int) -> list[Any]:
    return [make_event("hookstack.test", "t", {"n": i}, tenant_id="1", event_id=f"evt_{i}") for i in range(count)]


def ids(entries: list[dict[str, Any]]) -> list[str]:
    return [json.loads(e["Detail"])["eventId"] for e in entries]


def test_only_failed_entries_are_retried_until_accepted() -> None:
    client = FlakyEvents([[None, "ThrottlingException", None], ["InternalFailure"], [None]])
    calls = publish(client, events(3), "bus", sleep=lambda _: None)
    assert calls == 3
    assert [ids(c) for c in client.calls] == [["evt_0", "evt_1", "evt_2"], ["evt_1"], ["evt_1"]]


def test_permanent_failures_raise_with_their_event_ids() -> None:
    client = FlakyEvents([[None, "MalformedDetail"]])
    with pytest.raises(PublishError) as caught:
        publish(client, events(2), "bus", sleep=lambda _: None)
    assert caught.value.failed == [("evt_1", "MalformedDetail", "boom")]
    assert len(client.calls) == 1  # a permanent error is not retried


def test_transient_failures_that_never_clear_raise_after_max_attempts() -> None:
    client = FlakyEvents([["ThrottlingException"]] * 10)
    with pytest.raises(PublishError) as caught:
        publish(client, events(1), "bus", max_attempts=4, sleep=lambda _: None)
    assert len(client.calls) == 4
    assert caught.value.failed[0][:2] == ("evt_0", "ThrottlingException")


def test_backoff_grows_and_is_capped() -> None:
    delays: list[float] = []
    client = FlakyEvents([["ThrottlingException"]] * 6)
    with pytest.raises(PublishError):
        publish(client, events(1), "bus", max_attempts=6, base_delay=1.0, max_delay=4.0, sleep=delays.append)
    assert len(delays) == 5
    assert all(0 <= d <= cap for d, cap in zip(delays, [1, 2, 4, 4, 4], strict=True))


def test_batches_hold_at_most_ten_entries() -> None:
    client = FlakyEvents([])
    publish(client, events(23), "bus")
    assert [len(c) for c in client.calls] == [10, 10, 3]


def test_batches_stay_under_the_request_size_limit() -> None:
    big = [make_event("s", "t", {"blob": "x" * 100_000}, tenant_id="1") for _ in range(5)]
    client = FlakyEvents([])
    publish(client, big, "bus")
    assert all(sum(entry_size(e) for e in call) <= MAX_REQUEST_BYTES for call in client.calls)
    assert sum(len(c) for c in client.calls) == 5


def test_an_entry_over_the_limit_is_refused_before_any_call() -> None:
    client = FlakyEvents([])
    with pytest.raises(ValueError, match="at most 262144"):
        publish(client, [make_event("s", "t", {"blob": "x" * 300_000}, tenant_id="1")], "bus")
    assert client.calls == []


def test_contract_fields_are_in_detail() -> None:
    event = make_event("hookstack.aurora", "widget.created", {"widgetName": "W"}, tenant_id=1, event_id="evt_x")
    entry = event.entry("bus")
    assert entry["Source"] == "hookstack.aurora"
    assert entry["DetailType"] == "widget.created"
    assert json.loads(entry["Detail"]) == {"widgetName": "W", "tenantId": "1", "eventId": "evt_x"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("", "t", {}), "source must be 1-256 characters"),
        (("s", "", {}), "event type"),
        (("s", "t", ["not", "an", "object"]), "event data must be a JSON object"),
    ],
)
def test_bad_events_are_refused_with_a_clear_message(args: tuple[Any, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make_event(*args)


@pytest.mark.parametrize(
    ("data", "tenant_id"),
    [
        ({"tenantId": ["1", "2"]}, None),  # EventBridge matches an array on any element: both tenants' rules
        ({"tenantId": {"prefix": "1"}}, None),
        ({}, "bad tenant"),
        ({}, "x" * 65),
        ({}, True),
    ],
)
def test_a_tenant_id_outside_the_contract_is_refused(data: dict[str, Any], tenant_id: Any) -> None:
    with pytest.raises(ValueError, match="tenant"):
        make_event("s", "t", data, tenant_id=tenant_id)
    assert make_event("s", "t", {"tenantId": "acme"}).detail()["tenantId"] == "acme"
    assert make_event("s", "t", {}, tenant_id=7).detail()["tenantId"] == "7"


# --- detail.hookstackRedrive is reserved: a marked event reaches one destination and no signed delivery


@pytest.mark.parametrize("value", ["crm", "", None, {"x": 1}])
def test_make_event_refuses_the_reserved_redrive_marker(value: object) -> None:
    with pytest.raises(
        ValueError, match=r"must not hold detail\.hookstackRedrive: the key is reserved for `python -m ops redrive`"
    ):
        make_event("app", "order.created", {REDRIVE_MARKER_KEY: value, "x": 1}, tenant_id="acme")


@pytest.mark.parametrize(
    "sneaked",
    [
        Event("app", "order.created", "acme", {REDRIVE_MARKER_KEY: "crm"}, "evt_by_hand"),
        replace(
            make_event("app", "order.created", {}, tenant_id="acme", event_id="evt_replaced"),
            data={REDRIVE_MARKER_KEY: "crm"},
        ),
    ],
    ids=["built-by-hand", "replaced"],
)
def test_publish_refuses_the_marker_in_event_data_before_any_call(sneaked: Event) -> None:
    client = FlakyEvents([])
    with pytest.raises(
        ValueError, match=rf"event {sneaked.event_id}: event data must not hold detail\.hookstackRedrive"
    ):
        publish(client, [*events(3), sneaked], "bus")
    assert client.calls == []  # not even the good ones: nothing half-published


def test_only_mark_for_redrive_sets_the_marker() -> None:
    event = make_event("app", "order.created", {"x": 1}, tenant_id="acme", event_id="evt_m")
    client = FlakyEvents([])

    marked = mark_for_redrive(event, "crm")
    publish(client, [marked], "bus")

    assert json.loads(client.calls[0][0]["Detail"]) == {
        "x": 1,
        "tenantId": "acme",
        "eventId": "evt_m",
        REDRIVE_MARKER_KEY: "crm",
    }
    assert REDRIVE_MARKER_KEY not in json.loads(mark_for_redrive(marked, None).entry("bus")["Detail"])
    for bad in ("", 1, {"x": 1}):
        with pytest.raises(ValueError, match="redrive marker must be a destination name"):
            mark_for_redrive(event, bad)  # type: ignore[arg-type]


def test_generated_event_ids_are_unique() -> None:
    assert len({make_event("s", "t", {}).event_id for _ in range(1000)}) == 1000


@pytest.mark.usefixtures("aws")
def test_publishing_to_moto_lands_on_the_bus() -> None:
    client = boto3.client("events", region_name="us-east-1")
    sqs = boto3.client("sqs", region_name="us-east-1")
    client.create_event_bus(Name="bus")
    queue = sqs.create_queue(QueueName="q")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    client.put_rule(Name="all", EventBusName="bus", EventPattern=json.dumps({"source": ["hookstack.test"]}))
    client.put_targets(Rule="all", EventBusName="bus", Targets=[{"Id": "q", "Arn": arn}])
    assert publish(client, events(12), "bus") == 2
    received = []
    while messages := sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", []):
        for m in messages:
            received.append(json.loads(m["Body"])["detail"]["eventId"])
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=m["ReceiptHandle"])
    assert sorted(received) == sorted(f"evt_{i}" for i in range(12))
