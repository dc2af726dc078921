"""``StackObservability``: the stack's CloudWatch dashboard and its saved Logs Insights queries.

What they show is :mod:`components.dashboard`'s (pure, from :data:`functions.metrics.CATALOGUE`);
this component resolves the names it needs (region, queues, log groups) and declares one
``aws.cloudwatch.Dashboard`` and one ``aws.cloudwatch.QueryDefinition`` per question, each query
scoped to the log groups of the functions that write its records. docs/metrics.md explains them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from components.common import LambdaFunction, child
from components.dashboard import API_DESTINATION_METRICS, DashboardInputs, dashboard_body, dashboard_name, saved_queries
from components.provider import bus_metric_query

TYPE = "hookstack:index:StackObservability"


@dataclass(frozen=True)
class StackObservabilityArgs:
    stack: str
    """The Pulumi stack (the ``Stack`` dimension every function writes: ``FunctionTelemetry.stack``)."""
    worker: LambdaFunction | None = None
    """The delivery worker (signed delivery deployed), whose log group the delivery queries read."""
    ingest: LambdaFunction | None = None
    """The inbound ingest function, whose log group the rejection query reads."""
    source_kinds: tuple[str, ...] = ()
    relay: bool = False
    dead_letter_queues: Sequence[tuple[str, aws.sqs.Queue]] = ()
    """(label, queue) of every dead-letter queue of the stack."""
    api_destination_buses: Sequence[str] = field(default_factory=tuple)
    """Buses holding API-destination rules (``ProviderPlan``)."""


class StackObservability(pulumi.ComponentResource):
    def __init__(self, name: str, args: StackObservabilityArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE, name, None, opts)
        labels = [label for label, _ in args.dead_letter_queues]
        queries = tuple(
            (bus, metric, bus_metric_query(metric, bus))
            for bus in args.api_destination_buses
            for metric in API_DESTINATION_METRICS
        )

        def body(values: list[str]) -> str:
            region, *queue_names = values
            inputs = DashboardInputs(
                stack=args.stack,
                region=region,
                engines=("worker",) if args.worker is not None else (),
                source_kinds=args.source_kinds,
                relay=args.relay,
                dead_letter_queues=tuple(zip(labels, queue_names, strict=True)),
                api_destination_queries=queries,
            )
            return json.dumps(dashboard_body(inputs), separators=(",", ":"))

        region = aws.get_region_output(opts=pulumi.InvokeOptions(parent=self)).region
        self.dashboard = aws.cloudwatch.Dashboard(
            f"{name}-dashboard",
            dashboard_name=dashboard_name(args.stack),
            dashboard_body=pulumi.Output.all(region, *[queue.name for _, queue in args.dead_letter_queues]).apply(body),
            opts=child(self),
        )
        log_groups = {
            key: function.log_group.name
            for key, function in (("worker", args.worker), ("ingest", args.ingest))
            if function is not None
        }
        self.queries = [
            aws.cloudwatch.QueryDefinition(
                f"{name}-query-{index}",
                name=saved.name,
                query_string=saved.query,
                log_group_names=[log_groups[saved.log_groups]],
                opts=child(self),
            )
            for index, saved in enumerate(
                saved_queries(args.stack, delivery=args.worker is not None, inbound=args.ingest is not None)
            )
        ]
        self.dashboard_name = self.dashboard.dashboard_name
        self.register_outputs({"dashboard_name": self.dashboard_name})
