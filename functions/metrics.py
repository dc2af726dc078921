"""hookstack's delivery, inbound and relay metrics, as CloudWatch Embedded Metric Format log lines.

The one owner of the namespace, the dimension names and every metric name: the handlers emit through
the functions below, and the dashboard (``components/dashboard.py``) draws :data:`CATALOGUE`, so a
widget can only show a metric some handler writes.

A Lambda function's stdout goes to CloudWatch Logs, which turns each JSON line with an ``_aws`` block
into metric data points (the format:
https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html):
no API call, no IAM permission, no dependency (stdlib ``json``). Each record is one line.

Cost and cardinality: the dimensions are the stack and the endpoint engine (delivery), the source
kind (inbound) or the stack alone (relay), never a tenant or an endpoint: those travel as plain
properties of the record (``tenantId``, ``endpointId``), which Logs Insights reads (the saved
queries) and which create no metric. docs/metrics.md has the arithmetic per million deliveries.

Latency is a value per record: CloudWatch keeps the distribution of the values, so a graph shows
p50 / p99 (``AttemptLatency``, ``EnqueueLatency``) without any client-side aggregation.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Mapping
from typing import Any

from functions import records, telemetry

NAMESPACE = "hookstack"
STACK, ENGINE, SOURCE_KIND = "Stack", "Engine", "SourceKind"
COUNT, MILLISECONDS, SECONDS = "Count", "Milliseconds", "Seconds"
MESSAGE = "metrics"
# The SourceKind of a request to no configured source (404): its kind is not known.
UNKNOWN_SOURCE = "unknown"


@records.record
class Group:
    """Metrics that share one dimension set (one delivery path)."""

    name: str
    dimensions: tuple[str, ...]


DELIVERY = Group("delivery", (STACK, ENGINE))
INBOUND = Group("inbound", (STACK, SOURCE_KIND))
RELAY = Group("relay", (STACK,))
GROUPS = (DELIVERY, INBOUND, RELAY)


@records.record
class Metric:
    name: str
    unit: str
    group: Group
    statistics: tuple[str, ...]
    """What the dashboard graphs (``Sum`` for counts, percentiles for distributions)."""
    meaning: str


def _count(name: str, group: Group, meaning: str) -> Metric:
    return Metric(name, COUNT, group, ("Sum",), meaning)


# -- the catalogue ---------------------------------------------------------------------------------
ATTEMPTS = _count("Attempts", DELIVERY, "attempts recorded (sent, or skipped by an open breaker)")
SUCCEEDED = _count("Succeeded", DELIVERY, "attempts answered 2xx")
# Failure classes: one metric each (a class as a dimension would multiply every metric by six).
FAILURE_CLASSES = {
    "4xx": "Failed4xx",
    "5xx": "Failed5xx",
    "timeout": "FailedTimeout",
    "connection": "FailedConnection",  # refused, reset, DNS, TLS, not HTTP
    "ssrf_refused": "FailedSsrfRefused",  # the SSRF guard refused the address
    "other": "FailedOther",  # 1xx/3xx answers, a request that cannot be built, a breaker skip
}
FAILED = {failure: _count(name, DELIVERY, f"attempts failed: {failure}") for failure, name in FAILURE_CLASSES.items()}
ATTEMPT_LATENCY = Metric(
    "AttemptLatency", MILLISECONDS, DELIVERY, ("p50", "p99"), "time from connect to the answer, per attempt sent"
)
RETRIES_SCHEDULED = _count("RetriesScheduled", DELIVERY, "failed attempts that will be retried")
DEAD_LETTERED = _count("DeadLettered", DELIVERY, "deliveries that failed for good (record sent to the DLQ)")
BREAKER_OPENED = _count("BreakerOpened", DELIVERY, "circuit breakers this attempt opened")
EVENTS_FANNED_OUT = _count("EventsFannedOut", DELIVERY, "bus events the fan-out planned")
TASKS_QUEUED = _count("TasksQueued", DELIVERY, "delivery tasks the fan-out queued (one per endpoint and event)")

ACCEPTED = _count("InboundAccepted", INBOUND, "webhooks verified and enqueued")
DUPLICATES = _count("InboundDuplicates", INBOUND, "deliveries already enqueued (answered 200 duplicate)")
# The answers a provider gets for a refused request, by status (503s are store failures, not rejections).
REJECTION_REASONS = {
    400: "malformed",
    401: "signature",
    404: "unknown_source",
    405: "method",
    413: "too_large",
}
REJECTED = {
    reason: _count(
        f"InboundRejected{''.join(part.title() for part in reason.split('_'))}", INBOUND, f"refused: {reason}"
    )
    for reason in REJECTION_REASONS.values()
}
CLAIM_CHECKED = _count("InboundClaimChecked", INBOUND, "bodies stored in S3, a pointer enqueued")
ENQUEUE_LATENCY = Metric(
    "EnqueueLatency", MILLISECONDS, INBOUND, ("p50", "p99"), "time from the request to the FIFO queue's answer"
)

RELAY_PUBLISHED = _count("RelayPublished", RELAY, "outbox rows the relay published at commit")
SWEPT = _count("Swept", RELAY, "outbox rows the sweeper published")
SWEEP_FAILED = _count("SweepFailed", RELAY, "outbox rows a sweep could not publish")
OUTBOX_LAG = Metric("OutboxLag", SECONDS, RELAY, ("Maximum",), "age of the oldest unpublished outbox row, per sweep")
OUTBOX_UNPUBLISHED = Metric("OutboxUnpublished", COUNT, RELAY, ("Maximum",), "unpublished outbox rows, per sweep")

CATALOGUE: tuple[Metric, ...] = (
    ATTEMPTS,
    SUCCEEDED,
    *FAILED.values(),
    ATTEMPT_LATENCY,
    RETRIES_SCHEDULED,
    DEAD_LETTERED,
    BREAKER_OPENED,
    EVENTS_FANNED_OUT,
    TASKS_QUEUED,
    ACCEPTED,
    DUPLICATES,
    *REJECTED.values(),
    CLAIM_CHECKED,
    ENQUEUE_LATENCY,
    RELAY_PUBLISHED,
    SWEPT,
    SWEEP_FAILED,
    OUTBOX_LAG,
    OUTBOX_UNPUBLISHED,
)


# -- writing records -------------------------------------------------------------------------------


def record(
    group: Group, values: Mapping[Metric, float], dimensions: Mapping[str, str], **properties: Any
) -> dict[str, Any]:
    """One EMF document: ``values`` in ``group``'s namespace and dimension set, ``properties`` as plain
    (searchable, metric-free) fields. ``Stack`` comes from :mod:`functions.telemetry`."""
    names = {STACK: telemetry.current().stack, **dimensions}
    if set(names) != set(group.dimensions):
        raise ValueError(f"{group.name} metrics take dimensions {group.dimensions}, got {sorted(names)}")
    document: dict[str, Any] = {
        "_aws": {
            "Timestamp": int(time.time() * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": NAMESPACE,
                    "Dimensions": [list(group.dimensions)],
                    "Metrics": [{"Name": metric.name, "Unit": metric.unit} for metric in values],
                }
            ],
        },
        # A log line like the others (functions/logs.py): Logs Insights filters on message = "metrics".
        "message": MESSAGE,
        **{key: value for key, value in properties.items() if value is not None},
        **{name: str(value) for name, value in names.items()},
    }
    for metric, value in values.items():
        if metric.group is not group:
            raise ValueError(f"metric {metric.name} belongs to {metric.group.name}, not {group.name}")
        document[metric.name] = value
    return document


def write(document: Mapping[str, Any]) -> None:
    """One line on stdout (Lambda ships it to the function's log group; CloudWatch extracts it)."""
    sys.stdout.write(json.dumps(document, separators=(",", ":"), default=str) + "\n")


def failure_class(status: int | None, error_kind: str | None) -> str | None:
    """The failure class of one attempt's result; ``None`` for a 2xx."""
    if status is not None:
        if 200 <= status <= 299:
            return None
        if 400 <= status <= 499:
            return "4xx"
        return "5xx" if status >= 500 else "other"
    return {
        "timeout": "timeout",
        "connection": "connection",
        "dns": "connection",
        "tls": "connection",
        "protocol": "connection",
        "blocked": "ssrf_refused",
    }.get(error_kind or "", "other")


# -- one call per event, from the handlers ---------------------------------------------------------


def delivery_attempt(
    engine: str,
    *,
    status: int | None,
    error_kind: str | None,
    latency_ms: int | None,
    retry: bool,
    dead_lettered: bool,
    breaker_opened: bool,
    **properties: Any,
) -> None:
    """One attempt's record: counted, classed, timed (``latency_ms`` ``None``: nothing was sent)."""
    failure = failure_class(status, error_kind)
    values: dict[Metric, float] = {ATTEMPTS: 1, SUCCEEDED: 0 if failure else 1}
    if failure is not None:
        values[FAILED[failure]] = 1
    if latency_ms is not None:
        values[ATTEMPT_LATENCY] = latency_ms
    if retry:
        values[RETRIES_SCHEDULED] = 1
    if dead_lettered:
        values[DEAD_LETTERED] = 1
    if breaker_opened:
        values[BREAKER_OPENED] = 1
    write(
        record(
            DELIVERY,
            values,
            {ENGINE: engine},
            failureClass=failure,
            statusCode=status,
            errorKind=error_kind,
            **properties,
        )
    )


def delivery_dead_lettered(engine: str, **properties: Any) -> None:
    """A delivery failed for good without an attempt (endpoint disabled or removed, receives used up)."""
    write(record(DELIVERY, {DEAD_LETTERED: 1}, {ENGINE: engine}, **properties))


def fanned_out(engine: str, events: int, tasks: int) -> None:
    write(record(DELIVERY, {EVENTS_FANNED_OUT: events, TASKS_QUEUED: tasks}, {ENGINE: engine}))


def inbound_accepted(kind: str, source: str, enqueue_ms: float, claim_checked: bool) -> None:
    values = {ACCEPTED: 1.0, ENQUEUE_LATENCY: round(enqueue_ms, 1), CLAIM_CHECKED: 1.0 if claim_checked else 0.0}
    write(record(INBOUND, values, {SOURCE_KIND: kind}, source=source))


def inbound_duplicate(kind: str, source: str, **properties: Any) -> None:
    write(record(INBOUND, {DUPLICATES: 1}, {SOURCE_KIND: kind}, source=source, **properties))


def inbound_rejected(kind: str, source: str, status: int) -> None:
    """A refused request (no record for other answers: handshakes, duplicates, 5xx)."""
    reason = REJECTION_REASONS.get(status)
    if reason is not None:
        write(record(INBOUND, {REJECTED[reason]: 1}, {SOURCE_KIND: kind}, source=source, reason=reason, status=status))


def relay_published(count: int) -> None:
    write(record(RELAY, {RELAY_PUBLISHED: count}, {}))


def swept(published: int, failed: int, lag_seconds: float, unpublished: int) -> None:
    values = {
        SWEPT: published,
        SWEEP_FAILED: failed,
        OUTBOX_LAG: round(lag_seconds, 1),
        OUTBOX_UNPUBLISHED: unpublished,
    }
    write(record(RELAY, values, {}))
