"""The event-type catalog (``GET /event-types``) and test events (``POST .../endpoints/{e}/test``).

A test event goes through the real delivery path of that one endpoint: the API stores a message and
queues one delivery task for the endpoint, exactly as the fan-out does for a bus event, and the
delivery worker sends it (SSRF guard, signing, auth, headers, transform, breaker and rate limit,
attempt record, retries). The API then waits for the first attempt, at most
:data:`TEST_WAIT_SECONDS` (under the API function's timeout), and answers it (200); a slower
first attempt (an endpoint with a long ``timeoutSeconds``, a deferral by its rate limit or breaker)
gets a 202 with the event id, to follow with ``GET /tenants/{t}/messages/{eventId}``.

The event is the requested type's ``example`` from the catalog; without an example, without a
catalog or without ``eventType``, a ``hookstack.test`` event. It reaches this endpoint only: the
fan-out, the endpoint's ``eventTypes`` and its ``filter`` are not consulted (the test names the
endpoint). A test event that fails is retried and may end in the dead-letter queue like any other:
it is a delivery of that endpoint.
"""

from __future__ import annotations

import json
import time
from typing import Any

from functions import events, logs, patterns
from functions.delivery import signing, store, tasks
from functions.delivery.api.endpoints import endpoint_of
from functions.delivery.api.http import ApiError, ApiRuntime, Request, only
from functions.delivery.event_catalog import TEST_EVENT_TYPE, read_catalog
from functions.delivery.vocab import DeliveryStatus

# The API function times out after components.specs.delivery.API_TIMEOUT_SECONDS (25 s; a test
# holds this under it with room for the store, the queue and the answer).
TEST_WAIT_SECONDS = 20.0
TEST_SOURCE = "hookstack.test"
_POLL_FIRST, _POLL_MAX = 0.05, 0.5


def list_event_types(request: Request, state: ApiRuntime) -> tuple[int, Any]:
    catalog = read_catalog(state.table.client, state.table.name)
    return 200, {"data": catalog.to_json() if catalog else [], "enforced": catalog is not None}


def catalog_problem(state: ApiRuntime, event_types: tuple[str, ...]) -> None:
    """With a catalog, each of an endpoint's ``eventTypes`` must be a known type (a wildcard must
    match one); a 400 naming the entry. Without a catalog any valid type is accepted."""
    if not event_types:
        return
    catalog = read_catalog(state.table.client, state.table.name)
    if catalog is None:
        return
    found = patterns.unknown_event_type_problem(event_types, catalog.names)
    if found is not None:
        index, message = found
        raise ApiError(400, "validation_error", f"eventTypes[{index}] {message}", f"eventTypes[{index}]")


def _test_event(request: Request, state: ApiRuntime) -> tuple[str, dict[str, Any]]:
    requested = request.body.get("eventType")
    if requested is None:
        return TEST_EVENT_TYPE, {"test": True}
    if (problem := patterns.event_type_problem(requested)) or str(requested).endswith(patterns.EVENT_TYPE_WILDCARD):
        raise ApiError(
            400, "validation_error", f"eventType {problem or 'must name one event type, not a wildcard'}", "eventType"
        )
    catalog = read_catalog(state.table.client, state.table.name)
    known = catalog.get(requested) if catalog else None
    if catalog is not None and known is None:
        raise ApiError(
            400,
            "validation_error",
            f"eventType {requested!r} is not in the event-type catalog; GET /event-types lists it",
            "eventType",
        )
    if known is not None and known.example is not None:
        return requested, dict(known.example)
    return TEST_EVENT_TYPE, {"test": True, "requestedEventType": requested}


def send_test_event(request: Request, state: ApiRuntime) -> tuple[int, Any]:
    only(request.body, ("eventType",))
    endpoint = endpoint_of(request, state)
    event_type, data = _test_event(request, state)
    if not endpoint.enabled:
        raise ApiError(409, "endpoint_disabled", "the endpoint is disabled; enable it first", "endpointId")
    event_id = events.new_event_id()
    event_time = store.iso(request.now)
    detail = {**data, "tenantId": request.tenant_id, "eventId": event_id}
    envelope = None
    if endpoint.options.transform:
        # The worker fills a transform's template from the whole event, as for a fanned-out one.
        envelope = json.dumps(
            {"version": "0", "id": event_id, "detail-type": event_type, "source": TEST_SOURCE, "time": event_time},
            separators=(",", ":"),
        )
    message = store.Message(
        tenant_id=request.tenant_id,
        event_id=event_id,
        event_type=event_type,
        event_time=event_time,
        body=signing.payload(event_type, event_time, detail).decode("utf-8"),
        received_at=event_time,
        envelope=envelope,
    )
    state.table.put_message(message, store.ttl(request.now, state.settings.history_ttl_days))
    state.tasks.send_all([tasks.task(request.tenant_id, event_id, endpoint.endpoint_id, event_type, 1)])
    logs.info("test event queued", tenantId=request.tenant_id, endpointId=endpoint.endpoint_id, eventId=event_id)
    delivery = _first_attempt(state, request.tenant_id, event_id, endpoint.endpoint_id, time.monotonic())
    history = (delivery or {}).get("history") or []
    status = str((delivery or {}).get("status") or DeliveryStatus.PENDING)
    attempt = dict(history[0]) if history else None
    if attempt is None and status == DeliveryStatus.FAILED:  # failed before any request (e.g. disabled meanwhile)
        attempt = {"attempt": 0, "outcome": "failed", "statusCode": None, "latencyMs": None}
        attempt["error"] = (delivery or {}).get("failedReason")
    document = {
        "eventId": event_id,
        "eventType": event_type,
        "endpointId": endpoint.endpoint_id,
        "status": status,
        "attempt": attempt,
    }
    return (200 if attempt is not None else 202), document


def _first_attempt(
    state: ApiRuntime, tenant_id: str, event_id: str, endpoint_id: str, started: float
) -> dict[str, Any] | None:
    """The delivery item once its first attempt is recorded (or it ended without one); the last
    read when :data:`TEST_WAIT_SECONDS` pass first."""
    pause = _POLL_FIRST
    while True:
        delivery = state.table.get_delivery(tenant_id, event_id, endpoint_id)
        if delivery and (delivery.get("history") or delivery.get("status") != DeliveryStatus.PENDING):
            return delivery
        left = TEST_WAIT_SECONDS - (time.monotonic() - started)
        if left <= 0:
            return delivery
        time.sleep(min(pause, left))
        pause = min(pause * 2, _POLL_MAX)
