"""Where ``WebhookConsumer`` keeps what it accepted: the claim-check bucket, the ledger, the source secrets.

- The payload bucket is private (owner-enforced, every public access blocked), encrypted (SSE-S3),
  TLS-only, and expires payloads after the retention; incomplete uploads are aborted after a day.
- With ``payloadStore: s3express`` the payloads go to an S3 Express One Zone directory bucket
  instead (cheaper requests, one Availability Zone): always private and owner-enforced, SSE-S3 by
  default, expired by a lifecycle rule S3 may apply (its service principal is granted a session).
- The ledger is a DynamoDB table keyed on ``pk`` with TTL on ``expiresAt`` (the dedupe records).
- One Secrets Manager secret per source, its value (current and previous secret, public URL)
  written once the function URL is known.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from components.common import child, policy_json
from components.config import Source
from components.policy_documents import tls_only_statement
from components.specs.consumer import directory_bucket_name
from functions.inbound.envelope import PAYLOAD_PREFIX
from functions.inbound.source_secrets import secret_document


@dataclass(frozen=True)
class PayloadBucket:
    bucket: aws.s3.Bucket
    """Claim-checked payloads (``payloads/<source>/<digest>``)."""
    ownership: aws.s3.BucketOwnershipControls
    """``BucketOwnerEnforced``: ACLs are off, the account owns every object."""
    public_access: aws.s3.BucketPublicAccessBlock
    """Every kind of public access blocked."""
    encryption: aws.s3.BucketServerSideEncryptionConfiguration
    """SSE-S3 by default."""
    lifecycle: aws.s3.BucketLifecycleConfiguration
    """Payloads expire after the retention; incomplete multipart uploads after a day."""
    policy: aws.s3.BucketPolicy
    """TLS only."""


def payload_bucket(name: str, parent: pulumi.Resource, *, retention_days: int) -> PayloadBucket:
    """The claim-check bucket and its settings, children of ``parent`` named ``<name>-payloads...``."""
    bucket = aws.s3.Bucket(f"{name}-payloads", opts=child(parent))
    ownership = aws.s3.BucketOwnershipControls(
        f"{name}-payloads-ownership",
        bucket=bucket.id,
        rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
        opts=child(parent),
    )
    public_access = aws.s3.BucketPublicAccessBlock(
        f"{name}-payloads-public-access",
        bucket=bucket.id,
        block_public_acls=True,
        block_public_policy=True,
        ignore_public_acls=True,
        restrict_public_buckets=True,
        opts=child(parent),
    )
    encryption = aws.s3.BucketServerSideEncryptionConfiguration(
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
        opts=child(parent),
    )
    lifecycle = _payload_lifecycle(name, parent, bucket.id, retention_days)
    policy = aws.s3.BucketPolicy(
        f"{name}-payloads-policy",
        bucket=bucket.id,
        policy=policy_json([tls_only_statement([bucket.arn, pulumi.Output.concat(bucket.arn, "/*")])]),
        # S3 answers 409 when a policy is put while the public access block is being created.
        opts=child(parent, depends_on=[public_access]),
    )
    return PayloadBucket(bucket, ownership, public_access, encryption, lifecycle, policy)


def _payload_lifecycle(
    name: str, parent: pulumi.Resource, bucket: pulumi.Input[str], retention_days: int
) -> aws.s3.BucketLifecycleConfiguration:
    """Payloads expire after the retention, incomplete multipart uploads after a day: the same
    rules for both payload stores (``bucket`` is the bucket's name)."""
    return aws.s3.BucketLifecycleConfiguration(
        f"{name}-payloads-lifecycle",
        bucket=bucket,
        rules=[
            aws.s3.BucketLifecycleConfigurationRuleArgs(
                id="expire-payloads",
                status="Enabled",
                # Directory buckets take prefixes ending in the "/" delimiter: payloads/ does.
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
        opts=child(parent),
    )


# The service principal S3 Lifecycle uses to expire objects in a directory bucket (it must be
# granted a ReadWrite session in the bucket policy, or nothing expires: AWS S3 user guide).
S3_LIFECYCLE_PRINCIPAL = "lifecycle.s3.amazonaws.com"
# Random bytes in the directory bucket's name: such names are unique per zone across all accounts.
DIRECTORY_BUCKET_UNIQUE_BYTES = 4


@dataclass(frozen=True)
class PayloadDirectoryBucket:
    bucket: aws.s3.DirectoryBucket
    """Claim-checked payloads in one Availability Zone (S3 Express One Zone)."""
    lifecycle: aws.s3.BucketLifecycleConfiguration
    """Payloads expire after the retention; incomplete multipart uploads after a day."""
    policy: aws.s3.BucketPolicy
    """S3 Lifecycle may open a session (to expire objects); sessions only over TLS."""


def payload_directory_bucket(
    name: str, parent: pulumi.Resource, *, retention_days: int, zone_id: str
) -> PayloadDirectoryBucket:
    """The claim-check store as an S3 Express One Zone directory bucket in ``zone_id``.

    Directory buckets always block public access, disable ACLs and encrypt with SSE-S3 by default,
    so none of the general purpose bucket's settings resources are needed (or accepted).
    """
    unique = random.RandomId(f"{name}-payloads-unique", byte_length=DIRECTORY_BUCKET_UNIQUE_BYTES, opts=child(parent))
    bucket = aws.s3.DirectoryBucket(
        f"{name}-payloads",
        bucket=unique.hex.apply(lambda value: directory_bucket_name(name, value, zone_id)),
        location=aws.s3.DirectoryBucketLocationArgs(name=zone_id, type="AvailabilityZone"),
        data_redundancy="SingleAvailabilityZone",
        type="Directory",
        opts=child(parent),
    )
    lifecycle = _payload_lifecycle(name, parent, bucket.bucket, retention_days)
    policy = aws.s3.BucketPolicy(
        f"{name}-payloads-policy",
        bucket=bucket.bucket,
        policy=policy_json(
            [
                {
                    "Sid": "LifecycleExpiresPayloads",
                    "Effect": "Allow",
                    "Principal": {"Service": S3_LIFECYCLE_PRINCIPAL},
                    "Action": "s3express:CreateSession",
                    "Resource": [bucket.arn],
                    "Condition": {"StringEquals": {"s3express:SessionMode": "ReadWrite"}},
                },
                # Every object request of a directory bucket is made under a session: TLS for those.
                tls_only_statement([bucket.arn], action="s3express:CreateSession"),
            ]
        ),
        opts=child(parent),
    )
    return PayloadDirectoryBucket(bucket, lifecycle, policy)


def ledger_table(name: str, parent: pulumi.Resource) -> aws.dynamodb.Table:
    """The delivery ledger (dedupe records with a TTL), named ``<name>-ledger``."""
    return aws.dynamodb.Table(
        f"{name}-ledger",
        billing_mode="PAY_PER_REQUEST",
        hash_key="pk",
        # Only key attributes are declared: a TTL attribute here makes an endless diff.
        attributes=[aws.dynamodb.TableAttributeArgs(name="pk", type="S")],
        ttl=aws.dynamodb.TableTtlArgs(attribute_name="expiresAt", enabled=True),
        opts=child(parent),
    )


def source_secret(name: str, parent: pulumi.Resource, source: Source) -> aws.secretsmanager.Secret:
    """The source's secret, named ``name`` (``ConsumerSpec.secret_name``); its value is :func:`source_secret_value`."""
    return aws.secretsmanager.Secret(
        name,
        description=f"hookstack inbound source {source.name} ({source.kind}): JSON current/previous/publicUrl",
        recovery_window_in_days=7,
        opts=child(parent),
    )


def source_secret_value(
    name: str, parent: pulumi.Resource, source: Source, secret: aws.secretsmanager.Secret, public_url: pulumi.Input[str]
) -> aws.secretsmanager.SecretVersion:
    """The secret's value (:func:`functions.inbound.source_secrets.secret_document`), ``<name>-<source>-secret-value``."""
    current = pulumi.Output.secret(source.secret.reveal())
    previous = pulumi.Output.secret(source.previous_secret.reveal()) if source.previous_secret else None
    document = pulumi.Output.all(current, previous, public_url).apply(
        lambda values: secret_document(values[0], values[1], values[2])
    )
    return aws.secretsmanager.SecretVersion(
        f"{name}-{source.name}-secret-value",
        secret_id=secret.id,
        secret_string=document,  # secret: it is computed from secret Outputs
        opts=child(parent),
    )
