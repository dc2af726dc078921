"""The worker's endpoint protection around one attempt (rules: :mod:`functions.delivery.protection`,
shared state: :mod:`functions.delivery.store.protection`).

:func:`before_attempt` decides, in this order, whether the attempt is sent now:

1. the circuit breaker: open (or half-open with a probe in flight) -> :class:`Skip`: the endpoint
   is not called; the attempt is recorded as ``circuit``-failed and retried on the schedule, no
   sooner than the cool-down's end;
2. the rate limit (endpoints with ``rateLimitPerSecond``): the attempt reserves a slot; a slot more
   than a second ahead -> :class:`Defer` (the task is hidden until then, the delivery remembers the
   slot); a shorter wait is slept in the thread;
3. the concurrency cap (endpoints marked slow): a lease, or :class:`Defer` for a few seconds.

:func:`after_attempt` updates the shared state from the result: only failed attempts, the first
success after failures, slow attempts and lease holders write anything. It tells whether this attempt
opened the breaker (for the ``BreakerOpened`` metric).
"""

from __future__ import annotations

import math
import random as random_module
import time
from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import Any

from functions.delivery import protection, sender, store
from functions.delivery.store.protection import rate_slot_label
from functions.records import record

CIRCUIT_ERROR_KIND = "circuit"


@record
class Proceed:
    """Send the attempt (holding lease ``lease`` until ``lease_until_ms``, if any)."""

    lease: int | None = None
    lease_until_ms: int = 0
    probe: bool = False


@record
class Defer:
    """Do not attempt yet: hide the task for ``seconds`` (no attempt is used up)."""

    seconds: int
    reason: str


@record
class Skip:
    """Do not call the endpoint: the attempt fails with ``reason``; retry no sooner than ``not_before_ms``."""

    reason: str
    not_before_ms: int

    def response(self) -> sender.Response:
        return sender.Response(None, 0, error=self.reason, error_kind=CIRCUIT_ERROR_KIND)


Gate = Proceed | Defer | Skip


class BreakerTransition(StrEnum):
    OPENED = "opened"
    CLOSED = "closed"


@record
class Limits:
    """The worker's protection settings (the breaker's from ``hookstack:delivery``)."""

    breaker_failures: int = protection.BREAKER_FAILURES
    breaker_cooldown_seconds: int = protection.BREAKER_COOLDOWN_SECONDS
    timeout_seconds: float = 15.0
    may_defer_for_lease: bool = True
    """False once a task has used half its receives: it then goes without a lease rather than risk
    its receive limit (the cap is best effort, delivery is not)."""


def before_attempt(
    table: store.DeliveryTable,
    delivery: Mapping[str, Any],
    endpoint: store.Endpoint,
    run: int,
    attempt: int,
    task_message_id: str,
    limits: Limits,
    *,
    now: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
    random: protection.Random = random_module.random,
) -> Gate:
    tenant_id, endpoint_id = endpoint.tenant_id, endpoint.endpoint_id
    now_ms = int(now() * 1000)
    breaker = protection.breaker_from(endpoint.state)
    probe = False
    state = breaker.state(now_ms)
    if state == protection.BreakerState.OPEN:
        until = breaker.open_until_ms or now_ms
        return Skip(f"circuit breaker open after {breaker.failures} failed attempts in a row: not called", until)
    lease_ms = protection.PROBE_LEASE_SECONDS * 1000
    # Waiting for the probe's answer: try again after a cool-down (not the probe's 90 s lease, which
    # only matters if its worker dies).
    half_open = Skip(
        "circuit breaker half-open: another attempt is probing the endpoint",
        now_ms + limits.breaker_cooldown_seconds * 1000,
    )
    if state == protection.BreakerState.HALF_OPEN and breaker.probe_in_flight(now_ms):
        return half_open

    rate = endpoint.options.rate_limit_per_second
    label = rate_slot_label(run, attempt)
    if rate and delivery.get("rateSlot") != label:
        slot_ms = table.take_rate_slot(tenant_id, endpoint_id, rate, now_ms, busy_first=_busy.get(endpoint_id, False))
        if slot_ms is None:
            _busy[endpoint_id] = True
            return Defer(protection.RATE_HORIZON_SECONDS, "rate limit: no slot free within the horizon")
        wait = (slot_ms - now_ms) / 1000
        _busy[endpoint_id] = wait > 0
        if wait > protection.MAX_IN_THREAD_WAIT_SECONDS:
            table.hold_rate_slot(
                tenant_id=tenant_id,
                event_id=str(delivery.get("eventId")),
                endpoint_id=endpoint_id,
                run=run,
                task_message_id=task_message_id,
                label=label,
                send_at=slot_ms / 1000,
            )
            return Defer(math.ceil(wait), f"rate limit: slot reserved in {wait:.3f} s")
        if wait > 0:
            sleep(wait)

    # The probe is claimed after the rate limit: a probe that had to wait for its slot would hold
    # the probe lease while hidden and keep the breaker half-open for nothing.
    if state == protection.BreakerState.HALF_OPEN:
        if not table.claim_probe(tenant_id, endpoint_id, int(now() * 1000), lease_ms):
            return half_open
        probe = True

    if not probe and limits.may_defer_for_lease and protection.is_slow(endpoint.state, now_ms):
        until_ms = now_ms + int((limits.timeout_seconds + protection.LEASE_MARGIN_SECONDS) * 1000)
        free = protection.free_leases(endpoint.state, now_ms)
        random_start = int(random() * protection.ENDPOINT_MAX_IN_FLIGHT)
        # The state as read may be stale: try the free slots first, then the others, from a random start.
        order = sorted(
            range(protection.ENDPOINT_MAX_IN_FLIGHT),
            key=lambda i: (i not in free, (i - random_start) % protection.ENDPOINT_MAX_IN_FLIGHT),
        )
        for index in order:
            if table.take_lease(tenant_id, endpoint_id, index, now_ms, until_ms):
                return Proceed(lease=index, lease_until_ms=until_ms, probe=probe)
        wait = protection.full_jitter(protection.LEASE_RETRY_SECONDS, random)
        return Defer(wait, f"concurrency cap: {protection.ENDPOINT_MAX_IN_FLIGHT} attempts in flight")
    return Proceed(probe=probe)


def after_attempt(
    table: store.DeliveryTable,
    endpoint: store.Endpoint,
    gate: Proceed | Skip,
    response: sender.Response,
    limits: Limits,
    *,
    now: Callable[[], float] = time.time,
) -> BreakerTransition | None:
    """Update the breaker, the slow mark and the lease from one attempt's result; returns the
    breaker's transition when this attempt's write made one (an operational event each)."""
    if isinstance(gate, Skip):
        return None
    tenant_id, endpoint_id = endpoint.tenant_id, endpoint.endpoint_id
    now_ms = int(now() * 1000)
    transition: BreakerTransition | None = None
    try:
        breaker = protection.breaker_from(endpoint.state)
        if response.status is not None and 200 <= response.status <= 299:
            if (breaker.needs_reset() or gate.probe) and table.close_breaker(
                tenant_id, endpoint_id, was_open=breaker.open_until_ms is not None
            ):
                transition = BreakerTransition.CLOSED
        elif protection.counts_against_breaker(response.status, response.error_kind):
            _, opened = table.record_breaker_failure_opening(
                tenant_id, endpoint_id, now_ms, limits.breaker_failures, limits.breaker_cooldown_seconds * 1000
            )
            transition = BreakerTransition.OPENED if opened else None
        if response.latency_ms >= protection.SLOW_ATTEMPT_SECONDS * 1000 and not protection.is_slow(
            endpoint.state, now_ms
        ):
            table.mark_slow(tenant_id, endpoint_id, now_ms + protection.SLOW_MARK_SECONDS * 1000)
    finally:
        if gate.lease is not None:
            table.release_lease(tenant_id, endpoint_id, gate.lease, gate.lease_until_ms)
    return transition


def retry_delay(
    gate: Proceed | Skip,
    attempt: int,
    schedule: tuple[int, ...],
    status: int | None,
    retry_after: int | None,
    now_ms: int,
    time_scale: float,
    random: protection.Random = random_module.random,
) -> tuple[int | None, int]:
    """(the delay to record, the seconds to hide the task): the schedule's entry with full jitter,
    and for a skipped attempt no sooner than the breaker's cool-down ends (which is not scaled by
    the sandbox's time scale: it is the endpoint's rest, not a schedule step)."""
    delay = protection.retry_delay(attempt, schedule, status, retry_after, random)
    if delay is None:
        return None, 0
    wait = int(delay * time_scale)
    if isinstance(gate, Skip):
        rest = math.ceil(max(0, gate.not_before_ms - now_ms) / 1000) + protection.full_jitter(2, random) - 1
        wait = max(wait, rest)
        delay = max(delay, rest)
    return delay, wait


# Per process: whether an endpoint's bucket was busy at its last reservation (the first guess of
# the next one; a wrong guess costs one more request, never a wrong slot).
_busy: dict[str, bool] = {}
