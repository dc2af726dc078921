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

Environment (read at first use): ``EVENT_BUS_NAME`` (the entry bus), ``AURORA_EVENT_SOURCE``,
``RELAY_COMMIT_WAIT_SECONDS`` (default 3), ``RELAY_LEASE_SECONDS`` (default 60, longer than the
function timeout), and the database variables of :mod:`functions.outbox`
(``AURORA_DATABASE_DSN`` or ``AURORA_CLUSTER_ARN`` + ``AURORA_SECRET_ARN`` + ``AURORA_DATABASE_NAME``).

Handler: ``functions.relay.handler``.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from functions import events as events_module
from functions import logs
from functions.outbox import Outbox, OutboxRow, database_from_env

EVENT_ID_RE = re.compile(r"^evt_[0-9a-f]{32}$")
DEFAULT_EVENT_SOURCE = "hookstack.aurora"


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
    if not isinstance(event_id, str) or not EVENT_ID_RE.match(event_id):
        raise ValueError(f"relay payload eventId must look like evt_<32 hex digits>, got {event_id!r}")
    txid = payload.get("txid")
    if isinstance(txid, str) and txid.isdigit():
        txid = int(txid)
    if not isinstance(txid, int) or isinstance(txid, bool) or txid <= 0:
        raise ValueError(f"relay payload txid must be a positive transaction id, got {txid!r}")
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
        if claim.status != "pending" or waited >= commit_wait_seconds:
            break
        sleep(delay)
        waited += delay
        delay = min(delay * 2, 1.0)
    fields = {"event_id": notification.event_id, "status": claim.status}
    if claim.status == "claimed":
        assert claim.row is not None
        failed = publish_rows(outbox, [claim.row], client=client, bus_name=bus_name, source=source)
        if failed:
            raise NotPublished(f"event {notification.event_id} was not published (the sweeper will retry it)")
        return {"status": "published", "eventId": notification.event_id}
    if claim.status == "pending":
        logs.warning("outbox row not committed yet; the invocation will be retried", waited=waited, **fields)
        raise NotPublished(f"event {notification.event_id}: its transaction is still in progress")
    if claim.status == "rolled_back":
        logs.info("outbox row rolled back after the commit trigger ran: nothing published", **fields)
    elif claim.status == "missing":
        logs.warning("outbox row not found and its transaction is not running: nothing to publish", **fields)
    else:
        logs.info("outbox row already handled", **fields)
    return {"status": claim.status, "eventId": notification.event_id}


# -- Lambda wiring ------------------------------------------------------------------------------

_events_client: Any = None


def events_client() -> Any:
    global _events_client
    if _events_client is None:
        import boto3

        _events_client = boto3.client("events")
    return _events_client


def event_source() -> str:
    return os.environ.get("AURORA_EVENT_SOURCE") or DEFAULT_EVENT_SOURCE


def bus_name() -> str:
    name = os.environ.get("EVENT_BUS_NAME")
    if not name:
        raise RuntimeError("EVENT_BUS_NAME is not set")
    return name


def _int_env(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


def handler(event: Any, context: Any = None) -> dict[str, Any]:
    notification = parse_notification(event)
    return relay(
        notification,
        outbox=Outbox(database_from_env()),
        client=events_client(),
        bus_name=bus_name(),
        source=event_source(),
        commit_wait_seconds=float(os.environ.get("RELAY_COMMIT_WAIT_SECONDS") or 3),
        lease_seconds=_int_env("RELAY_LEASE_SECONDS", 60),
    )
