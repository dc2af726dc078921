"""SignedDelivery: Standard Webhooks deliveries, the subscription API and delivery history.

EventBridge API destinations cannot sign, time out after 5 s and keep no per-delivery history, so
hookstack delivers to ``auth.type: signed`` destinations (and to endpoints tenants create through the
API) itself:

- **Subscription API**: an API Gateway HTTP API (IAM-authorized routes, ``$default`` stage with access
  logs and throttling) in front of ``functions.delivery.api`` (:mod:`components.delivery_api`).
- **Functions**: the API, ``fanout`` and ``worker`` Lambdas, each allowed only its own table and
  queue actions (:mod:`components.delivery_functions`).
- **Table**: one DynamoDB table (on-demand, SSE with the AWS managed KMS key, point-in-time recovery,
  TTL on ``expiresAt``) holding endpoints, secrets, messages, deliveries and attempts
  (:mod:`functions.delivery.schema`). Signed destinations declared in the stack config are written
  into it as ``TableItem``s (:mod:`components.delivery_endpoints`); a missing secret is generated
  once and exported as a secret output.
- **Pipeline**: one rule on the entry bus (every tenant event; with ``delivery.apiTenants: listed`` the
  covered tenants', split over rules by :mod:`components.delivery_rules`) -> events queue -> ``fanout`` Lambda ->
  one task per (event, endpoint) on the tasks queue -> ``worker`` Lambda. Each task is its own SQS
  message, retried by moving its visibility timeout to the next delay of the schedule, so a slow or
  dead endpoint never holds up another. Both queues have dead-letter queues; failed deliveries land
  in the tasks DLQ with their history.
- **Alarms**: both dead-letter queues, events-queue age, each rule's failed and dead-letter-failed
  invocations, API 5xx and every function's errors.

Every value the component and the sandbox share (timeouts, queues, receive limits, each function's
environment) comes from ``components.specs.delivery``. docs/delivery.md explains the choices, costs
per million deliveries and latencies.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import pulumi
import pulumi_aws as aws

from components.common import (
    DLQ_RETENTION_SECONDS,
    FunctionTelemetry,
    LambdaFunction,
    child,
    encrypted_queue,
    longest_retry_policy,
    queue_policy,
)
from components.config import DeliverySettings, Destination, EventCatalog, Tenant, to_json
from components.config.model import ProviderSettings
from components.delivery_alarms import delivery_alarms
from components.delivery_api import SubscriptionApi, subscription_api
from components.delivery_endpoint_secrets import EndpointSecrets, crypto_layer, endpoint_secrets
from components.delivery_endpoints import config_endpoints
from components.delivery_functions import DeliveryResources, delivery_functions
from components.delivery_rules import delivery_rule_pattern
from components.delivery_self_service import SelfServiceApi, self_service_api, self_service_http_api
from components.entry_bus import BusRef
from components.packaging import Package
from components.specs.delivery import RULE_TARGET_ID, DeliverySpec, QueueSpec, delivery_spec, table_indexes_arn
from functions.delivery import schema

MAX_NAME_CHARS = 24


@dataclass(frozen=True)
class SignedDeliveryArgs:
    entry_bus: BusRef
    """The entry bus (``EntryBus.ref``); the delivery rule lives on it."""
    settings: DeliverySettings
    """``hookstack:delivery``: timeout, retry schedule, auto-disable, history TTL, rotation overlap..."""
    package: Package
    """The shared Lambda archive (``functions/``)."""
    destinations: Sequence[tuple[Tenant, Destination]] = ()
    """Worker endpoints declared in the stack config (``StackConfig.signed_destinations()``: engine
    worker; their URLs were checked against the SSRF guard and ``allowedCidrs`` when the config was parsed)."""
    event_patterns: Sequence[Mapping[str, Any]] = field(default_factory=lambda: (delivery_rule_pattern(),))
    """Which bus events enter the pipeline, one rule each (``ProviderPlan.delivery_rule_patterns``)."""
    covered_tenants: Sequence[str] | None = None
    """``delivery.apiTenants: listed``: the tenants those rules cover (``ProviderPlan.delivery_tenants``),
    each given a marker item so the subscription API creates endpoints for them only; ``None``: all."""
    event_types: EventCatalog | None = None
    """``hookstack:eventTypes``: one table item the subscription API reads; ``None``: no catalog."""
    alarm_topic_arn: pulumi.Input[str] | None = None
    """SNS topic for the alarms (none: alarms only show in CloudWatch)."""
    telemetry: FunctionTelemetry | None = None
    """The stack name and ``hookstack:tracing`` every function gets (none: no tracing, stack ``local``)."""
    table_deletion_protection: bool = False
    """Refuse to delete the table (point-in-time recovery is always on)."""
    allowed_origins: Sequence[pulumi.Input[str]] = ()
    """Origins the self-service API answers CORS for (the portal's); none: no CORS configuration."""
    event_source: str = ProviderSettings().event_source
    """``provider.eventSource``: operational events are published as ``<it>.operational``."""
    crypto_layer: Package | None = None
    """``cryptography`` for arm64 (``components.layers.build_crypto_layer()``), attached to the API and
    the worker: ``v1a`` endpoints can be created through the API at any time, without a deploy."""


class SignedDelivery(pulumi.ComponentResource):
    spec: DeliverySpec
    """Every value derived from ``hookstack:delivery`` (timeouts, queues, environments), shared with the sandbox."""
    table: aws.dynamodb.Table
    """Endpoints, secrets, messages, deliveries and attempts (:mod:`functions.delivery.schema`)."""
    index_arn: pulumi.Output[str]
    """``<table ARN>/index/*``: the table's global secondary indexes."""
    events_queue: aws.sqs.Queue
    """Bus events waiting for the fan-out."""
    events_dead_letter_queue: aws.sqs.Queue
    """Bus events the rule could not put on the events queue, or the fan-out could not take in."""
    tasks_queue: aws.sqs.Queue
    """One task per (event, endpoint), rescheduled by its visibility timeout."""
    dead_letter_queue: aws.sqs.Queue
    """Deliveries that failed for good (the worker writes them with their history)."""
    rules: list[aws.cloudwatch.EventRule]
    """On the entry bus: every tenant event (or the covered tenants' events) to the events queue."""
    queue_policies: list[aws.sqs.QueuePolicy]
    """Per queue: TLS only, and only the rule may send to the events queue and its dead-letter queue."""
    targets: list[aws.cloudwatch.EventTarget]
    """Each rule's target: the events queue, retried as long as EventBridge allows."""
    api_function: LambdaFunction
    """Behind the subscription API."""
    fanout_function: LambdaFunction
    """One task per subscribed endpoint for each bus event."""
    worker_function: LambdaFunction
    """Sends, records and reschedules each task."""
    event_source_mappings: list[aws.lambda_.EventSourceMapping]
    """events queue -> fan-out, tasks queue -> worker."""
    subscription_api: SubscriptionApi
    """The HTTP API, its routes, stage, access logs and invoke permission."""
    http_api: aws.apigatewayv2.Api
    """The subscription API itself (``subscription_api.api``)."""
    stage: aws.apigatewayv2.Stage
    """Its ``$default`` stage (``subscription_api.stage``)."""
    config_items: list[aws.dynamodb.TableItem]
    """The signed destinations of the stack config, written into the table (definition and secrets each)."""
    alarms: list[aws.cloudwatch.MetricAlarm]
    """Dead-letter queues, events-queue age, the rule's failures and API 5xx (function errors alarm in each function)."""
    api_url: pulumi.Output[str]
    """Base URL of the subscription API (routes under ``/tenants/{tenantId}/...``)."""
    self_service_http_api: aws.apigatewayv2.Api
    """The self-service API (tenant tokens; its URL is the tokens' issuer)."""
    self_service_api: SelfServiceApi
    """Its JWT authorizer, token routes, stage, access logs and invoke permission."""
    self_service_api_url: pulumi.Output[str]
    """Base URL of the self-service API (stack output ``selfServiceApiUrl``)."""
    table_name: pulumi.Output[str]
    """The delivery table's name (stack output ``deliveryTableName``)."""
    tasks_queue_url: pulumi.Output[str]
    """The tasks queue's URL (the API queues resends there)."""
    dead_letter_queue_url: pulumi.Output[str]
    """Deliveries that failed for good, each with its attempt history."""
    events_dead_letter_queue_url: pulumi.Output[str]
    """Bus events the pipeline could not take in (rule target failures, contract violations)."""
    generated_secrets: pulumi.Output[dict[str, dict[str, str]]] | None
    """tenant id -> destination name -> generated ``whsec_`` secret (a Pulumi secret); None if none."""
    crypto_layer: aws.lambda_.LayerVersion | None
    """The crypto layer on the API and the worker (None: no ``v1a`` signing)."""
    endpoint_secrets: EndpointSecrets
    """Secrets Manager secrets of config endpoints (``v1a`` keys, OAuth client secrets), public-key items."""
    signing_public_keys: pulumi.Output[dict[str, dict[str, str]]] | None
    """tenant id -> destination name -> ``whpk_`` public key of ``v1a`` destinations (stack output)."""

    def __init__(self, name: str, args: SignedDeliveryArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("hookstack:index:SignedDelivery", name, None, opts)
        self._validate(name, args)
        self._name = name
        self._args = args
        self.spec = spec = delivery_spec(args.settings, args.event_source)

        self.table = self._table()
        self.index_arn = self.table.arn.apply(table_indexes_arn)
        self.events_queue, self.events_dead_letter_queue = self._queue(spec.events_queue)
        self.tasks_queue, self.dead_letter_queue = self._queue(spec.tasks_queue)
        dead_letter_queues = (self.dead_letter_queue, self.events_dead_letter_queue)  # depths: the operator view
        # The first rule keeps the name of the single rule of earlier versions (no replacement).
        suffixes = ["" if index == 0 else f"-{index}" for index in range(len(args.event_patterns))]
        self.rules = [
            aws.cloudwatch.EventRule(
                f"{name}-rule{suffix}",
                event_bus_name=args.entry_bus.name,
                description="Tenant events to the signed-delivery pipeline (endpoints live in DynamoDB)",
                event_pattern=to_json(dict(pattern)),
                state="ENABLED",
                opts=child(self),
            )
            for suffix, pattern in zip(suffixes, args.event_patterns, strict=True)
        ]
        self.queue_policies = self._queue_policies()
        self.targets = [
            aws.cloudwatch.EventTarget(
                f"{name}-target{suffix}",
                rule=rule.name,
                event_bus_name=args.entry_bus.name,
                target_id=RULE_TARGET_ID,
                arn=self.events_queue.arn,
                retry_policy=longest_retry_policy(),
                dead_letter_config=aws.cloudwatch.EventTargetDeadLetterConfigArgs(
                    arn=self.events_dead_letter_queue.arn
                ),
                opts=child(self, depends_on=list(self.queue_policies)),
            )
            for suffix, rule in zip(suffixes, self.rules, strict=True)
        ]
        self.crypto_layer = crypto_layer(name, self, args.crypto_layer) if args.crypto_layer is not None else None
        # Declared before the API function: its URL is the tokens' issuer (docs/tokens.md).
        self.self_service_http_api = self_service_http_api(name, self, args.allowed_origins)
        functions = delivery_functions(
            name,
            self,
            spec=spec,
            package=args.package,
            resources=DeliveryResources(
                self.table, self.index_arn, self.events_queue, self.tasks_queue, *dead_letter_queues
            ),
            alarm_topic_arn=args.alarm_topic_arn,
            crypto_layer_arn=self.crypto_layer.arn if self.crypto_layer is not None else None,
            token_issuer=self.self_service_http_api.api_endpoint,
            telemetry=args.telemetry,
            entry_bus=args.entry_bus,
        )
        self.api_function, self.fanout_function = functions.api, functions.fanout
        self.worker_function, self.event_source_mappings = functions.worker, functions.event_source_mappings
        self.subscription_api = subscription_api(
            name, self, self.api_function, integration_timeout_ms=spec.api_integration_timeout_ms
        )
        self.http_api, self.stage = self.subscription_api.api, self.subscription_api.stage
        self.self_service_api = self_service_api(
            name,
            self,
            self.self_service_http_api,
            self.api_function,
            integration_timeout_ms=spec.api_integration_timeout_ms,
        )
        declared = config_endpoints(name, self, self.table, args.destinations, args.covered_tenants, args.event_types)
        self.config_items, generated = declared.items, declared.generated
        self.endpoint_secrets = endpoint_secrets(name, self, self.table, args.destinations)
        # from_input resolves the nested Outputs; public keys are not secrets.
        public_keys = self.endpoint_secrets.public_keys
        self.signing_public_keys = pulumi.Output.from_input(cast(Any, public_keys)) if public_keys else None
        self.alarms = delivery_alarms(self._name, self, self._args.alarm_topic_arn, self._args.entry_bus.name)

        self.api_url = self.http_api.api_endpoint
        self.self_service_api_url = self.self_service_http_api.api_endpoint
        self.table_name = self.table.name
        self.tasks_queue_url = self.tasks_queue.url
        self.dead_letter_queue_url = self.dead_letter_queue.url
        self.events_dead_letter_queue_url = self.events_dead_letter_queue.url
        # from_input resolves the nested Outputs (mypy cannot see through the nesting).
        self.generated_secrets = (
            pulumi.Output.secret(pulumi.Output.from_input(cast(Any, generated))) if generated else None
        )
        self.register_outputs(
            {
                "api_url": self.api_url,
                "self_service_api_url": self.self_service_api_url,
                "table_name": self.table_name,
                "tasks_queue_url": self.tasks_queue_url,
                "dead_letter_queue_url": self.dead_letter_queue_url,
                "events_dead_letter_queue_url": self.events_dead_letter_queue_url,
                "generated_secrets": self.generated_secrets,
                "signing_public_keys": self.signing_public_keys,
            }
        )

    # -- validation ----------------------------------------------------------------------------

    @staticmethod
    def _validate(name: str, args: SignedDeliveryArgs) -> None:
        if not 1 <= len(name) <= MAX_NAME_CHARS:
            raise ValueError(f"SignedDelivery name {name!r} must be 1-{MAX_NAME_CHARS} characters (AWS name limits)")
        # Their URLs against the SSRF guard and allowedCidrs are config errors (parse_stack_config),
        # reported with every other problem before any resource is declared.
        for tenant, destination in args.destinations:
            if not destination.is_worker:
                raise ValueError(
                    f"tenant {tenant.id} destination {destination.name}: only engine worker destinations are delivered by SignedDelivery"
                )

    # -- storage -------------------------------------------------------------------------------

    def _table(self) -> aws.dynamodb.Table:
        # key_schemas, not the deprecated hash_key/range_key: no perpetual diff with the pinned pulumi-aws (requirements.txt).
        indexes = []
        for index, (hash_key, range_key) in schema.INDEX_KEYS.items():
            indexes.append(
                aws.dynamodb.TableGlobalSecondaryIndexArgs(
                    name=index,
                    key_schemas=[
                        aws.dynamodb.TableGlobalSecondaryIndexKeySchemaArgs(attribute_name=hash_key, key_type="HASH"),
                        aws.dynamodb.TableGlobalSecondaryIndexKeySchemaArgs(attribute_name=range_key, key_type="RANGE"),
                    ],
                    projection_type=schema.INDEX_PROJECTIONS[index],
                    non_key_attributes=list(schema.INDEX_NON_KEY_ATTRIBUTES.get(index, ())) or None,
                )
            )
        return aws.dynamodb.Table(
            f"{self._name}-table",
            billing_mode="PAY_PER_REQUEST",
            hash_key=schema.PK,
            range_key=schema.SK,
            # Key attributes only: declaring the TTL attribute here makes an endless diff.
            attributes=[aws.dynamodb.TableAttributeArgs(name=a, type="S") for a in schema.KEY_ATTRIBUTES],
            global_secondary_indexes=indexes,
            ttl=aws.dynamodb.TableTtlArgs(attribute_name=schema.TTL_ATTRIBUTE, enabled=True),
            point_in_time_recovery=aws.dynamodb.TablePointInTimeRecoveryArgs(enabled=True),
            server_side_encryption=aws.dynamodb.TableServerSideEncryptionArgs(enabled=True),
            deletion_protection_enabled=self._args.table_deletion_protection,
            opts=child(self),
        )

    def _queue(self, spec: QueueSpec) -> tuple[aws.sqs.Queue, aws.sqs.Queue]:
        """A queue and its dead-letter queue (created first: the redrive policy names it)."""
        dead_letter = encrypted_queue(
            f"{self._name}-{spec.dead_letter_suffix}", self, retention_seconds=DLQ_RETENTION_SECONDS
        )
        queue = encrypted_queue(
            f"{self._name}-{spec.suffix}",
            self,
            retention_seconds=spec.retention_seconds,
            visibility_timeout_seconds=spec.visibility_timeout_seconds,
            dead_letter_queue=dead_letter,
            max_receive_count=spec.max_receive_count,
        )
        return queue, dead_letter

    def _queue_policies(self) -> list[aws.sqs.QueuePolicy]:
        arns = [rule.arn for rule in self.rules]

        def from_rule(queue: aws.sqs.Queue) -> dict[str, Any]:
            return {
                "Sid": "DeliveryRuleSendsEvents",
                "Effect": "Allow",
                "Principal": {"Service": "events.amazonaws.com"},
                "Action": "sqs:SendMessage",
                # One rule: a plain ARN, as before there could be several (an unchanged policy, no diff).
                "Condition": {"ArnEquals": {"aws:SourceArn": arns[0] if len(arns) == 1 else arns}},
                "Resource": queue.arn,
            }

        return [
            queue_policy(
                f"{self._name}-{suffix}-policy",
                self,
                queue,
                allow=[from_rule(queue)] if rule_sends and self.rules else [],
            )
            for suffix, queue, rule_sends in (
                ("events", self.events_queue, True),
                ("events-dlq", self.events_dead_letter_queue, True),
                ("tasks", self.tasks_queue, False),
                ("dlq", self.dead_letter_queue, False),
            )
        ]
