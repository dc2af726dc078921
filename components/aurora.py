"""AuroraRelay: Aurora PostgreSQL whose writes become events on the entry bus, with no phantom and
no loss (sql/002_outbox.sql has the database side, docs/aurora.md the whole story).

The component is assembled from:

- ``components/aurora_network.py``: the VPC (given or created), the path from the database to the
  Lambda API (interface endpoint or NAT) and the security groups;
- ``components/aurora_database.py``: the Serverless v2 cluster and writer, and the role the cluster
  invokes the relay with;
- this module: the relay (``functions.relay.handler``; async retries + on-failure SQS queue + alarm),
  the sweeper (``functions.sweeper.handler`` on an EventBridge Scheduler schedule with its own retry
  policy, dead-letter queue and alarm) and the migration function (``functions.migrate.handler``),
  invoked on deploy with the SQL of ``sql/NNN_*.sql`` whenever their content or the relay changes;
- ``components/specs/aurora.py`` (Pulumi-free, shared with the sandbox): every derived value
  (timeouts, leases, schedule, retries, handler names, the event source) and each function's
  environment, built through its contract in ``functions/``.

IAM is scoped to the cluster ARN, its master secret ARN, the bus ARN and the queues' ARNs.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from components.aurora_database import AuroraDatabase, create_database, create_rds_invoke_role
from components.aurora_network import AuroraNetwork, create_network
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
from components.specs.aurora import AuroraSpec
from functions.migrate import Migration, migrations_digest, read_migrations

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"
DATA_API_ACTIONS = (
    "rds-data:ExecuteStatement",
    "rds-data:BatchExecuteStatement",
    "rds-data:BeginTransaction",
    "rds-data:CommitTransaction",
    "rds-data:RollbackTransaction",
)
NAME_RE = re.compile(r"^[a-z](?:[a-z0-9]|-(?!-)){0,15}$")


@dataclass(frozen=True)
class AuroraRelayArgs:
    settings: AuroraSettings
    """The validated ``hookstack:aurora`` configuration."""
    entry_bus: BusRef
    """The entry bus the relay and the sweeper publish to (``EntryBus.ref``); its ARN is the only
    resource their ``events:PutEvents`` may target."""
    package: Package
    """The shared ``functions/`` archive."""
    provider_event_source: str = "hookstack"
    """The provider's ``eventSource``: the events' ``source`` is it + ``.aurora`` (the spec says how)."""
    alarm_topic_arn: pulumi.Input[str] | None = None
    """SNS topic for the alarms (none: alarms only show in CloudWatch)."""
    migrations: Sequence[Migration] = field(default_factory=lambda: read_migrations(SQL_DIR))
    """The schema migrations applied on deploy (``sql/NNN_*.sql``)."""


class AuroraRelay(pulumi.ComponentResource):
    spec: AuroraSpec
    network: AuroraNetwork
    database: AuroraDatabase
    cluster: aws.rds.Cluster
    instance: aws.rds.ClusterInstance
    snapshot_suffix: random.RandomId | None
    cluster_endpoint: pulumi.Output[str]
    """Writer endpoint (private: reachable from inside the VPC only)."""
    cluster_arn: pulumi.Output[str]
    secret_arn: pulumi.Output[str]
    """ARN of the master user secret Secrets Manager manages for the cluster (the ARN, not the secret)."""
    relay_dead_letter_queue: aws.sqs.Queue
    relay: LambdaFunction
    rds_role: aws.iam.Role
    role_association: aws.rds.ClusterRoleAssociation
    sweeper_dead_letter_queue: aws.sqs.Queue
    sweeper: LambdaFunction
    schedule: aws.scheduler.Schedule
    migration: LambdaFunction
    migration_invocation: aws.lambda_.Invocation
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
        self.spec = AuroraSpec.from_config(args.settings, provider_event_source=args.provider_event_source)
        invoke_options = pulumi.InvokeOutputOptions(parent=self)
        self._region = aws.get_region_output(opts=invoke_options).region
        self._account = aws.get_caller_identity_output(opts=invoke_options).account_id

        self.network = create_network(name, args.settings, self, self._region)
        self.database = create_database(name, args.settings, self.network, self)
        self.cluster, self.instance = self.database.cluster, self.database.instance
        self.snapshot_suffix = self.database.snapshot_suffix
        self.secret_arn = self.database.secret_arn
        self.relay_dead_letter_queue = self._dead_letter_queue(
            "relay-dlq", "Aurora relay invocations that failed every retry"
        )
        self.relay = self._relay()
        self.rds_role, self.role_association = create_rds_invoke_role(
            name, self.database, self.relay.function.arn, self._account, self
        )
        self.sweeper_dead_letter_queue = self._dead_letter_queue(
            "sweeper-dlq", "Aurora outbox sweeps that could not run"
        )
        self.sweeper, self.schedule = self._sweeper()
        self.migration, self.migration_invocation = self._migration()

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
            {
                "Sid": "ReadMasterSecret",
                "Effect": "Allow",
                "Action": "secretsmanager:GetSecretValue",
                "Resource": self.secret_arn,
            },
        ]

    def _environment(
        self, build: Callable[..., dict[str, str]], *inputs: pulumi.Input[str]
    ) -> pulumi.Output[dict[str, str]]:
        """A function's variables from the spec, once the cluster's and secret's ARNs are known."""
        return pulumi.Output.all(self.cluster.arn, self.secret_arn, *inputs).apply(lambda values: build(*values))

    def _relay(self) -> LambdaFunction:
        n = self._name
        spec = self.spec
        relay = LambdaFunction.create(
            f"{n}-relay",
            self,
            package=self._args.package,
            handler=spec.relay.handler,
            description="hookstack Aurora relay: committed outbox rows to the entry bus",
            statements=[
                *self._data_api_statements(["rds-data:ExecuteStatement"]),
                {
                    "Sid": "PublishToEntryBus",
                    "Effect": "Allow",
                    "Action": "events:PutEvents",
                    "Resource": self._args.entry_bus.arn,
                },
                # Lambda writes failed asynchronous invocations to the on-failure queue with this role.
                {
                    "Sid": "OnFailureQueue",
                    "Effect": "Allow",
                    "Action": "sqs:SendMessage",
                    "Resource": self.relay_dead_letter_queue.arn,
                },
            ],
            environment=self._environment(spec.relay_environment, self._args.entry_bus.name),
            timeout_seconds=spec.relay.timeout_seconds,
            alarm_topic_arn=self._args.alarm_topic_arn,
        )
        aws.lambda_.FunctionEventInvokeConfig(
            f"{n}-relay-async",
            function_name=relay.function.name,
            maximum_retry_attempts=spec.relay_async_retries,
            maximum_event_age_in_seconds=spec.relay_max_event_age_seconds,
            destination_config=aws.lambda_.FunctionEventInvokeConfigDestinationConfigArgs(
                on_failure=aws.lambda_.FunctionEventInvokeConfigDestinationConfigOnFailureArgs(
                    destination=self.relay_dead_letter_queue.arn
                )
            ),
            opts=child(self, depends_on=[p for p in [relay.role_policy] if p is not None]),
        )
        return relay

    def _sweeper(self) -> tuple[LambdaFunction, aws.scheduler.Schedule]:
        n = self._name
        spec = self.spec
        sweeper = LambdaFunction.create(
            f"{n}-sweeper",
            self,
            package=self._args.package,
            handler=spec.sweeper.handler,
            description="hookstack Aurora outbox sweeper: re-sends committed rows not yet published",
            statements=[
                *self._data_api_statements(["rds-data:ExecuteStatement"]),
                {
                    "Sid": "PublishToEntryBus",
                    "Effect": "Allow",
                    "Action": "events:PutEvents",
                    "Resource": self._args.entry_bus.arn,
                },
                {
                    "Sid": "OnFailureQueue",
                    "Effect": "Allow",
                    "Action": "sqs:SendMessage",
                    "Resource": self.sweeper_dead_letter_queue.arn,
                },
            ],
            environment=self._environment(spec.sweeper_environment, self._args.entry_bus.name),
            timeout_seconds=spec.sweeper.timeout_seconds,
            alarm_topic_arn=self._args.alarm_topic_arn,
        )
        aws.lambda_.FunctionEventInvokeConfig(
            f"{n}-sweeper-async",
            function_name=sweeper.function.name,
            # The next scheduled run is the retry; a failed run goes to the queue (and alarms).
            maximum_retry_attempts=spec.sweeper_async_retries,
            maximum_event_age_in_seconds=spec.sweep_max_event_age_seconds,
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
                    {
                        "Sid": "InvokeSweeper",
                        "Effect": "Allow",
                        "Action": "lambda:InvokeFunction",
                        "Resource": sweeper.function.arn,
                    },
                    # Scheduler delivers undeliverable runs to the dead-letter queue with this role.
                    {
                        "Sid": "DeadLetterQueue",
                        "Effect": "Allow",
                        "Action": "sqs:SendMessage",
                        "Resource": self.sweeper_dead_letter_queue.arn,
                    },
                ]
            ),
            opts=child(self),
        )
        schedule = aws.scheduler.Schedule(
            f"{n}-sweep",
            description="Publish committed Aurora outbox rows the relay did not",
            schedule_expression=spec.schedule_expression,
            flexible_time_window=aws.scheduler.ScheduleFlexibleTimeWindowArgs(mode="OFF"),
            target=aws.scheduler.ScheduleTargetArgs(
                arn=sweeper.function.arn,
                role_arn=scheduler_role.arn,
                input="{}",
                retry_policy=aws.scheduler.ScheduleTargetRetryPolicyArgs(
                    maximum_retry_attempts=spec.schedule_retries,
                    maximum_event_age_in_seconds=spec.sweep_max_event_age_seconds,
                ),
                dead_letter_config=aws.scheduler.ScheduleTargetDeadLetterConfigArgs(
                    arn=self.sweeper_dead_letter_queue.arn
                ),
            ),
            opts=child(self, depends_on=[scheduler_policy]),
        )
        return sweeper, schedule

    def _migration(self) -> tuple[LambdaFunction, aws.lambda_.Invocation]:
        n = self._name
        migration = LambdaFunction.create(
            f"{n}-migrate",
            self,
            package=self._args.package,
            handler=self.spec.migration.handler,
            description="hookstack Aurora schema migrations (sql/), applied on deploy",
            statements=self._data_api_statements(DATA_API_ACTIONS),
            environment=self._environment(self.spec.migration_environment),
            timeout_seconds=self.spec.migration.timeout_seconds,
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
