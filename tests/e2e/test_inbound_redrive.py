"""``python -m ops inbound redrive --execute`` against the sandbox, with a message that dead-lettered.

The failing message is a claim-checked envelope whose payload is not in the bucket (the enrichment
fails with PayloadMissingError, as for an expired payload), put on the inbound FIFO queue in the
message group of a GitHub repository. It is written as a version 1 envelope, the format
``functions/inbound/envelope.py`` documents: envelopes already in a dead-letter queue must stay
readable after an upgrade, so this also guards that. Webhooks of the same repository come through
the ingest over HTTP; the sandbox's Pipe (batch size 1, the spec's ``maxReceiveCount``) retries the
failing message, which holds its group until it dead-letters (the e2e stack's enrichment timeout
makes the sandbox's visibility timeout 0 s, so that takes milliseconds). Redriven before the fix, it
dead-letters again; the run after the fix brings it back.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from ops.cli import main as ops_main
from tests.e2e.conftest import ops_sandbox_options, run_ops_process, state_client, take_observed_events
from tests.e2e.test_inbound import github_post, secret

pytestmark = pytest.mark.e2e


def redrive_args(state: dict[str, Any], group: str, *args: str) -> list[str]:
    return [
        "inbound",
        "redrive",
        *args,
        "--group",
        group,
        *ops_sandbox_options(state),
        "--queue",
        state["inbound_queue_url"],
        "--dead-letter-queue",
        state["inbound_dead_letter_queue_url"],
    ]


def bus_events(state: dict[str, Any], deliveries: set[str], timeout: float = 20.0) -> list[str]:
    """deliveryIds of the sandbox's observed events among ``deliveries``, in arrival order, until all came."""
    events = take_observed_events(
        state,
        lambda event: event["detail"].get("deliveryId") in deliveries,
        lambda found: deliveries <= {event["detail"]["deliveryId"] for event in found},
        timeout,
    )
    return [event["detail"]["deliveryId"] for event in events]


def dead_letter_groups(state: dict[str, Any], group: str, timeout: float = 20.0) -> list[str]:
    """The groups of the dead-letter queue's messages of ``group``, once there is one (left visible)."""
    sqs = state_client(state, "sqs")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        messages = sqs.receive_message(
            QueueUrl=state["inbound_dead_letter_queue_url"],
            MaxNumberOfMessages=10,
            WaitTimeSeconds=1,
            VisibilityTimeout=0,
            MessageSystemAttributeNames=["MessageGroupId"],
        ).get("Messages", [])
        found = [m["Attributes"]["MessageGroupId"] for m in messages]
        if group in found:
            return [g for g in found if g == group]
    return []


def test_a_dead_letter_is_redriven_into_its_group_after_the_fix(sandbox_state: dict[str, Any]) -> None:
    state, run = sandbox_state, uuid.uuid4().hex[:12]
    repository = int(run[:8], 16)
    group = f"github:{repository}"
    url, key = state["inbound"]["github"], secret(state, 0)
    poison, later, last = f"poison-{run}", f"later-{run}", f"last-{run}"
    payload = json.dumps({"after": poison, "repository": {"id": repository}}).encode()
    claim_key = f"payloads/github/{hashlib.sha256(poison.encode()).hexdigest()}"
    envelope = {
        "v": 1,
        "source": "github",
        "kind": "github",
        "deliveryId": poison,
        "deliveryKey": f"id:{poison}",
        "eventType": "push",
        "receivedAt": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "contentType": "application/json",
        "headers": {"x-github-event": "push", "x-github-delivery": poison},
        "claimCheck": {
            "bucket": state["inbound_bucket"],
            "key": claim_key,
            "size": len(payload),
            "sha256": hashlib.sha256(payload).hexdigest(),
        },
    }
    sqs = state_client(state, "sqs")
    sqs.send_message(
        QueueUrl=state["inbound_queue_url"],
        MessageBody=json.dumps(envelope),
        MessageGroupId=group,
        MessageDeduplicationId=run,
    )
    body = json.dumps({"after": later, "repository": {"id": repository}}).encode()
    assert github_post(url, key, body, later).status_code == 200

    # The later webhook of the group proceeds once the failing one has dead-lettered.
    assert bus_events(state, {later}) == [later]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        assert ops_main(redrive_args(state, group, "--wait-seconds", "0")) == 0, err.getvalue()
    dry = json.loads(out.getvalue())
    assert (dry["mode"], dry["selected"], dry["byGroup"], dry["sent"]) == ("dry-run", 1, {group: 1}, 0), dry

    # Redriven before the fix, it fails again and dead-letters again: a later run finds it there.
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        assert ops_main(redrive_args(state, group, "--execute", "--wait-seconds", "0")) == 0
    assert json.loads(out.getvalue())["sent"] == 1
    assert dead_letter_groups(state, group) == [group]

    # The fix (the payload is back), then the redrive.
    state_client(state, "s3").put_object(Bucket=state["inbound_bucket"], Key=claim_key, Body=payload)
    result = run_ops_process(redrive_args(state, group, "--execute", "--wait-seconds", "1"))
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert (report["sent"], report["deleted"], report["kept"]) == (1, 1, []), report
    assert [m["group"] for m in report["moved"]] == [group]
    assert "inbound redrive: looked at" in result.stderr and "stopped:" in result.stderr

    # It is back in its group: a webhook of the group sent after the redrive arrives after it, and
    # the redriven one arrives once (a second copy would be ahead of the last one too).
    body = json.dumps({"after": last, "repository": {"id": repository}}).encode()
    assert github_post(url, key, body, last).status_code == 200
    assert bus_events(state, {poison, last}) == [poison, last]
