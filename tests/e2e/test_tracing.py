"""Tracing and metrics through the sandbox (issue 16 items 1 and 5): a traceparent given to
``functions.events.publish`` reaches the receiver as a header, and the attempt's EMF record the worker
logged is valid EMF naming only catalogue metrics."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from functions import metrics
from functions.events import make_event, publish
from sandbox.receiver import Receiver
from tests.e2e.conftest import state_client
from tests.functions import emf

pytestmark = pytest.mark.e2e

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def test_a_published_traceparent_reaches_the_receiver_and_the_attempt_is_measured(
    sandbox_state: dict[str, Any], receiver: Receiver
) -> None:
    event = make_event(
        "e2e", "trace.checked", {"n": 1}, tenant_id="1", event_id="evt_traced_1", traceparent=TRACEPARENT
    )
    publish(state_client(sandbox_state, "events"), [event], sandbox_state["bus_names"][0])
    (request,) = receiver.wait_for("/t1/audit", 1, timeout=30, containing="evt_traced_1")
    assert request["headers"]["traceparent"] == TRACEPARENT
    deadline = time.monotonic() + 10
    found: list[dict[str, Any]] = []
    while not found and time.monotonic() < deadline:  # the record is logged right after the answer
        with open(sandbox_state["_log"]) as log:
            found = [r for r in emf.records(log) if r.get("eventId") == "evt_traced_1"]
        time.sleep(0.1)
    (record,) = found
    assert (record["Attempts"], record["Succeeded"], record["tenantId"], record["Stack"]) == (1, 1, "1", "sandbox")
    names = {m["Name"] for m in record["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert names <= {metric.name for metric in metrics.CATALOGUE} and "AttemptLatency" in names
    assert json.loads(request["body"])["data"]["traceparent"] == TRACEPARENT  # the event's own field, as published
