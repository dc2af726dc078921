"""The Aurora relay: turns a committed outbox row into an event on the entry bus.

Aurora invokes this function asynchronously (``aws_lambda.invoke(..., 'Event')``) from the
outbox's deferred trigger, at commit time, with ``{"eventId", "txid", "tenantId", "eventType"}``.
The relay never trusts that the commit happened: it claims the row through ``hookstack.claim_event``
(see sql/002_outbox.sql), which only hands out rows that are committed and unpublished, and tells
what else is true:

- ``claimed``: publish with :func:`functions.events.publish` (checks ``FailedEntryCount``, retries
  transient failures), then ``mark_published``. Anything not published is released for a later
  retry and the handler raises, so Lambda retries the invocation and, in the end, sends it to the
  on-failure queue (alarmed). The sweeper also re-sends the row: nothing is lost.
- ``pending`` (the transaction has not finished committing yet): wait a little and look again;
  still pending after ``RELAY_COMMIT_WAIT_SECONDS`` -> raise (Lambda retries a minute later).
- ``rolled_back``: the commit failed after the trigger ran. No event: no phantom.
- ``published`` / ``leased`` / ``missing``: someone else published or will publish it; nothing to do.

Events: source ``AURORA_EVENT_SOURCE`` (``<provider event source>.aurora``), detail-type = the
outbox event type, detail = the row's detail + ``tenantId`` + ``eventId`` (the outbox row id, so
retries and sweeper re-sends carry the same id), time = when the row was written.

Environment: :class:`RelaySettings` is the contract (read at the first invocation): the database
(:class:`functions.outbox.DatabaseSettings`), where to publish (:class:`EventTarget`:
``EVENT_BUS_NAME``, ``AURORA_EVENT_SOURCE``), ``RELAY_COMMIT_WAIT_SECONDS`` (default 3) and
``RELAY_LEASE_SECONDS`` (default 60; longer than the function timeout). The component and the
sandbox write it through ``components/specs/aurora.py``.

Handler: ``functions.relay.handler``.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from functions import events as events_module
from functions import logs, metrics
from functions.environ import Environ, render
from functions.outbox import ClaimStatus, DatabaseSettings, Outbox, OutboxRow
from functions.runtime import Clients, ProcessState

# The ids hookstack.publish() gives outbox rows (sql/002_outbox.sql): evt_ + a UUID's 32 hex digits.
OUTBOX_EVENT_ID_RE = re.compile(r"evt_[0-9a-f]{32}")
DEFAULT_EVENT_SOURCE = "hookstack.aurora"
MAX_COMMIT_WAIT_SECONDS = 900  # a Lambda invocation lasts at most 15 minutes
MAX_LEASE_SECONDS = 86_400
MAX_TXID = 2**63 - 1  # PostgreSQL's bigint, the type of outbox.txid


@dataclass(frozen=True)
class EventTarget:
    """Where the relay and the sweeper publish: the entry bus, and the ``source`` of the events."""

    bus_name: str
    source: str = DEFAULT_EVENT_SOURCE

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> EventTarget:
        env = Environ(environ)
        return cls(
            env.required("EVENT_BUS_NAME"),
            env.text("AURORA_EVENT_SOURCE", DEFAULT_EVENT_SOURCE) or DEFAULT_EVENT_SOURCE,
        )

    def to_environ(self) -> dict[str, str]:
        return render({"EVENT_BUS_NAME": self.bus_name, "AURORA_EVENT_SOURCE": self.source})


def _whole_if_integral(seconds: float) -> float | int:
    """``3`` rather than ``3.0``: how whole seconds have always been written (both read back the same)."""
    return int(seconds) if float(seconds).is_integer() else seconds


@dataclass(frozen=True)
class RelaySettings:
    """The relay's environment."""

    database: DatabaseSettings
    target: EventTarget
    commit_wait_seconds: float = 3.0
    """How long a ``pending`` row (its transaction still committing) is polled before a retry."""
    lease_seconds: int = 60
    """How long a claim keeps other workers off a row: longer than the function timeout."""

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> RelaySettings:
        env = Environ(environ)
        return cls(
            database=DatabaseSettings.from_environ(environ),
            target=EventTarget.from_environ(environ),
            commit_wait_seconds=env.number("RELAY_COMMIT_WAIT_SECONDS", 3.0, 0, MAX_COMMIT_WAIT_SECONDS),
            lease_seconds=env.integer("RELAY_LEASE_SECONDS", 60, 1, MAX_LEASE_SECONDS),
        )

    def to_environ(self) -> dict[str, str]:
        return {
            **self.database.to_environ(),
            **self.target.to_environ(),
            **render(
                {
                    "RELAY_COMMIT_WAIT_SECONDS": _whole_if_integral(self.commit_wait_seconds),
                    "RELAY_LEASE_SECONDS": self.lease_seconds,
                }
            ),
        }


class NotPublished(RuntimeError):
    """Raised so that Lambda retries: some events were not published (the outbox keeps them)."""


@dataclass(frozen=True)
class Notification:
    """What the outbox trigger sends: which row, written by which transaction."""

    event_id: str
    txid: int


def parse_notification(payload: Any) -> Notification:
    """Validate an invocation payload; a clear error names the field and what is allowed."""
    if not isinstance(payload, Mapping):
        raise ValueError(f"relay payload must be a JSON object with eventId and txid, got {type(payload).__name__}")
    event_id = payload.get("eventId")
    if not isinstance(event_id, str) or not OUTBOX_EVENT_ID_RE.fullmatch(event_id):
        raise ValueError(f"relay payload eventId must look like evt_<32 hex digits>, got {event_id!r}")
    txid = payload.get("txid")
    if isinstance(txid, str) and txid.isascii() and txid.isdigit():  # isdigit alone takes "²" and other scripts' digits
        txid = int(txid)
    # hookstack.claim_event takes a bigint: a larger number would fail in the database instead.
    if not isinstance(txid, int) or isinstance(txid, bool) or not 0 < txid <= MAX_TXID:
        raise ValueError(f"relay payload txid must be a positive transaction id (at most {MAX_TXID}), got {txid!r}")
    return Notification(event_id=event_id, txid=txid)


def to_event(row: OutboxRow, source: str) -> events_module.Event:
    return events_module.make_event(
        source, row.event_type, row.detail, tenant_id=row.tenant_id, event_id=row.event_id, time=row.created_at
    )


def publish_rows(outbox: Outbox, rows: Sequence[OutboxRow], *, client: Any, bus_name: str, source: str) -> list[str]:
    """Publish claimed rows; mark the published ones and release the rest. Returns failed ids.

    Rows that cannot become an event at all (too large for EventBridge) are released with the
    reason, like transient failures: the outbox keeps them and the sweeper's alarm says so.
    """
    if not rows:
        return []
    failed: dict[str, str] = {}
    publishable: list[events_module.Event] = []
    for row in rows:
        try:
            event = to_event(row, source)
            size = events_module.entry_size(event.entry(bus_name))
            if size > events_module.MAX_REQUEST_BYTES:
                raise ValueError(f"the event is {size} bytes; EventBridge accepts {events_module.MAX_REQUEST_BYTES}")
        except ValueError as error:
            failed[row.event_id] = f"not publishable: {error}"
            continue
        publishable.append(event)
    if publishable:
        try:
            events_module.publish(client, publishable, bus_name)
        except events_module.PublishError as error:
            for event_id, code, message in error.failed:
                failed[event_id] = f"PutEvents {code}: {message}"[:1000]
        except Exception as error:  # anything else: no entry is known to be published
            reason = f"PutEvents failed: {type(error).__name__}: {error}"[:1000]
            for event in publishable:
                failed[event.event_id] = reason
    published = [event.event_id for event in publishable if event.event_id not in failed]
    outbox.mark_published(published)
    for reason in sorted(set(failed.values())):
        outbox.release([event_id for event_id, why in failed.items() if why == reason], reason)
    if published:
        logs.info("outbox events published", count=len(published), event_ids=published[:20])
    if failed:
        logs.error("outbox events not published", count=len(failed), failures=dict(list(failed.items())[:20]))
    return sorted(failed)


def relay(
    notification: Notification,
    *,
    outbox: Outbox,
    client: Any,
    bus_name: str,
    source: str,
    commit_wait_seconds: float = 3.0,
    lease_seconds: int = 60,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Publish the notified row if (and only if) it is committed and unpublished."""
    delay, waited = 0.1, 0.0
    while True:
        claim = outbox.claim(notification.event_id, notification.txid, lease_seconds)
        if claim.status is not ClaimStatus.PENDING or waited >= commit_wait_seconds:
            break
        sleep(delay)
        waited += delay
        delay = min(delay * 2, 1.0)
    status = claim.status
    fields = {"event_id": notification.event_id, "status": status.value}
    if status is ClaimStatus.CLAIMED:
        assert claim.row is not None
        failed = publish_rows(outbox, [claim.row], client=client, bus_name=bus_name, source=source)
        if failed:
            raise NotPublished(f"event {notification.event_id} was not published (the sweeper will retry it)")
        metrics.relay_published(1)
        return {"status": ClaimStatus.PUBLISHED.value, "eventId": notification.event_id}
    if status is ClaimStatus.PENDING:
        logs.warning("outbox row not committed yet; the invocation will be retried", waited=waited, **fields)
        raise NotPublished(f"event {notification.event_id}: its transaction is still in progress")
    if status is ClaimStatus.ROLLED_BACK:
        logs.info("outbox row rolled back after the commit trigger ran: nothing published", **fields)
    elif status is ClaimStatus.MISSING:
        logs.warning("outbox row not found and its transaction is not running: nothing to publish", **fields)
    else:
        logs.info("outbox row already handled", **fields)
    return {"status": status.value, "eventId": notification.event_id}


# -- Lambda wiring ------------------------------------------------------------------------------


S = TypeVar("S")


class Runtime(Generic[S]):
    """What a relay or sweeper process keeps between invocations (see :mod:`functions.runtime`):
    its settings, the outbox and the EventBridge client. A plain class: a dataclass would cost
    every cold start its code generation, for nothing used here."""

    __slots__ = ("events", "outbox", "settings")

    def __init__(self, settings: S, outbox: Outbox, events: Any) -> None:
        self.settings = settings
        self.outbox = outbox
        self.events = events

    @classmethod
    def connect(cls, settings: S, database: DatabaseSettings, clients: Clients | None = None) -> Runtime[S]:
        clients = clients or Clients()
        return cls(settings, Outbox(database.connect(clients)), clients("events"))


def _runtime() -> Runtime[RelaySettings]:
    settings = RelaySettings.from_environ(os.environ)
    return Runtime.connect(settings, settings.database)


_state: ProcessState[Runtime[RelaySettings]] = ProcessState(_runtime)


def reset() -> None:
    """Forget the settings, the database and the client (tests and the sandbox change the environment)."""
    _state.reset()


def handler(event: Any, context: Any = None) -> dict[str, Any]:
    notification = parse_notification(event)
    runtime = _state.get()
    settings = runtime.settings
    return relay(
        notification,
        outbox=runtime.outbox,
        client=runtime.events,
        bus_name=settings.target.bus_name,
        source=settings.target.source,
        commit_wait_seconds=settings.commit_wait_seconds,
        lease_seconds=settings.lease_seconds,
    )
