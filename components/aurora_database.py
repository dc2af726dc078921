"""The Aurora relay's database: the cluster, its writer, and the role it invokes the relay with.

An Aurora Serverless v2 cluster (``provisioned`` engine mode + ``db.serverless`` writer), storage
encrypted, master password managed in Secrets Manager, the Data API on, PostgreSQL logs exported,
deletion protection and final snapshot from the config (the snapshot identifier carries a random
suffix generated with the cluster, so a re-created stack's second destroy does not collide with the
first's snapshot); the engine pinned to its major version unless the config pins a minor (then
automatic minor upgrades are off).

An IAM role that ``rds.amazonaws.com`` assumes for this cluster only, allowed to invoke the relay
and nothing else, associated with the cluster for feature ``Lambda`` (never via ``iam_roles``: both
at once fight over the association).

Every resource is a child of the :class:`components.aurora.AuroraRelay` given as ``parent``, under
the logical name it always had (URNs are stable).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from components.aurora_network import POSTGRES_PORT, AuroraNetwork
from components.common import child, policy_json
from components.config import AuroraSettings
from components.specs.aurora import rds_invoke_statements

MAX_SNAPSHOT_IDENTIFIER_CHARS = 255
SNAPSHOT_SUFFIX_BYTES = 4
BACKUP_RETENTION_DAYS = 7


@dataclass(frozen=True)
class AuroraDatabase:
    """The cluster and what comes with it (returned by :func:`create_database`)."""

    cluster: aws.rds.Cluster
    """The Aurora Serverless v2 cluster (storage encrypted, Data API on)."""
    instance: aws.rds.ClusterInstance
    """The writer."""
    secret_arn: pulumi.Output[str]
    """ARN of the master user secret Secrets Manager manages for the cluster (the ARN, not the secret)."""
    snapshot_suffix: random.RandomId | None
    """Unique per cluster; none when the final snapshot is skipped."""


def is_major_version(version: str) -> bool:
    return "." not in version


def final_snapshot_identifier(name: str, stack: str, suffix: str) -> str:
    """``<name>-final-<stack>-<suffix>`` as RDS allows it: 1-255 letters, digits and single hyphens,
    starting with a letter, not ending with a hyphen; the suffix (unique per cluster) always kept."""
    if not re.fullmatch(r"[A-Za-z0-9]+", suffix):
        raise ValueError(f"snapshot suffix must be letters and digits; got {suffix!r}")
    raw = re.sub(r"-{2,}", "-", re.sub(r"[^A-Za-z0-9]+", "-", f"{name}-final-{stack}")).strip("-")
    base = raw[: MAX_SNAPSHOT_IDENTIFIER_CHARS - len(suffix) - 1].rstrip("-")
    if not base[:1].isalpha():
        base = f"s-{base}".rstrip("-")[: MAX_SNAPSHOT_IDENTIFIER_CHARS - len(suffix) - 1].rstrip("-")
    return f"{base}-{suffix}"


def _master_secret_arn(secrets: Sequence[Any]) -> str:
    arn = secrets[0].secret_arn if secrets else None
    if not arn:
        raise ValueError("the cluster reported no master user secret (manage_master_user_password must be on)")
    return str(arn)


def create_database(
    n: str, settings: AuroraSettings, network: AuroraNetwork, parent: pulumi.Resource
) -> AuroraDatabase:
    """The cluster and writer of the component named ``n`` (its resources are ``parent``'s children)."""
    subnet_group = aws.rds.SubnetGroup(
        f"{n}-subnets",
        subnet_ids=list(network.subnet_ids),
        description="hookstack Aurora: private subnets",
        opts=child(parent),
    )
    snapshot: dict[str, Any] = {}
    snapshot_suffix = None
    if not settings.skip_final_snapshot:
        stack = pulumi.get_stack()
        # Generated with the cluster: a new suffix whenever a new cluster is created (a re-created
        # stack, or an input that replaces the cluster), so no final snapshot name is used twice.
        snapshot_suffix = random.RandomId(
            f"{n}-final-snapshot-suffix",
            byte_length=SNAPSHOT_SUFFIX_BYTES,
            keepers={
                "databaseName": settings.database_name,
                "masterUsername": settings.master_username,
                "subnetGroup": subnet_group.name,
            },
            opts=child(parent),
        )
        snapshot["final_snapshot_identifier"] = snapshot_suffix.hex.apply(
            lambda suffix: final_snapshot_identifier(n, stack, suffix)
        )
    cluster = aws.rds.Cluster(
        f"{n}-cluster",
        engine=aws.rds.EngineType.AURORA_POSTGRESQL,
        # Serverless v2 is the provisioned engine mode with db.serverless instances.
        engine_mode="provisioned",
        engine_version=settings.engine_version,
        database_name=settings.database_name,
        master_username=settings.master_username,
        manage_master_user_password=True,
        storage_encrypted=True,
        enable_http_endpoint=True,
        serverlessv2_scaling_configuration=aws.rds.ClusterServerlessv2ScalingConfigurationArgs(
            min_capacity=settings.min_capacity, max_capacity=settings.max_capacity
        ),
        db_subnet_group_name=subnet_group.name,
        vpc_security_group_ids=[network.database_security_group.id],
        port=POSTGRES_PORT,
        deletion_protection=settings.deletion_protection,
        skip_final_snapshot=settings.skip_final_snapshot,
        backup_retention_period=BACKUP_RETENTION_DAYS,
        copy_tags_to_snapshot=True,
        enabled_cloudwatch_logs_exports=["postgresql"],
        opts=child(parent),
        **snapshot,
    )
    instance = aws.rds.ClusterInstance(
        f"{n}-writer",
        cluster_identifier=cluster.id,
        instance_class="db.serverless",
        engine=aws.rds.EngineType.AURORA_POSTGRESQL,
        engine_version=cluster.engine_version,
        db_subnet_group_name=subnet_group.name,
        publicly_accessible=False,
        # A pinned minor version must not move under the stack (the next apply would try to go back).
        auto_minor_version_upgrade=is_major_version(settings.engine_version),
        opts=child(parent),
    )
    secret_arn = cluster.master_user_secrets.apply(_master_secret_arn)
    return AuroraDatabase(cluster, instance, secret_arn, snapshot_suffix)


def create_rds_invoke_role(
    n: str,
    database: AuroraDatabase,
    relay_arn: pulumi.Input[str],
    account: pulumi.Input[str],
    parent: pulumi.Resource,
) -> tuple[aws.iam.Role, aws.rds.ClusterRoleAssociation]:
    """The role the cluster invokes the relay (``relay_arn``, and nothing else) with, associated with it."""
    trust = policy_json(
        [
            {
                "Effect": "Allow",
                "Principal": {"Service": "rds.amazonaws.com"},
                "Action": "sts:AssumeRole",
                # Confused-deputy protection: only this cluster of this account.
                "Condition": {
                    "StringEquals": {"aws:SourceAccount": account},
                    "ArnLike": {"aws:SourceArn": database.cluster.arn},
                },
            }
        ]
    )
    role = aws.iam.Role(
        f"{n}-rds-invoke-role",
        description="Aurora invokes the hookstack relay (aws_lambda.invoke)",
        assume_role_policy=trust,
        opts=child(parent),
    )
    policy = aws.iam.RolePolicy(
        f"{n}-rds-invoke-policy",
        role=role.id,
        policy=policy_json(rds_invoke_statements(relay_arn=relay_arn)),
        opts=child(parent),
    )
    association = aws.rds.ClusterRoleAssociation(
        f"{n}-lambda-role",
        db_cluster_identifier=database.cluster.id,
        feature_name="Lambda",
        role_arn=role.arn,
        opts=child(parent, depends_on=[policy, database.instance]),
    )
    return role, association
