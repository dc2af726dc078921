"""Answers to "where is my webhook?": a tenant's deliveries by status since a time, and per-endpoint
counts (:mod:`functions.delivery.store.recent`; ``since``: :mod:`functions.delivery.since`)."""

from __future__ import annotations

from typing import Any

from functions.delivery import since as since_module
from functions.delivery import store
from functions.delivery.api.http import ApiError, ApiRuntime, Request, page_limit
from functions.delivery.store.recent import PUBLISHED, STAT_NAMES
from functions.delivery.vocab import DeliveryStatus

QUERY_DELIVERIES = ("status", "since", "limit", "cursor")
QUERY_STATS = ("since",)


def _known(query: dict[str, str] | Any, allowed: tuple[str, ...]) -> None:
    for name in query:
        if name not in allowed:
            raise ApiError(
                400, "validation_error", f"unknown query parameter {name!r}; allowed: {', '.join(allowed)}", name
            )


def _since(request: Request) -> float:
    try:
        return since_module.parse_since(request.query.get("since") or since_module.DEFAULT, request.now)
    except since_module.InvalidSince as error:
        raise ApiError(400, "validation_error", str(error), "since") from None


def _status(request: Request) -> DeliveryStatus | None:
    raw = request.query.get("status")
    if raw is None or raw == "":
        return None
    try:
        return DeliveryStatus(raw)
    except ValueError:
        allowed = ", ".join(s.value for s in DeliveryStatus)
        raise ApiError(
            400, "validation_error", f"status must be one of {allowed}; got {raw[:40]!r}", "status"
        ) from None


def list_deliveries(request: Request, state: ApiRuntime) -> tuple[int, Any]:
    """``GET /tenants/{t}/deliveries?status=&since=&limit=&cursor=``: oldest change first."""
    _known(request.query, QUERY_DELIVERIES)
    status, since, limit = _status(request), _since(request), page_limit(request.query)
    items, cursor = state.table.deliveries_since(
        request.tenant_id, since, status=status, limit=limit, cursor=request.query.get("cursor") or None
    )
    return 200, {"data": items, "nextCursor": cursor, "since": store.iso(since)}


def get_stats(request: Request, state: ApiRuntime) -> tuple[int, Any]:
    """``GET /tenants/{t}/stats?since=``: per endpoint, deliveries published, delivered, failed, pending."""
    _known(request.query, QUERY_STATS)
    since = _since(request)
    counts, complete = state.table.delivery_counts_since(request.tenant_id, since)
    names = (PUBLISHED, *STAT_NAMES.values())
    totals = {name: sum(row[name] for row in counts.values()) for name in names}
    endpoints = [{"endpointId": endpoint_id, **row} for endpoint_id, row in sorted(counts.items())]
    return 200, {"since": store.iso(since), "complete": complete, "totals": totals, "endpoints": endpoints}
