"""Delivery tasks: the small SQS messages that the worker turns into attempts.

A task is ``{"tenantId", "eventId", "endpointId", "eventType", "run"}``. ``run`` is 1 for the first
delivery of an event to an endpoint and goes up by one with each resend or replay, so the worker can
tell a new run (take over) from a duplicate of the current one (drop).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from functions.delivery import clients, settings

SQS_BATCH_LIMIT = 10


def task(tenant_id: str, event_id: str, endpoint_id: str, event_type: str, run: int) -> dict[str, Any]:
    return {"tenantId": tenant_id, "eventId": event_id, "endpointId": endpoint_id, "eventType": event_type, "run": run}


def send(tasks: Sequence[dict[str, Any]]) -> None:
    """Queue tasks; raises when some could not be queued (callers retry, duplicates are dropped)."""
    sqs = clients.sqs()
    queue_url = settings.get().tasks_queue_url
    for start in range(0, len(tasks), SQS_BATCH_LIMIT):
        chunk = tasks[start:start + SQS_BATCH_LIMIT]
        entries = [{"Id": str(i), "MessageBody": json.dumps(t, separators=(",", ":"))} for i, t in enumerate(chunk)]
        for attempt in range(3):
            response = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
            failed = {f["Id"] for f in response.get("Failed", [])}
            if not failed:
                break
            entries = [e for e in entries if e["Id"] in failed]
            time.sleep(0.2 * (attempt + 1))
        else:
            raise RuntimeError(f"{len(entries)} delivery task(s) could not be queued")
