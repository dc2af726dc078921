"""Poison event ids: an eventId that cannot be a Standard Webhooks ``webhook-id`` is a contract error
at publish time and at fan-out (no message, no task), and a header that cannot be sent fails an
attempt once, with a record, instead of looping until the receive limit."""

from __future__ import annotations

import json
import socket
import time

import pytest

from functions import events
from functions.delivery import fanout, sender, signing, store, tasks
from functions.delivery.store import DeliveryTable
from functions.delivery.tasks import TaskQueue
from functions.delivery.vocab import DeliveryStatus
from tests.functions.delivery.conftest import TABLE, DeliveryStack, bus_event, configure
from tests.functions.delivery.receiver import Receiver

POISON = [
    pytest.param("evt_1\r\nX-Injected: 1", id="crlf"),
    pytest.param("evt_1\n", id="lf"),
    pytest.param("evt_1\x00", id="nul"),
    pytest.param("évt_1", id="non-ascii"),
    pytest.param("evt_\u2028", id="unicode-line-separator"),
    pytest.param("evt.1", id="dot-the-signature-separator"),
    pytest.param("evt 1", id="space"),
    pytest.param(" evt_1", id="leading-space"),
    pytest.param("evt/1", id="slash"),
    pytest.param("evt%2F1", id="percent"),
    pytest.param("", id="empty"),
    pytest.param("e" * 257, id="257-characters"),
    pytest.param(42, id="number"),
]
VALID = [
    "evt_6f1c0c1e2d3b4a5968778695a4b3c2d1",
    "in_0123abcd",
    "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W",
    "order:42-created",
    "a" * 256,
]


@pytest.mark.parametrize("event_id", POISON)
def test_publishing_refuses_an_event_id_that_cannot_be_a_webhook_id(event_id: object) -> None:
    with pytest.raises(ValueError, match="event id must be"):
        events.make_event("app", "widget.created", {}, tenant_id="1", event_id=event_id)  # type: ignore[arg-type]


@pytest.mark.parametrize("event_id", VALID)
def test_ordinary_event_ids_are_accepted(event_id: str) -> None:
    assert events.event_id_problem(event_id) is None
    assert events.make_event("app", "t", {}, event_id=event_id).event_id == event_id


def test_fan_out_treats_a_poison_event_id_as_a_contract_error_and_queues_nothing(
    stack: DeliveryStack, receiver: Receiver, capsys: pytest.CaptureFixture[str]
) -> None:
    stack.create_endpoint("1", receiver.url("/hook"))
    poison = [p.values[0] for p in POISON]
    batch = [bus_event("1", "widget.created") for _ in poison]
    for event, event_id in zip(batch, poison, strict=True):
        event["detail"]["eventId"] = event_id

    result = stack.publish(*batch)

    # Each is reported failed: the events queue hands it back until its receive limit, then
    # dead-letters it; none becomes a message or a task.
    assert len(result["batchItemFailures"]) == len(poison)
    assert stack.queued_tasks() == 0
    messages = stack.dynamodb.scan(
        TableName=TABLE, FilterExpression="begins_with(pk, :m)", ExpressionAttributeValues={":m": {"S": "M#"}}
    )
    assert messages["Items"] == []
    logged = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    refused = [
        e
        for e in logged
        if e["message"].startswith("event breaks the contract") and "detail.eventId must be" in e["problem"]
    ]
    assert len(refused) == len(poison)


def test_a_poison_event_does_not_hold_back_the_good_events_of_its_batch(
    stack: DeliveryStack, receiver: Receiver
) -> None:
    stack.create_endpoint("1", receiver.url("/hook"))
    bad = bus_event("1", "widget.created")
    bad["detail"]["eventId"] = "evt\r\n"

    result = stack.publish(bad, bus_event("1", "widget.created", event_id="evt_good"))
    stack.drain()

    assert len(result["batchItemFailures"]) == 1
    assert [r.headers["webhook-id"] for r in receiver.to("/hook")] == ["evt_good"]


def test_a_header_that_cannot_be_sent_fails_before_any_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_connection(*args: object, **kwargs: object) -> None:
        raise AssertionError("the sender connected")

    monkeypatch.setattr(socket, "create_connection", no_connection)
    for value in ("evt\r\nX-Injected: 1", "évt", "evt\x7f"):
        response = sender.post("https://93.184.216.34/hook", b"{}", {"webhook-id": value}, timeout=5)
        assert (response.status, response.error_kind) == (None, "request")
        assert "webhook-id" in (response.error or "")


def test_a_stored_message_with_a_poison_id_fails_once_with_a_record_instead_of_looping(
    stack: DeliveryStack, receiver: Receiver
) -> None:
    # A message stored before fan-out checked ids: the worker must end it at the first receive.
    endpoint = stack.create_endpoint("1", receiver.url("/hook"))
    event_id = "evt_legacy\r\nX-Injected: 1"
    now = time.time()
    body = signing.payload("widget.created", "2026-01-01T00:00:00Z", {"eventId": event_id}).decode()
    message = store.Message(
        tenant_id="1",
        event_id=event_id,
        event_type="widget.created",
        event_time="2026-01-01T00:00:00Z",
        body=body,
        received_at=store.iso(now),
    )
    DeliveryTable(stack.dynamodb, TABLE).put_message(message, store.ttl(now, 1))
    TaskQueue(stack.sqs, stack.tasks_url).send_all([tasks.task("1", event_id, endpoint["id"], "widget.created", 1)])

    (record,) = stack.receive_tasks()
    assert stack.run_worker([record]) == set()  # not left in the queue for another receive

    assert receiver.to("/hook") == []
    (letter,) = stack.dead_letters()
    assert letter["eventId"] == event_id and "failed without retry" in letter["reason"]
    assert "request cannot be sent" in letter["lastError"]
    delivery = DeliveryTable(stack.dynamodb, TABLE).get_delivery("1", event_id, endpoint["id"])
    assert delivery is not None and delivery["status"] == DeliveryStatus.FAILED and delivery["attempts"] == 1
    assert stack.queued_tasks() == 0


def test_fan_out_and_the_api_share_the_publisher_rule() -> None:
    from functions.delivery import api

    assert api.EVENT_ID_RE is events.EVENT_ID_RE
    with pytest.raises(fanout.ContractError, match=r"detail\.eventId must be"):
        fanout.parse_event(bus_event("1", "t", event_id="evt.1"))


@pytest.mark.parametrize(("where", "text"), [("detail", {"note": "\ud800"}), ("detail-type", "widget.\udfff")])
def test_text_utf8_cannot_carry_breaks_the_contract(where: str, text: object) -> None:
    # A lone surrogate escape ("\ud800") is valid JSON but no UTF-8 body can carry it: refused as a
    # contract breach (dead-lettered), not an error retried five times.
    event = bus_event("1", "widget.created", event_id="evt_1")
    if where == "detail":
        event["detail"].update(text)
    else:
        event["detail-type"] = text
    with pytest.raises(fanout.ContractError, match=r"lone surrogate"):
        fanout.parse_event(event)


@pytest.mark.parametrize(
    "body", ['{"detail": {"n": 1' + "0" * 5000 + "}}", '{"detail": {"d": ' + "[" * 5000 + "]" * 5000 + "}}"]
)
def test_a_body_the_parser_cannot_read_breaks_the_contract(
    stack: DeliveryStack, body: str, capsys: pytest.CaptureFixture[str]
) -> None:
    record = {"messageId": "m-1", "receiptHandle": "rh", "body": body, "attributes": {"ApproximateReceiveCount": "1"}}
    assert fanout.handler({"Records": [record]}) == {"batchItemFailures": [{"itemIdentifier": "m-1"}]}
    logged = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert any(e["message"].startswith("event breaks the contract") for e in logged)


def test_the_endpoint_cache_is_bounded_by_tenants(stack: DeliveryStack, monkeypatch: pytest.MonkeyPatch) -> None:
    configure(monkeypatch, ENDPOINT_CACHE_SECONDS="60")
    monkeypatch.setattr(fanout, "MAX_CACHED_TENANTS", 3)
    state = fanout._state.get()
    for moment, tenant in enumerate(["a", "b", "c", "d", "e"]):
        fanout.endpoints_of(state, tenant, now=float(moment))
    assert list(state.endpoints) == ["c", "d", "e"]  # the oldest forgotten first
    fanout.endpoints_of(state, "f", now=1000.0)  # every entry expired: all forgotten
    assert list(state.endpoints) == ["f"]
