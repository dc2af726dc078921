"""The worker engine and the inbound queues, for ``python -m ops deliveries`` and ``python -m ops status``.

Both read the delivery table through the store's own queries (:mod:`functions.delivery.store`): a
tenant's endpoints (one partition), their recent deliveries (the ``recent`` index, from ``since``
on). Nothing scans the table, so the tenants looked at are the ones named: ``--tenant``, else the
stack output ``deliveryTenants`` (the config's tenants with a worker endpoint or ``selfService``;
with ``delivery.apiTenants: all`` other tenants may have endpoints too: name them with ``--tenant``).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

from botocore.exceptions import ClientError

from functions.delivery import protection
from functions.delivery.since import parse_since
from functions.delivery.store import DeliveryTable
from functions.delivery.vocab import DeliveryStatus, DisabledReason
from ops.outputs import OpsError, StackOutputs
from ops.status import Finding, Level, StatusReport

TABLE_OUTPUT, TENANTS_OUTPUT = "deliveryTableName", "deliveryTenants"
# The window ``status`` counts recent failures in.
RECENT_WINDOW = "24h"
# ``ops deliveries`` stops after this many (``--max``), and says so.
DEFAULT_MAX = 1000
PAGE = 100
# Queues whose depth ``status`` shows: (output, kind, whether messages there need an operator).
QUEUE_OUTPUTS = (
    ("deliveryDeadLetterQueueUrl", "worker-dlq", True),
    ("deliveryEventsDeadLetterQueueUrl", "worker-events-dlq", True),
    ("inboundQueueName", "inbound-queue", False),
    ("inboundDeadLetterQueueName", "inbound-dlq", True),
)


def delivery_table(dynamodb: Any, outputs: StackOutputs, table_name: str | None = None) -> DeliveryTable:
    name = table_name or outputs.extra.get(TABLE_OUTPUT)
    if not name:
        raise OpsError(f"the delivery table is unknown: pass --outputs (with {TABLE_OUTPUT}) or --table NAME")
    return DeliveryTable(dynamodb, str(name))


def tenants_to_check(outputs: StackOutputs, named: Sequence[str]) -> list[str]:
    if named:
        return list(dict.fromkeys(named))
    return [str(t) for t in outputs.extra.get(TENANTS_OUTPUT) or ()]


def list_deliveries(
    table: DeliveryTable,
    tenant_id: str,
    status: DeliveryStatus | None,
    since: str,
    *,
    maximum: int = DEFAULT_MAX,
    now: float | None = None,
) -> tuple[list[dict[str, Any]], bool]:
    """Every delivery of ``tenant_id`` in ``status`` whose status changed since ``since`` (oldest
    first), at most ``maximum``; and whether that is all of them."""
    start = parse_since(since, time.time() if now is None else now)
    found: list[dict[str, Any]] = []
    cursor = None
    while True:
        items, cursor = table.deliveries_since(tenant_id, start, status=status, limit=PAGE, cursor=cursor)
        found.extend(items)
        if not cursor:
            return found[:maximum], len(found) <= maximum
        if len(found) >= maximum:
            return found[:maximum], False


def worker_endpoints(report: StatusReport, table: DeliveryTable, tenants: Iterable[str], now: float) -> None:
    """Per tenant: each endpoint, whether it is disabled (and why), its breaker, its recent failures."""
    since = parse_since(RECENT_WINDOW, now)
    now_ms = int(now * 1000)
    for tenant_id in tenants:
        endpoints, _ = table.list_endpoints(tenant_id)
        counts, complete = table.delivery_counts_since(tenant_id, since)
        if not endpoints:
            report.add(Finding("worker-tenant", tenant_id, "NO ENDPOINTS", "ok", tenant_id, "no worker endpoint"))
        for endpoint in endpoints:
            breaker = protection.breaker_from(endpoint.state).state(now_ms)
            failed = counts.get(endpoint.endpoint_id, {}).get("failed", 0)
            pending = counts.get(endpoint.endpoint_id, {}).get("pending", 0)
            reason = endpoint.disabled_reason if endpoint.declared_enabled else DisabledReason.CONFIG
            state = "enabled" if endpoint.enabled else f"disabled ({reason})"
            level: Level = "ok"
            if not endpoint.enabled:
                # Disabled by the receiver (410) or by failures: deliveries stop until someone acts.
                level = "problem" if reason in (DisabledReason.GONE, DisabledReason.FAILURES) else "warning"
            elif breaker != protection.BreakerState.CLOSED or failed:
                level = "warning"
            detail = (
                f"breaker {breaker}, {failed} failed and {pending} pending in {RECENT_WINDOW}"
                f"{'' if complete else ' (counted partly)'}"
            )
            if not endpoint.enabled:
                detail += f" (since {endpoint.disabled_at}; PATCH enabled: true, then replay)"
            label = f"{tenant_id}/{endpoint.name or endpoint.url}"
            report.add(Finding("worker-endpoint", endpoint.endpoint_id, state, level, label, detail))


def queue_depths(report: StatusReport, sqs: Any, outputs: StackOutputs) -> None:
    """Depth of the worker's dead-letter queues and of the inbound queue and its dead-letter queue."""
    for output, kind, alarming in QUEUE_OUTPUTS:
        value = outputs.extra.get(output)
        if not value:
            continue
        name = str(value).rstrip("/").rsplit("/", 1)[-1]
        try:
            url = str(value) if "://" in str(value) else str(sqs.get_queue_url(QueueName=name)["QueueUrl"])
            attributes = sqs.get_queue_attributes(
                QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
            )["Attributes"]
        except ClientError as error:
            report.add(Finding(kind, name, "MISSING", "problem", "", str(error)))
            continue
        visible = int(attributes.get("ApproximateNumberOfMessages", 0))
        in_flight = int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0))
        level: Level = "warning" if alarming and (visible or in_flight) else "ok"
        report.add(
            Finding(kind, name, str(visible + in_flight), level, "", f"{visible} waiting, {in_flight} in flight")
        )


def delivery_rows(items: Sequence[dict[str, Any]]) -> list[str]:
    """``ops deliveries``'s text: one line per delivery."""
    lines = []
    for item in items:
        when = item.get("finishedAt") or item.get("createdAt") or "?"
        reason = f"  {item['failedReason']}" if item.get("failedReason") else ""
        lines.append(
            f"{when}  {item.get('status', '?'):<9} {item.get('endpointId', '?')}  {item.get('eventId', '?')}"
            f"  {item.get('eventType', '')}{reason}"
        )
    return lines


def enable_endpoint(
    table: DeliveryTable, events: Any, bus_name: str, event_source: str, tenant_id: str, endpoint_id: str
) -> bool:
    """Enable a disabled worker endpoint (as ``PATCH {"enabled": true}`` does) and publish
    ``endpoint.enabled`` when this call enabled it; returns whether it did (``False``: it was enabled)."""
    from functions.delivery import operational

    endpoint = table.get_endpoint(tenant_id, endpoint_id)
    if endpoint is None:
        raise OpsError(f"tenant {tenant_id!r} has no endpoint {endpoint_id!r}")
    if not endpoint.declared_enabled:
        raise OpsError(f"{endpoint_id} is disabled in the stack config (enabled: false): enable it there")
    if not table.enable_endpoint(tenant_id, endpoint_id):
        return False
    publisher = operational.Publisher(events, bus_name, operational.source_for(event_source))
    publisher.publish(
        operational.OperationalEventType.ENDPOINT_ENABLED,
        tenant_id=tenant_id,
        endpoint_id=endpoint_id,
        reason="enabled with python -m ops enable",
        at=time.time(),
    )
    return True
