"""WebhookConsumer: inbound webhooks, verified, deduplicated, ordered and claim-checked.

One ingest function behind ONE public function URL (auth ``NONE``, secured by the signature check)
serves every configured source at ``/<source name>``. It verifies the provider's signature on the
raw body with secrets read from Secrets Manager (one secret per source holding the current and,
during a rotation, the previous secret, plus the public URL Twilio signs), records the delivery id
(and, for GitHub, Shopify and Twilio, which sign no timestamp, the signed content, so a replay under
a fresh id is a duplicate) in a DynamoDB ledger (conditional put with a lease, TTL), stores payloads above the claim-check
threshold in a private S3 bucket and enqueues an envelope to an SQS FIFO queue (group = the
source's ordering key, deduplication id = the delivery id). Only then does it answer 2xx.

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
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.common import (
    LambdaFunction,
    alarm,
    assume_role_policy,
    child,
    encrypted_queue,
    policy_json,
    queue_age_alarm,
    queue_depth_alarm,
    tls_only_statement,
)
from components.config import ConsumerSettings, Source
from components.entry_bus import BusRef
from components.packaging import Package
from components.specs.consumer import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_INGEST_MEMORY_MB,
    DEFAULT_INGEST_TIMEOUT_SECONDS,
    GITHUB_TIMEOUT_SECONDS,
    MAX_BATCH_SIZE,
    MIN_INGEST_TIMEOUT_SECONDS,
    ConsumerSpec,
    consumer_spec,
    environment_problem,
    source_url,
)
from functions.inbound import metrics
from functions.inbound.envelope import PAYLOAD_PREFIX
from functions.inbound.settings import DEFAULT_SECRET_TTL_SECONDS
from functions.inbound.source_secrets import secret_document
from functions.inbound.target import (
    PIPE_BUS_INPUT_TEMPLATE,
    PIPE_DETAIL_TYPE_PATH,
    PIPE_SOURCE_PATH,
    PIPE_TIME_PATH,
)

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


class WebhookConsumer(pulumi.ComponentResource):
    function_url: pulumi.Output[str]
    """The ingest function URL (sources live under ``/<name>``)."""
    urls: dict[str, pulumi.Output[str]]
    """source name -> the URL to configure at the provider (``publicUrl`` when set)."""
    queue: aws.sqs.Queue
    """The FIFO queue of accepted webhooks."""
    dead_letter_queue: aws.sqs.Queue
    """Where messages go after ``maxReceiveCount`` failed attempts."""
    bucket: aws.s3.Bucket
    """Claim-checked payloads (``payloads/<source>/<digest>``), expired after the retention."""
    table: aws.dynamodb.Table
    """The delivery ledger (dedupe)."""
    pipe: aws.pipes.Pipe

    def __init__(self, name: str, args: WebhookConsumerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("hookstack:index:WebhookConsumer", name, None, opts)
        validate_args(name, args)
        self._name = name
        self._args = args
        settings = args.settings
        self._spec: ConsumerSpec = consumer_spec(
            settings,
            event_source=args.event_source,
            name=name,
            batch_size=args.batch_size,
            ingest_timeout_seconds=args.ingest_timeout_seconds,
            ingest_memory_mb=args.ingest_memory_mb,
            secret_ttl_seconds=args.secret_ttl_seconds,
        )
        spec = self._spec
        identity = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self))
        self._account = identity.account_id

        self.bucket = self._payload_bucket(spec.payload_retention_days)
        self.table = self._ledger()
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
        self.queue_policies = [self._tls_only_queue(self.queue, "queue"), self._tls_only_queue(self.dead_letter_queue, "dlq")]
        self.secrets = {
            source.name: aws.secretsmanager.Secret(
                spec.secret_name(source.name),
                description=f"hookstack inbound source {source.name} ({source.kind}): JSON current/previous/publicUrl",
                recovery_window_in_days=7,
                opts=child(self),
            )
            for source in settings.sources
        }

        self.ingest = self._ingest_function()
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
        self.secret_versions = [self._secret_version(source) for source in settings.sources]

        self.enrich = self._enrich_function()
        self.pipe_log_group = aws.cloudwatch.LogGroup(
            f"{name}-pipe-logs",
            name_prefix=f"/aws/vendedlogs/pipes/hookstack/{name}-",
            retention_in_days=30,
            opts=child(self),
        )
        self.pipe_role, self.pipe_role_policy = self._pipe_role()
        self.pipe = self._pipe()
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

    # -- storage -------------------------------------------------------------------------------

    def _payload_bucket(self, retention_days: int) -> aws.s3.Bucket:
        name = self._name
        bucket = aws.s3.Bucket(f"{name}-payloads", opts=child(self))
        aws.s3.BucketOwnershipControls(
            f"{name}-payloads-ownership",
            bucket=bucket.id,
            rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
            opts=child(self),
        )
        public_access = aws.s3.BucketPublicAccessBlock(
            f"{name}-payloads-public-access",
            bucket=bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=child(self),
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-payloads-encryption",
            bucket=bucket.id,
            rules=[
                aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=(
                        aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                            sse_algorithm="AES256"
                        )
                    ),
                )
            ],
            opts=child(self),
        )
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-payloads-lifecycle",
            bucket=bucket.id,
            rules=[
                aws.s3.BucketLifecycleConfigurationRuleArgs(
                    id="expire-payloads",
                    status="Enabled",
                    filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=PAYLOAD_PREFIX),
                    expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(days=retention_days),
                ),
                aws.s3.BucketLifecycleConfigurationRuleArgs(
                    id="abort-incomplete-uploads",
                    status="Enabled",
                    filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                    abort_incomplete_multipart_upload=(
                        aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(days_after_initiation=1)
                    ),
                ),
            ],
            opts=child(self),
        )
        self.bucket_policy = aws.s3.BucketPolicy(
            f"{name}-payloads-policy",
            bucket=bucket.id,
            policy=policy_json([tls_only_statement([bucket.arn, pulumi.Output.concat(bucket.arn, "/*")])]),
            # S3 answers 409 when a policy is put while the public access block is being created.
            opts=child(self, depends_on=[public_access]),
        )
        return bucket

    def _ledger(self) -> aws.dynamodb.Table:
        return aws.dynamodb.Table(
            f"{self._name}-ledger",
            billing_mode="PAY_PER_REQUEST",
            hash_key="pk",
            # Only key attributes are declared: a TTL attribute here makes an endless diff.
            attributes=[aws.dynamodb.TableAttributeArgs(name="pk", type="S")],
            ttl=aws.dynamodb.TableTtlArgs(attribute_name="expiresAt", enabled=True),
            opts=child(self),
        )

    def _tls_only_queue(self, queue: aws.sqs.Queue, label: str) -> aws.sqs.QueuePolicy:
        return aws.sqs.QueuePolicy(
            f"{self._name}-{label}-policy",
            queue_url=queue.url,
            policy=policy_json([tls_only_statement([queue.arn])]),
            opts=child(self),
        )

    # -- secrets and URLs ------------------------------------------------------------------------

    def _public_url(self, source: Source) -> pulumi.Output[str]:
        if source.public_url:
            return pulumi.Output.from_input(source.public_url)
        return self.function_url.apply(lambda url: source_url(url, source.name))

    def _secret_version(self, source: Source) -> aws.secretsmanager.SecretVersion:
        current = pulumi.Output.secret(source.secret.reveal())
        previous = pulumi.Output.secret(source.previous_secret.reveal()) if source.previous_secret else None
        document = pulumi.Output.all(current, previous, self.urls[source.name]).apply(
            lambda values: secret_document(values[0], values[1], values[2])
        )
        return aws.secretsmanager.SecretVersion(
            f"{self._name}-{source.name}-secret-value",
            secret_id=self.secrets[source.name].id,
            secret_string=document,  # secret: it is computed from secret Outputs
            opts=child(self),
        )

    # -- functions -------------------------------------------------------------------------------

    def _ingest_function(self) -> LambdaFunction:
        args = self._args
        spec = self._spec
        statements = [
            {
                "Sid": "ReadSourceSecrets",
                "Effect": "Allow",
                "Action": "secretsmanager:GetSecretValue",
                "Resource": [secret.arn for secret in self.secrets.values()],
            },
            {
                "Sid": "DeliveryLedger",
                "Effect": "Allow",
                "Action": ["dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"],
                "Resource": [self.table.arn],
            },
            {
                "Sid": "StoreLargePayloads",
                "Effect": "Allow",
                "Action": "s3:PutObject",
                "Resource": [pulumi.Output.concat(self.bucket.arn, "/", PAYLOAD_PREFIX, "*")],
            },
            {"Sid": "Enqueue", "Effect": "Allow", "Action": "sqs:SendMessage", "Resource": [self.queue.arn]},
        ]
        return LambdaFunction.create(
            spec.ingest_function_name,
            self,
            package=args.package,
            handler=spec.ingest_handler,
            description="hookstack inbound webhooks: verify, dedupe, claim-check, enqueue",
            statements=statements,
            environment=self._ingest_environment(),
            timeout_seconds=spec.ingest_timeout_seconds,
            memory_mb=spec.ingest_memory_mb,
            alarm_topic_arn=args.alarm_topic_arn,
            # The endpoint is public: a flood is throttled (429) here instead of taking the account's pool.
            reserved_concurrency=args.settings.ingest_reserved_concurrency,
        )

    def _ingest_environment(self) -> dict[str, pulumi.Output[str]]:
        """The ingest's variables, written by its contract once the resources have names.

        Secret names, not ARNs: half the length, and Lambda's environment holds only 4 KB.
        """
        spec = self._spec
        secret_names = [self.secrets[source.name].name for source in spec.sources]

        def variables(values: list[str]) -> dict[str, str]:
            settings = spec.ingest_settings(
                table_name=values[0], queue_url=values[1], bucket_name=values[2], secret_ids=values[3:]
            )
            return settings.to_environ()

        environment = pulumi.Output.all(self.table.name, self.queue.url, self.bucket.bucket, *secret_names).apply(variables)

        def variable(name: str) -> pulumi.Output[str]:
            return environment.apply(lambda values: values[name])

        # Which variables the contract writes does not depend on the resources' names: one Output each.
        return {name: variable(name) for name in variables(["-"] * (3 + len(secret_names)))}

    def _enrich_function(self) -> LambdaFunction:
        args = self._args
        spec = self._spec
        return LambdaFunction.create(
            spec.enrich_function_name,
            self,
            package=args.package,
            handler=spec.enrich_handler,
            description="hookstack inbound webhooks: rehydrate claim-checked payloads for the pipe target",
            statements=[
                {
                    "Sid": "ReadPayloads",
                    "Effect": "Allow",
                    "Action": "s3:GetObject",
                    "Resource": [pulumi.Output.concat(self.bucket.arn, "/", PAYLOAD_PREFIX, "*")],
                },
                {
                    # With ListBucket S3 answers 404 for a payload that expired, not 403, so the
                    # enrichment can tell "gone" from "denied". The bucket holds only payloads, whose
                    # names (digests) reveal nothing the role cannot already read. No s3:prefix
                    # condition: whether S3 applies one to that 404 decision is not documented.
                    "Sid": "TellMissingPayloadsFromDenied",
                    "Effect": "Allow",
                    "Action": "s3:ListBucket",
                    "Resource": [self.bucket.arn],
                },
            ],
            environment=spec.enrich_settings().to_environ(),
            timeout_seconds=spec.enrichment_timeout_seconds,
            memory_mb=spec.enrich_memory_mb,
            alarm_topic_arn=args.alarm_topic_arn,
        )

    # -- the pipe --------------------------------------------------------------------------------

    def _pipe_role(self) -> tuple[aws.iam.Role, aws.iam.RolePolicy]:
        settings = self._args.settings
        role = aws.iam.Role(
            f"{self._name}-pipe-role",
            description="EventBridge Pipes drains hookstack's inbound FIFO queue",
            assume_role_policy=assume_role_policy("pipes.amazonaws.com", source_account=self._account),
            opts=child(self),
        )
        statements: list[dict[str, Any]] = [
            {
                "Sid": "ReadInboundQueue",
                "Effect": "Allow",
                "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"],
                "Resource": [self.queue.arn],
            },
            {
                "Sid": "InvokeEnrichment",
                "Effect": "Allow",
                "Action": "lambda:InvokeFunction",
                "Resource": [self.enrich.function.arn],
            },
            {
                "Sid": "WritePipeLogs",
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": [self.pipe_log_group.arn.apply(lambda arn: f"{arn.removesuffix(':*')}:*")],
            },
        ]
        if settings.target == "bus":
            target_statement = {"Sid": "PutOnEntryBus", "Action": "events:PutEvents", "Resource": [self._args.entry_bus.arn]}
        elif settings.target == "lambda":
            target_statement = {"Sid": "InvokeTarget", "Action": "lambda:InvokeFunction", "Resource": [str(settings.target_arn)]}
        else:
            target_statement = {"Sid": "StartTarget", "Action": "states:StartExecution", "Resource": [str(settings.target_arn)]}
        statements.append({"Effect": "Allow", **target_statement})
        policy = aws.iam.RolePolicy(
            f"{self._name}-pipe-policy", role=role.id, policy=policy_json(statements), opts=child(self)
        )
        return role, policy

    def _pipe(self) -> aws.pipes.Pipe:
        settings = self._args.settings
        target: pulumi.Input[str]
        if settings.target == "bus":
            target = self._args.entry_bus.arn
            parameters = aws.pipes.PipeTargetParametersArgs(
                eventbridge_event_bus_parameters=aws.pipes.PipeTargetParametersEventbridgeEventBusParametersArgs(
                    source=PIPE_SOURCE_PATH, detail_type=PIPE_DETAIL_TYPE_PATH, time=PIPE_TIME_PATH
                ),
                input_template=PIPE_BUS_INPUT_TEMPLATE,
            )
        elif settings.target == "lambda":
            target = str(settings.target_arn)
            # Synchronous, so function errors are retried and batchItemFailures are honoured.
            parameters = aws.pipes.PipeTargetParametersArgs(
                lambda_function_parameters=aws.pipes.PipeTargetParametersLambdaFunctionParametersArgs(
                    invocation_type="REQUEST_RESPONSE"
                )
            )
        else:
            target = str(settings.target_arn)
            # Standard workflows can only be started asynchronously (Express ones could run synchronously).
            parameters = aws.pipes.PipeTargetParametersArgs(
                step_function_state_machine_parameters=aws.pipes.PipeTargetParametersStepFunctionStateMachineParametersArgs(
                    invocation_type="FIRE_AND_FORGET"
                )
            )
        return aws.pipes.Pipe(
            f"{self._name}-pipe",
            description="hookstack inbound webhooks: FIFO queue -> rehydrate -> target",
            role_arn=self.pipe_role.arn,
            source=self.queue.arn,
            source_parameters=aws.pipes.PipeSourceParametersArgs(
                sqs_queue_parameters=aws.pipes.PipeSourceParametersSqsQueueParametersArgs(
                    batch_size=self._spec.batch_size
                )
            ),
            enrichment=self.enrich.function.arn,
            target=target,
            target_parameters=parameters,
            log_configuration=aws.pipes.PipeLogConfigurationArgs(
                level="ERROR",
                cloudwatch_logs_log_destination=aws.pipes.PipeLogConfigurationCloudwatchLogsLogDestinationArgs(
                    log_group_arn=self.pipe_log_group.arn
                ),
            ),
            desired_state="RUNNING",
            # Pipes validates its role at creation: the policy must exist first (IAM is eventually consistent).
            opts=child(self, depends_on=[self.pipe_role_policy]),
        )

    # -- alarms ----------------------------------------------------------------------------------

    def _alarms(self) -> list[aws.cloudwatch.MetricAlarm]:
        args = self._args
        topic = args.alarm_topic_arn
        name = self._name
        function_name = self.ingest.function.name
        return [
            queue_depth_alarm(f"{name}-dlq-alarm", self, self.dead_letter_queue, topic, "Inbound webhooks"),
            queue_age_alarm(
                f"{name}-queue-age", self, self.queue, topic, "Inbound webhooks (a message group is stuck)",
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
    if not NAME_RE.match(name):
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
