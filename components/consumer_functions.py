"""The two functions of ``WebhookConsumer``, each allowed exactly its work.

- **ingest** (behind the public function URL): reads the source secrets, reads and writes the ledger, puts
  large payloads under ``payloads/`` and enqueues; its concurrency is reserved, so a flood of
  requests is throttled there instead of taking the account's pool.
- **enrich** (the pipe's enrichment): reads payloads back, and may list the bucket to tell an
  expired payload from a denied one.

Each function's environment is written by its runtime contract (:mod:`functions.inbound.settings`)
through the spec (:mod:`components.specs.consumer`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pulumi
import pulumi_aws as aws

from components.common import FunctionTelemetry, LambdaFunction, contract_environment
from components.packaging import Package
from components.specs.consumer import ConsumerSpec, payload_objects_arn


def _payloads_arn(bucket: aws.s3.Bucket | aws.s3.DirectoryBucket) -> pulumi.Output[str]:
    """The claim-checked payloads' objects (``<bucket ARN>/payloads/*``)."""
    return bucket.arn.apply(payload_objects_arn)


def ingest_function(
    name: str,
    parent: pulumi.Resource,
    *,
    spec: ConsumerSpec,
    package: Package,
    secrets: Mapping[str, aws.secretsmanager.Secret],
    table: aws.dynamodb.Table,
    bucket: aws.s3.Bucket | aws.s3.DirectoryBucket,
    queue: aws.sqs.Queue,
    reserved_concurrency: int | None,
    alarm_topic_arn: pulumi.Input[str] | None,
    layers: Sequence[pulumi.Input[str]] = (),
    telemetry: FunctionTelemetry | None = None,
) -> LambdaFunction:
    """The ingest function named ``name`` (``spec.ingest_function_name``); ``secrets`` by source name;
    ``layers``: the crypto layer's ARN when a source verifies with a public key, else none."""
    statements = spec.ingest_statements(
        secret_arns=[secret.arn for secret in secrets.values()],
        table_arn=table.arn,
        payloads_arn=_payloads_arn(bucket),
        bucket_arn=bucket.arn,
        queue_arn=queue.arn,
    )
    # Secret names, not ARNs: half the length, and Lambda's environment holds only 4 KB.
    secret_names = [secrets[source.name].name for source in spec.sources]
    environment = contract_environment(
        lambda table_name, queue_url, bucket_name, *secret_ids: spec.ingest_settings(
            table_name=table_name, queue_url=queue_url, bucket_name=bucket_name, secret_ids=list(secret_ids)
        ).to_environ(),
        table.name,
        queue.url,
        bucket.bucket,
        *secret_names,
    )
    return LambdaFunction.create(
        name,
        parent,
        package=package,
        handler=spec.ingest_handler,
        description="hookstack inbound webhooks: verify, dedupe, claim-check, enqueue",
        statements=statements,
        environment=environment,
        timeout_seconds=spec.ingest_timeout_seconds,
        memory_mb=spec.ingest_memory_mb,
        alarm_topic_arn=alarm_topic_arn,
        # The endpoint is public: a flood is throttled (429) here instead of taking the account's pool.
        reserved_concurrency=reserved_concurrency,
        layers=layers,
        telemetry=telemetry,
    )


def enrich_function(
    name: str,
    parent: pulumi.Resource,
    *,
    spec: ConsumerSpec,
    package: Package,
    bucket: aws.s3.Bucket | aws.s3.DirectoryBucket,
    alarm_topic_arn: pulumi.Input[str] | None,
    telemetry: FunctionTelemetry | None = None,
) -> LambdaFunction:
    """The enrichment function named ``name`` (``spec.enrich_function_name``)."""
    return LambdaFunction.create(
        name,
        parent,
        package=package,
        handler=spec.enrich_handler,
        description="hookstack inbound webhooks: rehydrate claim-checked payloads for the pipe target",
        statements=spec.enrich_statements(payloads_arn=_payloads_arn(bucket), bucket_arn=bucket.arn),
        environment=spec.enrich_settings().to_environ(),
        timeout_seconds=spec.enrichment_timeout_seconds,
        memory_mb=spec.enrich_memory_mb,
        alarm_topic_arn=alarm_topic_arn,
        telemetry=telemetry,
    )
