"""``python -m ops redrive --execute`` against the sandbox, with a destination that keeps failing.

Tenant 4 of the e2e stack has ``failing`` (the receiver answers 500; one retry, then the DLQ) and
``healthy``. Its events dead-letter for ``failing`` only; the redrive must send each of them back
to ``failing`` alone, once, stop by itself although every redriven event fails and lands in the
DLQ again, and leave those new dead letters for a later run. moto evaluates the rule patterns (the
redrive clause included); the sandbox's API destination emulator delivers and dead-letters.
"""

from __future__ import annotations

import contextlib
import io
import json
import time
import uuid
from typing import Any

import pytest

from functions.events import REDRIVE_MARKER_KEY, make_event, publish
from ops.cli import main as ops_main
from sandbox.receiver import Receiver
from tests.e2e.conftest import ops_sandbox_options, run_ops_process, state_client

pytestmark = pytest.mark.e2e

EVENTS = 5
FAILING, HEALTHY = "/status/500/t4", "/t4/healthy"


def ops_args(state: dict[str, Any], *args: str) -> list[str]:
    return [
        "redrive",
        *args,
        "--tenant",
        "4",
        *ops_sandbox_options(state),
        "--bus-name",
        state["bus_names"][0],
        "--dlq-url",
        state["dead_letter_queue_url"],
    ]


def dry_run(state: dict[str, Any]) -> dict[str, Any]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        assert ops_main(ops_args(state, "--wait-seconds", "0")) == 0, err.getvalue()
    report: dict[str, Any] = json.loads(out.getvalue())
    return report


def wait_for_dead_letters(state: dict[str, Any], count: int, timeout: float = 10.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        report = dry_run(state)
        if report["redrivable"] >= count or time.monotonic() > deadline:
            return report
        time.sleep(0.2)


def test_redrive_reaches_only_the_failing_destination_once_and_stops(
    sandbox_state: dict[str, Any], receiver: Receiver
) -> None:
    run = uuid.uuid4().hex[:8]
    event_ids = [f"evt_redrive_{run}_{i}" for i in range(EVENTS)]
    bus = sandbox_state["bus_names"][0]
    events = state_client(sandbox_state, "events")
    publish(
        events,
        [make_event("e2e", "order.created", {"n": i}, tenant_id="4", event_id=e) for i, e in enumerate(event_ids)],
        bus,
    )
    assert len(receiver.wait_for(HEALTHY, EVENTS, containing=run)) == EVENTS
    before = wait_for_dead_letters(sandbox_state, EVENTS)
    assert (before["redrivable"], before["byTenant"]) == (EVENTS, {"4": EVENTS}), before

    started = time.monotonic()
    result = run_ops_process(ops_args(sandbox_state, "--execute", "--wait-seconds", "1"))
    took = time.monotonic() - started

    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert (report["publishedEvents"], report["deleted"], report["kept"]) == (EVENTS, EVENTS, []), report
    assert "redrive: looked at" in result.stderr and "stopped:" in result.stderr  # progress, then the end
    assert took < 30, took  # it stopped by itself (seconds, with 1 s long polls)

    # The failing destination got each event once more (1 try + 1 retry), marked for it...
    failing = receiver.wait_for(FAILING, 4 * EVENTS, containing=run)
    redriven = [json.loads(r["body"]) for r in failing if REDRIVE_MARKER_KEY in json.loads(r["body"])["detail"]]
    assert sorted(e["detail"]["eventId"] for e in redriven) == sorted(event_ids * 2)
    assert {e["detail"][REDRIVE_MARKER_KEY] for e in redriven} == {"failing"}
    # ...and the healthy one nothing more: an event published after the redrive arrives after
    # anything the redrive could have sent it.
    publish(events, [make_event("e2e", "ping", {}, tenant_id="4", event_id=f"evt_redrive_{run}_last")], bus)
    receiver.wait_for(HEALTHY, 1, containing=f"evt_redrive_{run}_last")
    healthy = [json.loads(r["body"])["detail"]["eventId"] for r in receiver.received(HEALTHY) if run in r["body"]]
    assert sorted(healthy) == sorted([*event_ids, f"evt_redrive_{run}_last"])  # each exactly once in total
    assert (
        len(receiver.received(FAILING))
        == len([r for r in receiver.received(FAILING) if run in r["body"]])
        == 4 * EVENTS
    )

    # What failed again is back in the DLQ, for a later run (one message per event).
    after = wait_for_dead_letters(sandbox_state, EVENTS)
    assert (after["redrivable"], after["byTenant"]) == (EVENTS, {"4": EVENTS}), after
