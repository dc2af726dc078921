"""Concurrent writers: every committed event is invoked exactly once and delivered, none is lost,
no rolled-back one leaves the database.

12 connections x 30 writes through the seed's ``CALL create_widget``; every 10th write is rolled
back after its insert. Then every recorded invocation is handed to the relay (as Lambda would) and
the sweeper runs: each committed event reaches PutEvents exactly once.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

import psycopg

from functions import relay, sweeper
from functions.outbox import Outbox, PsycopgDatabase

WRITERS = 12
WRITES_PER_WRITER = 30
ROLLBACK_EVERY = 10


class CountingEvents:
    """Accepts every PutEvents entry and counts them by eventId (thread-safe)."""

    def __init__(self) -> None:
        self.by_event_id: Counter[str] = Counter()
        self._lock = threading.Lock()

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        import json

        with self._lock:
            for entry in Entries:
                self.by_event_id[json.loads(entry["Detail"])["eventId"]] += 1
        return {"FailedEntryCount": 0, "Entries": [{"EventId": "x"} for _ in Entries]}


def write(dsn: str, writer: int, errors: list[BaseException]) -> None:
    try:
        with psycopg.connect(dsn, autocommit=True) as connection:
            connection.execute("SET synchronous_commit = off")  # speed only; commit order is unchanged
            for n in range(WRITES_PER_WRITER):
                if n % ROLLBACK_EVERY == ROLLBACK_EVERY - 1:
                    with connection.transaction(force_rollback=True):
                        connection.execute("CALL create_widget(1, %s)", (f"rolled-back-{writer}-{n}",))
                else:
                    connection.execute("CALL create_widget(1, %s)", (f"w-{writer}-{n}",))
    except BaseException as error:  # surfaced by the test
        errors.append(error)


def test_concurrent_writers_every_event_invoked_once_and_delivered_once(aurora_dsn, lambda_double):
    errors: list[BaseException] = []
    threads = [threading.Thread(target=write, args=(aurora_dsn, w, errors)) for w in range(WRITERS)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    write_seconds = time.monotonic() - started
    assert not errors, errors[:3]

    committed = WRITERS * (WRITES_PER_WRITER - WRITES_PER_WRITER // ROLLBACK_EVERY)
    database = PsycopgDatabase(aurora_dsn)
    outbox = Outbox(database)
    rows = database.query("SELECT event_id, detail ->> 'widgetName' AS name FROM hookstack.outbox")
    outbox_ids = {row["event_id"] for row in rows}
    assert len(rows) == committed
    assert not any(row["name"].startswith("rolled-back") for row in rows)

    invoked = Counter(lambda_double.invoked_event_ids())
    assert len(lambda_double.invocations(succeeded=None)) == committed, "no invocation for a rolled-back write"
    assert set(invoked) == outbox_ids
    assert max(invoked.values()) == 1

    events = CountingEvents()
    started = time.monotonic()
    for invocation in lambda_double.invocations():
        notification = relay.parse_notification(invocation["payload"])
        relay.relay(notification, outbox=outbox, client=events, bus_name="bus", source="hookstack.aurora")
    summary = sweeper.sweep(outbox, client=events, bus_name="bus", source="hookstack.aurora", grace_seconds=0)
    relay_seconds = time.monotonic() - started
    database.close()

    assert summary["published"] == 0, "the relay already published everything"
    assert summary["unpublished"] == 0
    assert set(events.by_event_id) == outbox_ids
    assert set(events.by_event_id.values()) == {1}
    print(
        f"{committed} committed writes by {WRITERS} connections in {write_seconds:.1f}s; relayed in {relay_seconds:.1f}s"
    )
