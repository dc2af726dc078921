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

from components.common import LambdaFunction, contract_environment
from components.packaging import Package
from components.specs.consumer import ConsumerSpec
from functions.inbound.envelope import PAYLOAD_PREFIX


def _payloads_arn(bucket: aws.s3.Bucket) -> pulumi.Output[str]:
    """The claim-checked payloads' objects (``<bucket ARN>/payloads/*``)."""
    return pulumi.Output.concat(bucket.arn, "/", PAYLOAD_PREFIX, "*")


def _session(sid: str, bucket: aws.s3.DirectoryBucket, mode: str) -> dict[str, object]:
    """Access to a directory bucket: a ``mode`` (``ReadWrite`` / ``ReadOnly``) session on it only.

    Directory buckets authorize object requests per session, not per action or key: the finest
    grain IAM offers is the session mode (AWS S3 user guide, "Authorizing Zonal endpoint API
    operations with CreateSession"). The bucket holds nothing but payloads.
    """
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Action": "s3express:CreateSession",
        "Resource": [bucket.arn],
        "Condition": {"StringEquals": {"s3express:SessionMode": mode}},
    }


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
) -> LambdaFunction:
    """The ingest function named ``name`` (``spec.ingest_function_name``); ``secrets`` by source name;
    ``layers``: the crypto layer's ARN when a source verifies with a public key, else none."""
    statements = [
        {
            "Sid": "ReadSourceSecrets",
            "Effect": "Allow",
            "Action": "secretsmanager:GetSecretValue",
            "Resource": [secret.arn for secret in secrets.values()],
        },
        {
            "Sid": "DeliveryLedger",
            "Effect": "Allow",
            # Look a delivery up, record it once enqueued: nothing is ever updated or released.
            "Action": ["dynamodb:GetItem", "dynamodb:PutItem"],
            "Resource": [table.arn],
        },
        (
            _session("StoreLargePayloads", bucket, "ReadWrite")
            if isinstance(bucket, aws.s3.DirectoryBucket)
            else {
                "Sid": "StoreLargePayloads",
                "Effect": "Allow",
                "Action": "s3:PutObject",
                "Resource": [_payloads_arn(bucket)],
            }
        ),
        {"Sid": "Enqueue", "Effect": "Allow", "Action": "sqs:SendMessage", "Resource": [queue.arn]},
    ]
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
    )


def enrich_function(
    name: str,
    parent: pulumi.Resource,
    *,
    spec: ConsumerSpec,
    package: Package,
    bucket: aws.s3.Bucket | aws.s3.DirectoryBucket,
    alarm_topic_arn: pulumi.Input[str] | None,
) -> LambdaFunction:
    """The enrichment function named ``name`` (``spec.enrich_function_name``)."""
    if isinstance(bucket, aws.s3.DirectoryBucket):
        # A read-only session lists too: a missing payload is answered 404 (gone), not 403.
        statements: list[dict[str, object]] = [_session("ReadPayloads", bucket, "ReadOnly")]
    else:
        statements = [
            {"Sid": "ReadPayloads", "Effect": "Allow", "Action": "s3:GetObject", "Resource": [_payloads_arn(bucket)]},
            {
                # With ListBucket S3 answers 404 for a payload that expired, not 403, so the
                # enrichment can tell "gone" from "denied". The bucket holds only payloads, whose
                # names (digests) reveal nothing the role cannot already read. No s3:prefix
                # condition: whether S3 applies one to that 404 decision is not documented.
                "Sid": "TellMissingPayloadsFromDenied",
                "Effect": "Allow",
                "Action": "s3:ListBucket",
                "Resource": [bucket.arn],
            },
        ]
    return LambdaFunction.create(
        name,
        parent,
        package=package,
        handler=spec.enrich_handler,
        description="hookstack inbound webhooks: rehydrate claim-checked payloads for the pipe target",
        statements=statements,
        environment=spec.enrich_settings().to_environ(),
        timeout_seconds=spec.enrichment_timeout_seconds,
        memory_mb=spec.enrich_memory_mb,
        alarm_topic_arn=alarm_topic_arn,
    )
