"""The stack's CloudWatch dashboard body and its saved Logs Insights queries, as pure data.

Every hookstack metric a widget draws is a :class:`functions.metrics.Metric` of
:data:`functions.metrics.CATALOGUE` (the handlers emit exactly those), drawn with its own namespace,
dimension set and statistics; the AWS metrics are the DLQ depths (``AWS/SQS``) and the
API-destination rules' ``AWS/Events`` metrics, one Metrics Insights query per bus (its rules grouped,
so the widget does not grow with destinations). The body follows
https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/CloudWatch-Dashboard-Body-Structure.html:
a ``widgets`` array of ``metric`` widgets on a 24-column grid, each with ``metrics`` rows
``[namespace, name, dimension, value, ..., {options}]`` or ``[{"expression": ...}]``.
``components/observability.py`` declares both; ``tools/render_dashboard.py`` draws the same widgets.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from functions import metrics
from functions.metrics import Metric

GRID_COLUMNS = 24
WIDGET_WIDTH, WIDGET_HEIGHT = 8, 6
PERIOD_SECONDS = 300
MAX_DASHBOARD_NAME_CHARS = 255
# API-destination rule metrics (AWS/Events, RuleName and EventBusName on a custom bus).
API_DESTINATION_METRICS = (
    "InvocationAttempts",
    "SuccessfulInvocationAttempts",
    "RetryInvocationAttempts",
    "FailedInvocations",
    "InvocationsSentToDlq",
)
SQS_DEPTH = ("AWS/SQS", "ApproximateNumberOfMessagesVisible")


@dataclass(frozen=True)
class DashboardInputs:
    """What the dashboard of one stack shows (resolved names, not Outputs)."""

    stack: str
    region: str
    engines: tuple[str, ...] = ()
    """Delivery engines that emit hookstack metrics (``worker`` when signed delivery is deployed)."""
    source_kinds: tuple[str, ...] = ()
    """Inbound source kinds configured (each a ``SourceKind`` dimension value)."""
    relay: bool = False
    dead_letter_queues: tuple[tuple[str, str], ...] = ()
    """(label, queue name) of every dead-letter queue the stack has."""
    api_destination_queries: tuple[tuple[str, str, str], ...] = ()
    """(bus name, metric, Metrics Insights query) per bus holding API-destination rules."""


@dataclass(frozen=True)
class Panel:
    """One widget: a title and what it draws (hookstack metrics per dimension value, or AWS rows)."""

    title: str
    metrics: tuple[Metric, ...] = ()
    aws_rows: tuple[tuple[Any, ...], ...] = ()


def dashboard_name(stack: str) -> str:
    """``hookstack-<stack>`` in the characters a dashboard name allows (A-Z a-z 0-9 - _)."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", f"hookstack-{stack}")[:MAX_DASHBOARD_NAME_CHARS]


def panels(inputs: DashboardInputs) -> list[Panel]:
    """The widgets, in reading order (those of a path the stack does not deploy are left out)."""
    shown: list[Panel] = []
    if inputs.engines:
        shown += [
            Panel("Deliveries: attempts and successes", (metrics.ATTEMPTS, metrics.SUCCEEDED)),
            Panel("Deliveries: failures by class", tuple(metrics.FAILED.values())),
            Panel("Deliveries: attempt latency (ms)", (metrics.ATTEMPT_LATENCY,)),
            Panel(
                "Deliveries: retries, dead letters, breakers",
                (metrics.RETRIES_SCHEDULED, metrics.DEAD_LETTERED, metrics.BREAKER_OPENED),
            ),
            Panel("Fan-out: events and tasks queued", (metrics.EVENTS_FANNED_OUT, metrics.TASKS_QUEUED)),
        ]
    if inputs.source_kinds:
        shown += [
            Panel(
                "Inbound: accepted, duplicates, claim-checked",
                (metrics.ACCEPTED, metrics.DUPLICATES, metrics.CLAIM_CHECKED),
            ),
            Panel("Inbound: rejections by reason", tuple(metrics.REJECTED.values())),
            Panel("Inbound: enqueue latency (ms)", (metrics.ENQUEUE_LATENCY,)),
        ]
    if inputs.relay:
        shown += [
            Panel("Aurora relay: published and swept", (metrics.RELAY_PUBLISHED, metrics.SWEPT, metrics.SWEEP_FAILED)),
            Panel("Aurora outbox: lag (s) and unpublished rows", (metrics.OUTBOX_LAG, metrics.OUTBOX_UNPUBLISHED)),
        ]
    if inputs.dead_letter_queues:
        depths: tuple[tuple[Any, ...], ...] = tuple(
            (*SQS_DEPTH, "QueueName", queue, {"stat": "Maximum", "label": label})
            for label, queue in inputs.dead_letter_queues
        )
        shown.append(Panel("Dead-letter queues: messages waiting", aws_rows=depths))
    if inputs.api_destination_queries:
        queries: tuple[tuple[Any, ...], ...] = tuple(
            ({"expression": query, "label": f"{bus} {metric}", "id": f"q{index}"},)
            for index, (bus, metric, query) in enumerate(inputs.api_destination_queries)
        )
        shown.append(Panel("API destinations (AWS/Events, per rule)", aws_rows=queries))
    return shown


def metric_rows(metric: Metric, inputs: DashboardInputs) -> list[list[Any]]:
    """One row per statistic and dimension value of ``metric`` (``Stack`` fixed to this stack)."""
    values: dict[str, tuple[str, ...]] = {
        metrics.STACK: (inputs.stack,),
        metrics.ENGINE: inputs.engines,
        # A request to no configured source (404) is counted under the unknown kind.
        metrics.SOURCE_KIND: (*inputs.source_kinds, metrics.UNKNOWN_SOURCE)
        if metric in metrics.REJECTED.values()
        else inputs.source_kinds,
    }
    rows: list[list[Any]] = []
    for statistic in metric.statistics:
        combinations: list[list[str]] = [[]]
        for dimension in metric.group.dimensions:
            combinations = [[*c, dimension, value] for c in combinations for value in values[dimension]]
        for dimensions in combinations:
            label = " ".join([metric.name, *dimensions[3::2], statistic if len(metric.statistics) > 1 else ""])
            rows.append([metrics.NAMESPACE, metric.name, *dimensions, {"stat": statistic, "label": label.strip()}])
    return rows


def dashboard_body(inputs: DashboardInputs) -> dict[str, Any]:
    """The ``DashboardBody`` (serialize with ``json.dumps``)."""
    widgets = []
    per_row = GRID_COLUMNS // WIDGET_WIDTH
    for index, panel in enumerate(panels(inputs)):
        rows = [row for metric in panel.metrics for row in metric_rows(metric, inputs)]
        rows += [list(row) for row in panel.aws_rows]
        widgets.append(
            {
                "type": "metric",
                "x": (index % per_row) * WIDGET_WIDTH,
                "y": (index // per_row) * WIDGET_HEIGHT,
                "width": WIDGET_WIDTH,
                "height": WIDGET_HEIGHT,
                "properties": {
                    "title": panel.title,
                    "view": "timeSeries",
                    "region": inputs.region,
                    "period": PERIOD_SECONDS,
                    "stat": "Sum",
                    "metrics": rows,
                },
            }
        )
    return {"start": "-PT6H", "periodOverride": "inherit", "widgets": widgets}


# -- saved Logs Insights queries -------------------------------------------------------------------


@dataclass(frozen=True)
class SavedQuery:
    name: str
    """Folders in the console: ``hookstack/<stack>/<question>``."""
    query: str
    log_groups: str
    """Which functions' log groups it reads: ``worker`` or ``ingest``."""


def saved_queries(stack: str, *, delivery: bool, inbound: bool) -> list[SavedQuery]:
    """The common questions, on the EMF records' properties (``tenantId``, ``endpointId``, ``reason``).

    "Failures for a tenant": edit the tenant id in the first line (Logs Insights has no parameters)."""
    delivery_records = f'filter message = "{metrics.MESSAGE}" and ispresent({metrics.ATTEMPTS.name})'
    queries = []
    if delivery:
        queries += [
            SavedQuery(
                f"hookstack/{stack}/failures for a tenant",
                f'{delivery_records} and tenantId = "TENANT" and {metrics.SUCCEEDED.name} = 0\n'
                "| fields @timestamp, endpointId, eventId, attempt, failureClass, statusCode, errorKind\n"
                "| sort @timestamp desc\n| limit 200",
                "worker",
            ),
            SavedQuery(
                f"hookstack/{stack}/slowest endpoints",
                f"{delivery_records} and ispresent({metrics.ATTEMPT_LATENCY.name})\n"
                f"| stats pct({metrics.ATTEMPT_LATENCY.name}, 99) as p99, pct({metrics.ATTEMPT_LATENCY.name}, 50) as p50,"
                " count(*) as attempts by tenantId, endpointId\n| sort p99 desc\n| limit 25",
                "worker",
            ),
        ]
    if inbound:
        queries.append(
            SavedQuery(
                f"hookstack/{stack}/inbound rejections by reason",
                f'filter message = "{metrics.MESSAGE}" and ispresent(reason)\n'
                f"| stats count(*) as rejected by reason, {metrics.SOURCE_KIND}, source\n| sort rejected desc",
                "ingest",
            )
        )
    return queries


def emitted_metric_names(body: dict[str, Any]) -> set[str]:
    """The hookstack metric names a body's widgets draw (for the tests' cross-check)."""
    names = set()
    for widget in body["widgets"]:
        for row in widget["properties"]["metrics"]:
            if isinstance(row[0], str) and row[0] == metrics.NAMESPACE:
                names.add(str(row[1]))
    return names
