"""The event-type catalog through the subscription API (``GET /event-types``, endpoints limited to
known types) and test events (``POST .../endpoints/{e}/test``) through the real worker."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from standardwebhooks import Webhook

from functions.delivery.event_catalog import catalog_item
from functions.events import EventCatalog
from tests.functions.delivery.conftest import TABLE, DeliveryStack
from tests.functions.delivery.receiver import Receiver, Reply

CATALOG = EventCatalog.from_json(
    [
        {
            "name": "invoice.paid",
            "description": "An invoice was paid.",
            "schema": {"type": "object", "required": ["amount"], "properties": {"amount": {"type": "number"}}},
            "example": {"amount": 42, "currency": "EUR"},
        },
        {"name": "invoice.voided", "description": "An invoice was voided."},
        {"name": "customer.created", "description": "A customer signed up."},
    ]
)


def _install(stack: DeliveryStack, catalog: EventCatalog = CATALOG) -> None:
    stack.dynamodb.put_item(TableName=TABLE, Item=catalog_item(catalog))


def test_without_a_catalog_the_list_is_empty_and_any_type_is_accepted(stack: DeliveryStack) -> None:
    assert stack.api("GET", "/event-types") == (200, {"data": [], "enforced": False})
    stack.create_endpoint("acme", "https://hooks.example.com/a", eventTypes=["anything.*", "order.created"])


def test_the_catalog_is_listed_as_configured(stack: DeliveryStack) -> None:
    _install(stack)
    status, document = stack.api("GET", "/event-types")
    assert status == 200 and document["enforced"] is True
    assert document["data"] == CATALOG.to_json()


@pytest.mark.parametrize(
    ("event_types", "field", "text"),
    [
        (["invoice.paid", "invoice.refunded"], "eventTypes[1]", "is not a type of the event-type catalog"),
        (["order.*"], "eventTypes[0]", "matches no type of the event-type catalog"),
    ],
)
def test_with_a_catalog_endpoints_subscribe_to_known_types_only(
    stack: DeliveryStack, event_types: list[str], field: str, text: str
) -> None:
    _install(stack)
    status, document = stack.api(
        "POST", "/tenants/acme/endpoints", {"url": "https://hooks.example.com/a", "eventTypes": event_types}
    )
    assert status == 400 and document["error"]["field"] == field and text in document["error"]["message"]
    endpoint = stack.create_endpoint("acme", "https://hooks.example.com/a", eventTypes=["invoice.*"])
    status, document = stack.api(
        "PATCH", f"/tenants/acme/endpoints/{endpoint['id']}", {"eventTypes": ["customer.created", *event_types]}
    )
    assert status == 400 and text in document["error"]["message"]
    assert stack.api("PATCH", f"/tenants/acme/endpoints/{endpoint['id']}", {"eventTypes": ["customer.*"]})[0] == 200


@contextmanager
def _worker(stack: DeliveryStack) -> Iterator[None]:
    """The tasks queue's event source mapping, running while the API waits for the first attempt."""
    stop = threading.Event()

    def run() -> None:
        while not stop.is_set():
            if not stack.drain():
                stop.wait(0.02)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=10)


def test_a_test_event_goes_through_the_worker_signed_with_the_endpoints_auth_and_headers(
    stack: DeliveryStack, receiver: Receiver
) -> None:
    _install(stack)
    endpoint = stack.create_endpoint(
        "acme",
        receiver.url("/hook"),
        eventTypes=["customer.created"],  # the test names the endpoint: its subscription is not consulted
        auth={"type": "bearer", "token": "t0ken"},
        headers={"x-team": "billing"},
    )
    path = f"/tenants/acme/endpoints/{endpoint['id']}/test"
    with _worker(stack):
        status, document = stack.api("POST", path, {"eventType": "invoice.paid"})
        assert status == 200, document
        assert document["eventType"] == "invoice.paid" and document["status"] == "succeeded"
        assert document["attempt"]["outcome"] == "succeeded" and document["attempt"]["statusCode"] == 200
        assert isinstance(document["attempt"]["latencyMs"], int)
        (request,) = receiver.to("/hook")
        Webhook(endpoint["secret"]).verify(request.body, request.headers)
        assert request.headers["authorization"] == "Bearer t0ken" and request.headers["x-team"] == "billing"
        body = json.loads(request.body)
        assert body["type"] == "invoice.paid" and body["data"]["amount"] == 42
        assert body["data"]["tenantId"] == "acme" and body["data"]["eventId"] == document["eventId"]
        # No example (or no eventType): a hookstack.test event; the message and attempt are in the history.
        status, document = stack.api("POST", path, {"eventType": "invoice.voided"})
        assert status == 200 and document["eventType"] == "hookstack.test"
        assert json.loads(receiver.to("/hook")[-1].body)["data"]["requestedEventType"] == "invoice.voided"
        status, message = stack.api("GET", f"/tenants/acme/messages/{document['eventId']}")
        assert status == 200 and message["deliveries"][0]["status"] == "succeeded"


def test_a_failing_test_event_answers_the_failed_attempt(stack: DeliveryStack, receiver: Receiver) -> None:
    receiver.script("/down", Reply(503, body=b"maintenance"))
    endpoint = stack.create_endpoint("acme", receiver.url("/down"))
    with _worker(stack):
        status, document = stack.api("POST", f"/tenants/acme/endpoints/{endpoint['id']}/test")
    assert status == 200 and document["eventType"] == "hookstack.test"
    assert document["attempt"]["statusCode"] == 503 and document["attempt"]["outcome"] in ("retrying", "failed")


def test_a_test_event_not_attempted_in_time_is_a_202_to_follow(
    stack: DeliveryStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    from functions.delivery.api import event_types

    monkeypatch.setattr(event_types, "TEST_WAIT_SECONDS", 0.0)
    endpoint = stack.create_endpoint("acme", "https://hooks.example.com/a")
    status, document = stack.api("POST", f"/tenants/acme/endpoints/{endpoint['id']}/test")
    assert status == 202 and document["status"] == "pending" and document["attempt"] is None
    assert stack.queued_tasks() == 1  # queued for this endpoint only, delivered as any task is


def test_test_event_input_is_checked(stack: DeliveryStack) -> None:
    endpoint = stack.create_endpoint("acme", "https://hooks.example.com/a")
    path = f"/tenants/acme/endpoints/{endpoint['id']}/test"
    assert stack.api("POST", "/tenants/acme/endpoints/ep_0123456789abcdef0123456789ab/test")[0] == 404
    for body, field in (({"eventType": "invoice.*"}, "eventType"), ({"eventType": 3}, "eventType"), ({"x": 1}, "x")):
        status, document = stack.api("POST", path, body)
        assert status == 400 and document["error"]["field"] == field, document
    _install(stack)
    status, document = stack.api("POST", path, {"eventType": "order.created"})
    assert status == 400 and "not in the event-type catalog" in document["error"]["message"]
    stack.api("PATCH", f"/tenants/acme/endpoints/{endpoint['id']}", {"enabled": False})
    status, document = stack.api("POST", path)
    assert status == 409 and document["error"]["code"] == "endpoint_disabled"
    assert stack.queued_tasks() == 0
