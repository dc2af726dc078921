"""One attempt of a delivery: protection around it, the request, the send, the verdict, the record.

Called by :mod:`functions.delivery.worker` for a run its task claimed, or alone (before any claim, on
the cheapest path: docs/delivery.md, "Cost"). :func:`attempt` gates the call
(:mod:`functions.delivery.guard`: breaker, rate limit, concurrency cap), prepares ``v1a`` keys and
OAuth tokens (:mod:`functions.delivery.credentials`), builds the request (:func:`request_for`) and
sends it (:mod:`functions.delivery.sender`); :func:`_settle` classifies the answer
(:mod:`functions.delivery.policy`), records the attempt and moves the run on: a retry hides the
task until its delay is over, a success ends the run, anything else dead-letters it (before the
history says "failed", so a crash in between can only duplicate, never lose, that record) and may
disable the endpoint.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from functions import logs, metrics, telemetry
from functions.delivery import copies, credentials, guard, policy, runs, sender, signing, store
from functions.delivery.endpoint_fields import OAUTH, WORKER
from functions.delivery.runs import Task, WorkerRuntime
from functions.delivery.settings import WorkerSettings
from functions.delivery.vocab import DeliveryStatus, DisabledReason

# Runs this process delivered alone (the byEvent index may not show them yet).
done_runs = copies.DoneRuns()


def make(
    state: WorkerRuntime,
    task: Task,
    delivery: Mapping[str, Any],
    endpoint: store.Endpoint,
    secrets: store.SigningSecrets,
    message: store.Message,
    *,
    alone: bool = False,
) -> bool:
    """One attempt; ``True`` when the task must stay in the queue (deferred, or a retry is due).
    ``alone``: the run has no delivery item and this task has not claimed it; a success is then
    recorded by the attempt alone, anything else claims the run with its result."""
    config = state.settings
    number = int(delivery.get("attempts") or 0) + 1
    limits = guard.Limits(
        breaker_failures=config.breaker_failures,
        breaker_cooldown_seconds=config.breaker_cooldown_seconds,
        timeout_seconds=endpoint.options.timeout_seconds or config.timeout_seconds,
        may_defer_for_lease=task.receive_count <= config.max_receives // 2,
    )
    gate = guard.before_attempt(state.table, delivery, endpoint, task.run, number, task.message_id, limits)
    if isinstance(gate, guard.Defer):
        logs.info("delivery deferred", tenantId=task.tenant_id, endpointId=task.endpoint_id, reason=gate.reason)
        runs.hide(state, task, gate.seconds)
        return True
    # Skipped by the breaker, or a key or token that cannot be had: recorded as the attempt, nothing sent.
    preempted: sender.Response | None = gate.response() if isinstance(gate, guard.Skip) else None
    if preempted is None:
        secrets, preempted = credentials.prepare(
            state.clients, state.table, config.table_name, config.allowed_networks, endpoint, secrets
        )
    response = preempted or _send(config, task, endpoint, secrets, message)
    breaker_opened = _after_response(state, task, endpoint, secrets, gate, response, limits)
    outcome, delay, wait, final_reason = _outcome(config, gate, number, response)
    now = time.time()
    record = store.AttemptRecord(
        tenant_id=task.tenant_id,
        endpoint_id=task.endpoint_id,
        event_id=message.event_id,
        event_type=message.event_type,
        run=task.run,
        attempt=number,
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
    owned = _record(state, task, delivery, record, now, alone=alone)
    if owned is None:
        logs.info("delivery run taken by another copy of its task; this attempt is recorded", **runs.ids(task))
        return False
    logs.info(
        "delivery attempt",
        tenantId=task.tenant_id,
        eventId=message.event_id,
        endpointId=task.endpoint_id,
        run=task.run,
        attempt=number,
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
        attempt=number,
    )
    table = state.table
    if outcome == policy.RETRY:
        if (
            table.finish_attempt(
                record=record, task_message_id=task.message_id, final_status=None, next_attempt_at=now + wait
            )
            is None
        ):
            return False
        runs.hide(state, task, wait)
        return True
    if outcome == policy.SUCCEEDED:
        if not alone:
            table.finish_attempt(record=record, task_message_id=task.message_id, final_status=DeliveryStatus.SUCCEEDED)
        if endpoint.consecutive_failures > 0:
            table.reset_failures(task.tenant_id, task.endpoint_id)
        return False
    assert final_reason is not None
    _end_failed(state, task, owned, message, record, response, outcome, final_reason, now)
    return False


def _send(
    config: WorkerSettings, task: Task, endpoint: store.Endpoint, secrets: store.SigningSecrets, message: store.Message
) -> sender.Response:
    """Build the request and send it; a request that cannot be built is answered as one not sent."""
    try:
        body, headers = request_for(endpoint, secrets, message, time.time())
        headers.update({telemetry.TRACEPARENT_HEADER: task.traceparent} if task.traceparent else {})
    except (ValueError, KeyError, TypeError) as error:
        # Nothing a retry can fix: fail now, with an attempt record (as the sender does for a bad header).
        return sender.Response(None, 0, error=f"request cannot be sent: {error}", error_kind="request")
    return sender.post(
        endpoint.url,
        body,
        headers,
        timeout=endpoint.options.timeout_seconds or config.timeout_seconds,
        allowed=config.allowed_networks,
        max_response_bytes=config.max_response_bytes,
        method=endpoint.options.method,
    )


def _after_response(
    state: WorkerRuntime,
    task: Task,
    endpoint: store.Endpoint,
    secrets: store.SigningSecrets,
    gate: guard.Proceed | guard.Skip,
    response: sender.Response,
    limits: guard.Limits,
) -> bool:
    """The breaker's and the OAuth token's bookkeeping after the answer; whether the breaker opened."""
    transition = guard.after_attempt(state.table, endpoint, gate, response, limits)
    if transition is not None:
        kind = "BREAKER_OPENED" if transition == guard.BreakerTransition.OPENED else "BREAKER_CLOSED"
        reason = (response.error or f"HTTP {response.status}") if kind == "BREAKER_OPENED" else "an attempt succeeded"
        runs.publish(state, task, kind, reason, time.time())
    if endpoint.options.auth.type == OAUTH:
        from functions.delivery import oauth  # imported by the first OAuth endpoint only

        oauth.after_response(state.table, task.tenant_id, task.endpoint_id, secrets.auth_secret, response.status)
    return transition == guard.BreakerTransition.OPENED


def _outcome(
    config: WorkerSettings, gate: guard.Proceed | guard.Skip, number: int, response: sender.Response
) -> tuple[str, int | None, int, str | None]:
    """The attempt's outcome; when it retries, the delay recorded and the wait applied (jittered);
    when it ends the run failed, the reason."""
    verdict = policy.classify(response.status, response.error_kind)
    outcome, delay, wait = verdict.outcome, None, 0
    if outcome == policy.RETRY:
        retry_after = policy.retry_after_seconds(response.headers.get("retry-after"), time.time())
        delay, wait = guard.retry_delay(
            gate,
            number,
            config.retry_schedule,
            response.status,
            retry_after,
            int(time.time() * 1000),
            config.time_scale,
        )
        if delay is None:
            outcome = policy.FAILED
    final_reason = {
        policy.FAILED: f"retries exhausted after {number} attempts ({verdict.reason})"
        if verdict.outcome == policy.RETRY
        else f"failed without retry ({verdict.reason})",
        policy.GONE: "endpoint gone (HTTP 410); endpoint disabled",
    }.get(outcome)
    return outcome, delay, wait, final_reason


def _record(
    state: WorkerRuntime,
    task: Task,
    delivery: Mapping[str, Any],
    record: store.AttemptRecord,
    now: float,
    *,
    alone: bool,
) -> Mapping[str, Any] | None:
    """Write the attempt; the delivery item the run goes on with, ``None`` when another copy of the
    task took the run (after an attempt made alone that did not succeed)."""
    table, expires = state.table, store.ttl(now, state.settings.history_ttl_days)
    if alone and record.outcome == policy.SUCCEEDED:
        carried = store.message_fields(task.message) if task.message is not None else None
        table.put_attempt(record, expires, ends_run=True, message=carried)
        done_runs.add(copies.run_key(task.tenant_id, task.event_id, task.endpoint_id, task.run))
        return delivery
    if alone:
        # After an attempt made alone that did not succeed: its retries need the delivery item.
        claimed = runs.claim(state, task, now, store_message=True, takeover_first=True)
        table.put_attempt(record, expires)
        return claimed
    table.put_attempt(record, expires)
    return delivery


def _end_failed(
    state: WorkerRuntime,
    task: Task,
    delivery: Mapping[str, Any],
    message: store.Message,
    record: store.AttemptRecord,
    response: sender.Response,
    outcome: str,
    reason: str,
    now: float,
) -> None:
    """End the run failed: the dead letter first (so a crash can only duplicate it), then the history;
    a 410 disables the endpoint, and so do ``disable_after_failures`` failed messages in a row."""
    table, settings = state.table, state.settings
    if outcome == policy.GONE and table.disable_endpoint(task.tenant_id, task.endpoint_id, DisabledReason.GONE, now):
        runs.publish(state, task, "ENDPOINT_DISABLED", DisabledReason.GONE, now)
    history = [*(delivery.get("history") or []), record.summary()]
    runs.dead_letter(
        state,
        runs.dead_letter_record(task, message, reason, record.attempt, history, response.status, response.error, now),
    )
    if table.finish_attempt(
        record=record, task_message_id=task.message_id, final_status=DeliveryStatus.FAILED, failed_reason=reason
    ):
        runs.publish_exhausted(state, task, message.event_type, record.attempt, reason, now)
    if outcome == policy.FAILED:
        failures = table.record_failed_message(task.tenant_id, task.endpoint_id, now)
        if failures >= settings.disable_after_failures and table.disable_endpoint(
            task.tenant_id, task.endpoint_id, DisabledReason.FAILURES, now
        ):
            logs.warning(
                "endpoint disabled after consecutive failed messages",
                tenantId=task.tenant_id,
                endpointId=task.endpoint_id,
                failures=failures,
            )
            runs.publish(state, task, "ENDPOINT_DISABLED", DisabledReason.FAILURES, now)
    else:
        logs.warning("endpoint disabled: HTTP 410 Gone", tenantId=task.tenant_id, endpointId=task.endpoint_id)


def request_for(
    endpoint: store.Endpoint, secrets: store.SigningSecrets, message: store.Message, now: float
) -> tuple[bytes, dict[str, str]]:
    """The body and headers of one attempt: transform, static headers, auth, then the signature headers
    (reserved names: the config and the API refuse static headers that would collide)."""
    options = endpoint.options
    if options.transform:
        from functions import transform  # imported by the first transforming endpoint only

        text = transform.apply(
            str(options.transform["template"]),
            dict(options.transform["paths"]),
            message.event(),
            max_bytes=transform.MAX_OUTPUT_BYTES,
        )
        body = text.encode("utf-8")
    else:
        body = message.body.encode("utf-8")
    headers = dict(options.headers)
    headers.update(options.auth.headers(secrets.auth_secret))
    headers.update(
        signing.delivery_headers(secrets.active(now), message.event_id, int(now), body, options.signing_scheme)
    )
    return body, headers
