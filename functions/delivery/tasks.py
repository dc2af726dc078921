"""Delivery tasks: the small SQS messages that the worker turns into attempts.

A task is ``{"tenantId", "eventId", "endpointId", "eventType", "run"}``, plus ``traceparent`` when the
event carried one and the stack propagates traces. ``run`` is 1 for the first
delivery of an event to an endpoint and goes up by one with each resend or replay, so the worker can
tell a new run (take over) from a duplicate of the current one (drop). A task may also carry its
``message`` (``eventTime``, ``body``, ``receivedAt``, ``envelope``): the fan-out then stores none,
and the worker records it with the attempt that ends the run (docs/delivery.md, "Cost").
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

from functions import logs

SQS_BATCH_LIMIT = 10
SEND_ATTEMPTS = 3
# A task carries its message only while the whole task stays within one 64 KiB chunk, the unit SQS
# bills a request by (a larger message is stored by the fan-out as before).
MAX_CARRIED_MESSAGE_BYTES = 60_000


def task(
    tenant_id: str,
    event_id: str,
    endpoint_id: str,
    event_type: str,
    run: int,
    message: Mapping[str, Any] | None = None,
    traceparent: str | None = None,
) -> dict[str, Any]:
    queued = {
        "tenantId": tenant_id,
        "eventId": event_id,
        "endpointId": endpoint_id,
        "eventType": event_type,
        "run": run,
    }
    if message is not None:
        queued["message"] = dict(message)
    if traceparent:
        queued["traceparent"] = traceparent
    return queued


# SendMessageBatch's limit on the sum of its messages (256 KiB), with room for the request's framing.
MAX_BATCH_BYTES = 250_000


def _batches(bodies: Sequence[str]) -> list[list[tuple[str, str]]]:
    """(entry id, body) batches of up to ten tasks whose bodies together fit one SendMessageBatch."""
    batches: list[list[tuple[str, str]]] = []
    size = 0
    for index, body in enumerate(bodies):
        length = len(body.encode("utf-8"))
        if not batches or len(batches[-1]) == SQS_BATCH_LIMIT or size + length > MAX_BATCH_BYTES:
            batches.append([])
            size = 0
        batches[-1].append((str(index), body))
        size += length
    return batches


class TaskQueue:
    """The tasks queue, bound to an SQS client and its URL."""

    def __init__(self, client: Any, url: str) -> None:
        self.client = client
        self.url = url

    def send(self, tasks: Sequence[dict[str, Any]]) -> list[int]:
        """Queue tasks, ten per request; returns the indexes of those that could not be queued."""
        failed: list[int] = []
        for batch in _batches([json.dumps(t, separators=(",", ":")) for t in tasks]):
            pending = dict(batch)
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
