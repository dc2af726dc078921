"""The signed-delivery spec: every value ``SignedDelivery`` and the sandbox derive from
``hookstack:delivery``, computed once, and each function's environment built through its runtime
contract (:mod:`functions.delivery.settings`).

Pulumi-free: ``components/delivery.py`` declares the AWS resources from it and ``sandbox/delivery.py``
creates their local equivalents from it, so neither re-derives a timeout, a visibility timeout, a
receive limit, a variable or a permission: each function's IAM statements are built here from the
ARNs of its resources (Outputs in the component, moto's ARNs in the sandbox, whose roles hold them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from components.config import ApiKeyAuth, BasicAuth, BearerAuth, DeliverySettings, Destination, OAuthAuth
from components.config.model import ProviderSettings
from functions.delivery import operational, policy, protection, store
from functions.delivery.endpoint_fields import MAX_RATE_LIMIT, MAX_TIMEOUT_SECONDS
from functions.delivery.settings import ApiSettings, FanoutSettings, WorkerSettings

API_HANDLER = "functions.delivery.api.handler"
FANOUT_HANDLER = "functions.delivery.fanout.handler"
WORKER_HANDLER = "functions.delivery.worker.handler"

FANOUT_TIMEOUT_SECONDS = 30
API_TIMEOUT_SECONDS = 25
# HTTP APIs stop waiting for an integration after 30 s; the API function must answer before.
API_INTEGRATION_TIMEOUT_MS = 29_000
# The worker's own work around the HTTP deadline: DynamoDB and SQS calls, TLS, thread start.
WORKER_OVERHEAD_SECONDS = 15
BATCH_SIZE = 10
# AWS advises a visibility timeout of at least 6x the function timeout for SQS event sources.
VISIBILITY_FACTOR = 6
EVENTS_RETENTION_SECONDS = 4 * 24 * 3600
TASKS_RETENTION_SECONDS = 14 * 24 * 3600  # the SQS maximum: a task lives through its whole schedule
# Receives beyond one per attempt that a task may use (crashes, throttled invocations) before the
# worker gives up on it itself (dead letter + history) rather than let SQS redrive it silently.
RECEIVE_SLACK = 20
MAX_RECEIVE_COUNT = 1000  # SQS's largest maxReceiveCount
EVENTS_MAX_RECEIVE_COUNT = 5
RULE_TARGET_ID = "signed-delivery"


def table_indexes_arn(table_arn: str) -> str:
    """``<table ARN>/index/*``: the table's global secondary indexes (the API queries them)."""
    return f"{table_arn}/index/*"


def _table_statement(sid: str, actions: list[str], scope: list[object]) -> dict[str, Any]:
    return {"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": scope}


def _put_operational_events(bus_arn: object) -> dict[str, Any]:
    """Operational events (:mod:`functions.delivery.operational`) go to the entry bus, and only there."""
    return {"Sid": "PutOperationalEvents", "Effect": "Allow", "Action": ["events:PutEvents"], "Resource": bus_arn}


def _queue_statement(sid: str, actions: list[str], queue_arn: object) -> dict[str, Any]:
    return {"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": queue_arn}


@dataclass(frozen=True)
class QueueSpec:
    """A queue with a dead-letter queue; both are named ``<component name>-<suffix>``."""

    suffix: str
    dead_letter_suffix: str
    retention_seconds: int
    visibility_timeout_seconds: int
    max_receive_count: int
    """Receives before SQS moves a message to the dead-letter queue (the redrive policy)."""

    def attributes(self) -> dict[str, str]:
        """The SQS ``CreateQueue`` attributes (without the redrive policy, which needs the DLQ's ARN)."""
        return {
            "MessageRetentionPeriod": str(self.retention_seconds),
            "VisibilityTimeout": str(self.visibility_timeout_seconds),
        }


@dataclass(frozen=True)
class DeliverySpec:
    config: DeliverySettings
    max_receives: int
    """The tasks queue's ``maxReceiveCount``, which the worker also reads to give up on the last one."""
    worker_timeout_seconds: int
    events_queue: QueueSpec
    tasks_queue: QueueSpec
    api_timeout_seconds: int = API_TIMEOUT_SECONDS
    api_integration_timeout_ms: int = API_INTEGRATION_TIMEOUT_MS
    fanout_timeout_seconds: int = FANOUT_TIMEOUT_SECONDS
    batch_size: int = BATCH_SIZE
    operational_source: str = operational.source_for(ProviderSettings().event_source)
    """``<provider.eventSource>.operational``: the ``source`` of the operational events the API and the worker publish."""

    @property
    def fanout_max_concurrency(self) -> int:
        return self.config.fanout_max_concurrency

    @property
    def worker_max_concurrency(self) -> int:
        return self.config.worker_max_concurrency

    # -- each function's runtime contract, from the names of the resources it uses ----------------

    def api_settings(
        self,
        *,
        table_name: str,
        tasks_queue_url: str,
        token_issuer: str = "",
        dead_letter_queue_urls: Sequence[str] = (),
        event_bus_name: str = "",
    ) -> ApiSettings:
        """``token_issuer``: the self-service API's URL (tokens' ``iss``; docs/tokens.md);
        ``dead_letter_queue_urls``: the queues the operator view reports (docs/portal.md);
        ``event_bus_name``: the entry bus, where operational events go (empty: none are published)."""
        return ApiSettings(
            table_name=table_name,
            tasks_queue_url=tasks_queue_url,
            history_ttl_days=self.config.history_ttl_days,
            rotation_overlap_hours=self.config.rotation_overlap_hours,
            allowed_cidrs=self.config.allowed_cidrs,
            api_tenants=self.config.api_tenants,
            token_issuer=token_issuer,
            dead_letter_queue_urls=tuple(dead_letter_queue_urls),
            event_bus_name=event_bus_name,
            operational_source=self.operational_source if event_bus_name else "",
        )

    def fanout_settings(self, *, table_name: str, tasks_queue_url: str) -> FanoutSettings:
        return FanoutSettings(
            table_name=table_name, tasks_queue_url=tasks_queue_url, history_ttl_days=self.config.history_ttl_days
        )

    def worker_settings(
        self, *, table_name: str, tasks_queue_url: str, dead_letter_queue_url: str, event_bus_name: str = ""
    ) -> WorkerSettings:
        """``event_bus_name``: the entry bus, where operational events go (empty: none are published)."""
        return WorkerSettings(
            table_name=table_name,
            tasks_queue_url=tasks_queue_url,
            dead_letter_queue_url=dead_letter_queue_url,
            history_ttl_days=self.config.history_ttl_days,
            timeout_seconds=self.config.timeout_seconds,
            retry_schedule=self.config.retry_schedule_seconds,
            disable_after_failures=self.config.disable_after_failures,
            allowed_cidrs=self.config.allowed_cidrs,
            max_response_bytes=self.config.max_response_bytes,
            max_receives=self.max_receives,
            breaker_failures=self.config.breaker_failure_threshold,
            breaker_cooldown_seconds=self.config.breaker_cooldown_seconds,
            event_bus_name=event_bus_name,
            operational_source=self.operational_source if event_bus_name else "",
        )

    # -- each function's IAM statements, from the ARNs of the resources it uses --------------------

    def api_statements(
        self,
        *,
        table_arn: object,
        indexes_arn: object,
        tasks_queue_arn: object,
        endpoint_secrets_arn: object,
        dead_letter_queue_arns: Sequence[object] = (),
        bus_arn: object | None = None,
    ) -> list[dict[str, Any]]:
        """``endpoint_secrets_arn``: :func:`endpoint_secrets_arn` of the table's ARN (``v1a`` private
        keys and OAuth client secrets of API-created endpoints are made, read and deleted here);
        ``dead_letter_queue_arns``: the queues whose depth the operator view reads; ``bus_arn``: the
        entry bus (operational events: an endpoint enabled or disabled)."""
        operator = [
            # GET /operator/tenants: the only way to find every tenant (docs/portal.md, the trade-off).
            _table_statement("ListTenantsForOperators", ["dynamodb:Scan"], [table_arn]),
        ]
        if dead_letter_queue_arns:
            operator.append(
                _queue_statement("ReadDeadLetterDepths", ["sqs:GetQueueAttributes"], list(dead_letter_queue_arns))
            )
        return [
            *([_put_operational_events(bus_arn)] if bus_arn is not None else []),
            _table_statement(
                "ManageEndpointsAndReadHistory",
                [
                    "dynamodb:GetItem",
                    "dynamodb:BatchGetItem",
                    "dynamodb:Query",
                    "dynamodb:PutItem",
                    "dynamodb:UpdateItem",
                    "dynamodb:DeleteItem",
                ],
                [table_arn, indexes_arn],
            ),
            _queue_statement("QueueResends", ["sqs:SendMessage"], tasks_queue_arn),
            {
                "Sid": "ManageEndpointSecrets",
                "Effect": "Allow",
                "Action": [
                    "secretsmanager:CreateSecret",
                    "secretsmanager:PutSecretValue",
                    "secretsmanager:GetSecretValue",
                    "secretsmanager:DeleteSecret",
                ],
                "Resource": [endpoint_secrets_arn],
            },
            *operator,
        ]

    def fanout_statements(
        self, *, table_arn: object, events_queue_arn: object, tasks_queue_arn: object
    ) -> list[dict[str, Any]]:
        return [
            _table_statement(
                "ReadEndpointsWriteMessages",
                ["dynamodb:Query", "dynamodb:BatchGetItem", "dynamodb:PutItem"],
                [table_arn],
            ),
            _queue_statement(
                "ConsumeEvents", ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"], events_queue_arn
            ),
            _queue_statement("QueueTasks", ["sqs:SendMessage"], tasks_queue_arn),
        ]

    def worker_statements(
        self,
        *,
        table_arn: object,
        indexes_arn: object,
        tasks_queue_arn: object,
        dead_letter_queue_arn: object,
        endpoint_secrets_arn: object,
        bus_arn: object | None = None,
    ) -> list[dict[str, Any]]:
        """``indexes_arn``: the worker asks the ``byEvent`` index whether a task's run is done;
        ``bus_arn``: the entry bus (operational events: disables, breaker, exhausted messages)."""
        return [
            *([_put_operational_events(bus_arn)] if bus_arn is not None else []),
            _table_statement(
                "ClaimAndRecordDeliveries",
                ["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"],
                [table_arn],
            ),
            _table_statement("FindDeliveredRuns", ["dynamodb:Query"], [indexes_arn]),
            _queue_statement(
                "ConsumeAndRescheduleTasks",
                ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"],
                tasks_queue_arn,
            ),
            _queue_statement("DeadLetterFailedDeliveries", ["sqs:SendMessage"], dead_letter_queue_arn),
            {
                "Sid": "ReadEndpointSecrets",
                "Effect": "Allow",
                "Action": ["secretsmanager:GetSecretValue"],
                "Resource": [endpoint_secrets_arn],
            },
        ]


def delivery_spec(config: DeliverySettings, event_source: str = ProviderSettings().event_source) -> DeliverySpec:
    """Every derived value of the signed-delivery pipeline for ``config`` (``event_source``:
    ``provider.eventSource``, the prefix of the operational events' source)."""
    # An attempt may wait once for its rate-limit slot (functions/delivery/protection.py): one more receive.
    attempts = policy.max_attempts(config.retry_schedule_seconds)
    max_receives = min(MAX_RECEIVE_COUNT, protection.RECEIVES_PER_ATTEMPT * attempts + RECEIVE_SLACK)
    # An endpoint may set its own timeoutSeconds (up to MAX_TIMEOUT_SECONDS, through the API at any
    # time, without a deploy; delivery.timeoutSeconds has the same bound), so the function and the
    # task's visibility cover the largest one, not just the stack's default: an attempt cut off by the function timeout would be retried
    # without an attempt record.
    worker_timeout = MAX_TIMEOUT_SECONDS + WORKER_OVERHEAD_SECONDS
    return DeliverySpec(
        config=config,
        operational_source=operational.source_for(event_source),
        max_receives=max_receives,
        worker_timeout_seconds=worker_timeout,
        events_queue=QueueSpec(
            suffix="events",
            dead_letter_suffix="events-dlq",
            retention_seconds=EVENTS_RETENTION_SECONDS,
            visibility_timeout_seconds=VISIBILITY_FACTOR * FANOUT_TIMEOUT_SECONDS,
            max_receive_count=EVENTS_MAX_RECEIVE_COUNT,
        ),
        tasks_queue=QueueSpec(
            suffix="tasks",
            dead_letter_suffix="dlq",
            retention_seconds=TASKS_RETENTION_SECONDS,
            visibility_timeout_seconds=VISIBILITY_FACTOR * worker_timeout,
            max_receive_count=max_receives,
        ),
    )


# -- config-declared worker endpoints: what their table items hold (component and sandbox alike) ---


def endpoint_options(destination: Destination) -> store.EndpointOptions:
    """How the worker delivers to a destination of the stack config (its definition item's options)."""
    auth = destination.auth
    return store.EndpointOptions(
        method=destination.method,
        auth=store.EndpointAuth(
            type=auth.type,
            header=auth.header if isinstance(auth, ApiKeyAuth) else None,
            username=auth.username if isinstance(auth, BasicAuth) else None,
            # The client secret is in Secrets Manager (components/delivery_endpoint_secrets.py).
            token_url=auth.authorization_endpoint if isinstance(auth, OAuthAuth) else None,
            client_id=auth.client_id if isinstance(auth, OAuthAuth) else None,
            scope=auth.scope if isinstance(auth, OAuthAuth) else None,
        ),
        headers=dict(destination.headers),
        transform=(
            {"paths": dict(destination.transform.paths), "template": destination.transform.template}
            if destination.transform
            else None
        ),
        filter=destination.filter,
        rate_limit_per_second=destination.rate_limit_per_second
        if destination.rate_limit_per_second < MAX_RATE_LIMIT
        else None,
        timeout_seconds=destination.timeout_seconds,
        signing_scheme=destination.signing.scheme if destination.signing else store.EndpointOptions().signing_scheme,
    )


def auth_secret(destination: Destination) -> str | None:
    """The value the destination's auth sends (its secrets item's ``authSecret``); ``None`` for none."""
    auth = destination.auth
    if isinstance(auth, ApiKeyAuth):
        return auth.value.reveal()
    if isinstance(auth, BasicAuth):
        return auth.password.reveal()
    if isinstance(auth, BearerAuth):
        return auth.token.reveal()
    return None  # an OAuth client secret lives in Secrets Manager only (components/delivery_endpoint_secrets.py)


def endpoint_secrets_arn(table_arn: str) -> str:
    """The ARN pattern of every endpoint secret in Secrets Manager (``v1a`` private keys, OAuth client
    secrets): named under the delivery table's name (:func:`functions.delivery.v1a.secret_name`,
    :func:`functions.delivery.oauth.client_secret_name`), in the table's partition, region and account."""
    _, partition, _, region, account, resource = table_arn.split(":", 5)
    table_name = resource.split("/", 1)[1]
    return f"arn:{partition}:secretsmanager:{region}:{account}:secret:{table_name}/*"
