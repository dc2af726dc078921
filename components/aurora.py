"""AuroraRelay: Aurora PostgreSQL whose writes become events on the entry bus, with no phantom and
no loss (sql/002_outbox.sql has the database side, docs/aurora.md the whole story).

Declares:

- the network: the VPC from the config (``vpcId`` + ``subnetIds``; with the endpoint path its DNS
  support and DNS hostnames are checked before anything else, as the endpoint's private DNS name needs
  both) or a new one with two private subnets in two standard AZs (``opt-in-not-required``: never a
  Local or Wavelength Zone the account opted in to) and DNS support + hostnames; a path from the
  database to the Lambda API, either
  a Lambda interface endpoint with private DNS (``lambdaNetworkPath: endpoint``; its security group
  takes 443 from the database's only) or, in a created VPC, a NAT gateway in a public subnet
  (``nat``; with a given VPC ``nat`` means "already routed": nothing is created); security groups
  where the database takes 5432 only from members of its own group and sends 443 only to the path;
- an Aurora Serverless v2 cluster (``provisioned`` engine mode + ``db.serverless`` writer), storage
  encrypted, master password managed in Secrets Manager, the Data API on, PostgreSQL logs exported,
  deletion protection and final snapshot from the config (the snapshot identifier carries a random
  suffix generated with the cluster, so a re-created stack's second destroy does not collide with the
  first's snapshot); the engine pinned to its major version
  unless the config pins a minor (then automatic minor upgrades are off);
- an IAM role that ``rds.amazonaws.com`` assumes for this cluster only, allowed to invoke the relay
  and nothing else, associated with the cluster for feature ``Lambda`` (never via ``iam_roles``:
  both at once fight over the association);
- the relay (``functions.relay.handler``; async retries + on-failure SQS queue + alarm), the sweeper
  (``functions.sweeper.handler`` on an EventBridge Scheduler schedule with its own retry policy,
  dead-letter queue and alarm) and the migration function (``functions.migrate.handler``), invoked
  on deploy with the SQL of ``sql/NNN_*.sql`` whenever their content or the relay changes.

IAM is scoped to the cluster ARN, its master secret ARN, the bus ARN and the queues' ARNs.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from components.common import (
    LambdaFunction,
    assume_role_policy,
    child,
    encrypted_queue,
    policy_json,
    queue_depth_alarm,
    tls_only_statement,
)
from components.config import AuroraSettings
from components.entry_bus import BusRef
from components.packaging import Package
from functions.migrate import Migration, migrations_digest, read_migrations

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"
POSTGRES_PORT = 5432
HTTPS_PORT = 443
DATA_API_ACTIONS = (
    "rds-data:ExecuteStatement",
    "rds-data:BatchExecuteStatement",
    "rds-data:BeginTransaction",
    "rds-data:CommitTransaction",
    "rds-data:RollbackTransaction",
)
RELAY_TIMEOUT_SECONDS = 30
SWEEPER_TIMEOUT_SECONDS = 300
MIGRATION_TIMEOUT_SECONDS = 300
# Lambda retries a failed asynchronous invocation at most twice; an hour covers a database failover.
RELAY_ASYNC_RETRIES = 2
RELAY_MAX_EVENT_AGE_SECONDS = 3600
NAME_RE = re.compile(r"^[a-z](?:[a-z0-9]|-(?!-)){0,15}$")
MAX_SNAPSHOT_IDENTIFIER_CHARS = 255
SNAPSHOT_SUFFIX_BYTES = 4
# Availability zones that need no opt-in: never a Local Zone or Wavelength Zone (no Aurora there).
STANDARD_ZONES = aws.GetAvailabilityZonesFilterArgs(name="opt-in-status", values=["opt-in-not-required"])
VPC_ID_KEY = "hookstack:aurora.vpcId"


@dataclass(frozen=True)
class AuroraRelayArgs:
    settings: AuroraSettings
    """The validated ``hookstack:aurora`` configuration."""
    entry_bus: BusRef
    """The entry bus the relay and the sweeper publish to (``EntryBus.ref``); its ARN is the only
    resource their ``events:PutEvents`` may target."""
    package: Package
    """The shared ``functions/`` archive."""
    event_source: str = "hookstack.aurora"
    """``source`` of the events (the provider's event source + ``.aurora``)."""
    alarm_topic_arn: pulumi.Input[str] | None = None
    """SNS topic for the alarms (none: alarms only show in CloudWatch)."""
    migrations: Sequence[Migration] = field(default_factory=lambda: read_migrations(SQL_DIR))
    """The schema migrations applied on deploy (``sql/NNN_*.sql``)."""


@dataclass(frozen=True)
class _Network:
    vpc_id: pulumi.Input[str]
    subnet_ids: Sequence[pulumi.Input[str]]
    database_security_group: aws.ec2.SecurityGroup
    path_resources: list[pulumi.Resource]
    """What the database needs to reach the Lambda API (empty when the given VPC provides it)."""


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


def require_private_dns(vpc_id: str, enable_dns_support: bool | None, enable_dns_hostnames: bool | None) -> None:
    """The Lambda interface endpoint's private DNS name only resolves in a VPC with both attributes."""
    missing = [name for name, on in (("enableDnsSupport", enable_dns_support), ("enableDnsHostnames", enable_dns_hostnames)) if not on]
    if missing:
        raise pulumi.RunError(
            f"{VPC_ID_KEY}: VPC {vpc_id} has {' and '.join(missing)} off; the Lambda interface endpoint "
            "hookstack creates with private DNS needs both on (aws ec2 modify-vpc-attribute "
            f"--vpc-id {vpc_id} --enable-dns-support / --enable-dns-hostnames)"
        )


def _master_secret_arn(secrets: Sequence[Any]) -> str:
    arn = secrets[0].secret_arn if secrets else None
    if not arn:
        raise ValueError("the cluster reported no master user secret (manage_master_user_password must be on)")
    return str(arn)


def _zone(index: int) -> Any:
    return lambda names: names[index]


def schedule_expression(minutes: int) -> str:
    return "rate(1 minute)" if minutes == 1 else f"rate({minutes} minutes)"


class AuroraRelay(pulumi.ComponentResource):
    cluster: aws.rds.Cluster
    cluster_endpoint: pulumi.Output[str]
    """Writer endpoint (private: reachable from inside the VPC only)."""
    cluster_arn: pulumi.Output[str]
    secret_arn: pulumi.Output[str]
    """ARN of the master user secret Secrets Manager manages for the cluster (the ARN, not the secret)."""
    relay_function_name: pulumi.Output[str]
    sweeper_function_name: pulumi.Output[str]
    migration_function_name: pulumi.Output[str]

    def __init__(self, name: str, args: AuroraRelayArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("hookstack:index:AuroraRelay", name, None, opts)
        if not NAME_RE.match(name) or name.endswith("-"):
            raise ValueError(
                f"AuroraRelay name {name!r} must be 1-16 characters of a-z, 0-9 and single '-', starting "
                "with a letter (it starts the cluster identifier and function names)"
            )
        if not args.migrations:
            raise ValueError("AuroraRelay needs at least one migration (sql/NNN_name.sql)")
        self._name = name
        self._args = args
        settings = args.settings
        invoke_options = pulumi.InvokeOutputOptions(parent=self)
        self._region = aws.get_region_output(opts=invoke_options).region
        self._account = aws.get_caller_identity_output(opts=invoke_options).account_id

        self.network = self._network(settings)
        self.cluster, self.instance = self._cluster(settings, self.network)
        self.secret_arn = self.cluster.master_user_secrets.apply(_master_secret_arn)
        database_environment: dict[str, pulumi.Input[str]] = {
            "AURORA_CLUSTER_ARN": self.cluster.arn,
            "AURORA_SECRET_ARN": self.secret_arn,
            "AURORA_DATABASE_NAME": settings.database_name,
        }
        self.relay_dead_letter_queue = self._dead_letter_queue("relay-dlq", "Aurora relay invocations that failed every retry")
        self.relay = self._relay(database_environment)
        self.rds_role, self.role_association = self._rds_invoke_role()
        self.sweeper_dead_letter_queue = self._dead_letter_queue("sweeper-dlq", "Aurora outbox sweeps that could not run")
        self.sweeper, self.schedule = self._sweeper(settings, database_environment)
        self.migration, self.migration_invocation = self._migration(database_environment)

        self.cluster_endpoint = self.cluster.endpoint
        self.cluster_arn = self.cluster.arn
        self.relay_function_name = self.relay.function.name
        self.sweeper_function_name = self.sweeper.function.name
        self.migration_function_name = self.migration.function.name
        self.register_outputs(
            {
                "cluster_endpoint": self.cluster_endpoint,
                "cluster_arn": self.cluster_arn,
                "secret_arn": self.secret_arn,
                "relay_function_name": self.relay_function_name,
                "sweeper_function_name": self.sweeper_function_name,
                "migration_function_name": self.migration_function_name,
            }
        )

    # -- network -----------------------------------------------------------------------------

    def _network(self, settings: AuroraSettings) -> _Network:
        n = self._name
        path_resources: list[pulumi.Resource] = []
        if settings.vpc_id:
            if settings.lambda_network_path == "endpoint":
                # Checked now (a synchronous lookup, also in preview), before any resource of this component.
                given = aws.ec2.get_vpc(id=settings.vpc_id, opts=pulumi.InvokeOptions(parent=self))
                require_private_dns(settings.vpc_id, given.enable_dns_support, given.enable_dns_hostnames)
            vpc_id: pulumi.Input[str] = settings.vpc_id
            subnet_ids: list[pulumi.Input[str]] = list(settings.subnet_ids)
            vpc_cidr = None
        else:
            vpc = aws.ec2.Vpc(
                f"{n}-vpc",
                cidr_block=settings.vpc_cidr,
                # Both are required for the interface endpoint's private DNS name to resolve.
                enable_dns_support=True,
                enable_dns_hostnames=True,
                tags={"Name": f"{n}-vpc"},
                opts=child(self),
            )
            self.vpc = vpc
            vpc_id = vpc.id
            vpc_cidr = settings.vpc_cidr
            zones = aws.get_availability_zones_output(
                state="available", filters=[STANDARD_ZONES], opts=pulumi.InvokeOutputOptions(parent=self)
            )
            blocks = list(ipaddress.IPv4Network(settings.vpc_cidr).subnets(prefixlen_diff=2))
            private_routes = aws.ec2.RouteTable(f"{n}-private-rt", vpc_id=vpc.id, tags={"Name": f"{n}-private"}, opts=child(self))
            self.private_subnets = []
            for index in range(2):
                subnet = aws.ec2.Subnet(
                    f"{n}-private-{index}",
                    vpc_id=vpc.id,
                    cidr_block=str(blocks[index]),
                    availability_zone=zones.names.apply(_zone(index)),
                    map_public_ip_on_launch=False,
                    tags={"Name": f"{n}-private-{index}"},
                    opts=child(self),
                )
                aws.ec2.RouteTableAssociation(
                    f"{n}-private-{index}-rt", subnet_id=subnet.id, route_table_id=private_routes.id, opts=child(self)
                )
                self.private_subnets.append(subnet)
            subnet_ids = [s.id for s in self.private_subnets]
            if settings.lambda_network_path == "nat":
                path_resources.extend(self._nat(vpc, zones, str(blocks[2]), private_routes))

        database_sg = aws.ec2.SecurityGroup(
            f"{n}-db-sg",
            vpc_id=vpc_id,
            description="hookstack Aurora cluster: 5432 from this group only; 443 out to the Lambda API path",
            opts=child(self),
        )
        aws.vpc.SecurityGroupIngressRule(
            f"{n}-db-from-members",
            security_group_id=database_sg.id,
            referenced_security_group_id=database_sg.id,
            ip_protocol="tcp",
            from_port=POSTGRES_PORT,
            to_port=POSTGRES_PORT,
            description="PostgreSQL from members of this group (attach it to a bastion to run psql)",
            opts=child(self),
        )
        if settings.lambda_network_path == "endpoint":
            endpoint_sg = aws.ec2.SecurityGroup(
                f"{n}-lambda-endpoint-sg",
                vpc_id=vpc_id,
                description="hookstack Lambda interface endpoint: HTTPS from the Aurora cluster only",
                opts=child(self),
            )
            aws.vpc.SecurityGroupIngressRule(
                f"{n}-endpoint-from-db",
                security_group_id=endpoint_sg.id,
                referenced_security_group_id=database_sg.id,
                ip_protocol="tcp",
                from_port=HTTPS_PORT,
                to_port=HTTPS_PORT,
                description="HTTPS from the Aurora cluster (aws_lambda.invoke)",
                opts=child(self),
            )
            aws.vpc.SecurityGroupEgressRule(
                f"{n}-db-to-endpoint",
                security_group_id=database_sg.id,
                referenced_security_group_id=endpoint_sg.id,
                ip_protocol="tcp",
                from_port=HTTPS_PORT,
                to_port=HTTPS_PORT,
                description="HTTPS to the Lambda interface endpoint",
                opts=child(self),
            )
            self.lambda_endpoint = aws.ec2.VpcEndpoint(
                f"{n}-lambda-endpoint",
                vpc_id=vpc_id,
                service_name=pulumi.Output.concat("com.amazonaws.", self._region, ".lambda"),
                vpc_endpoint_type="Interface",
                private_dns_enabled=True,
                subnet_ids=subnet_ids,
                security_group_ids=[endpoint_sg.id],
                tags={"Name": f"{n}-lambda"},
                opts=child(self),
            )
            path_resources.append(self.lambda_endpoint)
        else:
            aws.vpc.SecurityGroupEgressRule(
                f"{n}-db-to-lambda-api",
                security_group_id=database_sg.id,
                # The Lambda API has no fixed addresses or managed prefix list to narrow this to.
                cidr_ipv4="0.0.0.0/0",
                ip_protocol="tcp",
                from_port=HTTPS_PORT,
                to_port=HTTPS_PORT,
                description="HTTPS to the Lambda API through NAT",
                opts=child(self),
            )
        if vpc_cidr is None and settings.lambda_network_path == "nat":
            pulumi.log.info(
                "aurora: lambdaNetworkPath nat with a given VPC creates no route; its subnets must reach the Lambda API",
                resource=self,
            )
        return _Network(vpc_id, subnet_ids, database_sg, path_resources)

    def _nat(
        self, vpc: aws.ec2.Vpc, zones: Any, public_cidr: str, private_routes: aws.ec2.RouteTable
    ) -> list[pulumi.Resource]:
        n = self._name
        gateway = aws.ec2.InternetGateway(f"{n}-igw", vpc_id=vpc.id, tags={"Name": f"{n}-igw"}, opts=child(self))
        public = aws.ec2.Subnet(
            f"{n}-public-0",
            vpc_id=vpc.id,
            cidr_block=public_cidr,
            availability_zone=zones.names.apply(lambda names: names[0]),
            map_public_ip_on_launch=False,
            tags={"Name": f"{n}-public-0"},
            opts=child(self),
        )
        public_routes = aws.ec2.RouteTable(f"{n}-public-rt", vpc_id=vpc.id, tags={"Name": f"{n}-public"}, opts=child(self))
        aws.ec2.Route(
            f"{n}-public-default", route_table_id=public_routes.id, destination_cidr_block="0.0.0.0/0",
            gateway_id=gateway.id, opts=child(self),
        )
        aws.ec2.RouteTableAssociation(f"{n}-public-0-rt", subnet_id=public.id, route_table_id=public_routes.id, opts=child(self))
        address = aws.ec2.Eip(f"{n}-nat-ip", domain="vpc", opts=child(self, depends_on=[gateway]))
        nat = aws.ec2.NatGateway(f"{n}-nat", subnet_id=public.id, allocation_id=address.id, opts=child(self))
        route = aws.ec2.Route(
            f"{n}-private-default", route_table_id=private_routes.id, destination_cidr_block="0.0.0.0/0",
            nat_gateway_id=nat.id, opts=child(self),
        )
        return [nat, route]

    # -- database ----------------------------------------------------------------------------

    def _cluster(self, settings: AuroraSettings, network: _Network) -> tuple[aws.rds.Cluster, aws.rds.ClusterInstance]:
        n = self._name
        subnet_group = aws.rds.SubnetGroup(
            f"{n}-subnets",
            subnet_ids=list(network.subnet_ids),
            description="hookstack Aurora: private subnets",
            opts=child(self),
        )
        snapshot: dict[str, Any] = {}
        if not settings.skip_final_snapshot:
            stack = pulumi.get_stack()
            # Generated with the cluster: a new suffix whenever a new cluster is created (a re-created
            # stack, or an input that replaces the cluster), so no final snapshot name is used twice.
            self.snapshot_suffix = random.RandomId(
                f"{n}-final-snapshot-suffix",
                byte_length=SNAPSHOT_SUFFIX_BYTES,
                keepers={
                    "databaseName": settings.database_name,
                    "masterUsername": settings.master_username,
                    "subnetGroup": subnet_group.name,
                },
                opts=child(self),
            )
            snapshot["final_snapshot_identifier"] = self.snapshot_suffix.hex.apply(
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
            backup_retention_period=7,
            copy_tags_to_snapshot=True,
            enabled_cloudwatch_logs_exports=["postgresql"],
            opts=child(self),
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
            opts=child(self),
        )
        return cluster, instance

    def _rds_invoke_role(self) -> tuple[aws.iam.Role, aws.rds.ClusterRoleAssociation]:
        n = self._name
        trust = policy_json(
            [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "rds.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                    # Confused-deputy protection: only this cluster of this account.
                    "Condition": {
                        "StringEquals": {"aws:SourceAccount": self._account},
                        "ArnLike": {"aws:SourceArn": self.cluster.arn},
                    },
                }
            ]
        )
        role = aws.iam.Role(
            f"{n}-rds-invoke-role",
            description="Aurora invokes the hookstack relay (aws_lambda.invoke)",
            assume_role_policy=trust,
            opts=child(self),
        )
        policy = aws.iam.RolePolicy(
            f"{n}-rds-invoke-policy",
            role=role.id,
            policy=policy_json(
                [{"Sid": "InvokeRelayOnly", "Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": self.relay.function.arn}]
            ),
            opts=child(self),
        )
        association = aws.rds.ClusterRoleAssociation(
            f"{n}-lambda-role",
            db_cluster_identifier=self.cluster.id,
            feature_name="Lambda",
            role_arn=role.arn,
            opts=child(self, depends_on=[policy, self.instance]),
        )
        return role, association

    # -- functions ---------------------------------------------------------------------------

    def _dead_letter_queue(self, suffix: str, what: str) -> aws.sqs.Queue:
        queue = encrypted_queue(f"{self._name}-{suffix}", self)
        aws.sqs.QueuePolicy(
            f"{self._name}-{suffix}-policy",
            queue_url=queue.url,
            policy=policy_json([tls_only_statement([queue.arn])]),
            opts=child(self),
        )
        queue_depth_alarm(f"{self._name}-{suffix}-alarm", self, queue, self._args.alarm_topic_arn, what)
        return queue

    def _data_api_statements(self, actions: Sequence[str]) -> list[dict[str, Any]]:
        return [
            {"Sid": "DataApiOnThisCluster", "Effect": "Allow", "Action": list(actions), "Resource": self.cluster.arn},
            {"Sid": "ReadMasterSecret", "Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": self.secret_arn},
        ]

    def _relay(self, database_environment: dict[str, pulumi.Input[str]]) -> LambdaFunction:
        n = self._name
        relay = LambdaFunction.create(
            f"{n}-relay",
            self,
            package=self._args.package,
            handler="functions.relay.handler",
            description="hookstack Aurora relay: committed outbox rows to the entry bus",
            statements=[
                *self._data_api_statements(["rds-data:ExecuteStatement"]),
                {"Sid": "PublishToEntryBus", "Effect": "Allow", "Action": "events:PutEvents", "Resource": self._args.entry_bus.arn},
                # Lambda writes failed asynchronous invocations to the on-failure queue with this role.
                {"Sid": "OnFailureQueue", "Effect": "Allow", "Action": "sqs:SendMessage", "Resource": self.relay_dead_letter_queue.arn},
            ],
            environment={
                **database_environment,
                "EVENT_BUS_NAME": self._args.entry_bus.name,
                "AURORA_EVENT_SOURCE": self._args.event_source,
                "RELAY_COMMIT_WAIT_SECONDS": "3",
                "RELAY_LEASE_SECONDS": str(RELAY_TIMEOUT_SECONDS * 2),
            },
            timeout_seconds=RELAY_TIMEOUT_SECONDS,
            alarm_topic_arn=self._args.alarm_topic_arn,
        )
        aws.lambda_.FunctionEventInvokeConfig(
            f"{n}-relay-async",
            function_name=relay.function.name,
            maximum_retry_attempts=RELAY_ASYNC_RETRIES,
            maximum_event_age_in_seconds=RELAY_MAX_EVENT_AGE_SECONDS,
            destination_config=aws.lambda_.FunctionEventInvokeConfigDestinationConfigArgs(
                on_failure=aws.lambda_.FunctionEventInvokeConfigDestinationConfigOnFailureArgs(
                    destination=self.relay_dead_letter_queue.arn
                )
            ),
            opts=child(self, depends_on=[p for p in [relay.role_policy] if p is not None]),
        )
        return relay

    def _sweeper(
        self, settings: AuroraSettings, database_environment: dict[str, pulumi.Input[str]]
    ) -> tuple[LambdaFunction, aws.scheduler.Schedule]:
        n = self._name
        interval_seconds = settings.sweep_interval_minutes * 60
        sweeper = LambdaFunction.create(
            f"{n}-sweeper",
            self,
            package=self._args.package,
            handler="functions.sweeper.handler",
            description="hookstack Aurora outbox sweeper: re-sends committed rows not yet published",
            statements=[
                *self._data_api_statements(["rds-data:ExecuteStatement"]),
                {"Sid": "PublishToEntryBus", "Effect": "Allow", "Action": "events:PutEvents", "Resource": self._args.entry_bus.arn},
                {"Sid": "OnFailureQueue", "Effect": "Allow", "Action": "sqs:SendMessage", "Resource": self.sweeper_dead_letter_queue.arn},
            ],
            environment={
                **database_environment,
                "EVENT_BUS_NAME": self._args.entry_bus.name,
                "AURORA_EVENT_SOURCE": self._args.event_source,
                "SWEEPER_GRACE_SECONDS": str(settings.sweep_grace_seconds),
                "SWEEPER_BATCH_SIZE": "100",
                "SWEEPER_LEASE_SECONDS": str(SWEEPER_TIMEOUT_SECONDS + 60),
                "SWEEPER_RETENTION_DAYS": "7",
            },
            timeout_seconds=SWEEPER_TIMEOUT_SECONDS,
            alarm_topic_arn=self._args.alarm_topic_arn,
        )
        aws.lambda_.FunctionEventInvokeConfig(
            f"{n}-sweeper-async",
            function_name=sweeper.function.name,
            # The next scheduled run is the retry; a failed run goes to the queue (and alarms).
            maximum_retry_attempts=0,
            maximum_event_age_in_seconds=max(60, interval_seconds),
            destination_config=aws.lambda_.FunctionEventInvokeConfigDestinationConfigArgs(
                on_failure=aws.lambda_.FunctionEventInvokeConfigDestinationConfigOnFailureArgs(
                    destination=self.sweeper_dead_letter_queue.arn
                )
            ),
            opts=child(self, depends_on=[p for p in [sweeper.role_policy] if p is not None]),
        )
        scheduler_role = aws.iam.Role(
            f"{n}-schedule-role",
            description="EventBridge Scheduler runs the hookstack outbox sweeper",
            assume_role_policy=assume_role_policy("scheduler.amazonaws.com", source_account=self._account),
            opts=child(self),
        )
        scheduler_policy = aws.iam.RolePolicy(
            f"{n}-schedule-policy",
            role=scheduler_role.id,
            policy=policy_json(
                [
                    {"Sid": "InvokeSweeper", "Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": sweeper.function.arn},
                    # Scheduler delivers undeliverable runs to the dead-letter queue with this role.
                    {"Sid": "DeadLetterQueue", "Effect": "Allow", "Action": "sqs:SendMessage", "Resource": self.sweeper_dead_letter_queue.arn},
                ]
            ),
            opts=child(self),
        )
        schedule = aws.scheduler.Schedule(
            f"{n}-sweep",
            description="Publish committed Aurora outbox rows the relay did not",
            schedule_expression=schedule_expression(settings.sweep_interval_minutes),
            flexible_time_window=aws.scheduler.ScheduleFlexibleTimeWindowArgs(mode="OFF"),
            target=aws.scheduler.ScheduleTargetArgs(
                arn=sweeper.function.arn,
                role_arn=scheduler_role.arn,
                input="{}",
                retry_policy=aws.scheduler.ScheduleTargetRetryPolicyArgs(
                    maximum_retry_attempts=2, maximum_event_age_in_seconds=max(60, interval_seconds)
                ),
                dead_letter_config=aws.scheduler.ScheduleTargetDeadLetterConfigArgs(arn=self.sweeper_dead_letter_queue.arn),
            ),
            opts=child(self, depends_on=[scheduler_policy]),
        )
        return sweeper, schedule

    def _migration(
        self, database_environment: dict[str, pulumi.Input[str]]
    ) -> tuple[LambdaFunction, aws.lambda_.Invocation]:
        n = self._name
        migration = LambdaFunction.create(
            f"{n}-migrate",
            self,
            package=self._args.package,
            handler="functions.migrate.handler",
            description="hookstack Aurora schema migrations (sql/), applied on deploy",
            statements=self._data_api_statements(DATA_API_ACTIONS),
            environment=database_environment,
            timeout_seconds=MIGRATION_TIMEOUT_SECONDS,
            alarm_topic_arn=self._args.alarm_topic_arn,
        )
        migrations = list(self._args.migrations)
        payload = pulumi.Output.json_dumps(
            {
                "migrations": [m.payload() for m in migrations],
                "relay": {"functionArn": self.relay.function.arn, "region": self._region},
            }
        )
        invocation = aws.lambda_.Invocation(
            f"{n}-migrations",
            function_name=migration.function.name,
            input=payload,
            # Re-run whenever a migration or the relay changes (a failing migration fails the deploy).
            triggers={"migrations": migrations_digest(migrations), "relay": self.relay.function.arn},
            opts=child(
                self,
                depends_on=[
                    self.instance,
                    self.role_association,
                    *self.network.path_resources,
                    *[p for p in [migration.role_policy] if p is not None],
                ],
            ),
        )
        return migration, invocation
