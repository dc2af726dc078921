"""Attempt outcomes and the retry schedule (pure)."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from functions.delivery import policy

SCHEDULE = (5, 300, 1800, 7200, 18000, 36000, 36000)


@pytest.mark.parametrize(
    ("status", "error", "outcome"),
    [
        (200, None, policy.SUCCEEDED),
        (204, None, policy.SUCCEEDED),
        (299, None, policy.SUCCEEDED),
        (410, None, policy.GONE),
        (408, None, policy.RETRY),
        (409, None, policy.RETRY),
        (429, None, policy.RETRY),
        (500, None, policy.RETRY),
        (503, None, policy.RETRY),
        (599, None, policy.RETRY),
        (400, None, policy.FAILED),
        (401, None, policy.FAILED),
        (403, None, policy.FAILED),
        (404, None, policy.FAILED),
        (422, None, policy.FAILED),
        (301, None, policy.FAILED),
        (302, None, policy.FAILED),
        (None, "timeout", policy.RETRY),
        (None, "connection", policy.RETRY),
        (None, "dns", policy.RETRY),
        (None, "tls", policy.RETRY),
        (None, "blocked", policy.FAILED),
    ],
)
def test_classify(status: int | None, error: str | None, outcome: str) -> None:
    assert policy.classify(status, error).outcome == outcome


def test_default_schedule_reaches_about_a_day_over_eight_attempts() -> None:
    delays = [policy.next_delay(n, SCHEDULE) for n in range(1, 9)]
    assert delays == [5, 300, 1800, 7200, 18000, 36000, 36000, None]
    assert policy.max_attempts(SCHEDULE) == 8
    assert 24 * 3600 <= sum(SCHEDULE) <= 28 * 3600


def test_retry_after_replaces_the_scheduled_delay_on_429_and_503_only() -> None:
    assert policy.next_delay(1, SCHEDULE, 429, 120) == 120
    assert policy.next_delay(3, SCHEDULE, 503, 2) == 2
    assert policy.next_delay(1, SCHEDULE, 500, 120) == 5
    assert policy.next_delay(1, SCHEDULE, 429, None) == 5


def test_retry_after_is_clamped_to_what_sqs_can_wait() -> None:
    assert policy.next_delay(1, SCHEDULE, 429, 0) == 1
    assert policy.next_delay(1, SCHEDULE, 429, 10**9) == 43_200


def test_retry_after_parses_seconds_and_http_dates() -> None:
    now = 1_800_000_000.0
    assert policy.retry_after_seconds("120", now) == 120
    later = format_datetime(datetime.fromtimestamp(now + 90, tz=UTC), usegmt=True)
    assert policy.retry_after_seconds(later, now) == 90
    earlier = format_datetime(datetime.fromtimestamp(now - 90, tz=UTC), usegmt=True)
    assert policy.retry_after_seconds(earlier, now) == 0
    assert policy.retry_after_seconds("soon", now) is None
    assert policy.retry_after_seconds(None, now) is None
    assert policy.retry_after_seconds("-5", now) is None
    # A receiver's header never crashes the worker: "²".isdigit() holds (int() raised), "٣" is no
    # HTTP digit, and int() refuses 4,300 digits.
    for hostile in ("²", "٣", "9" * 5000, "12345678901"):
        assert policy.retry_after_seconds(hostile, now) is None
    assert policy.retry_after_seconds("9999999999", now) == 9_999_999_999


def test_attempt_numbers_start_at_one() -> None:
    with pytest.raises(ValueError, match="start at 1"):
        policy.next_delay(0, SCHEDULE)
