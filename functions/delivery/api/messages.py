"""Delivery history and recovery: attempts, a message with its deliveries, resend and replay."""

from __future__ import annotations

from typing import Any

from functions import logs
from functions.delivery import store, tasks
from functions.delivery.api.endpoints import endpoint_of
from functions.delivery.api.http import ENDPOINT_ID_RE, ApiError, ApiRuntime, Request, only, page_limit
from functions.delivery.vocab import DeliveryStatus

MAX_REPLAY_BATCH = 500
_NO_MESSAGE = "no such message (never delivered to an endpoint, or older than the history TTL)"


# -- history ----------------------------------------------------------------------------------------


def list_attempts(request: Request, state: ApiRuntime) -> tuple[int, Any]:
    items, cursor = state.table.list_attempts(
        request.tenant_id, limit=page_limit(request.query), cursor=request.query.get("cursor")
    )
    return 200, {"data": items, "nextCursor": cursor}


def list_endpoint_attempts(request: Request, state: ApiRuntime) -> tuple[int, Any]:
    endpoint = endpoint_of(request, state)
    items, cursor = state.table.list_attempts(
        request.tenant_id,
        endpoint_id=endpoint.endpoint_id,
        limit=page_limit(request.query),
        cursor=request.query.get("cursor"),
    )
    return 200, {"data": items, "nextCursor": cursor}


def get_message(request: Request, state: ApiRuntime) -> tuple[int, Any]:
    event_id = request.params["eventId"]
    message = state.table.get_message(request.tenant_id, event_id)
    if message is None:
        raise ApiError(404, "not_found", _NO_MESSAGE, "eventId")
    deliveries = state.table.deliveries_of(request.tenant_id, event_id)
    return 200, {**message.to_api(), "deliveries": [store.delivery_to_api(d) for d in deliveries]}


# -- resend and replay ------------------------------------------------------------------------------


def resend_message(request: Request, state: ApiRuntime) -> tuple[int, Any]:
    body = request.body
    only(body, ("endpointId",))
    table = state.table
    event_id = request.params["eventId"]
    message = table.get_message(request.tenant_id, event_id)
    if message is None:
        raise ApiError(404, "not_found", _NO_MESSAGE, "eventId")
    deliveries = {d["endpointId"]: d for d in table.deliveries_of(request.tenant_id, event_id)}
    endpoint_id = body.get("endpointId")
    if endpoint_id is not None:
        if not isinstance(endpoint_id, str) or not ENDPOINT_ID_RE.fullmatch(endpoint_id):
            raise ApiError(400, "validation_error", "endpointId must be an endpoint id", "endpointId")
        targets = [endpoint_id]
    else:
        targets = sorted(deliveries)
        if not targets:
            raise ApiError(409, "conflict", "the message has no deliveries to resend; name an endpointId")
    queued = []
    for target in targets:
        endpoint = table.get_endpoint(request.tenant_id, target)
        delivery = deliveries.get(target)
        if endpoint is None:
            if endpoint_id is not None:
                raise ApiError(404, "not_found", "no such endpoint", "endpointId")
            continue
        if not endpoint.enabled:
            if endpoint_id is not None:
                raise ApiError(409, "endpoint_disabled", "the endpoint is disabled; enable it first", "endpointId")
            continue
        if delivery is not None and delivery.get("status") == DeliveryStatus.PENDING:
            if endpoint_id is not None:
                raise ApiError(
                    409, "delivery_in_progress", "the message is still being delivered to this endpoint", "endpointId"
                )
            continue
        run = int((delivery or {}).get("run") or 0) + 1
        queued.append(tasks.task(request.tenant_id, event_id, target, message.event_type, run))
    if not queued:
        raise ApiError(
            409, "conflict", "nothing to resend: every delivery is in progress or its endpoint is disabled or gone"
        )
    expires = store.ttl(request.now, state.settings.history_ttl_days)
    # A single-endpoint event's message may be held by its attempt only (docs/delivery.md, "Cost"):
    # the new run's worker reads the message item.
    table.put_message(message, expires)
    table.extend_message(request.tenant_id, event_id, expires)
    state.tasks.send_all(queued)
    logs.info("message resent", tenantId=request.tenant_id, eventId=event_id, tasks=len(queued))
    return 202, {"queued": [{"endpointId": t["endpointId"], "run": t["run"]} for t in queued]}


def replay_failed(request: Request, state: ApiRuntime) -> tuple[int, Any]:
    body = request.body
    only(body, ("since", "limit", "cursor"))
    since_text = body.get("since")
    if not isinstance(since_text, str):
        raise ApiError(
            400, "validation_error", "since is required: an ISO 8601 time like 2026-01-01T00:00:00Z", "since"
        )
    try:
        # Within [1970, now]: no failure is outside it (the same selection), and a UTC instant outside
        # years 1-9999 (0001-01-01T00:00:00+14:00) could not be written as the index's time (a 500).
        since = max(0.0, min(store.parse_time(since_text), request.now))
    except ValueError:
        raise ApiError(
            400, "validation_error", "since must be an ISO 8601 time with a zone, like 2026-01-01T00:00:00Z", "since"
        ) from None
    limit = body.get("limit", MAX_REPLAY_BATCH)
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_REPLAY_BATCH:
        raise ApiError(400, "validation_error", f"limit must be a whole number from 1 to {MAX_REPLAY_BATCH}", "limit")
    cursor = body.get("cursor")
    if cursor is not None and not isinstance(cursor, str):
        raise ApiError(400, "validation_error", "cursor must be the nextCursor of a previous replay", "cursor")
    endpoint = endpoint_of(request, state)
    if not endpoint.enabled:
        raise ApiError(409, "endpoint_disabled", "the endpoint is disabled; enable it first", "endpointId")
    table = state.table
    event_ids, next_cursor = table.failed_deliveries_since(
        request.tenant_id, endpoint.endpoint_id, since, limit=limit, cursor=cursor
    )
    queued = []
    for event_id in store.unique(event_ids):
        delivery = table.get_delivery(request.tenant_id, event_id, endpoint.endpoint_id)
        if delivery is None or delivery.get("status") != DeliveryStatus.FAILED:
            continue
        run = int(delivery.get("run") or 0) + 1
        queued.append(
            tasks.task(request.tenant_id, event_id, endpoint.endpoint_id, str(delivery.get("eventType") or ""), run)
        )
        table.extend_message(request.tenant_id, event_id, store.ttl(request.now, state.settings.history_ttl_days))
    state.tasks.send_all(queued)
    logs.info(
        "failed messages replayed", tenantId=request.tenant_id, endpointId=endpoint.endpoint_id, tasks=len(queued)
    )
    return 202, {"queued": len(queued), "eventIds": [t["eventId"] for t in queued], "nextCursor": next_cursor}
