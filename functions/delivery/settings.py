"""Environment of the delivery functions, read lazily (at first use, never at import).

Every variable is prefixed ``DELIVERY_`` because the local sandbox runs all handlers in one process
with the union of their environments. The component sets them from ``hookstack:delivery``.

=================================== =========================== ==========================================
variable                            read by                     meaning (default)
=================================== =========================== ==========================================
``DELIVERY_TABLE_NAME``             api, fanout, worker         the delivery table (required)
``DELIVERY_TASKS_QUEUE_URL``        api, fanout, worker         the queue of delivery tasks (required)
``DELIVERY_DEAD_LETTER_QUEUE_URL``  worker                      where failed deliveries go (required)
``DELIVERY_TIMEOUT_SECONDS``        worker                      per-attempt deadline (15)
``DELIVERY_RETRY_SCHEDULE``         worker                      comma-separated delays in seconds
                                                                (5,300,1800,7200,18000,36000,36000)
``DELIVERY_DISABLE_AFTER_FAILURES`` worker                      failed messages in a row that disable an
                                                                endpoint (10)
``DELIVERY_HISTORY_TTL_DAYS``       api, fanout, worker         retention of messages and attempts (30)
``DELIVERY_ROTATION_OVERLAP_HOURS`` api                         how long a rotated-out secret still signs (24)
``DELIVERY_ALLOWED_CIDRS``          api, worker                 comma-separated networks exempt from the
                                                                SSRF guard (none)
``DELIVERY_MAX_RESPONSE_BYTES``     worker                      response bytes kept per attempt (4096)
``DELIVERY_MAX_RECEIVES``           worker                      the tasks queue's ``maxReceiveCount``: the
                                                                worker gives up (DLQ + history) on the
                                                                last receive before SQS would redrive (30)
``DELIVERY_ENDPOINT_CACHE_SECONDS`` fanout                      how long a tenant's endpoint list is
                                                                cached per process (10)
``DELIVERY_TIME_SCALE``             worker                      multiplies every wait (1; the sandbox sets
                                                                e.g. 0.001 so a day of retries takes
                                                                seconds; the recorded schedule is unscaled)
=================================== =========================== ==========================================
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property

from functions.delivery import ssrf

DEFAULT_SCHEDULE = (5, 300, 1800, 7200, 18000, 36000, 36000)


class SettingsError(RuntimeError):
    """A delivery environment variable is missing or malformed (names it)."""


@dataclass
class Settings:
    """Values are parsed on first access, so a handler only needs the variables it uses."""

    @cached_property
    def table_name(self) -> str:
        return _required("DELIVERY_TABLE_NAME")

    @cached_property
    def tasks_queue_url(self) -> str:
        return _required("DELIVERY_TASKS_QUEUE_URL")

    @cached_property
    def dead_letter_queue_url(self) -> str:
        return _required("DELIVERY_DEAD_LETTER_QUEUE_URL")

    @cached_property
    def timeout_seconds(self) -> float:
        return _number("DELIVERY_TIMEOUT_SECONDS", 15.0, 0.01, 900.0)

    @cached_property
    def retry_schedule(self) -> tuple[int, ...]:
        raw = os.environ.get("DELIVERY_RETRY_SCHEDULE")
        if raw is None or not raw.strip():
            return DEFAULT_SCHEDULE
        try:
            schedule = tuple(int(part) for part in raw.split(",") if part.strip())
        except ValueError:
            raise SettingsError(f"DELIVERY_RETRY_SCHEDULE must be comma-separated whole seconds, got {raw!r}") from None
        if any(not 1 <= delay <= 43_200 for delay in schedule):
            raise SettingsError("DELIVERY_RETRY_SCHEDULE entries must be between 1 and 43200 seconds")
        return schedule

    @cached_property
    def disable_after_failures(self) -> int:
        return int(_number("DELIVERY_DISABLE_AFTER_FAILURES", 10, 1, 1_000_000))

    @cached_property
    def history_ttl_days(self) -> float:
        return _number("DELIVERY_HISTORY_TTL_DAYS", 30.0, 0.0001, 3650.0)

    @cached_property
    def rotation_overlap_hours(self) -> float:
        return _number("DELIVERY_ROTATION_OVERLAP_HOURS", 24.0, 0.0, 24.0 * 365)

    @cached_property
    def allowed_networks(self) -> tuple[ssrf.IPNetwork, ...]:
        raw = os.environ.get("DELIVERY_ALLOWED_CIDRS", "")
        try:
            return ssrf.parse_networks(raw.split(","))
        except ValueError as error:
            raise SettingsError(f"DELIVERY_ALLOWED_CIDRS: {error}") from None

    @cached_property
    def max_response_bytes(self) -> int:
        return int(_number("DELIVERY_MAX_RESPONSE_BYTES", 4096, 0, 65_536))

    @cached_property
    def max_receives(self) -> int:
        return int(_number("DELIVERY_MAX_RECEIVES", 30, 2, 1000))

    @cached_property
    def endpoint_cache_seconds(self) -> float:
        return _number("DELIVERY_ENDPOINT_CACHE_SECONDS", 10.0, 0.0, 3600.0)

    @cached_property
    def time_scale(self) -> float:
        return _number("DELIVERY_TIME_SCALE", 1.0, 0.0, 1.0)


_settings: Settings | None = None


def get() -> Settings:
    global _settings
    if _settings is None:
        _settings = Settings()
    return _settings


def reset() -> None:
    """Forget parsed values (tests and the sandbox change the environment between runs)."""
    global _settings
    _settings = None


def _required(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise SettingsError(f"environment variable {name} is required")
    return value


def _number(name: str, default: float, low: float, high: float) -> float:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from None
    if not low <= value <= high:
        raise SettingsError(f"{name} must be between {low:g} and {high:g}, got {raw!r}")
    return value
