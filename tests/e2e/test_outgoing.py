"""Outgoing webhooks through the sandbox: publish with boto3, see what the receiver got."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from typing import Any

import pytest

from functions.events import make_event, publish
from sandbox.receiver import Receiver
from tests.e2e.conftest import state_client

pytestmark = pytest.mark.e2e


def test_state_file_lists_the_contract_keys(sandbox_state: dict[str, Any]) -> None:
    for key in ("aws_endpoint", "region", "bus_names", "inbound", "subscriptions_api", "postgres_dsn", "local_secrets"):
        assert key in sandbox_state, key
    assert sandbox_state["aws_endpoint"].startswith("http://127.0.0.1:")
    assert sandbox_state["bus_names"][0] == "hookstack-sandbox"
    # secure: values it could not decrypt were replaced, and the generated values are listed.
    assert "tenants[0].destinations[0].auth.value" in sandbox_state["local_secrets"]


def test_api_key_destination_gets_the_transformed_body(sandbox_state: dict[str, Any], receiver: Receiver) -> None:
    events = state_client(sandbox_state, "events")
    publish(
        events,
        [make_event("e2e", "widget.created", {"widgetName": "W-e2e"}, tenant_id="1", event_id="evt_e2e_1")],
        sandbox_state["bus_names"][0],
    )
    (request,) = receiver.wait_for("/t1/crm", 1, containing="evt_e2e_1")
    assert json.loads(request["body"]) == {"text": "Widget W-e2e created", "eventId": "evt_e2e_1"}
    assert request["headers"]["x-api-key"] == sandbox_state["local_secrets"]["tenants[0].destinations[0].auth.value"]
    assert request["headers"]["user-agent"] == "Amazon/EventBridge/ApiDestinations"


def test_basic_and_oauth_destinations_authenticate(sandbox_state: dict[str, Any], receiver: Receiver) -> None:
    events = state_client(sandbox_state, "events")
    publish(
        events,
        [make_event("e2e", "widget.updated", {"n": 1}, tenant_id="2", event_id="evt_e2e_2")],
        sandbox_state["bus_names"][0],
    )
    (erp,) = receiver.wait_for("/t2/erp", 1, containing="evt_e2e_2")
    assert erp["headers"]["authorization"] == "Basic " + base64.b64encode(b"hookstack:plain-local-password").decode()
    analytics = receiver.wait_for("/flaky/1/t2/analytics", 2, containing="evt_e2e_2")
    assert [r["status"] for r in analytics] == [503, 200]  # retried after a 5xx
    assert all(r["headers"]["authorization"].startswith("Bearer ") for r in analytics)
    assert any(t["granted"] for t in receiver.tokens)


def test_failed_deliveries_end_in_the_dlq_with_their_reason(sandbox_state: dict[str, Any], receiver: Receiver) -> None:
    events, sqs = state_client(sandbox_state, "events"), state_client(sandbox_state, "sqs")
    publish(
        events,
        [make_event("e2e", "thing.broke", {}, tenant_id="3", event_id="evt_e2e_3")],
        sandbox_state["bus_names"][0],
    )
    receiver.wait_for("/status/500/t3", 3)
    found: dict[str, dict[str, str]] = {}
    for _ in range(40):
        for message in sqs.receive_message(
            QueueUrl=sandbox_state["dead_letter_queue_url"],
            MaxNumberOfMessages=10,
            MessageAttributeNames=["All"],
            WaitTimeSeconds=1,
        ).get("Messages", []):
            body = json.loads(message["Body"])
            if body["detail"]["eventId"] == "evt_e2e_3":
                found[message["MessageAttributes"]["RULE_ARN"]["StringValue"]] = {
                    k: v["StringValue"] for k, v in message["MessageAttributes"].items()
                }
        if len(found) == 2:
            break
    broken = next(v for k, v in found.items() if "3-broken" in k)
    rejects = next(v for k, v in found.items() if "3-rejects" in k)
    assert broken["EXHAUSTED_RETRY_CONDITION"] == "MaximumRetryAttempts" and broken["RETRY_ATTEMPTS"] == "2"
    assert rejects["ERROR_CODE"] == "SDK.HttpStatus400" and "EXHAUSTED_RETRY_CONDITION" not in rejects
    assert len(receiver.received("/status/400/t3")) >= 1


def test_ops_status_reads_the_sandbox(sandbox_state: dict[str, Any]) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "ops",
            "status",
            "--endpoint-url",
            sandbox_state["aws_endpoint"],
            "--region",
            "us-east-1",
            "--bus-name",
            sandbox_state["bus_names"][0],
            "--dlq-url",
            sandbox_state["dead_letter_queue_url"],
            "--output",
            "json",
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode in (0, 1), result.stderr  # 1: the DLQ holds the failed deliveries above
    report = json.dumps(json.loads(result.stdout))
    for name in ("hookstack-sandbox-1-crm", "hookstack-sandbox-2-erp", "hookstack-sandbox-3-broken"):
        assert name in report, name


def test_nothing_listens_beyond_loopback(sandbox_state: dict[str, Any]) -> None:
    import psutil

    listening = [
        c for c in psutil.Process(sandbox_state["_pid"]).net_connections(kind="inet") if c.status == psutil.CONN_LISTEN
    ]
    assert listening, "the sandbox should be listening on loopback ports"
    assert {c.laddr.ip for c in listening} <= {"127.0.0.1", "::1"}, listening
