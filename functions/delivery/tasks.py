"""Delivery tasks: the small SQS messages that the worker turns into attempts.

A task is ``{"tenantId", "eventId", "endpointId", "eventType", "run"}``, plus ``traceparent`` when the
event carried one and the stack propagates traces. ``run`` is 1 for the first
delivery of an event to an endpoint and goes up by one with each resend or replay, so the worker can
tell a new run (take over) from a duplicate of the current one (drop).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from functions import logs

SQS_BATCH_LIMIT = 10
SEND_ATTEMPTS = 3


def task(
    tenant_id: str, event_id: str, endpoint_id: str, event_type: str, run: int, traceparent: str | None = None
) -> dict[str, Any]:
    queued = {
        "tenantId": tenant_id,
        "eventId": event_id,
        "endpointId": endpoint_id,
        "eventType": event_type,
        "run": run,
    }
    return {**queued, "traceparent": traceparent} if traceparent else queued


class TaskQueue:
    """The tasks queue, bound to an SQS client and its URL."""

    def __init__(self, client: Any, url: str) -> None:
        self.client = client
        self.url = url

    def send(self, tasks: Sequence[dict[str, Any]]) -> list[int]:
        """Queue tasks, ten per request; returns the indexes of those that could not be queued."""
        failed: list[int] = []
        for start in range(0, len(tasks), SQS_BATCH_LIMIT):
            pending = {
                str(index): json.dumps(tasks[index], separators=(",", ":"))
                for index in range(start, min(start + SQS_BATCH_LIMIT, len(tasks)))
            }
            for attempt in range(SEND_ATTEMPTS):
                try:
                    response = self.client.send_message_batch(
                        QueueUrl=self.url, Entries=[{"Id": key, "MessageBody": body} for key, body in pending.items()]
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

    def send_all(self, tasks: Sequence[dict[str, Any]]) -> None:
        """Queue tasks or raise naming how many could not be queued (the caller is retried)."""
        failed = self.send(tasks)
        if failed:
            raise RuntimeError(f"{len(failed)} of {len(tasks)} delivery task(s) could not be queued")
