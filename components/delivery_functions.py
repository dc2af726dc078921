"""The functions of ``SignedDelivery``: subscription API, fan-out and worker, each allowed exactly its work.

Each function's role holds only the table and queue actions its handler uses, scoped to this
component's table (and, for the API, its indexes) and queues; its environment is written by its
runtime contract (:mod:`functions.delivery.settings`) through the spec, from the resources' names.
The event source mappings feed the fan-out from the events queue and the worker from the tasks queue.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.common import FunctionTelemetry, LambdaFunction, child, contract_environment
from components.entry_bus import BusRef
from components.packaging import Package
from components.specs.delivery import (
    API_HANDLER,
    FANOUT_HANDLER,
    WORKER_HANDLER,
    DeliverySpec,
    endpoint_secrets_arn,
)


@dataclass(frozen=True)
class DeliveryResources:
    """What the functions work on (``SignedDelivery`` declares these first)."""

    table: aws.dynamodb.Table
    """The delivery table."""
    index_arn: pulumi.Output[str]
    """``<table ARN>/index/*``: the table's global secondary indexes (the API queries them)."""
    events_queue: aws.sqs.Queue
    """Bus events, consumed by the fan-out."""
    tasks_queue: aws.sqs.Queue
    """One task per (event, endpoint): written by the fan-out and the API, consumed by the worker."""
    dead_letter_queue: aws.sqs.Queue
    """Deliveries that failed for good: the worker writes them there itself."""
    events_dead_letter_queue: aws.sqs.Queue | None = None
    """Bus events the fan-out could not take (the operator view reports its depth with the one above)."""


@dataclass(frozen=True)
class DeliveryFunctions:
    api: LambdaFunction
    """Behind the subscription API: endpoints, secrets, history, replay."""
    fanout: LambdaFunction
    """Turns each bus event into one task per subscribed endpoint."""
    worker: LambdaFunction
    """Sends one signed request per task, records the attempt and reschedules or gives up."""
    event_source_mappings: list[aws.lambda_.EventSourceMapping]
    """events queue -> fan-out, tasks queue -> worker (in that order)."""


def delivery_functions(
    name: str,
    parent: pulumi.ComponentResource,
    *,
    spec: DeliverySpec,
    package: Package,
    resources: DeliveryResources,
    alarm_topic_arn: pulumi.Input[str] | None,
    crypto_layer_arn: pulumi.Input[str] | None = None,
    entry_bus: BusRef,
    token_issuer: pulumi.Input[str] = "",
    telemetry: FunctionTelemetry | None = None,
) -> DeliveryFunctions:
    """The three functions and the two event source mappings, children of ``parent`` named ``<name>-...``.

    The API and the worker get the crypto layer (``v1a`` keys: made by the API, signed with by the
    worker) and the Secrets Manager actions on the table's own name prefix (``v1a`` private keys and
    OAuth client secrets: :func:`components.specs.delivery.endpoint_secrets_arn`); the fan-out neither.
    The API and the worker publish operational events on ``entry_bus`` (``events:PutEvents``
    on its ARN only)."""
    table, tasks = resources.table, resources.tasks_queue
    layers = [crypto_layer_arn] if crypto_layer_arn is not None else []
    endpoint_secrets = table.arn.apply(endpoint_secrets_arn)
    # The queues whose depths GET /operator/dead-letter-queues reports.
    dead_letter_queues = [q for q in (resources.dead_letter_queue, resources.events_dead_letter_queue) if q is not None]
    bus_name, bus_arn = entry_bus.name, entry_bus.arn

    def function(
        suffix: str,
        handler: str,
        description: str,
        timeout_seconds: int,
        *,
        statements: list[dict[str, Any]],
        environment: dict[str, pulumi.Output[str]],
        function_layers: list[pulumi.Input[str]] | None = None,
    ) -> LambdaFunction:
        return LambdaFunction.create(
            f"{name}-{suffix}",
            parent,
            package=package,
            handler=handler,
            description=description,
            statements=statements,
            environment=environment,
            timeout_seconds=timeout_seconds,
            alarm_topic_arn=alarm_topic_arn,
            layers=function_layers or (),
            telemetry=telemetry,
        )

    api = function(
        "api-fn",
        API_HANDLER,
        "hookstack subscription API (endpoints, secrets, history, replay)",
        spec.api_timeout_seconds,
        statements=spec.api_statements(
            table_arn=table.arn,
            indexes_arn=resources.index_arn,
            tasks_queue_arn=tasks.arn,
            endpoint_secrets_arn=endpoint_secrets,
            dead_letter_queue_arns=[queue.arn for queue in dead_letter_queues],
            bus_arn=bus_arn,
        ),
        function_layers=layers,
        environment=contract_environment(
            lambda table_name, tasks_url, issuer, bus, *queue_urls: spec.api_settings(
                table_name=table_name,
                tasks_queue_url=tasks_url,
                token_issuer=_url_or_placeholder(issuer),
                dead_letter_queue_urls=queue_urls,
                event_bus_name=bus,
            ).to_environ(),
            table.name,
            tasks.url,
            token_issuer,
            bus_name,
            *[queue.url for queue in dead_letter_queues],
        ),
    )
    fanout = function(
        "fanout-fn",
        FANOUT_HANDLER,
        "hookstack signed-delivery fan-out (one task per subscribed endpoint)",
        spec.fanout_timeout_seconds,
        statements=spec.fanout_statements(
            table_arn=table.arn, events_queue_arn=resources.events_queue.arn, tasks_queue_arn=tasks.arn
        ),
        environment=contract_environment(
            lambda table_name, tasks_url: spec.fanout_settings(
                table_name=table_name, tasks_queue_url=tasks_url
            ).to_environ(),
            table.name,
            tasks.url,
        ),
    )
    worker = function(
        "worker-fn",
        WORKER_HANDLER,
        "hookstack signed-delivery worker (Standard Webhooks requests, retries, history)",
        spec.worker_timeout_seconds,
        statements=spec.worker_statements(
            table_arn=table.arn,
            indexes_arn=resources.index_arn,
            tasks_queue_arn=tasks.arn,
            dead_letter_queue_arn=resources.dead_letter_queue.arn,
            endpoint_secrets_arn=endpoint_secrets,
            bus_arn=bus_arn,
        ),
        function_layers=layers,
        environment=contract_environment(
            lambda table_name, tasks_url, dead_letters, bus: spec.worker_settings(
                table_name=table_name, tasks_queue_url=tasks_url, dead_letter_queue_url=dead_letters, event_bus_name=bus
            ).to_environ(),
            table.name,
            tasks.url,
            resources.dead_letter_queue.url,
            bus_name,
        ),
    )

    def event_source_mapping(
        suffix: str, queue: aws.sqs.Queue, target: LambdaFunction, max_concurrency: int
    ) -> aws.lambda_.EventSourceMapping:
        return aws.lambda_.EventSourceMapping(
            f"{name}-{suffix}",
            event_source_arn=queue.arn,
            function_name=target.function.arn,
            batch_size=spec.batch_size,
            maximum_batching_window_in_seconds=0,
            function_response_types=["ReportBatchItemFailures"],
            # Without a bound the poller scales to the account's whole concurrency: hanging customer
            # endpoints would then starve every other function. Beyond it, messages wait in the queue.
            scaling_config=aws.lambda_.EventSourceMappingScalingConfigArgs(maximum_concurrency=max_concurrency),
            # The role must hold its SQS permissions when the mapping is created (IAM is eventually consistent).
            opts=child(parent, depends_on=[target.role_policy]),
        )

    mappings = [
        event_source_mapping("fanout-esm", resources.events_queue, fanout, spec.fanout_max_concurrency),
        event_source_mapping("worker-esm", tasks, worker, spec.worker_max_concurrency),
    ]
    return DeliveryFunctions(api, fanout, worker, mappings)


def _url_or_placeholder(issuer: str) -> str:
    """The self-service API's URL; contract_environment first renders with ``-`` for every name (to
    learn which variables exist), which is no URL: a stand-in URL then."""
    return issuer if "://" in issuer or not issuer else "https://placeholder.invalid"
