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

import dataclasses
import json
import math
import os
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from functions import logs, metrics, telemetry
from functions.delivery import copies, credentials, guard, policy, runtime, sender, signing, store
from functions.delivery.endpoint_fields import OAUTH, WORKER
from functions.delivery.runtime import Runtime
from functions.delivery.settings import WorkerSettings
from functions.delivery.vocab import DeliveryStatus, DisabledReason
from functions.records import record

MAX_THREADS = 10
# A dead-letter record stays under the SQS message limit (256 KiB) with room for the history.
MAX_DEAD_LETTER_PAYLOAD_BYTES = 200_000


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


WorkerRuntime = Runtime[WorkerSettings]
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


# Runs this process delivered alone (the byEvent index may not show them yet).
_done_runs = copies.DoneRuns()


def _process_safely(state: WorkerRuntime, record: Mapping[str, Any]) -> bool:
    try:
        return process(state, record)
    except Exception as error:
        # Left in the queue: it comes back after the visibility timeout and resumes from the claim.
        logs.error("delivery task failed; will be retried", messageId=record.get("messageId"), error=repr(error)[:300])
        return True


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


def process(state: WorkerRuntime, record: Mapping[str, Any]) -> bool:
    """Handle one task; returns ``True`` when the message must stay in the queue (a retry is due)."""
    config, table = state.settings, state.table
    try:
        task = parse_task(record)
    except InvalidTask as error:
        _dead_letter(
            state, {"reason": "invalid task", "problem": str(error), "body": str(record.get("body", ""))[:10_000]}
        )
        logs.error("invalid delivery task sent to the dead-letter queue", messageId=record.get("messageId"))
        return False
    ids = _ids(task)
    now = time.time()
    context = table.delivery_context(task.tenant_id, task.event_id, task.endpoint_id, message=task.message)
    key = copies.run_key(task.tenant_id, task.event_id, task.endpoint_id, task.run)
    done: bool | None = None
    if context.delivery is None and _may_go_alone(config, task, context):
        done = key in _done_runs or table.run_is_done(task.tenant_id, task.event_id, task.endpoint_id, task.run)
    if done:
        logs.info("duplicate delivery task dropped: its run was delivered", **ids)
        return False
    if done is False:
        # The cheapest path (docs/delivery.md, "Cost"): no claim; the attempt's own write records the
        # run, or, if it does not succeed, the claim then goes with its result.
        assert context.endpoint is not None and context.secrets is not None and context.message is not None
        unclaimed = {"eventId": task.event_id, "run": task.run, "attempts": 0, "history": []}
        return _attempt(state, task, unclaimed, context.endpoint, context.secrets, context.message, alone=True)
    delivery = _claim(state, task, now, store_message=context.delivery is None, takeover_first=task.receive_count <= 1)
    if delivery is None:
        logs.info("duplicate or superseded delivery task dropped", **ids)
        return False
    due = delivery.get("nextAttemptAt")
    if due:
        wait = store.parse_time(due) - now
        if wait >= 1:
            # Back early (a crash before the visibility change): hide until the attempt is due.
            _hide(state, task, math.ceil(wait))
            return True
    if context.endpoint is None and store.is_config_endpoint_id(task.endpoint_id):
        # Removed from the stack config by `pulumi up` (moved to engine apiDestination, or deleted): nobody
        # asked to cancel its deliveries, so each ends failed with a dead letter (payload and history), as
        # for a disabled endpoint, for `ops` or the operator to deliver again (docs/endpoints.md).
        _fail_without_attempt(state, task, delivery, context, CONFIG_ENDPOINT_REMOVED, now)
        return False
    if context.endpoint is None:
        _end_run(state, task, DeliveryStatus.CANCELLED, "endpoint deleted", now)
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
        _fail_without_attempt(state, task, delivery, context, reason, now)
        return False
    if context.secrets is None:
        raise RuntimeError(f"endpoint {task.endpoint_id} of tenant {task.tenant_id} has no signing secret")
    assert context.message is not None
    return _attempt(state, task, delivery, context.endpoint, context.secrets, context.message)


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


def _attempt(
    state: WorkerRuntime,
    task: Task,
    delivery: Mapping[str, Any],
    endpoint: store.Endpoint,
    secrets: store.SigningSecrets,
    message: store.Message,
    *,
    alone: bool = False,
) -> bool:
    """One attempt. ``alone``: the run has no delivery item and this task has not claimed it; a
    success is then recorded by the attempt alone, anything else claims the run with its result."""
    config, table = state.settings, state.table
    attempt = int(delivery.get("attempts") or 0) + 1
    limits = guard.Limits(
        breaker_failures=config.breaker_failures,
        breaker_cooldown_seconds=config.breaker_cooldown_seconds,
        timeout_seconds=endpoint.options.timeout_seconds or config.timeout_seconds,
        may_defer_for_lease=task.receive_count <= config.max_receives // 2,
    )
    gate = guard.before_attempt(table, delivery, endpoint, task.run, attempt, task.message_id, limits)
    if isinstance(gate, guard.Defer):
        logs.info("delivery deferred", tenantId=task.tenant_id, endpointId=task.endpoint_id, reason=gate.reason)
        _hide(state, task, gate.seconds)
        return True
    # Skipped by the breaker, or a key or token that cannot be had: recorded as the attempt, nothing sent.
    preempted: sender.Response | None = gate.response() if isinstance(gate, guard.Skip) else None
    if preempted is None:
        secrets, preempted = credentials.prepare(
            state.clients, table, config.table_name, config.allowed_networks, endpoint, secrets
        )
    started = time.time()
    try:
        body, headers = request_for(endpoint, secrets, message, started)
        headers.update({telemetry.TRACEPARENT_HEADER: task.traceparent} if task.traceparent else {})
    except (ValueError, KeyError, TypeError) as error:
        # Nothing a retry can fix: fail now, with an attempt record (as the sender does for a bad header).
        response = preempted or sender.Response(None, 0, error=f"request cannot be sent: {error}", error_kind="request")
    else:
        response = preempted or sender.post(
            endpoint.url,
            body,
            headers,
            timeout=endpoint.options.timeout_seconds or config.timeout_seconds,
            allowed=config.allowed_networks,
            max_response_bytes=config.max_response_bytes,
            method=endpoint.options.method,
        )
    transition = guard.after_attempt(table, endpoint, gate, response, limits)
    if transition is not None:
        kind = "BREAKER_OPENED" if transition == guard.BreakerTransition.OPENED else "BREAKER_CLOSED"
        reason = (response.error or f"HTTP {response.status}") if kind == "BREAKER_OPENED" else "an attempt succeeded"
        _publish(state, task, kind, reason, time.time())
    breaker_opened = transition == guard.BreakerTransition.OPENED
    if endpoint.options.auth.type == OAUTH:
        from functions.delivery import oauth  # imported by the first OAuth endpoint only

        oauth.after_response(table, task.tenant_id, task.endpoint_id, secrets.auth_secret, response.status)
    verdict = policy.classify(response.status, response.error_kind)
    outcome = verdict.outcome
    delay = None
    if outcome == policy.RETRY:
        retry_after = policy.retry_after_seconds(response.headers.get("retry-after"), time.time())
        delay, wait = guard.retry_delay(
            gate,
            attempt,
            config.retry_schedule,
            response.status,
            retry_after,
            int(time.time() * 1000),
            config.time_scale,
        )
        if delay is None:
            outcome = policy.FAILED
    now = time.time()
    final_reason = {
        policy.FAILED: f"retries exhausted after {attempt} attempts ({verdict.reason})"
        if verdict.outcome == policy.RETRY
        else f"failed without retry ({verdict.reason})",
        policy.GONE: "endpoint gone (HTTP 410); endpoint disabled",
    }.get(outcome)
    record = store.AttemptRecord(
        tenant_id=task.tenant_id,
        endpoint_id=task.endpoint_id,
        event_id=message.event_id,
        event_type=message.event_type,
        run=task.run,
        attempt=attempt,
        at=now,
        url=endpoint.url,
        outcome="retrying" if outcome == policy.RETRY else outcome,
        status_code=response.status,
        latency_ms=response.latency_ms,
        response=response.body.decode("utf-8", errors="replace") if response.status is not None else None,
        response_truncated=response.truncated,
        error=response.error,
        next_attempt_in_seconds=delay,
    )
    expires = store.ttl(now, config.history_ttl_days)
    if alone and outcome == policy.SUCCEEDED:
        carried = store.message_fields(task.message) if task.message is not None else None
        table.put_attempt(record, expires, ends_run=True, message=carried)
        _done_runs.add(copies.run_key(task.tenant_id, task.event_id, task.endpoint_id, task.run))
    elif alone:
        # After an attempt made alone that did not succeed: its retries need the delivery item.
        claimed = _claim(state, task, now, store_message=True, takeover_first=True)
        table.put_attempt(record, expires)
        if claimed is None:
            logs.info("delivery run taken by another copy of its task; this attempt is recorded", **_ids(task))
            return False
        delivery = claimed
    else:
        table.put_attempt(record, expires)
    logs.info(
        "delivery attempt",
        tenantId=task.tenant_id,
        eventId=message.event_id,
        endpointId=task.endpoint_id,
        run=task.run,
        attempt=attempt,
        outcome=record.outcome,
        statusCode=response.status,
        latencyMs=response.latency_ms,
        errorKind=response.error_kind,
        nextAttemptInSeconds=delay,
    )
    metrics.delivery_attempt(
        WORKER,
        status=response.status,
        error_kind=response.error_kind,
        latency_ms=None if preempted or response.error_kind == "request" else response.latency_ms,
        retry=outcome == policy.RETRY,
        dead_lettered=outcome not in (policy.RETRY, policy.SUCCEEDED),
        breaker_opened=breaker_opened,
        tenantId=task.tenant_id,
        endpointId=task.endpoint_id,
        eventId=message.event_id,
        attempt=attempt,
    )
    if outcome == policy.RETRY:
        assert delay is not None
        owned = table.finish_attempt(
            record=record, task_message_id=task.message_id, final_status=None, next_attempt_at=now + wait
        )
        if owned is None:
            return False
        _hide(state, task, wait)
        return True
    if outcome == policy.SUCCEEDED:
        if not alone:
            table.finish_attempt(record=record, task_message_id=task.message_id, final_status=DeliveryStatus.SUCCEEDED)
        if endpoint.consecutive_failures > 0:
            table.reset_failures(task.tenant_id, task.endpoint_id)
        return False
    assert final_reason is not None
    if outcome == policy.GONE and table.disable_endpoint(task.tenant_id, task.endpoint_id, DisabledReason.GONE, now):
        _publish(state, task, "ENDPOINT_DISABLED", DisabledReason.GONE, now)
    history = [*(delivery.get("history") or []), record.summary()]
    _dead_letter(
        state, _dead_letter_record(task, message, final_reason, attempt, history, response.status, response.error, now)
    )
    if table.finish_attempt(
        record=record, task_message_id=task.message_id, final_status=DeliveryStatus.FAILED, failed_reason=final_reason
    ):
        _publish_exhausted(state, task, message.event_type, attempt, final_reason, now)
    if outcome == policy.FAILED:
        failures = table.record_failed_message(task.tenant_id, task.endpoint_id, now)
        if failures >= config.disable_after_failures and table.disable_endpoint(
            task.tenant_id, task.endpoint_id, DisabledReason.FAILURES, now
        ):
            logs.warning(
                "endpoint disabled after consecutive failed messages",
                tenantId=task.tenant_id,
                endpointId=task.endpoint_id,
                failures=failures,
            )
            _publish(state, task, "ENDPOINT_DISABLED", DisabledReason.FAILURES, now)
    else:
        logs.warning("endpoint disabled: HTTP 410 Gone", tenantId=task.tenant_id, endpointId=task.endpoint_id)
    return False


def _ids(task: Task) -> dict[str, Any]:
    return {"tenantId": task.tenant_id, "eventId": task.event_id, "endpointId": task.endpoint_id, "run": task.run}


def _claim(
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


def request_for(
    endpoint: store.Endpoint, secrets: store.SigningSecrets, message: store.Message, now: float
) -> tuple[bytes, dict[str, str]]:
    """The body and headers of one attempt: transform, static headers, auth, then the signature headers
    (reserved names: the config and the API refuse static headers that would collide)."""
    options = endpoint.options
    if options.transform:
        from functions import transform  # imported by the first transforming endpoint only

        text = transform.apply(str(options.transform["template"]), dict(options.transform["paths"]), message.event())
        body = text.encode("utf-8")
    else:
        body = message.body.encode("utf-8")
    headers = dict(options.headers)
    headers.update(options.auth.headers(secrets.auth_secret))
    headers.update(
        signing.delivery_headers(secrets.active(now), message.event_id, int(now), body, options.signing_scheme)
    )
    return body, headers


def _fail_without_attempt(
    state: WorkerRuntime,
    task: Task,
    delivery: Mapping[str, Any],
    context: store.DeliveryContext,
    reason: str,
    now: float,
) -> None:
    message = context.message
    record = _dead_letter_record(
        task,
        message,
        reason,
        int(delivery.get("attempts") or 0),
        list(delivery.get("history") or []),
        delivery.get("lastStatusCode"),
        delivery.get("lastError"),
        now,
    )
    _dead_letter(state, record)
    metrics.delivery_dead_lettered(WORKER, tenantId=task.tenant_id, endpointId=task.endpoint_id, reason=reason)
    if _end_run(state, task, DeliveryStatus.FAILED, reason, now):
        _publish_exhausted(
            state, task, message.event_type if message else task.event_type, record["attempts"], reason, now
        )
    logs.warning(
        "delivery failed without an attempt",
        tenantId=task.tenant_id,
        eventId=task.event_id,
        endpointId=task.endpoint_id,
        reason=reason,
    )


def _end_run(state: WorkerRuntime, task: Task, status: DeliveryStatus, reason: str, now: float) -> bool:
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


def _publish(state: WorkerRuntime, task: Task, kind: str, reason: str, at: float, **extra: Any) -> None:
    """Publish the operational event ``kind`` (an ``OperationalEventType`` name) about ``task``'s
    endpoint; the delivery of an operational event publishes none (:mod:`functions.delivery.operational`)."""
    settings = state.settings
    if not settings.event_bus_name:
        return  # publishing is off (no entry bus given): no client to make
    from functions.delivery import operational  # imported at the first transition only

    publisher = operational.Publisher(state.clients("events"), settings.event_bus_name, settings.operational_source)
    publisher.publish(
        operational.OperationalEventType[kind],
        tenant_id=task.tenant_id,
        endpoint_id=task.endpoint_id,
        reason=str(reason),
        at=at,
        caused_by_event_id=task.event_id,
        **extra,
    )


def _publish_exhausted(
    state: WorkerRuntime, task: Task, event_type: str, attempts: int, reason: str, at: float
) -> None:
    extra = {"failedEventId": task.event_id, "failedEventType": event_type, "attempts": attempts}
    # One event per ended run: a resend or replay (a new run) that fails again is a new transition.
    _publish(state, task, "ATTEMPT_EXHAUSTED", reason, at, extra=extra, transition=f"{task.event_id}#{task.run}")


def _dead_letter_record(
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
        if len(message.body.encode("utf-8")) <= MAX_DEAD_LETTER_PAYLOAD_BYTES:
            record["payload"] = json.loads(message.body)
        else:
            record["payloadOmitted"] = (
                "larger than a dead-letter record allows; read it with GET /tenants/{tenantId}/messages/{eventId}"
            )
    return record


def _dead_letter(state: WorkerRuntime, record: Mapping[str, Any]) -> None:
    state.sqs.send_message(
        QueueUrl=state.settings.dead_letter_queue_url,
        MessageBody=json.dumps(record, separators=(",", ":"), default=str),
    )


def _hide(state: WorkerRuntime, task: Task, seconds: int) -> None:
    state.sqs.change_message_visibility(
        QueueUrl=state.settings.tasks_queue_url,
        ReceiptHandle=task.receipt_handle,
        VisibilityTimeout=max(0, min(policy.MAX_DELAY_SECONDS, int(seconds))),
    )
