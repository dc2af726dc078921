"""The fan-out and the worker on moto: their EMF records (schema-checked) and the ``traceparent`` a
published event carries to the receiver when the stack propagates traces (issue 16 items 1 and 5)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from functions import events, telemetry
from tests.functions import emf
from tests.functions.delivery.conftest import DeliveryStack, bus_event, configure
from tests.functions.delivery.receiver import Receiver, Reply

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest.fixture
def propagating(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv(telemetry.PROPAGATE_VARIABLE, "true")
    monkeypatch.setenv(telemetry.STACK_VARIABLE, "test")
    telemetry.reset()
    yield
    telemetry.reset()


def test_a_retried_then_delivered_event_writes_one_record_per_attempt(
    stack: DeliveryStack, receiver: Receiver, capsys: pytest.CaptureFixture[str], propagating: None
) -> None:
    receiver.script("/flaky", Reply(503), Reply(200))
    endpoint = stack.create_endpoint("t1", receiver.url("/flaky"))
    capsys.readouterr()
    stack.publish(bus_event("t1", "order.paid"))
    stack.drain()
    records = emf.records(capsys.readouterr().out)
    (fanout,) = [r for r in records if "EventsFannedOut" in r]
    assert (fanout["EventsFannedOut"], fanout["TasksQueued"], fanout["Engine"], fanout["Stack"]) == (
        1,
        1,
        "worker",
        "test",
    )
    attempts = [r for r in records if "Attempts" in r]
    assert [(r.get("Failed5xx", 0), r["Succeeded"], r.get("RetriesScheduled", 0)) for r in attempts] == [
        (1, 0, 1),
        (0, 1, 0),
    ]
    assert all(r["tenantId"] == "t1" and r["endpointId"] == endpoint["id"] for r in attempts)
    assert all(isinstance(r["AttemptLatency"], int) for r in attempts)
    assert all(r["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["Stack", "Engine"]] for r in attempts)


def test_a_dead_lettered_delivery_and_an_opened_breaker_are_counted(
    stack: DeliveryStack, receiver: Receiver, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    configure(monkeypatch, RETRY_SCHEDULE="1", BREAKER_FAILURES="2")
    receiver.script("/down", Reply(500))
    stack.create_endpoint("t1", receiver.url("/down"))
    capsys.readouterr()
    stack.publish(bus_event("t1", "order.paid"))
    stack.drain()
    attempts = [r for r in emf.records(capsys.readouterr().out) if "Attempts" in r]
    assert [r.get("RetriesScheduled", 0) for r in attempts] == [1, 0]
    assert [r.get("DeadLettered", 0) for r in attempts] == [0, 1]
    assert [r.get("BreakerOpened", 0) for r in attempts] == [0, 1]  # the second failure in a row opened it


def test_a_published_traceparent_reaches_the_receiver_as_a_header(
    stack: DeliveryStack, receiver: Receiver, propagating: None
) -> None:
    stack.create_endpoint("t1", receiver.url("/traced"))
    event = events.make_event("app", "order.paid", {"n": 1}, tenant_id="t1", traceparent=TRACEPARENT)
    stack.publish(bus_event("t1", "order.paid", event.detail(), event_id=event.event_id))
    stack.drain()
    (request,) = receiver.to("/traced")
    assert request.headers["traceparent"] == TRACEPARENT


@pytest.mark.parametrize(
    "value",
    [
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",  # upper case
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  # all-zero trace id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  # all-zero parent id
        "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  # a version this worker cannot vouch for
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\nx-injected: 1",
        42,
    ],
)
def test_a_malformed_traceparent_is_never_forwarded(
    stack: DeliveryStack, receiver: Receiver, propagating: None, value: object
) -> None:
    stack.create_endpoint("t1", receiver.url("/traced"))
    stack.publish(bus_event("t1", "order.paid", {"traceparent": value}))
    stack.drain()
    (request,) = receiver.to("/traced")
    assert "traceparent" not in request.headers


def test_without_propagation_no_traceparent_is_sent(stack: DeliveryStack, receiver: Receiver) -> None:
    telemetry.reset()
    stack.create_endpoint("t1", receiver.url("/traced"))
    stack.publish(bus_event("t1", "order.paid", {"traceparent": TRACEPARENT}))
    stack.drain()
    (request,) = receiver.to("/traced")
    assert "traceparent" not in request.headers


def test_make_event_refuses_a_malformed_traceparent() -> None:
    with pytest.raises(ValueError, match=r"detail.traceparent must be a W3C traceparent"):
        events.make_event("app", "order.paid", {}, traceparent="00-abc-def-01")
    with pytest.raises(ValueError, match=r"detail.traceparent"):
        events.make_event("app", "order.paid", {"traceparent": "garbage"})
    assert events.make_event("app", "t", {}, traceparent=TRACEPARENT).detail()["traceparent"] == TRACEPARENT
