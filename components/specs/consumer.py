"""What the WebhookConsumer derives from its configuration, without Pulumi.

``components/consumer.py`` (the component) and ``sandbox/consumer.py`` (the same system on moto)
both build a :class:`ConsumerSpec` with :func:`consumer_spec` and take every derived value from it:
function names, handlers, timeouts and memory, the queue's visibility timeout and
retention, the largest event the Pipe's target takes, and the functions' environments (through the
runtime contracts of ``functions/inbound/settings.py``) and IAM statements (from the resources' ARNs:
Outputs in the component, moto's ARNs in the sandbox, whose roles hold them). Neither re-derives
anything.

Lambda allows 4 KB for all environment variables of a function, and ``CONSUMER_SOURCES`` grows with
every source. The stack configuration checks :func:`environment_problem` before any resource is
declared (``hookstack:consumer.sources``), for the name the program gives the component; the
component checks it again for the name it is actually given.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from functions.inbound.envelope import PAYLOAD_PREFIX
from functions.inbound.hmac_scheme import HmacConfig
from functions.inbound.kinds import source_kind
from functions.inbound.settings import (
    DEFAULT_SECRET_TTL_SECONDS,
    EnrichSettings,
    IngestSettings,
    SourceConfig,
    sources_environment,
)
from functions.inbound.target import MAX_BUS_ENTRY_BYTES
from functions.telemetry import Telemetry

if TYPE_CHECKING:  # the configuration is only read here; importing it would tie the two modules' loading
    from components.config import ConsumerSettings

# The logical name __main__.py gives the WebhookConsumer (the sandbox uses it too).
CONSUMER_NAME = "hookstack-inbound"
INGEST_HANDLER = "functions.inbound.ingest.handler"
ENRICH_HANDLER = "functions.inbound.enrich.handler"

DEFAULT_BATCH_SIZE = 1
# FIFO queues hand a Pipe at most 10 messages, and PutEvents takes 10 entries.
MAX_BATCH_SIZE = 10
DEFAULT_INGEST_TIMEOUT_SECONDS = 9
MIN_INGEST_TIMEOUT_SECONDS = 3
# GitHub gives up on a webhook after 10 s: the ingest must answer before. The ledger protocol also
# needs a request's lookup, send and record to fit well inside SQS FIFO's 5-minute deduplication
# (functions.inbound.ledger.FIFO_DEDUPLICATION_SECONDS; tests/components/test_consumer.py checks it).
GITHUB_TIMEOUT_SECONDS = 10
DEFAULT_INGEST_MEMORY_MB = 512
ENRICH_MEMORY_MB = 256
# AWS advises a visibility timeout of 6x the function timeout for SQS-driven functions.
VISIBILITY_FACTOR = 6
# Lambda's synchronous invocation payload limit, for a Lambda target's batch; 64 KiB kept for the
# batch's own JSON.
LAMBDA_PAYLOAD_BYTES = 6 * 1024 * 1024
LAMBDA_BATCH_OVERHEAD_BYTES = 64 * 1024
MAX_QUEUE_RETENTION_SECONDS = 4 * 24 * 3600
# SQS's longest retention (components.common.DLQ_RETENTION_SECONDS, which imports Pulumi, is the same).
MAX_SQS_RETENTION_SECONDS = 14 * 24 * 3600

# Lambda allows 4 KB for all environment variables of a function.
MAX_ENVIRONMENT_BYTES = 4096
# Pulumi appends this many characters (a dash and 7 random ones) to an autonamed resource.
AUTONAME_SUFFIX_CHARS = 8
# Names and values of the other CONSUMER_* variables: queue URL, table and bucket names, numbers.
OTHER_VARIABLES_BYTES = 600
# functions.telemetry's variables every function gets, with the longest stack name Pulumi allows (100).
TELEMETRY_VARIABLES_BYTES = sum(len(k) + len(v) for k, v in Telemetry(stack="s" * 100).to_environ().items())


class SourceSettings(Protocol):
    """What the environment needs of a configured source (``components.config.Source``)."""

    @property
    def name(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def ordering_key(self) -> str | None: ...
    @property
    def event_type_path(self) -> str | None: ...
    @property
    def hmac(self) -> HmacConfig | None: ...
    @property
    def dedupe(self) -> str: ...


@dataclass(frozen=True)
class ConsumerSpec:
    """Every value the component and the sandbox derive from ``hookstack:consumer``."""

    name: str
    """The component's logical name; its resources are named ``<name>-ingest``, ``<name>-queue``..."""
    sources: tuple[SourceSettings, ...]
    event_source: str
    """The stack's ``provider.eventSource``: events are ``<event_source>.<source name>``."""
    target: str
    batch_size: int
    """FIFO messages per Pipe execution."""
    ingest_timeout_seconds: int
    ingest_memory_mb: int
    enrichment_timeout_seconds: int
    enrich_memory_mb: int
    visibility_timeout_seconds: int
    """6x the enrichment timeout."""
    queue_retention_seconds: int
    dead_letter_retention_seconds: int
    max_receive_count: int
    max_target_item_bytes: int
    claim_check_threshold_bytes: int
    dedupe_ttl_seconds: int
    secret_ttl_seconds: int
    payload_retention_days: int
    payload_store: str = "s3"
    """``s3`` (general purpose bucket) or ``s3express`` (a directory bucket: sessions, not actions)."""
    ingest_handler: str = INGEST_HANDLER
    enrich_handler: str = ENRICH_HANDLER

    @property
    def needs_crypto_layer(self) -> bool:
        """Whether a source verifies with a public key (SendGrid, Discord): only then does the ingest
        function get the crypto layer, so every other stack's cold start never loads it."""
        return any(source_kind(source.kind).needs_crypto for source in self.sources)

    @property
    def ingest_function_name(self) -> str:
        return f"{self.name}-ingest"

    @property
    def enrich_function_name(self) -> str:
        return f"{self.name}-enrich"

    def secret_name(self, source_name: str) -> str:
        """The logical name of a source's secret (its physical name adds Pulumi's suffix)."""
        return secret_logical_name(self.name, source_name)

    def ingest_settings(
        self, *, table_name: str, queue_url: str, bucket_name: str, secret_ids: Sequence[str]
    ) -> IngestSettings:
        """The ingest function's contract, given its resources (``secret_ids`` in the sources' order)."""
        return IngestSettings(
            sources={config.name: config for config in source_configs(self.sources, secret_ids)},
            table_name=table_name,
            queue_url=queue_url,
            bucket_name=bucket_name,
            claim_check_threshold_bytes=self.claim_check_threshold_bytes,
            dedupe_ttl_seconds=self.dedupe_ttl_seconds,
            secret_ttl_seconds=self.secret_ttl_seconds,
            max_target_item_bytes=self.max_target_item_bytes,
        )

    def enrich_settings(self) -> EnrichSettings:
        return EnrichSettings(max_target_item_bytes=self.max_target_item_bytes, event_source=self.event_source)

    def environment_problem(self) -> str | None:
        return environment_problem(self.name, self.sources)

    # -- IAM statements, from the ARNs of the resources each role uses ------------------------------

    def ingest_statements(
        self,
        *,
        secret_arns: Sequence[object],
        table_arn: object,
        payloads_arn: object,
        bucket_arn: object,
        queue_arn: object,
    ) -> list[dict[str, Any]]:
        """``payloads_arn``: :func:`payload_objects_arn` of ``bucket_arn``."""
        return [
            {
                "Sid": "ReadSourceSecrets",
                "Effect": "Allow",
                "Action": "secretsmanager:GetSecretValue",
                "Resource": list(secret_arns),
            },
            {
                "Sid": "DeliveryLedger",
                "Effect": "Allow",
                # Look a delivery up, record it once enqueued: nothing is ever updated or released.
                "Action": ["dynamodb:GetItem", "dynamodb:PutItem"],
                "Resource": [table_arn],
            },
            (
                self._session("StoreLargePayloads", bucket_arn, "ReadWrite")
                if self.payload_store == "s3express"
                else {
                    "Sid": "StoreLargePayloads",
                    "Effect": "Allow",
                    "Action": "s3:PutObject",
                    "Resource": [payloads_arn],
                }
            ),
            {"Sid": "Enqueue", "Effect": "Allow", "Action": "sqs:SendMessage", "Resource": [queue_arn]},
        ]

    def enrich_statements(self, *, payloads_arn: object, bucket_arn: object) -> list[dict[str, Any]]:
        if self.payload_store == "s3express":
            # A read-only session lists too: a missing payload is answered 404 (gone), not 403.
            return [self._session("ReadPayloads", bucket_arn, "ReadOnly")]
        return [
            {"Sid": "ReadPayloads", "Effect": "Allow", "Action": "s3:GetObject", "Resource": [payloads_arn]},
            {
                # With ListBucket S3 answers 404 for a payload that expired, not 403, so the
                # enrichment can tell "gone" from "denied". The bucket holds only payloads, whose
                # names (digests) reveal nothing the role cannot already read. No s3:prefix
                # condition: whether S3 applies one to that 404 decision is not documented.
                "Sid": "TellMissingPayloadsFromDenied",
                "Effect": "Allow",
                "Action": "s3:ListBucket",
                "Resource": [bucket_arn],
            },
        ]

    @staticmethod
    def _session(sid: str, bucket_arn: object, mode: str) -> dict[str, Any]:
        """Access to a directory bucket: a ``mode`` (``ReadWrite`` / ``ReadOnly``) session on it only.

        Directory buckets authorize object requests per session, not per action or key: the finest
        grain IAM offers is the session mode (AWS S3 user guide, "Authorizing Zonal endpoint API
        operations with CreateSession"). The bucket holds nothing but payloads.
        """
        return {
            "Sid": sid,
            "Effect": "Allow",
            "Action": "s3express:CreateSession",
            "Resource": [bucket_arn],
            "Condition": {"StringEquals": {"s3express:SessionMode": mode}},
        }

    def pipe_statements(
        self, *, queue_arn: object, enrichment_arn: object, log_streams_arn: object, target_arn: object
    ) -> list[dict[str, Any]]:
        """The Pipe's role: read the queue, invoke the enrichment, write its logs, reach the target
        (``target_arn``: the entry bus, or ``consumer.targetArn``)."""
        target_statement: dict[str, Any]
        if self.target == "bus":
            target_statement = {"Sid": "PutOnEntryBus", "Action": "events:PutEvents", "Resource": [target_arn]}
        elif self.target == "lambda":
            target_statement = {"Sid": "InvokeTarget", "Action": "lambda:InvokeFunction", "Resource": [target_arn]}
        else:
            target_statement = {"Sid": "StartTarget", "Action": "states:StartExecution", "Resource": [target_arn]}
        return [
            {
                "Sid": "ReadInboundQueue",
                "Effect": "Allow",
                "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"],
                "Resource": [queue_arn],
            },
            {
                "Sid": "InvokeEnrichment",
                "Effect": "Allow",
                "Action": "lambda:InvokeFunction",
                "Resource": [enrichment_arn],
            },
            {
                "Sid": "WritePipeLogs",
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": [log_streams_arn],
            },
            {"Effect": "Allow", **target_statement},
        ]


def consumer_spec(
    settings: ConsumerSettings,
    *,
    event_source: str,
    name: str = CONSUMER_NAME,
    batch_size: int = DEFAULT_BATCH_SIZE,
    ingest_timeout_seconds: int = DEFAULT_INGEST_TIMEOUT_SECONDS,
    ingest_memory_mb: int = DEFAULT_INGEST_MEMORY_MB,
    secret_ttl_seconds: int = DEFAULT_SECRET_TTL_SECONDS,
) -> ConsumerSpec:
    """The spec of a consumer configured by ``settings`` (the keyword arguments are the component's own)."""
    queue_retention, dead_letter_retention = retention_split(settings.payload_retention_days)
    return ConsumerSpec(
        name=name,
        sources=tuple(settings.sources),
        event_source=event_source,
        target=settings.target,
        batch_size=batch_size,
        ingest_timeout_seconds=ingest_timeout_seconds,
        ingest_memory_mb=ingest_memory_mb,
        enrichment_timeout_seconds=settings.enrichment_timeout_seconds,
        enrich_memory_mb=ENRICH_MEMORY_MB,
        visibility_timeout_seconds=visibility_timeout(settings.enrichment_timeout_seconds),
        queue_retention_seconds=queue_retention,
        dead_letter_retention_seconds=dead_letter_retention,
        max_receive_count=settings.max_receive_count,
        max_target_item_bytes=max_target_item_bytes(settings.target, batch_size),
        claim_check_threshold_bytes=settings.claim_check_threshold_bytes,
        dedupe_ttl_seconds=settings.dedupe_ttl_hours * 3600,
        secret_ttl_seconds=secret_ttl_seconds,
        payload_retention_days=settings.payload_retention_days,
        payload_store=settings.payload_store,
    )


def retention_split(payload_retention_days: int) -> tuple[int, int]:
    """(queue, dead-letter queue) retention in seconds that a claim-checked payload outlives.

    A FIFO message's age restarts when it moves to the dead-letter queue, so a payload must outlive
    queue + DLQ retention: the queue keeps up to 4 days (half the budget), the DLQ the rest (up to 14).
    """
    total = payload_retention_days * 86_400
    queue = min(MAX_QUEUE_RETENTION_SECONDS, total // 2)
    dead_letter = min(MAX_SQS_RETENTION_SECONDS, total - queue)
    return queue, dead_letter


def visibility_timeout(enrichment_timeout_seconds: int) -> int:
    """AWS advises a visibility timeout of 6x the function timeout for SQS-driven functions."""
    return VISIBILITY_FACTOR * enrichment_timeout_seconds


def max_target_item_bytes(target: str, batch_size: int) -> int:
    """The largest event one message may become for the target."""
    if target == "lambda":
        return (LAMBDA_PAYLOAD_BYTES - LAMBDA_BATCH_OVERHEAD_BYTES) // batch_size
    return MAX_BUS_ENTRY_BYTES  # a bus entry, or a Step Functions input (256 KiB)


# S3 Express One Zone directory buckets are named <base>--<zone id>--x-s3, at most 63 characters.
DIRECTORY_BUCKET_SUFFIX = "--x-s3"
MAX_BUCKET_NAME_CHARS = 63


def directory_bucket_name(name: str, unique: str, zone_id: str) -> str:
    """The claim-check directory bucket of consumer ``name`` in ``zone_id`` (``unique``: a random
    suffix, as directory bucket names are shared by every account in the zone)."""
    bucket = f"{name}-payloads-{unique}--{zone_id}{DIRECTORY_BUCKET_SUFFIX}"
    if len(bucket) > MAX_BUCKET_NAME_CHARS:
        raise ValueError(
            f"directory bucket name {bucket!r} is {len(bucket)} characters; S3 allows {MAX_BUCKET_NAME_CHARS} "
            "(use a shorter component name)"
        )
    return bucket


def payload_objects_arn(bucket_arn: str) -> str:
    """The claim-checked payloads' objects (``<bucket ARN>/payloads/*``)."""
    return f"{bucket_arn}/{PAYLOAD_PREFIX}*"


def source_url(function_url: str, source_name: str) -> str:
    """Where a source posts: the function URL (or the sandbox's local URL) plus ``/<name>``."""
    return f"{function_url.rstrip('/')}/{source_name}"


def secret_logical_name(name: str, source_name: str) -> str:
    return f"{name}-{source_name}-secret"


def source_configs(sources: Sequence[SourceSettings], secret_ids: Sequence[str]) -> list[SourceConfig]:
    """The sources as the ingest function knows them: each with the name of its secret, no secret."""
    return [
        SourceConfig(
            name=source.name,
            kind=source.kind,
            secret_id=secret_id,
            ordering_key=source.ordering_key,
            event_type_path=source.event_type_path,
            hmac=source.hmac,
            dedupe=source.dedupe,
        )
        for source, secret_id in zip(sources, secret_ids, strict=True)
    ]


def environment_estimate(name: str, sources: Sequence[SourceSettings]) -> int:
    """Bytes of the ingest environment (secret names are the logical name plus Pulumi's suffix)."""
    secret_names = ["x" * (len(secret_logical_name(name, s.name)) + AUTONAME_SUFFIX_CHARS) for s in sources]
    return (
        len(sources_environment(source_configs(sources, secret_names)))
        + OTHER_VARIABLES_BYTES
        + TELEMETRY_VARIABLES_BYTES
    )


def environment_problem(name: str, sources: Sequence[SourceSettings]) -> str | None:
    """Why ``sources`` do not fit the ingest function's environment, or ``None``."""
    estimate = environment_estimate(name, sources)
    if estimate <= MAX_ENVIRONMENT_BYTES:
        return None
    return (
        f"{len(sources)} sources need about {estimate} bytes of environment; Lambda allows "
        f"{MAX_ENVIRONMENT_BYTES} (split the sources over two stacks or shorten names and paths)"
    )
