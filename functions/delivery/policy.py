"""What an attempt's result means and when the next one happens (pure).

- 2xx: delivered.
- 410 Gone: the receiver says the endpoint no longer exists; it is disabled (Standard Webhooks).
- Timeouts, connection and DNS errors, 408, 409, 429 and 5xx: retried on the schedule
  (``hookstack:delivery.retryScheduleSeconds``, default 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h:
  eight attempts over about 27.5 hours). A ``Retry-After`` on 429 or 503 replaces the scheduled delay
  (clamped to 1 s .. 12 h, the longest an SQS message can stay invisible).
- Any other 4xx, a redirect (redirects are never followed: they could point anywhere), an address
  the SSRF guard refuses or a request that cannot be sent (a header or URL HTTP cannot carry): fails at
  once, no retry.
"""

from __future__ import annotations

from email.utils import parsedate_to_datetime
from enum import StrEnum

from functions.records import record


class Outcome(StrEnum):
    """What to do after an attempt."""

    SUCCEEDED = "succeeded"
    RETRY = "retry"
    FAILED = "failed"
    """Ends the delivery without retry."""
    GONE = "gone"
    """Ends the delivery and disables the endpoint."""


SUCCEEDED, RETRY, FAILED, GONE = Outcome.SUCCEEDED, Outcome.RETRY, Outcome.FAILED, Outcome.GONE

RETRYABLE_STATUSES = frozenset({408, 409, 429})
RETRY_AFTER_STATUSES = frozenset({429, 503})
MIN_DELAY_SECONDS = 1
MAX_DELAY_SECONDS = 43_200  # SQS ChangeMessageVisibility maximum

# Errors raised before any HTTP status exists (see functions.delivery.sender.Response.error_kind).
RETRYABLE_ERRORS = frozenset({"timeout", "connection", "dns", "tls", "protocol"})
FINAL_ERRORS = frozenset({"blocked", "request"})


@record
class Verdict:
    outcome: Outcome
    reason: str


def classify(status: int | None, error_kind: str | None = None) -> Verdict:
    """The meaning of one attempt's result."""
    if status is None:
        if error_kind in FINAL_ERRORS:
            return Verdict(FAILED, f"{error_kind}: not retried")
        return Verdict(RETRY, f"{error_kind or 'error'}: retried")
    if 200 <= status <= 299:
        return Verdict(SUCCEEDED, f"HTTP {status}")
    if status == 410:
        return Verdict(GONE, "HTTP 410 Gone: the endpoint is disabled")
    if status in RETRYABLE_STATUSES or 500 <= status <= 599:
        return Verdict(RETRY, f"HTTP {status}: retried")
    if 300 <= status <= 399:
        return Verdict(FAILED, f"HTTP {status}: redirects are not followed")
    return Verdict(FAILED, f"HTTP {status}: not retried")


def retry_after_seconds(value: str | None, now: float) -> int | None:
    """A ``Retry-After`` header (delta seconds or an HTTP date) as whole seconds from ``now``."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if text.isdigit():
        # ASCII digits only, and no more than a delay can use: str.isdigit also holds for "²" (which
        # int() refuses) and "٣", and int() refuses 4,300 digits; the receiver's header was a crash.
        return int(text) if text.isascii() and len(text) <= 10 else None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0, int(when.timestamp() - now + 0.999))


def next_delay(
    attempt: int, schedule: tuple[int, ...], status: int | None = None, retry_after: int | None = None
) -> int | None:
    """Seconds to wait after attempt number ``attempt`` (1-based) failed, or ``None`` when none is left."""
    if attempt < 1:
        raise ValueError(f"attempt numbers start at 1, got {attempt}")
    if attempt > len(schedule):
        return None
    delay = schedule[attempt - 1]
    if retry_after is not None and status in RETRY_AFTER_STATUSES:
        delay = retry_after
    return max(MIN_DELAY_SECONDS, min(MAX_DELAY_SECONDS, int(delay)))


def max_attempts(schedule: tuple[int, ...]) -> int:
    return len(schedule) + 1
