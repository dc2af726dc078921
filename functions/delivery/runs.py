"""Delivery runs: the task that carries one, and what the worker does to it beside attempting it.

A task is one SQS message of the tasks queue: one delivery (event x endpoint) and run, for its whole
life (:mod:`functions.delivery.worker`). Here: its record and parsing, the claim of its run, hiding
the message until the next attempt, the run's ending without an attempt, the dead-letter record, and
the operational events about its endpoint. Shared by the worker's triage and by
:mod:`functions.delivery.attempt`.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

from functions import logs, metrics, telemetry
from functions.delivery import policy, runtime, store
from functions.delivery.endpoint_fields import WORKER
from functions.delivery.runtime import Runtime
from functions.delivery.settings import WorkerSettings
from functions.delivery.vocab import DeliveryStatus
from functions.records import record

# A dead-letter record stays under the SQS message limit (256 KiB) with room for the history.
MAX_DEAD_LETTER_PAYLOAD_BYTES = 200_000

WorkerRuntime = Runtime[WorkerSettings]


@record
class Task:
    tenant_id: str
    event_id: str
    endpoint_id: str
    run: int
    event_type: str
    message_id: str
    receipt_handle: str
    receive_count: int
    message: store.Message | None = None
    """The message, when the task carries it (the fan-out stored none: a single-endpoint event)."""
    traceparent: str | None = None


class InvalidTask(ValueError):
    pass


def parse_task(record: Mapping[str, Any]) -> Task:
    try:
        body = json.loads(record["body"])
        task = Task(
            tenant_id=str(body["tenantId"]),
            event_id=str(body["eventId"]),
            endpoint_id=str(body["endpointId"]),
            run=int(body.get("run", 1)),
            event_type=str(body.get("eventType") or ""),
            message_id=str(record["messageId"]),
            receipt_handle=str(record["receiptHandle"]),
            receive_count=int((record.get("attributes") or {}).get("ApproximateReceiveCount", 1)),
            traceparent=telemetry.traceparent_to_forward(body.get("traceparent")),
        )
        if body.get("message") is not None:
            if not isinstance(body["message"], Mapping):
                raise ValueError("message must be an object")
            carried = store.message_of(task.tenant_id, task.event_id, task.event_type, body["message"])
            task = dataclasses.replace(task, message=carried)
    except (KeyError, TypeError, ValueError) as error:
        raise InvalidTask(f"not a delivery task ({error!r})") from None
    if task.run < 1:
        raise InvalidTask("run must be at least 1")
    return task


def ids(task: Task) -> dict[str, Any]:
    return {"tenantId": task.tenant_id, "eventId": task.event_id, "endpointId": task.endpoint_id, "run": task.run}


def claim(
    state: WorkerRuntime, task: Task, now: float, *, store_message: bool, takeover_first: bool
) -> dict[str, Any] | None:
    """Claim the run; with ``store_message``, the message the task carried is stored first (the delivery
    item is about to exist: later attempts, resends, replays and dead letters read the message).
    ``None``: another copy of the task owns it."""
    config, table = state.settings, state.table
    if store_message and task.message is not None:
        table.put_message(task.message, store.ttl(now, config.history_ttl_days))
    return table.claim_delivery(
        tenant_id=task.tenant_id,
        event_id=task.event_id,
        endpoint_id=task.endpoint_id,
        event_type=task.event_type,
        run=task.run,
        task_message_id=task.message_id,
        now=now,
        expires_at=store.ttl(now, config.history_ttl_days),
        takeover_first=takeover_first,
    )


def fail_without_attempt(
    state: WorkerRuntime,
    task: Task,
    delivery: Mapping[str, Any],
    context: store.DeliveryContext,
    reason: str,
    now: float,
) -> None:
    message = context.message
    record = dead_letter_record(
        task,
        message,
        reason,
        int(delivery.get("attempts") or 0),
        list(delivery.get("history") or []),
        delivery.get("lastStatusCode"),
        delivery.get("lastError"),
        now,
    )
    dead_letter(state, record)
    metrics.delivery_dead_lettered(WORKER, tenantId=task.tenant_id, endpointId=task.endpoint_id, reason=reason)
    if end_run(state, task, DeliveryStatus.FAILED, reason, now):
        publish_exhausted(
            state, task, message.event_type if message else task.event_type, record["attempts"], reason, now
        )
    logs.warning(
        "delivery failed without an attempt",
        tenantId=task.tenant_id,
        eventId=task.event_id,
        endpointId=task.endpoint_id,
        reason=reason,
    )


def end_run(state: WorkerRuntime, task: Task, status: DeliveryStatus, reason: str, now: float) -> bool:
    """End the run ``task`` owns without an attempt (a no-op if it no longer owns it); whether it did."""
    return None is not state.table.finish_without_attempt(
        tenant_id=task.tenant_id,
        event_id=task.event_id,
        endpoint_id=task.endpoint_id,
        run=task.run,
        task_message_id=task.message_id,
        status=status,
        reason=reason,
        now=now,
    )


def publish(state: WorkerRuntime, task: Task, kind: str, reason: str, at: float, **extra: Any) -> None:
    """Publish the operational event ``kind`` about ``task``'s endpoint; the delivery of an operational
    event publishes none (the loop guard of :mod:`functions.delivery.operational`)."""
    runtime.publish_operational(
        state.clients,
        state.settings,
        kind,
        tenant_id=task.tenant_id,
        endpoint_id=task.endpoint_id,
        reason=str(reason),
        at=at,
        caused_by_event_id=task.event_id,
        **extra,
    )


def publish_exhausted(state: WorkerRuntime, task: Task, event_type: str, attempts: int, reason: str, at: float) -> None:
    extra = {"failedEventId": task.event_id, "failedEventType": event_type, "attempts": attempts}
    # One event per ended run: a resend or replay (a new run) that fails again is a new transition.
    publish(state, task, "ATTEMPT_EXHAUSTED", reason, at, extra=extra, transition=f"{task.event_id}#{task.run}")


def dead_letter_record(
    task: Task,
    message: store.Message | None,
    reason: str,
    attempts: int,
    history: list[Any],
    status: int | None,
    error: str | None,
    now: float,
) -> dict[str, Any]:
    record: dict[str, Any] = {
        "reason": reason,
        "tenantId": task.tenant_id,
        "eventId": task.event_id,
        "endpointId": task.endpoint_id,
        "run": task.run,
        "attempts": attempts,
        "failedAt": store.iso(now),
        "lastStatusCode": status,
        "lastError": error,
        "history": history[-store.MAX_HISTORY_ENTRIES :],
    }
    if message is not None:
        record["eventType"] = message.event_type
        payload = (
            json.loads(message.body) if len(message.body.encode("utf-8")) <= MAX_DEAD_LETTER_PAYLOAD_BYTES else None
        )
        # Measured as dead_letter sends it (JSON-escaped: a CJK character's 3 bytes take 6, an emoji's 12).
        if payload is not None and len(json.dumps(payload, separators=(",", ":"))) <= MAX_DEAD_LETTER_PAYLOAD_BYTES:
            record["payload"] = payload
        else:
            record["payloadOmitted"] = (
                "larger than a dead-letter record allows; read it with GET /tenants/{tenantId}/messages/{eventId}"
            )
    return record


def dead_letter(state: WorkerRuntime, record: Mapping[str, Any]) -> None:
    state.sqs.send_message(
        QueueUrl=state.settings.dead_letter_queue_url,
        MessageBody=json.dumps(record, separators=(",", ":"), default=str),
    )


# SQS refuses a visibility that takes a message past 12 h since it was received, and a task may have
# been received up to the tasks queue's visibility timeout (6 x 75 s) ago: a longer wait is hidden this
# much shorter, and the task, back early, hides again until its nextAttemptAt (worker.process).
HIDE_MARGIN_SECONDS = 900
MAX_HIDE_SECONDS = policy.MAX_DELAY_SECONDS - HIDE_MARGIN_SECONDS


def hide(state: WorkerRuntime, task: Task, seconds: int) -> None:
    state.sqs.change_message_visibility(
        QueueUrl=state.settings.tasks_queue_url,
        ReceiptHandle=task.receipt_handle,
        VisibilityTimeout=max(0, min(MAX_HIDE_SECONDS, int(seconds))),
    )
