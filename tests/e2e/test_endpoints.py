"""The endpoint model end to end on the sandbox (docs/endpoints.md): one stack file, both engines.

Tenant 5 of the session's stack file (tests/e2e/conftest.py) has a worker endpoint with API-key auth,
a static header, a transform and a given v1 secret, and one endpoint per engine with the same
``eventTypes: [invoice.*]`` and payload ``filter``.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from functions.events import make_event, publish
from sandbox.receiver import Receiver
from tests.e2e.conftest import WORKER_SIGNING_SECRET, state_client

pytestmark = pytest.mark.e2e


def _publish(state: dict[str, Any], *events: Any) -> None:
    publish(state_client(state, "events"), list(events), state["bus_names"][0])


def test_worker_endpoint_sends_auth_static_header_and_transform_signed_v1(
    sandbox_state: dict[str, Any], receiver: Receiver
) -> None:
    _publish(
        sandbox_state,
        make_event("e2e", "widget.created", {"widgetName": "W5"}, tenant_id="7", event_id="evt_model_1"),
    )
    (request,) = receiver.wait_for("/t7/crm", 1, timeout=30, containing="evt_model_1")
    headers = request["headers"]
    assert headers["x-api-key"] == "e2e-worker-key"
    assert headers["x-team"] == "billing"
    assert headers["webhook-id"] == "evt_model_1"
    # The official library verifies the transformed body, exactly as sent.
    payload = Webhook(WORKER_SIGNING_SECRET).verify(
        request["body"], {k: v for k, v in headers.items() if k.startswith("webhook-")}
    )
    assert payload == {"text": "Widget W5 created", "eventId": "evt_model_1", "type": "widget.created"}


def test_wildcard_and_payload_filters_select_the_same_events_on_both_engines(
    sandbox_state: dict[str, Any], receiver: Receiver
) -> None:
    cases = {
        "evt_f_match": ("invoice.paid", 150),  # prefix and filter match
        "evt_f_match2": ("invoice.refunded", 100.5),
        "evt_f_small": ("invoice.paid", 100),  # not > 100
        "evt_f_type": ("order.created", 500),  # not invoice.*
        "evt_f_prefix": ("invoicer.paid", 500),  # 'invoice.' is the prefix, dot included
    }
    # One PutEvents: both engines see every event at the same time.
    _publish(
        sandbox_state,
        *(
            make_event("e2e", event_type, {"amount": amount}, tenant_id="7", event_id=event_id)
            for event_id, (event_type, amount) in cases.items()
        ),
    )
    for engine in ("apidestination", "worker"):
        path = f"/t7/big-{engine}"
        receiver.wait_for(path, 2, timeout=30, containing="evt_f_match")
    # Non-matching events of the same batch would have arrived with the matching ones; a short grace
    # for any straggler.
    time.sleep(1)
    for engine in ("apidestination", "worker"):
        bodies = [json.loads(r["body"]) for r in receiver.received(f"/t7/big-{engine}")]
        ids = {
            (body.get("detail") or body.get("data"))["eventId"]
            for body in bodies
            if (body.get("detail") or body.get("data") or {}).get("eventId", "").startswith("evt_f_")
        }
        assert ids == {"evt_f_match", "evt_f_match2"}, engine


def test_an_event_without_event_id_is_delivered_on_both_engines_under_its_eventbridge_id(
    sandbox_state: dict[str, Any], receiver: Receiver
) -> None:
    events = state_client(sandbox_state, "events")
    response = events.put_events(
        Entries=[
            {
                "Source": "e2e.byhand",
                "DetailType": "invoice.paid",
                "Detail": json.dumps({"tenantId": "7", "amount": 999, "note": "no-event-id"}),
                "EventBusName": sandbox_state["bus_names"][0],
            }
        ]
    )
    assert response["FailedEntryCount"] == 0
    event_id = response["Entries"][0]["EventId"]

    (api_request,) = receiver.wait_for("/t7/big-apidestination", 1, timeout=30, containing="no-event-id")
    assert json.loads(api_request["body"])["id"] == event_id  # the whole event: its EventBridge id
    (worker_request,) = receiver.wait_for("/t7/big-worker", 1, timeout=30, containing="no-event-id")
    assert worker_request["headers"]["webhook-id"] == event_id
    assert json.loads(worker_request["body"])["data"] == {"tenantId": "7", "amount": 999, "note": "no-event-id"}
