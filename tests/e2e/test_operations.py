"""Issue 16 items 3-4 through the sandbox (the real handlers on moto, each function as its own IAM
role): a 410 disables a worker endpoint and the ``endpoint.disabled`` operational event reaches the
tenant's destinations subscribed to it (an API destination's rule and the worker's fan-out); the
failed-deliveries route and ``python -m ops deliveries`` list exactly the failed ones, and
``python -m ops status`` shows the disabled endpoint."""

from __future__ import annotations

import contextlib
import io
import json
import time
from typing import Any

import pytest
import requests

from functions.events import make_event, publish
from ops.cli import main as ops_main
from sandbox.receiver import Receiver
from tests.e2e.conftest import ops_sandbox_options, state_client

pytestmark = pytest.mark.e2e

TENANT = "9"


def run_ops(args: list[str]) -> tuple[int, str]:
    """``python -m ops ARGS`` in this process (the subprocess tests elsewhere cover the entry point):
    its exit code and stdout."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = ops_main(args)
    return code, out.getvalue()


def test_a_disabled_endpoint_is_announced_and_only_failed_deliveries_are_listed_as_failed(
    sandbox_state: dict[str, Any], receiver: Receiver
) -> None:
    event = make_event("e2e", "order.created", {"total": 12}, tenant_id=TENANT, event_id="evt_ops_order_1")
    publish(state_client(sandbox_state, "events"), [event], sandbox_state["bus_names"][0])

    # The operational event, on the entry bus as e2e.operational, reaches both subscribers.
    (announced,) = receiver.wait_for("/t9/watcher-worker", 1, timeout=60, containing="endpoint.disabled")
    body = json.loads(announced["body"])
    assert body["type"] == "endpoint.disabled"
    assert body["data"]["endpointId"] == "cfg_dying" and body["data"]["reason"] == "gone"
    assert body["data"]["tenantId"] == TENANT and body["data"]["eventId"].startswith("hsop_")
    routed = receiver.wait_for("/t9/watcher", 1, timeout=60, containing="cfg_dying")
    assert routed and json.loads(routed[0]["body"])["detail-type"] == "endpoint.disabled"
    assert json.loads(routed[0]["body"])["source"] == "e2e.operational"
    receiver.wait_for("/t9/fine", 1, timeout=30, containing="evt_ops_order_1")

    api = sandbox_state["subscriptions_api"]
    deadline = time.monotonic() + 30
    while True:  # the stalling endpoint's first attempt may still be on its way
        pending = requests.get(f"{api}/tenants/{TENANT}/deliveries", params={"status": "pending"}, timeout=15).json()
        if any(d["endpointId"] == "cfg_stalling" for d in pending["data"]) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert [d["endpointId"] for d in pending["data"] if d["eventId"] == event.event_id] == ["cfg_stalling"]

    failed = requests.get(
        f"{api}/tenants/{TENANT}/deliveries", params={"status": "failed", "since": "1h"}, timeout=15
    ).json()
    assert [(d["endpointId"], d["eventId"], d["status"]) for d in failed["data"]] == [
        ("cfg_dying", event.event_id, "failed")
    ]
    stats = requests.get(f"{api}/tenants/{TENANT}/stats", params={"since": "1h"}, timeout=15).json()
    rows = {row["endpointId"]: row for row in stats["endpoints"]}
    assert rows["cfg_dying"]["failed"] == 1 and rows["cfg_fine"]["delivered"] == 1
    assert rows["cfg_stalling"]["pending"] == 1

    outputs = ["--outputs", sandbox_state["outputs_file"], *ops_sandbox_options(sandbox_state)]
    code, listed = run_ops(["deliveries", "--tenant", TENANT, "--status", "failed", "--since", "1h", *outputs])
    assert code == 0, listed
    report = json.loads(listed)
    assert [(d["endpointId"], d["eventId"]) for d in report["deliveries"]] == [("cfg_dying", event.event_id)]

    code, status = run_ops(["status", "--tenant", TENANT, *outputs])
    findings = {f["name"]: f for f in json.loads(status)["findings"] if f["kind"] == "worker-endpoint"}
    assert findings["cfg_dying"]["state"] == "disabled (gone)" and findings["cfg_dying"]["level"] == "problem"
    assert findings["cfg_fine"]["level"] == "ok"
    assert code == 1  # a disabled endpoint needs an operator
    kinds = {f["kind"] for f in json.loads(status)["findings"]}
    assert {"worker-dlq", "inbound-queue", "inbound-dlq"} <= kinds

    # The operator enables it again: endpoint.enabled is published once, to the same subscribers.
    code, enabled = run_ops(["enable", "cfg_dying", "--tenant", TENANT, "--event-source", "e2e", *outputs])
    assert code == 0 and json.loads(enabled)["enabled"] is True, enabled
    code, again = run_ops(["enable", "cfg_dying", "--tenant", TENANT, "--event-source", "e2e", *outputs])
    assert code == 0 and json.loads(again)["enabled"] is False, again
    (told,) = receiver.wait_for("/t9/watcher", 1, timeout=60, containing="endpoint.enabled")
    assert json.loads(told["body"])["detail"]["endpointId"] == "cfg_dying"
    assert requests.get(f"{api}/tenants/{TENANT}/endpoints/cfg_dying", timeout=15).json()["enabled"] is True
