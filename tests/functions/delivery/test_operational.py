"""Operational events (functions/delivery/operational.py): one per transition the conditional write
won, the documented detail shape, no loop through the delivery of an operational event, and a bus
that refuses the event never changes a delivery's result."""

from __future__ import annotations

import json
from typing import Any

import pytest

from functions.delivery import guard, operational, protection, sender, store
from functions.delivery.operational import OperationalEventType as Kind
from tests.functions.delivery.conftest import TABLE, DeliveryStack, bus_event, configure
from tests.functions.delivery.receiver import Receiver, Reply

BUS = "ops-test-bus"
SOURCE = "hookstack.operational"


@pytest.fixture
def captured(stack: DeliveryStack, monkeypatch: pytest.MonkeyPatch) -> str:
    """A bus whose rule puts every operational event on a queue (as a tenant's subscription would)."""
    import boto3

    events = boto3.client("events")
    events.create_event_bus(Name=BUS)
    url = stack.sqs.create_queue(QueueName="operational")["QueueUrl"]
    arn = stack.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="ops", EventBusName=BUS, EventPattern=json.dumps({"source": [SOURCE]}))
    events.put_targets(Rule="ops", EventBusName=BUS, Targets=[{"Id": "q", "Arn": arn}])
    configure(monkeypatch, EVENT_BUS_NAME=BUS, OPERATIONAL_SOURCE=SOURCE)
    return url


def _published(stack: DeliveryStack, url: str) -> list[dict[str, Any]]:
    out = []
    while messages := stack.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            out.append(json.loads(message["Body"]))
            stack.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return out


def test_a_410_publishes_disabled_and_exhausted_once_and_enabling_publishes_enabled_once(
    stack: DeliveryStack, receiver: Receiver, captured: str
) -> None:
    receiver.script("/gone", Reply(410))
    endpoint = stack.create_endpoint("acme", receiver.url("/gone"))
    stack.publish(bus_event("acme", "order.created", event_id="evt_order_1"))
    stack.drain()

    published = {e["detail-type"]: e for e in _published(stack, captured)}
    assert set(published) == {Kind.ENDPOINT_DISABLED, Kind.ATTEMPT_EXHAUSTED}
    disabled = published[Kind.ENDPOINT_DISABLED]
    assert disabled["source"] == SOURCE
    detail = disabled["detail"]
    assert set(detail) == {"tenantId", "eventId", "endpointId", "reason", "time"}
    assert detail["tenantId"] == "acme" and detail["endpointId"] == endpoint["id"] and detail["reason"] == "gone"
    assert operational.is_operational_event_id(detail["eventId"]) and detail["time"].endswith("Z")
    exhausted = published[Kind.ATTEMPT_EXHAUSTED]["detail"]
    assert exhausted["failedEventId"] == "evt_order_1" and exhausted["failedEventType"] == "order.created"
    assert exhausted["attempts"] == 1 and "410" in exhausted["reason"]

    path = f"/tenants/acme/endpoints/{endpoint['id']}"
    assert stack.api("PATCH", path, {"enabled": True})[0] == 200
    assert stack.api("PATCH", path, {"enabled": True})[0] == 200  # not a transition: nothing more
    (enabled,) = _published(stack, captured)
    assert enabled["detail-type"] == Kind.ENDPOINT_ENABLED and enabled["detail"]["endpointId"] == endpoint["id"]
    assert stack.api("PATCH", path, {"enabled": False})[0] == 200
    assert stack.api("PATCH", path, {"enabled": False})[0] == 200
    (manual,) = _published(stack, captured)
    assert manual["detail-type"] == Kind.ENDPOINT_DISABLED and manual["detail"]["reason"] == "manual"


def test_delivering_an_operational_event_never_publishes_one(
    stack: DeliveryStack, receiver: Receiver, captured: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The endpoint subscribes to operational events and fails for good on each: disabled after one.
    configure(monkeypatch, DISABLE_AFTER_FAILURES="1", RETRY_SCHEDULE="none")
    receiver.script("/ops", *[Reply(500)] * 5)
    stack.create_endpoint("acme", receiver.url("/ops"), eventTypes=["endpoint.*", "message.*"])
    event = operational.build(
        SOURCE, Kind.ENDPOINT_DISABLED, tenant_id="acme", endpoint_id="ep_other", reason="gone", at=1.8e9
    )
    stack.publish({**bus_event("acme", event.event_type), "source": SOURCE, "detail": event.detail()})
    stack.drain()
    assert len(receiver.to("/ops")) == 1
    (letter,) = stack.dead_letters()
    assert letter["eventId"] == event.event_id  # the delivery failed and was dead-lettered as usual...
    assert _published(stack, captured) == []  # ...but neither it nor the disable it caused made an event


def test_a_bus_that_refuses_the_event_leaves_the_delivery_result_as_it_is(
    stack: DeliveryStack, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure(monkeypatch, EVENT_BUS_NAME="no-such-bus", OPERATIONAL_SOURCE=SOURCE)
    receiver.script("/gone", Reply(410))
    endpoint = stack.create_endpoint("acme", receiver.url("/gone"))
    stack.publish(bus_event("acme", "order.created", event_id="evt_lost_event"))
    stack.drain()
    assert stack.queued_tasks() == 0 and len(stack.dead_letters()) == 1
    status, message = stack.api("GET", "/tenants/acme/messages/evt_lost_event")
    assert status == 200
    assert message["deliveries"][0]["status"] == "failed"
    assert stack.api("GET", f"/tenants/acme/endpoints/{endpoint['id']}")[1]["disabledReason"] == "gone"


def test_the_breaker_reports_opened_and_closed_only_on_the_write_that_made_them(stack: DeliveryStack) -> None:
    table = store.DeliveryTable(stack.dynamodb, TABLE)
    limits = guard.Limits(breaker_failures=2, breaker_cooldown_seconds=60)
    failed, ok = sender.Response(500, 1), sender.Response(200, 1)
    now = 1_800_000_000.0

    def attempt(response: sender.Response, at: float) -> guard.BreakerTransition | None:
        endpoint = table.get_endpoint("t", "ep") or store.Endpoint(
            tenant_id="t", endpoint_id="ep", url="https://hooks.example.com/"
        )
        state = table.client.get_item(TableName=TABLE, Key=store.to_item({"pk": "T#t", "sk": "ST#ep"})).get("Item")
        endpoint = store.Endpoint(
            tenant_id="t", endpoint_id="ep", url=endpoint.url, state=store.from_item(state) if state else None
        )
        return guard.after_attempt(table, endpoint, guard.Proceed(), response, limits, now=lambda: at)

    assert attempt(failed, now) is None
    assert attempt(failed, now) == guard.BreakerTransition.OPENED
    assert attempt(failed, now + 1) is None  # a late failure while open: no second "opened"
    assert attempt(failed, now + 61) is None  # a failed probe re-opens it: still the same outage
    assert attempt(ok, now + 122) == guard.BreakerTransition.CLOSED
    assert attempt(ok, now + 123) is None  # nothing to close
    assert attempt(failed, now + 124) is None and attempt(ok, now + 125) is None  # a count reset, not a close
    assert protection.breaker_from(None) == protection.Breaker()


def test_event_ids_are_stable_per_transition_and_valid_in_the_contract() -> None:
    from functions.events import event_id_problem

    first = operational.build(SOURCE, Kind.ENDPOINT_DISABLED, tenant_id="t", endpoint_id="e", reason="gone", at=5.0)
    again = operational.build(SOURCE, Kind.ENDPOINT_DISABLED, tenant_id="t", endpoint_id="e", reason="gone", at=5.0)
    later = operational.build(SOURCE, Kind.ENDPOINT_DISABLED, tenant_id="t", endpoint_id="e", reason="gone", at=6.0)
    assert first.event_id == again.event_id != later.event_id
    assert event_id_problem(first.event_id) is None and first.source == "hookstack.operational"
    assert {str(k) for k in Kind} == {
        "endpoint.disabled",
        "endpoint.enabled",
        "endpoint.breaker.opened",
        "endpoint.breaker.closed",
        "message.attempt.exhausted",
    }
