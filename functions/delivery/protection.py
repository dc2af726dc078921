"""Endpoint protection, the pure half: full jitter, the shared rate limit, the circuit breaker and the
per-endpoint concurrency cap, as functions of their state and an injected clock and random source.

The shared state lives in the delivery table (:mod:`functions.delivery.store.protection`); the worker
(:mod:`functions.delivery.guard`) ties the two together. Each mechanism is designed so that an
endpoint that does not need it pays no AWS request for it:

- **Full jitter.** A scheduled retry waits a uniform random time between 1 s and the schedule's
  entry (AWS Architecture Blog, "Exponential Backoff And Jitter"): retries of many deliveries that
  failed together (an outage) do not come back together. A receiver's ``Retry-After`` is honoured
  as given, never shortened. No request.
- **Rate limit** (``rateLimitPerSecond``, only endpoints that set it): GCRA, the token bucket as one
  number, the *theoretical arrival time* ``tat`` (a bucket of ``rate`` tokens refilled continuously
  at ``rate`` per second). Each attempt reserves the next free slot with one conditional
  ``UpdateItem`` that needs no read (``tat = tat + interval`` when the bucket is busy, ``tat = now +
  interval`` when it is idle); a slot in the future delays the attempt (SQS visibility), never drops
  it. Slots are reserved at most :data:`RATE_HORIZON_SECONDS` ahead.
- **Circuit breaker:** after :data:`BREAKER_FAILURES` (``breakerFailureThreshold``) failed attempts in a row (timeouts,
  connection errors, 5xx, 408: the endpoint is unwell, not the message) the endpoint is *open* for
  :data:`BREAKER_COOLDOWN_SECONDS` (``breakerCooldownSeconds``): deliveries due then are not sent (the attempt is recorded as
  ``circuit open`` and takes its next retry on the schedule). Then one attempt, the *probe*, is let
  through; its success closes the breaker, its failure opens it again. The counters live on the
  endpoint's state item, which every attempt already reads, and are written only by failed
  attempts and by the first success after them.
- **Concurrency cap:** an endpoint whose attempt took :data:`SLOW_ATTEMPT_SECONDS` or more is marked
  slow for :data:`SLOW_MARK_SECONDS`; while it is, each attempt first takes one of
  :data:`ENDPOINT_MAX_IN_FLIGHT` leases, so one slow endpoint holds at most that many worker
  invocations (the rest wait a little and come back). Fast endpoints never take a lease.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from enum import StrEnum

from functions.delivery import policy
from functions.records import record

# The most attempts in a row that may fail before the breaker opens, and how long it stays open.
BREAKER_FAILURES = 5
BREAKER_COOLDOWN_SECONDS = 60
# Their bounds (hookstack:delivery.breakerFailureThreshold / breakerCooldownSeconds).
MAX_BREAKER_FAILURES = 1000
MAX_BREAKER_COOLDOWN_SECONDS = 3600
# How long one probe owns the half-open breaker before another worker may probe (a crashed worker
# must not keep it half-open): the longest attempt plus the worker's overhead.
PROBE_LEASE_SECONDS = 90

# How far ahead a rate-limit slot may be reserved: SQS hides a message for at most 12 hours.
RATE_HORIZON_SECONDS = policy.MAX_DELAY_SECONDS
# A slot less than this far ahead is waited for in the worker's thread (SQS visibility counts whole seconds).
MAX_IN_THREAD_WAIT_SECONDS = 1.0
# Each attempt may wait once for its rate-limit slot (an extra receive of its task): the tasks
# queue's receive limit allows for it (components/specs/delivery.py).
RECEIVES_PER_ATTEMPT = 2

# The concurrency cap, for endpoints that have been slow recently.
SLOW_ATTEMPT_SECONDS = 5.0
SLOW_MARK_SECONDS = 300
ENDPOINT_MAX_IN_FLIGHT = 4
# How long a waiting delivery stays hidden before it tries for a lease again (jittered).
LEASE_RETRY_SECONDS = 10
# A lease outlives a crashed worker by this much past the attempt's timeout.
LEASE_MARGIN_SECONDS = 15

Random = Callable[[], float]
"""Returns a float in [0, 1): ``random.random`` in the worker, a fixed sequence in tests."""


# -- full jitter ------------------------------------------------------------------------------------


def full_jitter(ceiling: int, random: Random) -> int:
    """A whole number of seconds drawn uniformly from ``1 .. ceiling`` (``ceiling`` below 1 gives 1)."""
    low = policy.MIN_DELAY_SECONDS
    if ceiling <= low:
        return low
    return min(ceiling, low + int(random() * (ceiling - low + 1)))


def retry_delay(
    attempt: int, schedule: tuple[int, ...], status: int | None, retry_after: int | None, random: Random
) -> int | None:
    """Seconds before the next attempt after attempt ``attempt`` failed (``None``: no retry left):
    the schedule's entry with full jitter, or the receiver's ``Retry-After`` (429, 503) unchanged."""
    delay = policy.next_delay(attempt, schedule, status, retry_after)
    if delay is None:
        return None
    if retry_after is not None and status in policy.RETRY_AFTER_STATUSES:
        return delay
    return full_jitter(delay, random)


# -- rate limit (GCRA) ------------------------------------------------------------------------------


def interval_ms(rate_per_second: int) -> int:
    """Milliseconds between two slots at ``rate_per_second`` (at least 1)."""
    return max(1, math.ceil(1000 / rate_per_second))


def burst_ms(rate_per_second: int) -> int:
    """How far ``tat`` may run ahead of now and still grant a slot at once: a bucket of ``rate``
    tokens (one second's worth) minus the token being taken."""
    return (rate_per_second - 1) * interval_ms(rate_per_second)


def slot_for(old_tat_ms: int | None, now_ms: int, rate_per_second: int) -> int:
    """The time (epoch ms) at which the attempt that moved ``tat`` from ``old_tat_ms`` may be sent."""
    if old_tat_ms is None or old_tat_ms <= now_ms:
        return now_ms
    return max(now_ms, old_tat_ms - burst_ms(rate_per_second))


def busy_limit_ms(now_ms: int, rate_per_second: int) -> int:
    """The largest ``tat`` that still grants a slot within :data:`RATE_HORIZON_SECONDS`."""
    return now_ms + burst_ms(rate_per_second) + RATE_HORIZON_SECONDS * 1000


# -- circuit breaker ----------------------------------------------------------------------------------


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "halfOpen"
    """Cool-down over: the next attempt is the probe (or one is in flight)."""


@record
class Breaker:
    """The breaker's fields of an endpoint's state item (``ST#``)."""

    failures: int = 0
    """Failed attempts in a row."""
    open_until_ms: int | None = None
    probe_until_ms: int | None = None
    """Set while a probe is in flight (a lease: it expires if its worker dies)."""

    def state(self, now_ms: int) -> BreakerState:
        if self.open_until_ms is None:
            return BreakerState.CLOSED
        if now_ms < self.open_until_ms:
            return BreakerState.OPEN
        return BreakerState.HALF_OPEN

    def probe_in_flight(self, now_ms: int) -> bool:
        return self.probe_until_ms is not None and now_ms < self.probe_until_ms

    def needs_reset(self) -> bool:
        """Whether a success must write (it is free when there is nothing to clear)."""
        return self.failures > 0 or self.open_until_ms is not None

    def to_api(self, now_ms: int, format_time: Callable[[float], str]) -> dict[str, object]:
        """The subscription API's ``circuitBreaker`` (``format_time``: epoch seconds to ISO 8601)."""
        document: dict[str, object] = {"state": str(self.state(now_ms)), "consecutiveFailedAttempts": self.failures}
        if self.open_until_ms is not None:
            document["openUntil"] = format_time(self.open_until_ms / 1000)
        return document


def breaker_from(state: Mapping[str, object] | None) -> Breaker:
    state = state or {}
    return Breaker(
        failures=_int(state.get("breakerFailures")) or 0,
        open_until_ms=_int(state.get("breakerOpenUntil")),
        probe_until_ms=_int(state.get("breakerProbeUntil")),
    )


def counts_against_breaker(status: int | None, error_kind: str | None) -> bool:
    """A failure that says the endpoint is unwell (not that it refused this one message): no answer
    at all, 5xx, or 408. 429 is the receiver pacing us (its ``Retry-After`` is honoured instead)."""
    if status is None:
        return error_kind in policy.RETRYABLE_ERRORS
    return status == 408 or 500 <= status <= 599


def should_open(failures: int, threshold: int = BREAKER_FAILURES) -> bool:
    return failures >= threshold


# -- concurrency cap ---------------------------------------------------------------------------------


def lease_attribute(index: int) -> str:
    return f"lease{index}"


def is_slow(state: Mapping[str, object] | None, now_ms: int) -> bool:
    until = _int((state or {}).get("slowUntil"))
    return until is not None and now_ms < until


def free_leases(state: Mapping[str, object] | None, now_ms: int, cap: int = ENDPOINT_MAX_IN_FLIGHT) -> list[int]:
    """The lease slots free (never taken, or expired) in the state item as last read."""
    state = state or {}
    free = []
    for index in range(cap):
        until = _int(state.get(lease_attribute(index)))
        if until is None or until <= now_ms:
            free.append(index)
    return free


def _int(value: object) -> int | None:
    if not isinstance(value, int | float | str) or isinstance(value, bool):
        return None
    try:
        return int(value)
    except ValueError:
        return None
