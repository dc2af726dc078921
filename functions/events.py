"""The event contract, and the one way hookstack puts events on a bus.

An event on a hookstack bus looks like this (what rules match and destinations receive)::

    {
      "source": "hookstack.aurora",          # who published it
      "detail-type": "widget.created",        # the event type: destinations filter on it
      "detail": {
        "tenantId": "1",                      # always a string; rules route on it
        "eventId": "evt_6f1c...",             # stable id: same across retries, replays, redrives
        ...                                   # the event's own fields (e.g. widgetName)
      }
    }

``detail.hookstackRedrive`` (:data:`REDRIVE_MARKER_KEY`) is reserved: ``python -m ops redrive`` sets
it to the destination whose rule dead-lettered the event, and every hookstack rule takes a marked
event only when the marker names it, so a redrive reaches that one destination again. A publisher
that set it would reach one destination only and skip signed delivery, so :func:`make_event` and
:func:`publish` refuse it in event data; the one way to set it is :func:`mark_for_redrive`.

``eventId`` is the idempotency key receivers deduplicate on: API destinations deliver it inside the
body (the whole event, or ``$.detail.eventId`` in a transform), signed deliveries as ``webhook-id``. EventBridge's own envelope ``id`` is
not stable (a replay or a bus-to-bus hop gets a new one), so it is never used for that.

:func:`publish` wraps ``PutEvents``: it batches entries within the API's limits, checks
``FailedEntryCount`` (``PutEvents`` returns HTTP 200 even when entries failed), retries the failed
entries that can succeed later with exponential backoff and jitter, and raises
:class:`PublishError` naming what could not be published.

Event-type catalog (``hookstack:eventTypes`` in the stack config; the stack output ``eventTypes``):
:class:`EventCatalog` holds each type's name, description, optional JSON Schema (draft 2020-12) and
example. ``publish(..., catalog=...)`` checks each event's data (``detail`` without the ``tenantId``
and ``eventId`` hookstack adds) against its type's schema before any call and raises
:class:`EventSchemaError` naming the event, the type and the failing path (``detail.items[0].sku``).
The check needs ``jsonschema`` (``pip install 'hookstack-events[schemas]'``), imported only when a
catalog with a schema is passed: nothing here requires it at import (the Lambda runtime lacks it).
"""

from __future__ import annotations

import json
import random
import re
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from functions import logs
from functions.records import record

# Set only by redrives (ops/redrive.py, through mark_for_redrive); rule patterns accept it through
# components.plan.redrive_clause. make_event and publish refuse it in event data.
REDRIVE_MARKER_KEY = "hookstackRedrive"
# detail.tenantId: what rules route on, a path segment of the subscription API and a resource in a
# tenant's IAM policy. No IAM wildcard ("*", "?"), no policy variable ("${"), no "/" or "%", so a
# tenant id in a policy matches that tenant's literal path segment and nothing else. Use fullmatch.
TENANT_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")
TENANT_ID_RULE = "1-64 characters of A-Z, a-z, 0-9, '_', '.', ':' and '-', starting with a letter or digit"
RESERVED_DETAIL_KEYS = ("tenantId", "eventId", REDRIVE_MARKER_KEY)
# eventId travels as the Standard Webhooks ``webhook-id`` header, signed as "{id}.{timestamp}.{body}"
# (the spec forbids "." in it: the signed content is split on it), and as a path segment of the
# subscription API (/messages/{eventId}, matched without percent-decoding): so visible ASCII that
# needs no escaping in a URL path, without "." (RFC 3986 pchar minus "." and "%").
MAX_EVENT_ID_CHARS = 256
EVENT_ID_RE = re.compile(r"^[A-Za-z0-9_~:@!$&'()*+,;=-]{1,256}$")
EVENT_ID_RULE = (
    "1-256 characters of A-Z a-z 0-9 and - _ ~ : @ ! $ & ' ( ) * + , ; = (no '.', spaces, '/', '%' or non-ASCII)"
)
MAX_ENTRIES_PER_CALL = 10
# The documented PutEvents limit (some accounts now take 1 MB; 256 KiB is safe everywhere).
MAX_REQUEST_BYTES = 256 * 1024
# The JSON Schema dialect of catalog schemas (a schema may name it in "$schema"; no other is accepted).
SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
# W3C Trace Context (https://www.w3.org/TR/trace-context/#traceparent-header), version 00 only:
# "00-<32 lower-case hex trace id, not all zeros>-<16 lower-case hex parent id, not all zeros>-<2 hex flags>".
# It travels as detail.traceparent (the worker sends it on as the ``traceparent`` header when the stack
# propagates traces): a malformed value is refused here and never forwarded downstream.
TRACEPARENT_KEY = "traceparent"
TRACEPARENT_RE = re.compile(r"00-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}")
RETRYABLE_ERROR_CODES = frozenset(
    {"ThrottlingException", "InternalFailure", "InternalException", "ServiceUnavailable", "Throttling"}
)


class PublishError(RuntimeError):
    """Some entries could not be published; ``failed`` holds (event id, error code, message)."""

    def __init__(self, failed: Sequence[tuple[str, str, str]]) -> None:
        self.failed = list(failed)
        summary = ", ".join(f"{event_id}: {code}" for event_id, code, _ in self.failed[:10])
        more = f" and {len(self.failed) - 10} more" if len(self.failed) > 10 else ""
        super().__init__(f"{len(self.failed)} event(s) not published ({summary}{more})")


def new_event_id() -> str:
    return f"evt_{uuid.uuid4().hex}"


def event_id_problem(value: object) -> str | None:
    """Why ``value`` cannot be an ``eventId``, or ``None`` when it can."""
    if not isinstance(value, str):
        return f"must be a string, got {type(value).__name__}"
    if not EVENT_ID_RE.fullmatch(value):  # fullmatch: "$" would accept a trailing newline
        return f"must be {EVENT_ID_RULE}; got {value[:80]!r}{'...' if len(value) > 80 else ''}"
    return None


def traceparent_problem(value: object) -> str | None:
    """Why ``value`` cannot be a W3C ``traceparent`` (version 00), or ``None`` when it can."""
    if not isinstance(value, str) or not TRACEPARENT_RE.fullmatch(value):
        shown = value[:80] if isinstance(value, str) else type(value).__name__
        return f"must be a W3C traceparent (00-<32 hex>-<16 hex>-<2 hex>, lower case, ids not all zeros); got {shown!r}"
    return None


@record
class Event:
    """An event in hookstack's contract, before it becomes a ``PutEvents`` entry."""

    source: str
    event_type: str
    tenant_id: str | None
    data: Mapping[str, Any]
    event_id: str
    time: datetime | None = None
    redrive_marker: str | None = None
    """``detail.hookstackRedrive``: set through :func:`mark_for_redrive` only, never in ``data``."""

    def detail(self) -> dict[str, Any]:
        detail = dict(self.data)
        if self.tenant_id is not None:
            detail["tenantId"] = str(self.tenant_id)
        detail["eventId"] = self.event_id
        if self.redrive_marker is not None:
            detail[REDRIVE_MARKER_KEY] = self.redrive_marker
        return detail

    def entry(self, bus_name: str) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "EventBusName": bus_name,
            "Source": self.source,
            "DetailType": self.event_type,
            "Detail": json.dumps(self.detail(), separators=(",", ":"), default=str),
        }
        if self.time is not None:
            entry["Time"] = self.time
        return entry


def make_event(
    source: str,
    event_type: str,
    data: Mapping[str, Any],
    *,
    tenant_id: str | int | None = None,
    event_id: str | None = None,
    time: datetime | None = None,
    traceparent: str | None = None,
) -> Event:
    """Build an event, validating the contract (names the field and what is allowed).

    ``traceparent`` (the caller's W3C trace context) becomes ``detail.traceparent``."""
    if not source or len(source) > 256:
        raise ValueError("source must be 1-256 characters")
    if not event_type or len(event_type) > 128:
        raise ValueError("event type (detail-type) must be 1-128 characters")
    if not isinstance(data, Mapping):
        raise ValueError(f"event data must be a JSON object, got {type(data).__name__}")
    if REDRIVE_MARKER_KEY in data:
        raise ValueError(_RESERVED_MARKER)
    if tenant_id is not None and (isinstance(tenant_id, bool) or not TENANT_ID_RE.fullmatch(str(tenant_id))):
        raise ValueError(f"tenant id must be {TENANT_ID_RULE}; got {str(tenant_id)[:80]!r}")
    if tenant_id is None and isinstance(data.get("tenantId"), (list, tuple, Mapping)):
        # Rules route on it, and EventBridge matches an array on any element: it would reach every tenant
        # it names. (A scalar outside the rule matches no tenant's pattern; ops redrive keeps it as it was.)
        raise ValueError(f"detail.tenantId must be a string of {TENANT_ID_RULE}; got {repr(data['tenantId'])[:80]}")
    if event_id is not None and (problem := event_id_problem(event_id)):
        raise ValueError(f"event id {problem}")
    if traceparent is not None:
        data = {**data, TRACEPARENT_KEY: traceparent}
    if TRACEPARENT_KEY in data and (problem := traceparent_problem(data[TRACEPARENT_KEY])):
        raise ValueError(f"detail.{TRACEPARENT_KEY} {problem}")
    return Event(
        source=source,
        event_type=event_type,
        tenant_id=None if tenant_id is None else str(tenant_id),
        data=data,
        event_id=event_id or new_event_id(),
        time=time,
    )


def mark_for_redrive(event: Event, marker: str | None) -> Event:
    """``event`` with ``detail.hookstackRedrive`` set to ``marker`` (``None``: without it).

    The one way to set the reserved key, for ``python -m ops redrive`` alone: the marker is the
    destination name the dead-lettering rule's pattern accepts (components.plan.redrive_clause).
    """
    if marker is not None and (not isinstance(marker, str) or not marker):
        raise ValueError(f"redrive marker must be a destination name (a non-empty string), got {marker!r}")
    return replace(event, redrive_marker=marker)


_RESERVED_MARKER = (
    f"event data must not hold detail.{REDRIVE_MARKER_KEY}: the key is reserved for `python -m ops redrive` "
    "(a marked event reaches one destination only and no signed delivery); rename the field"
)


# -- the event-type catalog ------------------------------------------------------------------------


@record
class EventType:
    """One entry of the catalog: ``schema`` and ``example`` describe the event's data (``detail``
    as the publisher passes it to :func:`make_event`, without ``tenantId`` and ``eventId``)."""

    name: str
    description: str
    schema: Mapping[str, Any] | None = None
    example: Mapping[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {"name": self.name, "description": self.description}
        if self.schema is not None:
            document["schema"] = self.schema
        if self.example is not None:
            document["example"] = self.example
        return document


class EventSchemaError(ValueError):
    """An event's data does not match its type's schema; ``path`` is the failing JSON path."""

    def __init__(self, event_id: str, event_type: str, path: str, message: str) -> None:
        self.event_id, self.event_type, self.path = event_id, event_type, path
        super().__init__(f"event {event_id}: {path} does not match the schema of event type {event_type!r}: {message}")


@record
class EventCatalog:
    """The known event types, by name (the stack config validated them: names, schemas, examples)."""

    types: tuple[EventType, ...]

    @classmethod
    def from_json(cls, document: str | Sequence[Mapping[str, Any]]) -> EventCatalog:
        """The catalog from the ``eventTypes`` stack output (JSON text or the parsed list)."""
        entries = json.loads(document) if isinstance(document, str) else document
        if not isinstance(entries, list) or not all(isinstance(e, Mapping) for e in entries):
            raise ValueError("an event-type catalog is a JSON list of {name, description, schema?, example?} objects")
        types = []
        for index, entry in enumerate(entries):
            name = entry.get("name")
            if not isinstance(name, str) or not name:
                raise ValueError(f"eventTypes[{index}].name must be a non-empty string")
            types.append(
                EventType(name, str(entry.get("description") or ""), entry.get("schema"), entry.get("example"))
            )
        return cls(tuple(types))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.types)

    def get(self, name: str) -> EventType | None:
        return next((t for t in self.types if t.name == name), None)

    def to_json(self) -> list[dict[str, Any]]:
        return [t.to_json() for t in self.types]

    def check(self, event: Event) -> None:
        """Raise :class:`EventSchemaError` when ``event``'s data breaks its type's schema (no schema,
        or a type the catalog does not list: nothing to check)."""
        known = self.get(event.event_type)
        if known is None or known.schema is None:
            return
        problem = schema_problem(known.schema, event.data)
        if problem is not None:
            raise EventSchemaError(event.event_id, event.event_type, *problem)


def schema_problem(schema: Mapping[str, Any], data: Any, root: str = "detail") -> tuple[str, str] | None:
    """The first (best) way ``data`` breaks ``schema``: its JSON path under ``root`` and the message."""
    try:
        from jsonschema import Draft202012Validator
        from jsonschema.exceptions import best_match
    except ImportError:  # pragma: no cover - the message is the point
        raise RuntimeError(
            "checking events against a catalog schema needs jsonschema: pip install 'hookstack-events[schemas]'"
        ) from None
    error = best_match(Draft202012Validator(schema).iter_errors(data))
    if error is None:
        return None
    return json_path(root, error.absolute_path), error.message


def json_path(root: str, parts: Any) -> str:
    """``detail.items[0].sku`` from ``("items", 0, "sku")``."""
    path = root
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def entry_size(entry: Mapping[str, Any]) -> int:
    """Size of an entry as EventBridge counts it for the request limit."""
    size = 14 if entry.get("Time") is not None else 0
    for key in ("Source", "DetailType", "Detail"):
        size += len(str(entry.get(key, "")).encode("utf-8"))
    size += sum(len(r.encode("utf-8")) for r in entry.get("Resources", ()))
    return size


def _batches(entries: Sequence[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    batches: list[list[dict[str, Any]]] = []
    current: list[dict[str, Any]] = []
    current_size = 0
    for entry in entries:
        size = entry_size(entry)
        if size > MAX_REQUEST_BYTES:
            raise ValueError(
                f"event {_event_id(entry)} is {size} bytes; an EventBridge entry may be at most "
                f"{MAX_REQUEST_BYTES} (store large payloads elsewhere and publish a reference)"
            )
        if current and (len(current) == MAX_ENTRIES_PER_CALL or current_size + size > MAX_REQUEST_BYTES):
            batches.append(current)
            current, current_size = [], 0
        current.append(entry)
        current_size += size
    if current:
        batches.append(current)
    return batches


def _event_id(entry: Mapping[str, Any]) -> str:
    try:
        return str(json.loads(entry["Detail"]).get("eventId", "?"))
    except (KeyError, ValueError, AttributeError):
        return "?"


def publish(
    client: Any,
    events: Sequence[Event],
    bus_name: str,
    *,
    max_attempts: int = 6,
    base_delay: float = 0.1,
    max_delay: float = 5.0,
    sleep: Callable[[float], None] = time.sleep,
    catalog: EventCatalog | None = None,
) -> int:
    """Put ``events`` on ``bus_name``; return how many calls were made.

    Failed entries with a transient error code are retried (only those, never the whole batch
    again) up to ``max_attempts`` calls per batch, with full-jitter exponential backoff. Raises
    :class:`PublishError` for entries that still failed or failed permanently; ``ValueError``, before
    any call, for an entry over the size limit or event data holding the reserved redrive marker,
    and :class:`EventSchemaError` (a ``ValueError``), before any call, for data that breaks its
    type's schema in ``catalog``.
    """
    for event in events:
        # make_event refuses the marker; an Event built by hand (or replaced) must not slip it in.
        if REDRIVE_MARKER_KEY in event.data:
            raise ValueError(f"event {event.event_id}: {_RESERVED_MARKER}")
        if catalog is not None:
            catalog.check(event)
    calls = 0
    failed: list[tuple[str, str, str]] = []
    for batch in _batches([event.entry(bus_name) for event in events]):
        pending = batch
        for attempt in range(1, max_attempts + 1):
            response = client.put_events(Entries=pending)
            calls += 1
            if not response.get("FailedEntryCount"):
                pending = []
                break
            retry: list[dict[str, Any]] = []
            for entry, result in zip(pending, response["Entries"], strict=True):
                code = result.get("ErrorCode")
                if not code:
                    continue
                if code in RETRYABLE_ERROR_CODES and attempt < max_attempts:
                    retry.append(entry)
                else:
                    failed.append((_event_id(entry), code, str(result.get("ErrorMessage", ""))))
            pending = retry
            if not pending:
                break
            delay = random.uniform(0, min(max_delay, base_delay * 2 ** (attempt - 1)))  # noqa: S311 (jitter, not crypto)
            logs.warning("retrying failed PutEvents entries", count=len(pending), attempt=attempt, delay=delay)
            sleep(delay)
    if failed:
        logs.error("events not published", failed=[(event_id, code) for event_id, code, _ in failed])
        raise PublishError(failed)
    return calls
