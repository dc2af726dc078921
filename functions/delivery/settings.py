"""The runtime contract of the delivery functions: one frozen settings class per function.

Each class owns the variables its function reads: their names, defaults, bounds and formats live
only here. The function reads them with ``from_environ`` at its first invocation (never at import);
the component (through ``components.specs.delivery``) and the sandbox write them only with
``to_environ``, so a function gets exactly the variables it reads. Every variable is prefixed
``DELIVERY_`` because the local sandbox runs all handlers in one process with the union of their
environments.

=================================== ============== ==========================================================
variable                            read by        meaning (default)
=================================== ============== ==========================================================
``DELIVERY_TABLE_NAME``             api fan worker the delivery table (required)
``DELIVERY_TASKS_QUEUE_URL``        api fan worker the queue of delivery tasks (required)
``DELIVERY_HISTORY_TTL_DAYS``       api fan worker retention of messages and attempts (30)
``DELIVERY_ROTATION_OVERLAP_HOURS`` api            how long a rotated-out secret still signs (24)
``DELIVERY_ALLOWED_CIDRS``          api worker     comma-separated networks exempt from the SSRF guard (none)
``DELIVERY_API_TENANTS``            api            ``all``: any tenant may create endpoints; ``listed``: only
                                                   tenants the delivery rule covers (marker item) (all)
``DELIVERY_TOKEN_ISSUER``           api            the self-service API's base URL: tokens' ``iss`` (none: the
                                                   token routes answer 503; docs/tokens.md)
``DELIVERY_DEAD_LETTER_QUEUE_URLS`` api            comma-separated dead-letter queues whose depths the operator
                                                   view reports (none)
``DELIVERY_ENDPOINT_CACHE_SECONDS`` fan            how long a tenant's endpoint list is cached per process
                                                   (10; sandbox only: the sandbox sets 1)
``DELIVERY_DEAD_LETTER_QUEUE_URL``  worker         where failed deliveries go (required)
``DELIVERY_TIMEOUT_SECONDS``        worker         per-attempt deadline (15)
``DELIVERY_RETRY_SCHEDULE``         worker         comma-separated delays in seconds, ``none`` for no retry
                                                   (5,300,1800,7200,18000,36000,36000)
``DELIVERY_DISABLE_AFTER_FAILURES`` worker         failed messages in a row that disable an endpoint (10)
``DELIVERY_MAX_RESPONSE_BYTES``     worker         response bytes kept per attempt (4096)
``DELIVERY_MAX_RECEIVES``           worker         the tasks queue's ``maxReceiveCount``: the worker gives up
                                                   (DLQ + history) on the last receive before SQS would
                                                   redrive (30)
``DELIVERY_TIME_SCALE``             worker         multiplies every wait (1; sandbox only: e.g. 0.001 so a
                                                   day of retries takes seconds; the recorded schedule is
                                                   unscaled)
``DELIVERY_BREAKER_FAILURES``       worker         failed attempts in a row that open an endpoint's circuit
                                                   breaker (5)
``DELIVERY_BREAKER_COOLDOWN_SECONDS`` worker       how long an open breaker rests the endpoint (60; not scaled)
``DELIVERY_EVENT_BUS_NAME``         api worker     the entry bus operational events are put on (none: not published)
``DELIVERY_OPERATIONAL_SOURCE``     api worker     their ``source``, ``<provider.eventSource>.operational``
                                                   (:mod:`functions.delivery.operational`)
=================================== ============== ==========================================================

Sandbox-only variables are written only when they differ from their default (the deployed
behaviour), so a deployed function's environment holds nothing it does not need.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from dataclasses import MISSING
from typing import TYPE_CHECKING, Any, Self

from functions.delivery import protection
from functions.environ import Environ, SettingsError, Value, render
from functions.records import record

if TYPE_CHECKING:  # imported where CIDRs are parsed: the fan-out never parses any (docs/benchmarks/cold-start.md)
    from functions.delivery import ssrf

DEFAULT_SCHEDULE = (5, 300, 1800, 7200, 18000, 36000, 36000)
MAX_RETRY_DELAY_SECONDS = 43_200  # SQS ChangeMessageVisibility's maximum
NO_RETRIES = "none"

# hookstack:delivery.apiTenants: which tenants' events the delivery rule sends to the worker pipeline,
# and so which tenants may create endpoints through the subscription API (docs/delivery.md).
API_TENANTS_ALL, API_TENANTS_LISTED = "all", "listed"
API_TENANTS_CHOICES = (API_TENANTS_ALL, API_TENANTS_LISTED)
__all__ = [
    "API_TENANTS_CHOICES",
    "DEFAULT_SCHEDULE",
    "ApiSettings",
    "FanoutSettings",
    "RuntimeContract",
    "SettingsError",
    "WorkerSettings",
]


# -- how each variable is spelled --------------------------------------------------------------------


class _Variable:
    """One variable: its name, its default (none: required) and how it is read and written."""

    def __init__(self, name: str, default: Any = MISSING, *, sandbox_only: bool = False) -> None:
        self.name = name
        self.default = default
        self.sandbox_only = sandbox_only

    def field(self) -> Any:
        """The dataclass field of a settings class that holds this variable."""
        return dataclasses.field(default=self.default, metadata={"variable": self})

    def read(self, environ: Environ) -> Any:
        return environ.required(self.name)

    def write(self, value: Any) -> Value:
        if not isinstance(value, str):
            raise TypeError(f"{self.name} must be text, got {type(value).__name__}")
        return value


class _Number(_Variable):
    def __init__(self, name: str, default: float, low: float, high: float, *, sandbox_only: bool = False) -> None:
        super().__init__(name, default, sandbox_only=sandbox_only)
        self.low, self.high = low, high

    def read(self, environ: Environ) -> float:
        return environ.number(self.name, self.default, self.low, self.high)

    def write(self, value: Any) -> Value:
        # Whole numbers as integers ("30", not "30.0"): what the component always wrote.
        number = float(value)
        return int(number) if number.is_integer() else number


class _Integer(_Variable):
    def __init__(self, name: str, default: int, low: int, high: int) -> None:
        super().__init__(name, default)
        self.low, self.high = low, high

    def read(self, environ: Environ) -> int:
        return environ.integer(self.name, self.default, self.low, self.high)

    def write(self, value: Any) -> Value:
        return int(value)


class _Schedule(_Variable):
    """Comma-separated whole seconds; ``none`` is an empty schedule (one attempt, no retry)."""

    def read(self, environ: Environ) -> tuple[int, ...]:
        raw = environ.text(self.name)
        if raw is None:
            return tuple(self.default)
        if raw.lower() == NO_RETRIES:
            return ()
        try:
            schedule = tuple(int(part) for part in environ.items(self.name))
        except ValueError:
            raise SettingsError(
                f"{self.name} must be comma-separated whole seconds or {NO_RETRIES!r}, got {raw!r}"
            ) from None
        if any(not 1 <= delay <= MAX_RETRY_DELAY_SECONDS for delay in schedule):
            raise SettingsError(f"{self.name} entries must be between 1 and {MAX_RETRY_DELAY_SECONDS} seconds")
        return schedule

    def write(self, value: Any) -> Value:
        # An empty list would render as no variable at all, which reads as the default schedule.
        return [str(delay) for delay in value] if value else NO_RETRIES


class _Networks(_Variable):
    """Comma-separated CIDRs (empty: none, and then the variable is not written at all)."""

    def read(self, environ: Environ) -> tuple[str, ...]:
        cidrs = environ.items(self.name)
        if not cidrs:
            return cidrs
        from functions.delivery import ssrf

        try:
            ssrf.parse_networks(cidrs)
        except ValueError as error:
            raise SettingsError(f"{self.name}: {error}") from None
        return cidrs

    def write(self, value: Any) -> Value:
        return [str(cidr) for cidr in value]


class _Items(_Variable):
    """Comma-separated values (empty: none, and then the variable is not written at all)."""

    def read(self, environ: Environ) -> tuple[str, ...]:
        return environ.items(self.name)

    def write(self, value: Any) -> Value:
        return [str(item) for item in value]


class _Url(_Variable):
    """An ``http(s)://`` base URL without a trailing slash; empty: not configured (not written)."""

    def read(self, environ: Environ) -> str:
        raw = environ.text(self.name) or ""
        if raw and (not raw.startswith(("https://", "http://")) or raw.endswith("/") or any(c.isspace() for c in raw)):
            raise SettingsError(f"{self.name} must be an http(s):// base URL without a trailing slash, got {raw!r}")
        return raw


class _OptionalText(_Variable):
    """Text that may be absent (empty: not written at all)."""

    def read(self, environ: Environ) -> str:
        return environ.text(self.name) or ""

    def write(self, value: Any) -> Value:
        return super().write(value) or None


class _Choice(_Variable):
    """One of ``choices``."""

    def __init__(self, name: str, default: str, choices: tuple[str, ...]) -> None:
        super().__init__(name, default)
        self.choices = choices

    def read(self, environ: Environ) -> str:
        raw = environ.text(self.name)
        if raw is None:
            return str(self.default)
        if raw not in self.choices:
            raise SettingsError(f"{self.name} must be one of {', '.join(self.choices)}, got {raw!r}")
        return raw


TABLE_NAME = _Variable("DELIVERY_TABLE_NAME")
TASKS_QUEUE_URL = _Variable("DELIVERY_TASKS_QUEUE_URL")
DEAD_LETTER_QUEUE_URL = _Variable("DELIVERY_DEAD_LETTER_QUEUE_URL")
HISTORY_TTL_DAYS = _Number("DELIVERY_HISTORY_TTL_DAYS", 30.0, 0.0001, 3650.0)
ROTATION_OVERLAP_HOURS = _Number("DELIVERY_ROTATION_OVERLAP_HOURS", 24.0, 0.0, 24.0 * 365)
ALLOWED_CIDRS = _Networks("DELIVERY_ALLOWED_CIDRS", ())
TOKEN_ISSUER = _Url("DELIVERY_TOKEN_ISSUER", "")
DEAD_LETTER_QUEUE_URLS = _Items("DELIVERY_DEAD_LETTER_QUEUE_URLS", ())
API_TENANTS = _Choice("DELIVERY_API_TENANTS", API_TENANTS_ALL, API_TENANTS_CHOICES)
ENDPOINT_CACHE_SECONDS = _Number("DELIVERY_ENDPOINT_CACHE_SECONDS", 10.0, 0.0, 3600.0, sandbox_only=True)
TIMEOUT_SECONDS = _Number("DELIVERY_TIMEOUT_SECONDS", 15.0, 0.01, 900.0)
RETRY_SCHEDULE = _Schedule("DELIVERY_RETRY_SCHEDULE", DEFAULT_SCHEDULE)
DISABLE_AFTER_FAILURES = _Integer("DELIVERY_DISABLE_AFTER_FAILURES", 10, 1, 1_000_000)
MAX_RESPONSE_BYTES = _Integer("DELIVERY_MAX_RESPONSE_BYTES", 4096, 0, 65_536)
MAX_RECEIVES = _Integer("DELIVERY_MAX_RECEIVES", 30, 2, 1000)
TIME_SCALE = _Number("DELIVERY_TIME_SCALE", 1.0, 0.0, 1.0, sandbox_only=True)
EVENT_BUS_NAME = _OptionalText("DELIVERY_EVENT_BUS_NAME", "")
OPERATIONAL_SOURCE = _OptionalText("DELIVERY_OPERATIONAL_SOURCE", "")
BREAKER_FAILURES = _Integer(
    "DELIVERY_BREAKER_FAILURES", protection.BREAKER_FAILURES, 1, protection.MAX_BREAKER_FAILURES
)
BREAKER_COOLDOWN_SECONDS = _Integer(
    "DELIVERY_BREAKER_COOLDOWN_SECONDS", protection.BREAKER_COOLDOWN_SECONDS, 1, protection.MAX_BREAKER_COOLDOWN_SECONDS
)


@functools.lru_cache(maxsize=8)
def _networks(cidrs: tuple[str, ...]) -> tuple[ssrf.IPNetwork, ...]:
    if not cidrs:
        return ()
    from functions.delivery import ssrf

    return ssrf.parse_networks(cidrs)


# -- what the three classes share ---------------------------------------------------------


@record(kw_only=True)
class RuntimeContract:
    """What every settings class shares: read from and written to the environment field by field."""

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Self:
        """The settings from ``environ``; :class:`SettingsError` names a missing or malformed variable."""
        values = Environ(environ)
        return cls(**{field.name: variable.read(values) for field, variable in _variables(cls)})

    def to_environ(self) -> dict[str, str]:
        """The variables this function reads, as Lambda takes them (strings, no empty values)."""
        values: dict[str, Value] = {}
        for field, variable in _variables(type(self)):
            value = getattr(self, field.name)
            if variable.sandbox_only and value == variable.default:
                continue
            values[variable.name] = variable.write(value)
        return render(values)

    def __post_init__(self) -> None:
        # Each value is checked as the function will read it, so the component and the sandbox fail
        # while building the environment (naming the variable), not the function at its first event.
        for field, variable in _variables(type(self)):
            variable.read(Environ(render({variable.name: variable.write(getattr(self, field.name))})))


def _variables(cls: type) -> list[tuple[dataclasses.Field[Any], _Variable]]:
    return [(field, field.metadata["variable"]) for field in dataclasses.fields(cls)]


# -- one class per function ----------------------------------------------------------------------------


@record(kw_only=True)
class ApiSettings(RuntimeContract):
    """``functions.delivery.api.handler``: the subscription API."""

    table_name: str = TABLE_NAME.field()
    tasks_queue_url: str = TASKS_QUEUE_URL.field()
    history_ttl_days: float = HISTORY_TTL_DAYS.field()
    rotation_overlap_hours: float = ROTATION_OVERLAP_HOURS.field()
    allowed_cidrs: tuple[str, ...] = ALLOWED_CIDRS.field()
    api_tenants: str = API_TENANTS.field()
    token_issuer: str = TOKEN_ISSUER.field()
    dead_letter_queue_urls: tuple[str, ...] = DEAD_LETTER_QUEUE_URLS.field()
    """The dead-letter queues the operator view reports (``GET /operator/dead-letter-queues``)."""
    event_bus_name: str = EVENT_BUS_NAME.field()
    operational_source: str = OPERATIONAL_SOURCE.field()

    @property
    def allowed_networks(self) -> tuple[ssrf.IPNetwork, ...]:
        return _networks(self.allowed_cidrs)


@record(kw_only=True)
class FanoutSettings(RuntimeContract):
    """``functions.delivery.fanout.handler``: bus events to delivery tasks."""

    table_name: str = TABLE_NAME.field()
    tasks_queue_url: str = TASKS_QUEUE_URL.field()
    history_ttl_days: float = HISTORY_TTL_DAYS.field()
    endpoint_cache_seconds: float = ENDPOINT_CACHE_SECONDS.field()


@record(kw_only=True)
class WorkerSettings(RuntimeContract):
    """``functions.delivery.worker.handler``: signed attempts, retries and history."""

    table_name: str = TABLE_NAME.field()
    tasks_queue_url: str = TASKS_QUEUE_URL.field()
    dead_letter_queue_url: str = DEAD_LETTER_QUEUE_URL.field()
    history_ttl_days: float = HISTORY_TTL_DAYS.field()
    timeout_seconds: float = TIMEOUT_SECONDS.field()
    retry_schedule: tuple[int, ...] = RETRY_SCHEDULE.field()
    disable_after_failures: int = DISABLE_AFTER_FAILURES.field()
    allowed_cidrs: tuple[str, ...] = ALLOWED_CIDRS.field()
    max_response_bytes: int = MAX_RESPONSE_BYTES.field()
    max_receives: int = MAX_RECEIVES.field()
    time_scale: float = TIME_SCALE.field()
    breaker_failures: int = BREAKER_FAILURES.field()
    breaker_cooldown_seconds: int = BREAKER_COOLDOWN_SECONDS.field()
    event_bus_name: str = EVENT_BUS_NAME.field()
    operational_source: str = OPERATIONAL_SOURCE.field()

    @property
    def allowed_networks(self) -> tuple[ssrf.IPNetwork, ...]:
        return _networks(self.allowed_cidrs)
