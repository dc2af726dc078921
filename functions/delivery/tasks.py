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

from functions import logs
from functions.delivery import clients, settings

SQS_BATCH_LIMIT = 10


def task(tenant_id: str, event_id: str, endpoint_id: str, event_type: str, run: int) -> dict[str, Any]:
    return {"tenantId": tenant_id, "eventId": event_id, "endpointId": endpoint_id, "eventType": event_type, "run": run}


def send(tasks: Sequence[dict[str, Any]]) -> list[int]:
    """Queue tasks, ten per request; returns the indexes of those that could not be queued."""
    sqs = clients.sqs()
    queue_url = settings.get().tasks_queue_url
    failed: list[int] = []
    for start in range(0, len(tasks), SQS_BATCH_LIMIT):
        pending = {
            str(index): json.dumps(tasks[index], separators=(",", ":"))
            for index in range(start, min(start + SQS_BATCH_LIMIT, len(tasks)))
        }
        for attempt in range(3):
            try:
                response = sqs.send_message_batch(
                    QueueUrl=queue_url, Entries=[{"Id": key, "MessageBody": body} for key, body in pending.items()]
                )
            except Exception as error:  # the whole request failed: every entry in it is retried
                logs.warning("SendMessageBatch failed", error=repr(error)[:200], attempt=attempt + 1)
                refused = set(pending)
            else:
                refused = {entry["Id"] for entry in response.get("Failed", [])}
            pending = {key: body for key, body in pending.items() if key in refused}
            if not pending:
                break
            time.sleep(0.2 * (attempt + 1))
        failed += sorted(int(key) for key in pending)
    return failed


def send_all(tasks: Sequence[dict[str, Any]]) -> None:
    """Queue tasks or raise naming how many could not be queued (the caller is retried)."""
    failed = send(tasks)
    if failed:
        raise RuntimeError(f"{len(failed)} of {len(tasks)} delivery task(s) could not be queued")
