"""Rehearse the runbook on the sandbox with nothing but its outputs file: status, replay, re-authorize.

``sandbox up`` writes ``pulumi stack output --json``'s shape next to its state file, plus the
endpoint, region and credentials ops needs (docs/sandbox.md); tenant 5's endpoint rejects the
deployed key (401: the connection de-authorizes, as EventBridge's does), tenant 6 is replayed.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from functions.events import make_event, publish
from ops.cli import main as ops_main
from sandbox.receiver import Receiver
from tests.e2e.conftest import FRESH_KEY, ROOT, state_client

pytestmark = pytest.mark.e2e

LOCKED = f"/require/x-api-key/{FRESH_KEY}/t5/locked"


def ops(state: dict[str, Any], *args: str, stdin: str | None = None) -> tuple[int, str, str]:
    """``python -m ops ARGS --outputs FILE`` in this process (the subprocess test proves the environment)."""
    out, err = io.StringIO(), io.StringIO()
    previous = sys.stdin
    sys.stdin = io.StringIO(stdin) if stdin is not None else previous
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = ops_main([*args, "--outputs", state["outputs_file"]])
    finally:
        sys.stdin = previous
    return code, out.getvalue(), err.getvalue()


def received(receiver: Receiver, prefix: str, text: str) -> list[dict[str, Any]]:
    return [r for r in receiver.received(prefix) if text in r["body"]]


def finding(report: dict[str, Any], kind: str, name: str) -> dict[str, Any]:
    return next(f for f in report["findings"] if f["kind"] == kind and f["name"] == name)


def test_the_outputs_file_alone_drives_ops_status_without_any_aws_environment(sandbox_state: dict[str, Any]) -> None:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    environment["AWS_REGION"] = "eu-west-1"  # a region for real work in the shell: the sandbox's file wins
    result = subprocess.run(
        [sys.executable, "-m", "ops", "status", "--output", "json", "--outputs", sandbox_state["outputs_file"]],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode in (0, 1), result.stderr  # 1: tenant 3's dead letters, tenant 5's 401
    report = json.loads(result.stdout)
    assert report["bus"] == "hookstack-sandbox"
    assert finding(report, "connection", "hookstack-sandbox-1-crm")["label"] == "1/crm"
    assert finding(report, "archive", "hookstack-sandbox-archive")["level"] == "ok"


def shape(value: Any) -> Any:
    """What ``pulumi stack output --json`` fixes of a value: its type, and the keys of every object."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    return type(value).__name__


def test_the_outputs_file_has_the_programs_outputs_in_their_shapes(sandbox_state: dict[str, Any]) -> None:
    """The keys ``__main__.py`` exports for this stack file (Pulumi mocks), in the same shapes.

    The program is evaluated for the first tenant and source only (every component stays on; the
    evaluation costs seconds per resource batch): per-tenant and per-source keys are compared for those.
    """
    from sandbox.plan import planned_urls, pulumi_outputs
    from sandbox.preview import load_stack_file_config, run_program

    assert Path(sandbox_state["outputs_file"]).parent == Path(sandbox_state["_config"]).parent
    written = json.loads(Path(sandbox_state["outputs_file"]).read_text())
    access = written.pop("sandbox")  # the one key Pulumi never exports: how ops reaches the sandbox
    assert access["endpointUrl"] == sandbox_state["aws_endpoint"] and access["region"] == "us-east-1"
    assert written["inboundUrls"] == sandbox_state["inbound"]
    assert written["deadLetterQueueUrl"] == sandbox_state["dead_letter_queue_url"]

    values, secret_keys = load_stack_file_config(Path(sandbox_state["_config"]))
    tenant, source = values["hookstack:tenants"][0], values["hookstack:consumer"]["sources"][0]
    values["hookstack:tenants"] = [tenant]
    values["hookstack:consumer"] = {**values["hookstack:consumer"], "sources": [source]}
    program = run_program(planned_urls(values)[0], secret_keys=secret_keys, stack="sandbox")
    expected = pulumi_outputs(program.outputs, program.secret_outputs)
    written["destinations"] = {tenant["id"]: written["destinations"][tenant["id"]]}
    written["busShards"]["tenants"] = {tenant["id"]: written["busShards"]["tenants"][tenant["id"]]}
    written["inboundUrls"] = {source["name"]: written["inboundUrls"][source["name"]]}
    assert shape(written) == shape(expected)
    assert written["busName"] == expected["busName"] and written["busShards"] == expected["busShards"]


def test_a_replay_sends_only_its_window_to_only_its_destination(
    sandbox_state: dict[str, Any], receiver: Receiver
) -> None:
    events, bus = state_client(sandbox_state, "events"), sandbox_state["bus_names"][0]
    run, now = uuid.uuid4().hex[:8], datetime.now(UTC).replace(microsecond=0)
    times = {
        "early": now - timedelta(seconds=300),
        "inside": now - timedelta(seconds=200),
        "late": now - timedelta(seconds=100),
    }
    ids = {name: f"evt_replay_{run}_{name}" for name in times}
    publish(
        events,
        [make_event("e2e", "order.created", {}, tenant_id="6", event_id=ids[n], time=t) for n, t in times.items()],
        bus,
    )
    for name in times:  # delivered once each, to both destinations
        receiver.wait_for("/t6/replayed", 1, containing=ids[name])
        receiver.wait_for("/t6/bystander", 1, containing=ids[name])

    code, out, err = ops(
        sandbox_state,
        "replay",
        "start",
        "--from",
        (now - timedelta(seconds=250)).isoformat(),
        "--to",
        (now - timedelta(seconds=150)).isoformat(),
        "--destination",
        "6/replayed",
        "--name",
        f"e2e-{run}",
        "--wait",
        "--interval",
        "1",
        "--output",
        "json",
    )
    assert code == 0, err
    assert json.loads(out.splitlines()[-1])["State"] == "COMPLETED"

    again = receiver.wait_for("/t6/replayed", 2, containing=ids["inside"])
    assert len(again) == 2
    assert json.loads(again[1]["body"])["replay-name"] == f"e2e-{run}"
    time.sleep(0.5)  # the other events would have been queued with it (moto replays synchronously)
    assert len(received(receiver, "/t6/replayed", ids["early"])) == 1
    assert len(received(receiver, "/t6/replayed", ids["late"])) == 1
    for name in times:  # FilterArns: the other destination's rule gets nothing again
        assert len(received(receiver, "/t6/bystander", ids[name])) == 1


def test_a_401_deauthorizes_the_connection_and_reauthorize_restores_it(
    sandbox_state: dict[str, Any], receiver: Receiver
) -> None:
    events = state_client(sandbox_state, "events")
    event_id = f"evt_locked_{uuid.uuid4().hex[:8]}"
    publish(
        events,
        [make_event("e2e", "order.created", {}, tenant_id="5", event_id=event_id)],
        sandbox_state["bus_names"][0],
    )
    (rejected,) = receiver.wait_for(LOCKED, 1, status=401, containing=event_id)
    assert rejected["headers"]["x-api-key"] == "stale-key"

    deadline = time.monotonic() + 10
    while True:
        code, out, err = ops(sandbox_state, "status", "--output", "json")
        report = json.loads(out)
        connection = finding(report, "connection", "hookstack-sandbox-5-locked")
        if connection["state"] == "DEAUTHORIZED" or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert code == 1, err
    assert (connection["state"], connection["level"]) == ("DEAUTHORIZED", "problem")
    assert "401" in connection["detail"]
    assert finding(report, "api-destination", "hookstack-sandbox-5-locked")["state"] == "INACTIVE"
    time.sleep(0.5)  # retries go on (every few hundred ms at this time scale) but send nothing
    assert len(received(receiver, LOCKED, event_id)) == 1

    code, out, err = ops(sandbox_state, "reauthorize", "5/locked", "--output", "json", stdin=FRESH_KEY + "\n")
    assert code == 0, err
    assert json.loads(out) == {
        "name": "hookstack-sandbox-5-locked",
        "state": "AUTHORIZED",
        "previousState": "DEAUTHORIZED",
    }
    assert FRESH_KEY not in out + err

    (delivered,) = receiver.wait_for(LOCKED, 1, status=200, containing=event_id)
    assert delivered["headers"]["x-api-key"] == FRESH_KEY
    _, out, _ = ops(sandbox_state, "status", "--output", "json")
    assert finding(json.loads(out), "connection", "hookstack-sandbox-5-locked")["level"] == "ok"
    assert finding(json.loads(out), "api-destination", "hookstack-sandbox-5-locked")["state"] == "ACTIVE"


def test_up_says_what_it_runs_and_logs_every_attempt(sandbox_state: dict[str, Any], receiver: Receiver) -> None:
    events = state_client(sandbox_state, "events")
    event_id = f"evt_logs_{uuid.uuid4().hex[:8]}"
    publish(
        events, [make_event("e2e", "thing.broke", {}, tenant_id="3", event_id=event_id)], sandbox_state["bus_names"][0]
    )
    receiver.wait_for("/status/400/t3", 1, containing=event_id)
    log, deadline = Path(sandbox_state["_log"]), time.monotonic() + 10
    while True:  # both destinations' dead letters are logged
        text = log.read_text()
        done = [line for line in text.splitlines() if "delivery dead-lettered" in line and event_id in line]
        if len(done) == 2 or time.monotonic() > deadline:
            break
        time.sleep(0.1)

    # The summary: the bus, the endpoint, every inbound URL, commands; secrets masked, never whole.
    assert "hookstack sandbox ready" in text
    assert sandbox_state["aws_endpoint"] in text and sandbox_state["subscriptions_api"] in text
    assert all(url in text for url in sandbox_state["inbound"].values())
    assert f"aws --endpoint-url {sandbox_state['aws_endpoint']} --region us-east-1 events put-events" in text
    assert f"python -m ops status --outputs {sandbox_state['outputs_file']}" in text
    for path, secret in sandbox_state["local_secrets"].items():
        assert path in text and secret not in text, path

    # --log-format json: the emulator's records in the worker's shape, one per line.
    records = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    mine = [r for r in records if r.get("eventId") == event_id]
    attempts = [r for r in mine if r["message"] == "delivery attempt"]
    rejected = next(r for r in attempts if r["endpointId"] == "3/rejects")
    assert {k: rejected[k] for k in ("tenantId", "attempt", "outcome", "statusCode")} == {
        "tenantId": "3", "attempt": 1, "outcome": "failed", "statusCode": 400,
    }  # fmt: skip
    broken = [r for r in attempts if r["endpointId"] == "3/broken"]
    assert [r["outcome"] for r in broken] == ["retrying", "retrying", "failed"]  # retry.maxAttempts 2
    assert all(r["nextAttemptInSeconds"] > 0 for r in broken[:2])
    dead = {r["endpointId"]: r for r in mine if r["message"] == "delivery dead-lettered"}
    assert dead["3/broken"]["exhaustedRetryCondition"] == "MaximumRetryAttempts"
    assert dead["3/rejects"]["errorCode"] == "SDK.HttpStatus400" and dead["3/rejects"]["level"] == "WARNING"
