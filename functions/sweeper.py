"""The outbox sweeper: publishes every committed outbox row the relay did not (yet) publish.

Scheduled every ``sweepIntervalMinutes`` (EventBridge Scheduler). It covers every way the
commit-time invocation can fail to deliver: Lambda unreachable from the database (the write
committed, the invoke failed), the relay's retries exhausted, the relay not configured, a relay
that found the transaction still in progress. Rows are claimed with ``hookstack.claim_due``
(committed, unpublished, older than ``SWEEPER_GRACE_SECONDS``, not leased by another worker;
``FOR UPDATE SKIP LOCKED``), published with :func:`functions.relay.publish_rows` (same event, same
``eventId`` as the relay would send) and marked; failures back off (30 s doubling to 15 min) and
keep the row. Each run also deletes published rows older than ``SWEEPER_RETENTION_DAYS`` and logs
the backlog. A run that could not publish something raises, so the function's error alarm fires
while any row is stuck.

Environment: :class:`SweeperSettings` is the contract (read at the first invocation): the database
(:class:`functions.outbox.DatabaseSettings`), where to publish (:class:`functions.relay.EventTarget`),
``SWEEPER_GRACE_SECONDS`` (default 60), ``SWEEPER_BATCH_SIZE`` (default 100),
``SWEEPER_LEASE_SECONDS`` (default 300; longer than the function timeout) and
``SWEEPER_RETENTION_DAYS`` (default 7). The component and the sandbox write it through
``components/specs/aurora.py``.

Handler: ``functions.sweeper.handler``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from functions import logs, metrics
from functions.environ import Environ, render
from functions.outbox import DatabaseSettings, Outbox
from functions.relay import MAX_LEASE_SECONDS, EventTarget, Runtime, publish_rows
from functions.runtime import ProcessState

# Stop claiming new batches when less than this much of the invocation is left.
SAFETY_MARGIN_SECONDS = 30.0
# Without a Lambda context (a direct call): how long a run may claim batches.
UNBOUNDED_RUN_SECONDS = 600.0
MAX_GRACE_SECONDS = 86_400
MAX_BATCH_SIZE = 1_000
MAX_RETENTION_DAYS = 3_650


@dataclass(frozen=True)
class SweeperSettings:
    """The sweeper's environment."""

    database: DatabaseSettings
    target: EventTarget
    grace_seconds: int = 60
    """Rows younger than this are left to the relay."""
    batch_size: int = 100
    lease_seconds: int = 300
    """How long a claim keeps other workers off a row: longer than the function timeout."""
    retention_days: int = 7
    """Published rows older than this are deleted."""

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> SweeperSettings:
        env = Environ(environ)
        return cls(
            database=DatabaseSettings.from_environ(environ),
            target=EventTarget.from_environ(environ),
            grace_seconds=env.integer("SWEEPER_GRACE_SECONDS", 60, 0, MAX_GRACE_SECONDS),
            batch_size=env.integer("SWEEPER_BATCH_SIZE", 100, 1, MAX_BATCH_SIZE),
            lease_seconds=env.integer("SWEEPER_LEASE_SECONDS", 300, 1, MAX_LEASE_SECONDS),
            retention_days=env.integer("SWEEPER_RETENTION_DAYS", 7, 1, MAX_RETENTION_DAYS),
        )

    def to_environ(self) -> dict[str, str]:
        return {
            **self.database.to_environ(),
            **self.target.to_environ(),
            **render(
                {
                    "SWEEPER_GRACE_SECONDS": self.grace_seconds,
                    "SWEEPER_BATCH_SIZE": self.batch_size,
                    "SWEEPER_LEASE_SECONDS": self.lease_seconds,
                    "SWEEPER_RETENTION_DAYS": self.retention_days,
                }
            ),
        }


class SweepFailed(RuntimeError):
    """Some rows could not be published this run (they stay in the outbox, backing off)."""


def sweep(
    outbox: Outbox,
    *,
    client: Any,
    bus_name: str,
    source: str,
    grace_seconds: int = 60,
    batch_size: int = 100,
    lease_seconds: int = 300,
    retention_days: int = 7,
    remaining_seconds: Callable[[], float] = lambda: float("inf"),
) -> dict[str, Any]:
    published = 0
    failed: list[str] = []
    batches = 0
    while remaining_seconds() > SAFETY_MARGIN_SECONDS:
        rows = outbox.claim_due(grace_seconds, lease_seconds, batch_size)
        if not rows:
            break
        batches += 1
        batch_failed = publish_rows(outbox, rows, client=client, bus_name=bus_name, source=source)
        failed.extend(batch_failed)
        published += len(rows) - len(batch_failed)
        if len(batch_failed) == len(rows):
            break  # nothing got through (the bus or the API is failing): do not churn the backlog
    purged = outbox.purge(retention_days)
    backlog = outbox.backlog()
    summary = {
        "published": published,
        "failed": len(failed),
        "batches": batches,
        "purged": purged,
        "unpublished": backlog.unpublished,
        "oldestUnpublishedSeconds": round(backlog.oldest_seconds, 1),
        "failing": backlog.failing,
    }
    logs.info("outbox sweep", **summary)
    metrics.swept(published, len(failed), backlog.oldest_seconds, backlog.unpublished)
    if failed:
        raise SweepFailed(f"{len(failed)} outbox event(s) not published this run: {', '.join(failed[:10])}")
    return summary


def _runtime() -> Runtime[SweeperSettings]:
    settings = SweeperSettings.from_environ(os.environ)
    return Runtime.connect(settings, settings.database)


_state: ProcessState[Runtime[SweeperSettings]] = ProcessState(_runtime)


def reset() -> None:
    """Forget the settings, the database and the client (tests and the sandbox change the environment)."""
    _state.reset()


def handler(event: Any, context: Any = None) -> dict[str, Any]:
    started = time.monotonic()

    def remaining() -> float:
        if context is not None and hasattr(context, "get_remaining_time_in_millis"):
            return float(context.get_remaining_time_in_millis()) / 1000
        return UNBOUNDED_RUN_SECONDS - (time.monotonic() - started)

    runtime = _state.get()
    settings = runtime.settings
    return sweep(
        runtime.outbox,
        client=runtime.events,
        bus_name=settings.target.bus_name,
        source=settings.target.source,
        grace_seconds=settings.grace_seconds,
        batch_size=settings.batch_size,
        lease_seconds=settings.lease_seconds,
        retention_days=settings.retention_days,
        remaining_seconds=remaining,
    )
