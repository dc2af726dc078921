"""The delivery worker: sends signed requests and retries each delivery on its own schedule.

Handler ``functions.delivery.worker.handler`` consumes the tasks queue (SQS batch events; answers
``batchItemFailures``). One SQS message is one delivery (event x endpoint) for its whole life:

- the records of a batch are sent in parallel threads, so a slow endpoint costs its own thread only;
- a retry keeps the message: the worker sets its visibility timeout to the next delay of the schedule
  (``ChangeMessageVisibility``, up to 12 h) and reports it as a batch item failure, so SQS hands it
  back when the delay is over; nothing waits in line behind it;
- the delivery item in DynamoDB is the source of truth: attempt count, status, next attempt time,
  and a compact history. A task *claims* the delivery (conditional write): duplicates of the same
  task and tasks of superseded runs are dropped, a crash resumes where it stopped;
- except on the cheapest path (docs/delivery.md, "Cost"): a run without a delivery item is tried
  before any claim (after asking the ``byEvent`` index whether a copy already delivered it), and a
  success is recorded by the attempt item alone (with the message, when the task carried it); a
  try that does not succeed then claims the run with its result. Copies of one task in a batch run
  one after the other; copies at the same moment in two invocations may both send (same ``webhook-id``).

Per attempt: the endpoint, its state and secrets, the delivery item and (unless the task carries
it) the message are read in one ``BatchGetItem``; the URL goes
through the SSRF guard again (DNS rebinding) and the connection is pinned to the vetted address; the
request (the endpoint's ``method``) carries the body (the stored Standard Webhooks body, or the
endpoint's ``transform`` filled from the event: :mod:`functions.transform`, the input transformer an
API destination applies), the endpoint's static ``headers``, its ``auth`` (API key header, Basic,
Bearer), ``webhook-id`` (the event id), ``webhook-timestamp`` and ``webhook-signature`` (one
signature per active secret), and must answer within the endpoint's ``timeoutSeconds`` (default
``DELIVERY_TIMEOUT_SECONDS``). An endpoint the worker cannot build a request for (an auth or a
signing scheme this worker lacks, a stored transform it cannot apply) fails at once, with an attempt
record, as a request that cannot be sent. Endpoint protection (:mod:`functions.delivery.guard`) runs
around each attempt: the circuit breaker may skip the call, the rate limit and the concurrency cap
may delay it (never drop it), and retries wait a jittered delay; ``v1a`` keys and OAuth tokens come
from :mod:`functions.delivery.credentials`. Every attempt is recorded (time, status, latency, truncated
response, error). A 410 disables the endpoint; ``DELIVERY_DISABLE_AFTER_FAILURES`` messages failing in a row
disable it too. When a delivery fails for good (retries exhausted, fast failure, endpoint disabled,
receive limit) its record goes to the dead-letter queue with the attempt history *before* the
history says "failed", so a crash in between can only duplicate, never lose, that record.

Environment: :class:`functions.delivery.settings.WorkerSettings`.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from functions import logs
from functions.delivery import attempt, copies, runs, runtime, store
from functions.delivery.runs import InvalidTask, Task, WorkerRuntime, parse_task
from functions.delivery.settings import WorkerSettings
from functions.delivery.vocab import DeliveryStatus, DisabledReason

__all__ = ["InvalidTask", "Task", "WorkerRuntime", "handler", "parse_task", "process", "reset"]

MAX_THREADS = 10

_state = runtime.process_state(lambda clients: WorkerRuntime(WorkerSettings.from_environ(os.environ), clients))
reset = _state.reset


def handler(event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
    records = list(event.get("Records", []))
    if not records:
        return {"batchItemFailures": []}
    state = _state.get()
    # Copies of one task (same delivery and run) run one after the other, so the later ones see what
    # the first did (they are dropped) even where no claim was written before its attempt.
    groups = copies.groups(records)
    keep = [False] * len(records)

    def run_group(indexes: list[int]) -> None:
        for index in indexes:
            keep[index] = _process_safely(state, records[index])

    with ThreadPoolExecutor(max_workers=min(len(groups), MAX_THREADS)) as pool:
        list(pool.map(run_group, groups))
    return {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r, k in zip(records, keep, strict=True) if k]}


def _process_safely(state: WorkerRuntime, record: Mapping[str, Any]) -> bool:
    try:
        return process(state, record)
    except Exception as error:
        # Left in the queue: it comes back after the visibility timeout and resumes from the claim.
        logs.error("delivery task failed; will be retried", messageId=record.get("messageId"), error=repr(error)[:300])
        return True


def process(state: WorkerRuntime, record: Mapping[str, Any]) -> bool:
    """Handle one task; returns ``True`` when the message must stay in the queue (a retry is due)."""
    config, table = state.settings, state.table
    try:
        task = parse_task(record)
    except InvalidTask as error:
        runs.dead_letter(
            state, {"reason": "invalid task", "problem": str(error), "body": str(record.get("body", ""))[:10_000]}
        )
        logs.error("invalid delivery task sent to the dead-letter queue", messageId=record.get("messageId"))
        return False
    ids = runs.ids(task)
    now = time.time()
    context = table.delivery_context(task.tenant_id, task.event_id, task.endpoint_id, message=task.message)
    key = copies.run_key(task.tenant_id, task.event_id, task.endpoint_id, task.run)
    done: bool | None = None
    if context.delivery is None and _may_go_alone(config, task, context):
        done = key in attempt.done_runs or table.run_is_done(task.tenant_id, task.event_id, task.endpoint_id, task.run)
    if done:
        logs.info("duplicate delivery task dropped: its run was delivered", **ids)
        return False
    if done is False:
        # The cheapest path (docs/delivery.md, "Cost"): no claim; the attempt's own write records the
        # run, or, if it does not succeed, the claim then goes with its result.
        assert context.endpoint is not None and context.secrets is not None and context.message is not None
        unclaimed = {"eventId": task.event_id, "run": task.run, "attempts": 0, "history": []}
        return attempt.make(state, task, unclaimed, context.endpoint, context.secrets, context.message, alone=True)
    delivery = runs.claim(
        state, task, now, store_message=context.delivery is None, takeover_first=task.receive_count <= 1
    )
    if delivery is None:
        logs.info("duplicate or superseded delivery task dropped", **ids)
        return False
    due = delivery.get("nextAttemptAt")
    if due:
        wait = store.parse_time(due) - now
        if wait >= 1:
            # Back early (a crash before the visibility change): hide until the attempt is due.
            runs.hide(state, task, math.ceil(wait))
            return True
    if context.endpoint is None and store.is_config_endpoint_id(task.endpoint_id):
        # Removed from the stack config by `pulumi up` (moved to engine apiDestination, or deleted): nobody
        # asked to cancel its deliveries, so each ends failed with a dead letter (payload and history), as
        # for a disabled endpoint, for `ops` or the operator to deliver again (docs/endpoints.md).
        runs.fail_without_attempt(state, task, delivery, context, CONFIG_ENDPOINT_REMOVED, now)
        return False
    if context.endpoint is None:
        runs.end_run(state, task, DeliveryStatus.CANCELLED, "endpoint deleted", now)
        logs.info("delivery cancelled: endpoint deleted", **ids)
        return False
    reason = None
    if context.message is None:
        reason = "message expired (history TTL) before it could be delivered"
    elif not context.endpoint.enabled:
        disabled = context.endpoint.disabled_reason or DisabledReason.CONFIG
        reason = f"endpoint disabled ({disabled})"
    elif task.receive_count >= config.max_receives:
        reason = f"gave up after {task.receive_count} receives of the task"
    if reason is not None:
        runs.fail_without_attempt(state, task, delivery, context, reason, now)
        return False
    if context.secrets is None:
        raise RuntimeError(f"endpoint {task.endpoint_id} of tenant {task.tenant_id} has no signing secret")
    assert context.message is not None
    return attempt.make(state, task, delivery, context.endpoint, context.secrets, context.message)


CONFIG_ENDPOINT_REMOVED = "endpoint removed from the stack config (moved to engine apiDestination, or deleted)"


def _may_go_alone(config: WorkerSettings, task: Task, context: store.DeliveryContext) -> bool:
    """Whether the attempt may go before any claim: a deliverable endpoint without a rate limit (its
    slot is remembered on the delivery item), and a task within its receive limit."""
    endpoint = context.endpoint
    return (
        endpoint is not None
        and endpoint.enabled
        and not endpoint.options.rate_limit_per_second
        and context.secrets is not None
        and context.message is not None
        and task.receive_count < config.max_receives
    )
