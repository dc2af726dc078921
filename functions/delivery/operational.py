"""Operational events: what happens to a tenant's worker endpoints, published on the entry bus.

When a worker endpoint is disabled (HTTP 410, too many failed messages in a row, or by the API) or
enabled again, when its circuit breaker opens or closes, or when a message exhausts its retries (it
is dead-lettered), the worker or the subscription API puts one event on the entry bus:

=============================  =================================================================
``detail-type``                when
=============================  =================================================================
``endpoint.disabled``          the write that disabled the endpoint won (410, failures, API)
``endpoint.enabled``           the API enabled a disabled endpoint
``endpoint.breaker.opened``    the write that opened the breaker won
``endpoint.breaker.closed``    the write that closed an opened breaker won
``message.attempt.exhausted``  a delivery ended failed and was dead-lettered
=============================  =================================================================

``source`` is ``<provider.eventSource>.operational`` and ``detail`` follows the event contract
(:mod:`functions.events`): ``tenantId``, ``eventId`` (this event's own id, derived from the
transition, so a retried publish has the same id and receivers deduplicate on it), ``endpointId``,
``reason``, ``time`` (ISO 8601, when the transition happened) and, for
``message.attempt.exhausted``, ``failedEventId``, ``failedEventType`` and ``attempts``
(``eventId`` is taken by the contract: it names this event, not the failed one).

Tenants subscribe to them like to any event (``eventTypes: ["endpoint.*"]``): the per-destination
rules and the fan-out match on ``detail.tenantId`` and ``detail-type``, never on ``source``.

Two guarantees:

- **no loop**: the delivery of an operational event never publishes one (its ids start with
  :data:`EVENT_ID_PREFIX`); an endpoint subscribed to operational events that fails cannot start an
  endless chain. What it would have published is logged instead.
- **the delivery path stands**: a publish that fails is logged and the delivery's result is kept;
  publishing happens only after the conditional write that made the transition succeeded, so one
  transition makes one event (at least once only if PutEvents itself answered ambiguously).
"""

from __future__ import annotations

import hashlib
import time as time_module
from collections.abc import Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from functions import events, logs

SOURCE_NAME = "operational"
EVENT_ID_PREFIX = "hsop_"
# PutEvents is retried briefly: the delivery path must not wait on the bus for long.
PUBLISH_ATTEMPTS = 2


class OperationalEventType(StrEnum):
    """The ``detail-type`` of every operational event (one owner: the worker, the API, the docs)."""

    ENDPOINT_DISABLED = "endpoint.disabled"
    ENDPOINT_ENABLED = "endpoint.enabled"
    BREAKER_OPENED = "endpoint.breaker.opened"
    BREAKER_CLOSED = "endpoint.breaker.closed"
    ATTEMPT_EXHAUSTED = "message.attempt.exhausted"


def source_for(event_source: str) -> str:
    """``<provider.eventSource>.operational``: the ``source`` of every operational event."""
    return f"{event_source}.{SOURCE_NAME}"


def is_operational_event_id(event_id: str) -> bool:
    return event_id.startswith(EVENT_ID_PREFIX)


def event_id_for(kind: OperationalEventType, tenant_id: str, endpoint_id: str, transition: str) -> str:
    """A stable id per transition (``transition``: what makes it unique, e.g. its time or the failed event)."""
    digest = hashlib.sha256("\x00".join((kind, tenant_id, endpoint_id, transition)).encode()).hexdigest()
    return f"{EVENT_ID_PREFIX}{digest[:40]}"


def build(
    source: str,
    kind: OperationalEventType,
    *,
    tenant_id: str,
    endpoint_id: str,
    reason: str,
    at: float,
    transition: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> events.Event:
    stamp = datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    data = {"endpointId": endpoint_id, "reason": reason, "time": stamp, **(extra or {})}
    return events.make_event(
        source,
        kind,
        data,
        tenant_id=tenant_id,
        event_id=event_id_for(kind, tenant_id, endpoint_id, transition or stamp),
    )


class Publisher:
    """Publishes operational events for one function (``bus_name`` empty: publishing is off)."""

    def __init__(self, client: Any, bus_name: str, source: str, *, sleep: Any = time_module.sleep) -> None:
        self.client = client
        self.bus_name = bus_name
        self.source = source
        self.sleep = sleep

    def publish(
        self,
        kind: OperationalEventType,
        *,
        tenant_id: str,
        endpoint_id: str,
        reason: str,
        at: float,
        caused_by_event_id: str | None = None,
        transition: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> bool:
        """Publish one event; never raises. ``caused_by_event_id``: the event whose delivery made the
        transition (an operational one publishes nothing: the loop guard). Returns whether it was put."""
        fields = {"detailType": str(kind), "tenantId": tenant_id, "endpointId": endpoint_id, "reason": reason}
        if caused_by_event_id is not None and is_operational_event_id(caused_by_event_id):
            logs.info("operational event not published: caused by delivering an operational event", **fields)
            return False
        if not self.bus_name or not self.source:
            return False
        try:
            event = build(
                self.source,
                kind,
                tenant_id=tenant_id,
                endpoint_id=endpoint_id,
                reason=reason,
                at=at,
                transition=transition,
                extra=extra,
            )
            events.publish(self.client, [event], self.bus_name, max_attempts=PUBLISH_ATTEMPTS, sleep=self.sleep)
        except Exception as error:  # the delivery result stands; the event is lost, and logged
            logs.error("operational event not published", error=repr(error)[:300], **fields)
            return False
        logs.info("operational event published", eventId=event.event_id, **fields)
        return True
