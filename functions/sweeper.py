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

Environment (read at first use): ``EVENT_BUS_NAME``, ``AURORA_EVENT_SOURCE``,
``SWEEPER_GRACE_SECONDS`` (default 60), ``SWEEPER_BATCH_SIZE`` (default 100),
``SWEEPER_LEASE_SECONDS`` (default 300, longer than the function timeout),
``SWEEPER_RETENTION_DAYS`` (default 7), and the database variables of :mod:`functions.outbox`.

Handler: ``functions.sweeper.handler``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from functions import logs
from functions.outbox import Outbox, database_from_env
from functions.relay import bus_name, event_source, events_client, publish_rows

# Stop claiming new batches when less than this much of the invocation is left.
SAFETY_MARGIN_SECONDS = 30.0


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
    if failed:
        raise SweepFailed(f"{len(failed)} outbox event(s) not published this run: {', '.join(failed[:10])}")
    return summary


def _int_env(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


def handler(event: Any, context: Any = None) -> dict[str, Any]:
    started = time.monotonic()

    def remaining() -> float:
        if context is not None and hasattr(context, "get_remaining_time_in_millis"):
            return float(context.get_remaining_time_in_millis()) / 1000
        return 600.0 - (time.monotonic() - started)

    return sweep(
        Outbox(database_from_env()),
        client=events_client(),
        bus_name=bus_name(),
        source=event_source(),
        grace_seconds=_int_env("SWEEPER_GRACE_SECONDS", 60),
        batch_size=_int_env("SWEEPER_BATCH_SIZE", 100),
        lease_seconds=_int_env("SWEEPER_LEASE_SECONDS", 300),
        retention_days=_int_env("SWEEPER_RETENTION_DAYS", 7),
        remaining_seconds=remaining,
    )
