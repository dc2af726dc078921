"""WebhookConsumer: inbound webhooks, verified, deduplicated, ordered and claim-checked.

One ingest function behind ONE public function URL (auth ``NONE``, secured by the signature check)
serves every configured source at ``/<source name>``. It verifies the provider's signature on the
raw body with secrets read from Secrets Manager (one secret per source holding the current and,
during a rotation, the previous secret, plus the public URL Twilio signs), records the delivery id
(and, for GitHub, Shopify and Twilio, which sign no timestamp, the signed content, so a replay under
a fresh id is a duplicate) in a DynamoDB ledger (looked up before, recorded after the send, TTL), stores payloads above the claim-check
threshold in a private S3 bucket (``payloadStore: s3express``: a directory bucket) and enqueues an envelope to an SQS FIFO queue (group = the
source's ordering key, deduplication id = the record key's digest). Only then does it answer 2xx.

The ingest function's concurrency is reserved (``consumer.ingestReservedConcurrency``, 100 by
default): a flood of unsigned requests is throttled there instead of taking the account's pool.

An EventBridge Pipe drains the FIFO queue one message at a time into an enrichment function that
rehydrates claim-checked payloads, then to the target: the entry bus by default (source
``<provider.eventSource>.<source>``, detail-type = the provider's event type; see
:mod:`functions.inbound.target`), or a Lambda function / Step Functions state machine. Failed
messages are retried until the queue's ``maxReceiveCount`` moves them to a FIFO dead-letter queue.

Alarms: DLQ depth, function URL 5xx, signature-failure spikes, FIFO queue age, pipe execution
failures and both functions' errors. See docs/consumer.md for choices and figures.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components import layers
from components.common import (
    FunctionTelemetry,
    LambdaFunction,
    alarm,
    child,
    encrypted_queue,
    queue_age_alarm,
    queue_depth_alarm,
    queue_policy,
)
from components.config import ConsumerSettings, Source
from components.consumer_functions import enrich_function, ingest_function
from components.consumer_pipe import inbound_pipe
from components.consumer_storage import (
    ledger_table,
    payload_bucket,
    payload_directory_bucket,
    source_secret,
    source_secret_value,
)
from components.entry_bus import BusRef
from components.packaging import ARCHITECTURE, RUNTIME, Package
from components.specs.consumer import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_INGEST_MEMORY_MB,
    DEFAULT_INGEST_TIMEOUT_SECONDS,
    GITHUB_TIMEOUT_SECONDS,
    MAX_BATCH_SIZE,
    MIN_INGEST_TIMEOUT_SECONDS,
    consumer_spec,
    environment_problem,
    source_url,
)
from functions.inbound import metrics
from functions.inbound.settings import DEFAULT_SECRET_TTL_SECONDS

NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,23}$")


@dataclass(frozen=True)
class WebhookConsumerArgs:
    settings: ConsumerSettings
    """The parsed ``hookstack:consumer`` section (sources, thresholds, target)."""
    package: Package
    """The shared ``functions/`` archive."""
    entry_bus: BusRef
    """The entry bus (``EntryBus.ref``): the default target; its ARN scopes the Pipe's ``events:PutEvents``."""
    event_source: str
    """The stack's ``provider.eventSource``: events are published as ``<event_source>.<source name>``."""
    alarm_topic_arn: pulumi.Input[str] | None = None
    """SNS topic that receives the alarms (none: alarms only show in CloudWatch)."""
    telemetry: FunctionTelemetry | None = None
    """The stack name and ``hookstack:tracing`` every function gets (none: no tracing, stack ``local``)."""
    batch_size: int = DEFAULT_BATCH_SIZE
    """FIFO messages per Pipe execution, 1..10. Enrichments cannot report partial failures, so with
    more than one message a failure also holds back (and counts a receive against) messages of other
    groups in the same batch; 1 keeps a failure inside its own message group."""
    ingest_timeout_seconds: int = DEFAULT_INGEST_TIMEOUT_SECONDS
    """Ingest function timeout, 3..10: GitHub gives up after 10 s."""
    ingest_memory_mb: int = DEFAULT_INGEST_MEMORY_MB
    """Ingest memory (CPU scales with it; a 6 MB body is decoded, hashed and stored)."""
    signature_failure_threshold: int = 20
    """Signature failures per 5 minutes that raise the alarm (probes, or a rotation gone wrong)."""
    five_xx_threshold: int = 5
    """Function URL 5xx responses per 5 minutes that raise the alarm (a store is failing)."""
    max_queue_age_seconds: int = 900
    """Alarm when the oldest FIFO message is older than this (a stuck message group)."""
    secret_ttl_seconds: int = DEFAULT_SECRET_TTL_SECONDS
    """How long a warm function caches a source secret (rotation reaches it within this)."""
    crypto_layer: Callable[[], Package] | None = None
    """Builds the crypto layer (default :func:`components.layers.build_crypto_layer`); called only when a
    source verifies with a public key (SendGrid, Discord)."""


class WebhookConsumer(pulumi.ComponentResource):
    bucket: aws.s3.Bucket | aws.s3.DirectoryBucket
    """Claim-checked payloads (``payloads/<source>/<digest>``), expired after the retention; a
    directory bucket (S3 Express One Zone) with ``payloadStore: s3express``."""
    bucket_policy: aws.s3.BucketPolicy
    """The payload bucket's policy: TLS only (and, for a directory bucket, S3 Lifecycle's session)."""
    table: aws.dynamodb.Table
    """The delivery ledger (dedupe)."""
    dead_letter_queue: aws.sqs.Queue
    """Where messages go after ``maxReceiveCount`` failed attempts."""
    queue: aws.sqs.Queue
    """The FIFO queue of accepted webhooks."""
    queue_policies: list[aws.sqs.QueuePolicy]
    """TLS only, on the queue and the dead-letter queue (in that order)."""
    secrets: dict[str, aws.secretsmanager.Secret]
    """source name -> its secret (current and previous secret, public URL)."""
    crypto_layer: aws.lambda_.LayerVersion | None
    """``cryptography`` for the ingest, only when a source verifies with a public key (else None)."""
    ingest: LambdaFunction
    """Verifies, dedupes, claim-checks and enqueues (behind the function URL)."""
    function_url_resource: aws.lambda_.FunctionUrl
    """The ingest function's public URL (auth ``NONE``: the signature check secures it)."""
    url_permissions: list[aws.lambda_.Permission]
    """Anyone may invoke the ingest function, through its function URL only."""
    function_url: pulumi.Output[str]
    """The ingest function URL (sources live under ``/<name>``)."""
    urls: dict[str, pulumi.Output[str]]
    """source name -> the URL to configure at the provider (``publicUrl`` when set)."""
    secret_versions: list[aws.secretsmanager.SecretVersion]
    """The secrets' values, in the sources' order."""
    enrich: LambdaFunction
    """The pipe's enrichment: rehydrates claim-checked payloads."""
    pipe_log_group: aws.cloudwatch.LogGroup
    """Where the pipe logs failed executions."""
    pipe_role: aws.iam.Role
    """The role the pipe assumes."""
    pipe_role_policy: aws.iam.RolePolicy
    """What the pipe may do: read the queue, invoke the enrichment, log, reach the target."""
    pipe: aws.pipes.Pipe
    """FIFO queue -> enrichment -> target (:mod:`components.consumer_pipe`)."""
    alarms: list[aws.cloudwatch.MetricAlarm]
    """DLQ depth, queue age, URL 5xx, signature failures, pipe failures (function errors alarm in each function)."""
    queue_name: pulumi.Output[str]
    """The FIFO queue's name (stack output ``inboundQueueName``)."""
    dead_letter_queue_name: pulumi.Output[str]
    """The dead-letter queue's name (stack output ``inboundDeadLetterQueueName``)."""
    bucket_name: pulumi.Output[str]
    """The payload bucket's name (stack output ``inboundBucketName``)."""

    def __init__(self, name: str, args: WebhookConsumerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("hookstack:index:WebhookConsumer", name, None, opts)
        validate_args(name, args)
        self._name = name
        self._args = args
        settings = args.settings
        spec = consumer_spec(
            settings,
            event_source=args.event_source,
            name=name,
            batch_size=args.batch_size,
            ingest_timeout_seconds=args.ingest_timeout_seconds,
            ingest_memory_mb=args.ingest_memory_mb,
            secret_ttl_seconds=args.secret_ttl_seconds,
        )
        account = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self)).account_id

        zone_id = settings.payload_store_zone_id
        payloads = (
            payload_directory_bucket(name, self, retention_days=spec.payload_retention_days, zone_id=zone_id)
            if settings.payload_store == "s3express" and zone_id
            else payload_bucket(name, self, retention_days=spec.payload_retention_days)
        )
        self.bucket, self.bucket_policy = payloads.bucket, payloads.policy
        self.table = ledger_table(name, self)
        self.dead_letter_queue = encrypted_queue(
            f"{name}-dlq", self, fifo=True, retention_seconds=spec.dead_letter_retention_seconds
        )
        self.queue = encrypted_queue(
            f"{name}-queue",
            self,
            fifo=True,
            retention_seconds=spec.queue_retention_seconds,
            visibility_timeout_seconds=spec.visibility_timeout_seconds,
            dead_letter_queue=self.dead_letter_queue,
            max_receive_count=spec.max_receive_count,
            content_based_deduplication=False,
            high_throughput=True,
        )
        self.queue_policies = [
            queue_policy(f"{name}-queue-policy", self, self.queue),
            queue_policy(f"{name}-dlq-policy", self, self.dead_letter_queue),
        ]
        self.secrets = {
            source.name: source_secret(spec.secret_name(source.name), self, source) for source in settings.sources
        }

        self.crypto_layer = self._crypto_layer() if spec.needs_crypto_layer else None
        self.ingest = ingest_function(
            spec.ingest_function_name,
            self,
            spec=spec,
            package=args.package,
            secrets=self.secrets,
            table=self.table,
            bucket=self.bucket,
            queue=self.queue,
            reserved_concurrency=settings.ingest_reserved_concurrency,
            alarm_topic_arn=args.alarm_topic_arn,
            layers=[self.crypto_layer.arn] if self.crypto_layer is not None else [],
            telemetry=args.telemetry,
        )
        self.function_url_resource = aws.lambda_.FunctionUrl(
            f"{name}-ingest-url",
            function_name=self.ingest.function.name,
            authorization_type="NONE",
            invoke_mode="BUFFERED",
            opts=child(self),
        )
        # Public function URLs need both statements since October 2025 (pulumi-aws >= 7.16).
        self.url_permissions = [
            aws.lambda_.Permission(
                f"{name}-ingest-url-public",
                action="lambda:InvokeFunctionUrl",
                function=self.ingest.function.name,
                principal="*",
                function_url_auth_type="NONE",
                opts=child(self),
            ),
            aws.lambda_.Permission(
                f"{name}-ingest-invoke-public",
                action="lambda:InvokeFunction",
                function=self.ingest.function.name,
                principal="*",
                invoked_via_function_url=True,
                opts=child(self),
            ),
        ]
        self.function_url = self.function_url_resource.function_url
        self.urls = {source.name: self._public_url(source) for source in settings.sources}
        # Written after the URL exists, so publicUrl can default to it without a dependency cycle.
        self.secret_versions = [
            source_secret_value(name, self, source, self.secrets[source.name], self.urls[source.name])
            for source in settings.sources
        ]

        self.enrich = enrich_function(
            spec.enrich_function_name,
            self,
            spec=spec,
            package=args.package,
            bucket=self.bucket,
            alarm_topic_arn=args.alarm_topic_arn,
            telemetry=args.telemetry,
        )
        pipe = inbound_pipe(
            name,
            self,
            settings=settings,
            spec=spec,
            batch_size=spec.batch_size,
            queue=self.queue,
            enrichment=self.enrich,
            entry_bus=args.entry_bus,
            account=account,
        )
        self.pipe_log_group, self.pipe_role, self.pipe_role_policy = pipe.log_group, pipe.role, pipe.role_policy
        self.pipe = pipe.pipe
        self.alarms = self._alarms()

        self.queue_name = self.queue.name
        self.dead_letter_queue_name = self.dead_letter_queue.name
        self.bucket_name = self.bucket.bucket
        self.register_outputs(
            {
                "function_url": self.function_url,
                "urls": self.urls,
                "queue_name": self.queue.name,
                "dead_letter_queue_name": self.dead_letter_queue.name,
                "bucket_name": self.bucket.bucket,
                "table_name": self.table.name,
                "pipe_name": self.pipe.name,
            }
        )

    def _crypto_layer(self) -> aws.lambda_.LayerVersion:
        """The layer is built (and downloaded) only here: stacks without such a source never need it."""
        layer = (self._args.crypto_layer or layers.build_crypto_layer)()
        layer_name = re.sub(r"[^A-Za-z0-9_-]", "-", f"{self._name}-{pulumi.get_stack()}-crypto")[:140]
        return aws.lambda_.LayerVersion(
            f"{self._name}-crypto-layer",
            layer_name=layer_name,
            description="cryptography for public-key webhook signatures (SendGrid, Discord)",
            code=pulumi.FileArchive(str(layer.path)),
            source_code_hash=layer.sha256_base64,
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[ARCHITECTURE],
            opts=child(self),
        )

    def _public_url(self, source: Source) -> pulumi.Output[str]:
        if source.public_url:
            return pulumi.Output.from_input(source.public_url)
        return self.function_url.apply(lambda url: source_url(url, source.name))

    # -- alarms ----------------------------------------------------------------------------------

    def _alarms(self) -> list[aws.cloudwatch.MetricAlarm]:
        args = self._args
        topic = args.alarm_topic_arn
        name = self._name
        function_name = self.ingest.function.name
        return [
            queue_depth_alarm(f"{name}-dlq-alarm", self, self.dead_letter_queue, topic, "Inbound webhooks"),
            queue_age_alarm(
                f"{name}-queue-age",
                self,
                self.queue,
                topic,
                "Inbound webhooks (a message group is stuck)",
                args.max_queue_age_seconds,
            ),
            alarm(
                f"{name}-ingest-5xx",
                self,
                description="Inbound webhooks: the endpoint answered 5xx (a store failed; providers retry)",
                namespace="AWS/Lambda",
                metric_name="Url5xxCount",
                dimensions={"FunctionName": function_name},
                alarm_topic_arn=topic,
                threshold=args.five_xx_threshold,
            ),
            alarm(
                f"{name}-signature-failures",
                self,
                description="Inbound webhooks: many signature failures (probing, or a secret out of sync)",
                namespace=metrics.NAMESPACE,
                metric_name=metrics.SIGNATURE_FAILURES,
                dimensions={"FunctionName": function_name},
                alarm_topic_arn=topic,
                threshold=args.signature_failure_threshold,
            ),
            alarm(
                f"{name}-pipe-failed",
                self,
                description="Inbound webhooks: pipe executions failed (enrichment or target); messages are retried",
                namespace="AWS/EventBridge/Pipes",
                metric_name="ExecutionFailed",
                dimensions={"PipeName": self.pipe.name},
                alarm_topic_arn=topic,
            ),
        ]


# --------------------------------------------------------------------------------------------
# Validation of the component's own arguments (tested directly)
# --------------------------------------------------------------------------------------------


def validate_args(name: str, args: WebhookConsumerArgs) -> None:
    """One error naming the bad input and what is allowed.

    Only what the stack configuration does not decide is checked here (the name and the component's
    own arguments): rules on ``settings`` are the configuration's, reported with their key paths
    before any resource. The environment size depends on the name too, so it is measured again for
    the name actually given (the configuration measured it for :data:`CONSUMER_NAME`).
    """
    problems = []
    if not NAME_RE.fullmatch(name):
        problems.append(f"name {name!r} must be 1-24 characters of a-z, 0-9 and '-', starting with a letter")
    if not 1 <= args.batch_size <= MAX_BATCH_SIZE:
        problems.append(
            f"batch_size must be 1..{MAX_BATCH_SIZE} (FIFO queues and bus targets take {MAX_BATCH_SIZE}), got {args.batch_size}"
        )
    if not MIN_INGEST_TIMEOUT_SECONDS <= args.ingest_timeout_seconds <= GITHUB_TIMEOUT_SECONDS:
        problems.append(
            f"ingest_timeout_seconds must be {MIN_INGEST_TIMEOUT_SECONDS}..{GITHUB_TIMEOUT_SECONDS}, "
            f"got {args.ingest_timeout_seconds}"
        )
    if not args.event_source:
        problems.append("event_source must be the stack's provider.eventSource")
    if problem := environment_problem(name, args.settings.sources):
        problems.append(problem)
    if problems:
        raise ValueError(f"WebhookConsumer {name!r}: " + "; ".join(problems))
