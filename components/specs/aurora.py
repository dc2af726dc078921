"""Everything the Aurora relay's component and the sandbox derive from ``hookstack:aurora`` (Pulumi-free).

``components/aurora.py`` deploys these values and ``sandbox/aurora.py`` runs the same handlers with
them; neither derives anything itself. Here live the function timeouts and handler names, the claim
leases that must outlive those timeouts, the sweep schedule and grace, Lambda's retries of the relay,
the ``source`` of the events, each function's environment, built through its contract in
``functions/`` (:class:`functions.relay.RelaySettings`, :class:`functions.sweeper.SweeperSettings`,
:class:`functions.outbox.DatabaseSettings`), and the IAM statements of every role, from the ARNs of
the resources it uses (Outputs in the component, the sandbox's ARNs where it runs the function).

This module imports no ``pulumi`` (the sandbox runs without it): the component turns its Outputs
into plain strings (``Output.all(...).apply``) before calling the ``*_environment`` methods.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from components.config import AuroraSettings
from components.config.provider import AURORA_SOURCE_NAME
from functions import migrate, relay, sweeper
from functions.outbox import DatabaseSettings
from functions.relay import EventTarget, RelaySettings
from functions.sweeper import SweeperSettings

EVENT_SOURCE_SUFFIX = f".{AURORA_SOURCE_NAME}"
RELAY_TIMEOUT_SECONDS = 30
SWEEPER_TIMEOUT_SECONDS = 300
MIGRATION_TIMEOUT_SECONDS = 300
# A claim's lease keeps other workers off a row while its holder publishes: it must outlive the
# invocation holding it, or a slow relay and the sweeper could both send the row.
RELAY_LEASE_MARGIN_SECONDS = 30
SWEEPER_LEASE_MARGIN_SECONDS = 60
# Lambda retries a failed asynchronous invocation at most twice; an hour covers a database failover.
RELAY_ASYNC_RETRIES = 2
RELAY_MAX_EVENT_AGE_SECONDS = 3600
# The next scheduled run is the sweeper's retry; a failed run goes to its queue (and alarms).
SWEEPER_ASYNC_RETRIES = 0
SCHEDULE_RETRIES = 2
MIN_EVENT_AGE_SECONDS = 60  # the least Lambda and Scheduler take for a maximum event age
COMMIT_WAIT_SECONDS = 3.0
# The relay's concurrency bound (reserved concurrency): it runs once per event, and a burst of
# writes must not take the account's concurrency from every other function. A throttled
# asynchronous invocation waits in Lambda's queue (up to RELAY_MAX_EVENT_AGE_SECONDS, then the
# failure queue) and the sweeper re-sends its row after the grace: the bound delays, never loses.
# 50 relays publish a few hundred events a second (three short calls each). The sweeper is bounded
# by its schedule (one run per interval, each at most SWEEPER_TIMEOUT_SECONDS): reserving less would
# throttle the ticks during a long sweep into its failure queue, a false alarm.
RELAY_RESERVED_CONCURRENCY = 50
SWEEPER_BATCH_SIZE = 100
RETENTION_DAYS = 7
DATA_API_ACTIONS = (
    "rds-data:ExecuteStatement",
    "rds-data:BatchExecuteStatement",
    "rds-data:BeginTransaction",
    "rds-data:CommitTransaction",
    "rds-data:RollbackTransaction",
)
# The relay and the sweeper run single statements; only the migrations need transactions and batches.
PUBLISHER_DATA_API_ACTIONS = ("rds-data:ExecuteStatement",)


def event_source(provider_event_source: str) -> str:
    """``source`` of the events the relay and the sweeper publish: the provider's, plus ``.aurora``."""
    return f"{provider_event_source}{EVENT_SOURCE_SUFFIX}"


def handler_name(handler: Callable[..., Any]) -> str:
    """``module.function`` as Lambda's ``handler`` setting names it (renaming the function breaks loudly)."""
    return f"{handler.__module__}.{handler.__name__}"


def data_api_statements(actions: Sequence[str], *, cluster_arn: object, secret_arn: object) -> list[dict[str, Any]]:
    """The Data API on this cluster only, with its master secret."""
    return [
        {"Sid": "DataApiOnThisCluster", "Effect": "Allow", "Action": list(actions), "Resource": cluster_arn},
        {
            "Sid": "ReadMasterSecret",
            "Effect": "Allow",
            "Action": "secretsmanager:GetSecretValue",
            "Resource": secret_arn,
        },
    ]


def schedule_statements(*, sweeper_arn: object, dead_letter_queue_arn: object) -> list[dict[str, Any]]:
    """EventBridge Scheduler's role: run the sweeper, dead-letter the runs it could not deliver."""
    return [
        {"Sid": "InvokeSweeper", "Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": sweeper_arn},
        # Scheduler delivers undeliverable runs to the dead-letter queue with this role.
        {"Sid": "DeadLetterQueue", "Effect": "Allow", "Action": "sqs:SendMessage", "Resource": dead_letter_queue_arn},
    ]


def rds_invoke_statements(*, relay_arn: object) -> list[dict[str, Any]]:
    """The role the cluster calls ``aws_lambda.invoke`` with: the relay, and nothing else."""
    return [{"Sid": "InvokeRelayOnly", "Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": relay_arn}]


def schedule_expression(minutes: int) -> str:
    return "rate(1 minute)" if minutes == 1 else f"rate({minutes} minutes)"


@dataclass(frozen=True)
class FunctionSpec:
    handler: str
    timeout_seconds: int
    reserved_concurrency: int | None = None


class _Contract(Protocol):
    def to_environ(self) -> dict[str, str]: ...


C = TypeVar("C", bound=_Contract)


def _environment(settings: C, read: Callable[[Mapping[str, str]], C]) -> dict[str, str]:
    """``settings`` as variables, read back now: a value the function would refuse fails the deploy
    (or the sandbox start), naming the variable, instead of the function's first invocation."""
    environment = settings.to_environ()
    if read(environment) != settings:
        raise ValueError(f"{type(settings).__name__} does not survive its own environment: {environment}")
    return environment


@dataclass(frozen=True)
class AuroraSpec:
    """The derived values; build it with :meth:`from_config`."""

    event_source: str
    database_name: str
    sweep_interval_minutes: int
    sweep_grace_seconds: int
    relay: FunctionSpec = field(
        default_factory=lambda: FunctionSpec(
            handler_name(relay.handler), RELAY_TIMEOUT_SECONDS, RELAY_RESERVED_CONCURRENCY
        )
    )
    sweeper: FunctionSpec = field(
        default_factory=lambda: FunctionSpec(handler_name(sweeper.handler), SWEEPER_TIMEOUT_SECONDS)
    )
    migration: FunctionSpec = field(
        default_factory=lambda: FunctionSpec(handler_name(migrate.handler), MIGRATION_TIMEOUT_SECONDS)
    )
    relay_async_retries: int = RELAY_ASYNC_RETRIES
    relay_max_event_age_seconds: int = RELAY_MAX_EVENT_AGE_SECONDS
    sweeper_async_retries: int = SWEEPER_ASYNC_RETRIES
    schedule_retries: int = SCHEDULE_RETRIES
    commit_wait_seconds: float = COMMIT_WAIT_SECONDS
    sweeper_batch_size: int = SWEEPER_BATCH_SIZE
    retention_days: int = RETENTION_DAYS

    @classmethod
    def from_config(cls, settings: AuroraSettings, *, provider_event_source: str) -> AuroraSpec:
        return cls(
            event_source=event_source(provider_event_source),
            database_name=settings.database_name,
            sweep_interval_minutes=settings.sweep_interval_minutes,
            sweep_grace_seconds=settings.sweep_grace_seconds,
        )

    # -- derived values ---------------------------------------------------------------------------

    @property
    def relay_lease_seconds(self) -> int:
        return self.relay.timeout_seconds + RELAY_LEASE_MARGIN_SECONDS

    @property
    def sweeper_lease_seconds(self) -> int:
        return self.sweeper.timeout_seconds + SWEEPER_LEASE_MARGIN_SECONDS

    @property
    def sweep_interval_seconds(self) -> int:
        return self.sweep_interval_minutes * 60

    @property
    def schedule_expression(self) -> str:
        return schedule_expression(self.sweep_interval_minutes)

    @property
    def sweep_max_event_age_seconds(self) -> int:
        """A sweep not run within one interval is superseded by the next one."""
        return max(MIN_EVENT_AGE_SECONDS, self.sweep_interval_seconds)

    # -- the functions' IAM statements, from the ARNs of their resources -----------------------------

    def publisher_statements(
        self, *, cluster_arn: object, secret_arn: object, bus_arn: object, dead_letter_queue_arn: object
    ) -> list[dict[str, Any]]:
        """The relay's and the sweeper's: read the outbox, publish to the entry bus, and (Lambda does
        it with this role) send an invocation that failed its retries to the on-failure queue."""
        return [
            *data_api_statements(PUBLISHER_DATA_API_ACTIONS, cluster_arn=cluster_arn, secret_arn=secret_arn),
            {"Sid": "PublishToEntryBus", "Effect": "Allow", "Action": "events:PutEvents", "Resource": bus_arn},
            {
                "Sid": "OnFailureQueue",
                "Effect": "Allow",
                "Action": "sqs:SendMessage",
                "Resource": dead_letter_queue_arn,
            },
        ]

    def migration_statements(self, *, cluster_arn: object, secret_arn: object) -> list[dict[str, Any]]:
        return data_api_statements(DATA_API_ACTIONS, cluster_arn=cluster_arn, secret_arn=secret_arn)

    # -- the functions' contracts -----------------------------------------------------------------

    def data_api(self, cluster_arn: str, secret_arn: str) -> DatabaseSettings:
        return DatabaseSettings(cluster_arn=cluster_arn, secret_arn=secret_arn, database_name=self.database_name)

    def relay_settings(self, database: DatabaseSettings, bus_name: str) -> RelaySettings:
        return RelaySettings(
            database=database,
            target=EventTarget(bus_name, self.event_source),
            commit_wait_seconds=self.commit_wait_seconds,
            lease_seconds=self.relay_lease_seconds,
        )

    def sweeper_settings(
        self, database: DatabaseSettings, bus_name: str, *, time_scale: float = 1.0
    ) -> SweeperSettings:
        """``time_scale`` (the sandbox's) shortens the grace with every other wait, to a second at least."""
        if not time_scale > 0:
            raise ValueError(f"time_scale must be positive, got {time_scale!r}")
        return SweeperSettings(
            database=database,
            target=EventTarget(bus_name, self.event_source),
            grace_seconds=max(1, round(self.sweep_grace_seconds * time_scale)),
            batch_size=self.sweeper_batch_size,
            lease_seconds=self.sweeper_lease_seconds,
            retention_days=self.retention_days,
        )

    def relay_environment(self, cluster_arn: str, secret_arn: str, bus_name: str) -> dict[str, str]:
        return _environment(
            self.relay_settings(self.data_api(cluster_arn, secret_arn), bus_name), RelaySettings.from_environ
        )

    def sweeper_environment(self, cluster_arn: str, secret_arn: str, bus_name: str) -> dict[str, str]:
        settings = self.sweeper_settings(self.data_api(cluster_arn, secret_arn), bus_name)
        return _environment(settings, SweeperSettings.from_environ)

    def migration_environment(self, cluster_arn: str, secret_arn: str) -> dict[str, str]:
        return _environment(self.data_api(cluster_arn, secret_arn), DatabaseSettings.from_environ)

    def local_environment(self, dsn: str, bus_name: str, *, time_scale: float) -> dict[str, str]:
        """The sandbox runs the relay and the sweeper in one process: the union of their environments."""
        database = DatabaseSettings(dsn=dsn)
        relay_environment = _environment(self.relay_settings(database, bus_name), RelaySettings.from_environ)
        sweeper_environment = _environment(
            self.sweeper_settings(database, bus_name, time_scale=time_scale), SweeperSettings.from_environ
        )
        clashes = sorted(
            k
            for k in relay_environment.keys() & sweeper_environment.keys()
            if relay_environment[k] != sweeper_environment[k]
        )
        if clashes:
            raise ValueError(f"the relay and the sweeper need different values of {', '.join(clashes)} in one process")
        return {**relay_environment, **sweeper_environment}
