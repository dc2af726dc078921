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

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from components.aurora_database import AuroraDatabase, create_database, create_rds_invoke_role
from components.aurora_network import AuroraNetwork, create_network
from components.common import (
    FunctionTelemetry,
    LambdaFunction,
    assume_role_policy,
    child,
    encrypted_queue,
    policy_json,
    queue_depth_alarm,
    queue_policy,
)
from components.config import AuroraSettings
from components.entry_bus import BusRef
from components.packaging import Package
from components.specs.aurora import AuroraSpec, FunctionSpec, schedule_statements
from functions.migrate import Migration, migrations_digest, read_migrations

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"
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
    telemetry: FunctionTelemetry | None = None
    """The stack name and ``hookstack:tracing`` every function gets (none: no tracing, stack ``local``)."""
    migrations: Sequence[Migration] = field(default_factory=lambda: read_migrations(SQL_DIR))
    """The schema migrations applied on deploy (``sql/NNN_*.sql``)."""


class AuroraRelay(pulumi.ComponentResource):
    spec: AuroraSpec
    """Every value derived from ``hookstack:aurora`` (timeouts, retries, schedule, environments), shared
    with the sandbox."""
    network: AuroraNetwork
    """The VPC (given or created), the security groups and the path to the Lambda API."""
    database: AuroraDatabase
    """The cluster, its writer, the master secret's ARN and the final snapshot's suffix."""
    cluster: aws.rds.Cluster
    """The Aurora Serverless v2 cluster (``database.cluster``)."""
    instance: aws.rds.ClusterInstance
    """The cluster's writer (``database.instance``)."""
    snapshot_suffix: random.RandomId | None
    """Unique per cluster, ends the final snapshot's identifier; none when the final snapshot is skipped."""
    secret_arn: pulumi.Output[str]
    """ARN of the master user secret Secrets Manager manages for the cluster (the ARN, not the secret)."""
    relay_dead_letter_queue: aws.sqs.Queue
    """Relay invocations that failed every retry (the relay's on-failure destination)."""
    relay: LambdaFunction
    """Publishes the rows the database hands it after their commit (invoked by the cluster)."""
    rds_role: aws.iam.Role
    """The role the cluster invokes the relay with (that function only)."""
    role_association: aws.rds.ClusterRoleAssociation
    """``rds_role`` associated with the cluster for feature ``Lambda``."""
    sweeper_dead_letter_queue: aws.sqs.Queue
    """Sweeps that could not run (the sweeper's on-failure destination and the schedule's dead-letter queue)."""
    sweeper: LambdaFunction
    """Publishes the committed rows the relay did not, on a schedule."""
    schedule: aws.scheduler.Schedule
    """Runs the sweeper every ``sweepIntervalMinutes``."""
    migration: LambdaFunction
    """Applies the schema migrations (``sql/NNN_*.sql``)."""
    migration_invocation: aws.lambda_.Invocation
    """Runs the migration function on deploy whenever a migration or the relay changes."""
    cluster_endpoint: pulumi.Output[str]
    """Writer endpoint (private: reachable from inside the VPC only)."""
    cluster_arn: pulumi.Output[str]
    """The cluster's ARN (what the Data API statements are scoped to)."""
    relay_function_name: pulumi.Output[str]
    """The relay function's name (stack output ``auroraRelayFunctionName``)."""
    sweeper_function_name: pulumi.Output[str]
    """The sweeper function's name (stack output ``auroraSweeperFunctionName``)."""
    migration_function_name: pulumi.Output[str]
    """The migration function's name."""

    def __init__(self, name: str, args: AuroraRelayArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("hookstack:index:AuroraRelay", name, None, opts)
        if not NAME_RE.fullmatch(name) or name.endswith("-"):
            raise ValueError(
                f"AuroraRelay name {name!r} must be 1-16 characters of a-z, 0-9 and single '-', starting "
                "with a letter (it starts the cluster identifier and function names)"
            )
        if not args.migrations:
            raise ValueError("AuroraRelay needs at least one migration (sql/NNN_name.sql)")
        self._name = name
        self._args = args
        self.spec = spec = AuroraSpec.from_config(args.settings, provider_event_source=args.provider_event_source)
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
        self.relay = self._publisher(
            "relay",
            spec.relay,
            description="hookstack Aurora relay: committed outbox rows to the entry bus",
            environment=spec.relay_environment,
            dead_letter_queue=self.relay_dead_letter_queue,
            async_retries=spec.relay_async_retries,
            max_event_age_seconds=spec.relay_max_event_age_seconds,
        )
        self.rds_role, self.role_association = create_rds_invoke_role(
            name, self.database, self.relay.function.arn, self._account, self
        )
        self.sweeper_dead_letter_queue = self._dead_letter_queue(
            "sweeper-dlq", "Aurora outbox sweeps that could not run"
        )
        self.sweeper = self._publisher(
            "sweeper",
            spec.sweeper,
            description="hookstack Aurora outbox sweeper: re-sends committed rows not yet published",
            environment=spec.sweeper_environment,
            dead_letter_queue=self.sweeper_dead_letter_queue,
            # The next scheduled run is the retry; a failed run goes to the queue (and alarms).
            async_retries=spec.sweeper_async_retries,
            max_event_age_seconds=spec.sweep_max_event_age_seconds,
        )
        self.schedule = self._schedule(self.sweeper, self.sweeper_dead_letter_queue)
        self.migration = self._migration_function()
        self.migration_invocation = self._migration_invocation(self.migration)

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
        queue_policy(f"{self._name}-{suffix}-policy", self, queue)
        queue_depth_alarm(f"{self._name}-{suffix}-alarm", self, queue, self._args.alarm_topic_arn, what)
        return queue

    def _environment(
        self, build: Callable[..., dict[str, str]], *inputs: pulumi.Input[str]
    ) -> pulumi.Output[dict[str, str]]:
        """A function's variables from the spec, once the cluster's and secret's ARNs are known."""
        return pulumi.Output.all(self.cluster.arn, self.secret_arn, *inputs).apply(lambda values: build(*values))

    def _publisher(
        self,
        part: str,
        function_spec: FunctionSpec,
        *,
        description: str,
        environment: Callable[[str, str, str], dict[str, str]],
        dead_letter_queue: aws.sqs.Queue,
        async_retries: int,
        max_event_age_seconds: int,
    ) -> LambdaFunction:
        """The relay or the sweeper (``part``): reads the outbox through the Data API, publishes to the
        entry bus, and sends an invocation that failed its asynchronous retries to ``dead_letter_queue``."""
        publisher = LambdaFunction.create(
            f"{self._name}-{part}",
            self,
            package=self._args.package,
            handler=function_spec.handler,
            description=description,
            statements=self.spec.publisher_statements(
                cluster_arn=self.cluster.arn,
                secret_arn=self.secret_arn,
                bus_arn=self._args.entry_bus.arn,
                dead_letter_queue_arn=dead_letter_queue.arn,
            ),
            environment=self._environment(environment, self._args.entry_bus.name),
            timeout_seconds=function_spec.timeout_seconds,
            reserved_concurrency=function_spec.reserved_concurrency,
            alarm_topic_arn=self._args.alarm_topic_arn,
            telemetry=self._args.telemetry,
        )
        aws.lambda_.FunctionEventInvokeConfig(
            f"{self._name}-{part}-async",
            function_name=publisher.function.name,
            maximum_retry_attempts=async_retries,
            maximum_event_age_in_seconds=max_event_age_seconds,
            destination_config=aws.lambda_.FunctionEventInvokeConfigDestinationConfigArgs(
                on_failure=aws.lambda_.FunctionEventInvokeConfigDestinationConfigOnFailureArgs(
                    destination=dead_letter_queue.arn
                )
            ),
            opts=child(self, depends_on=[publisher.role_policy]),
        )
        return publisher

    def _schedule(self, sweeper: LambdaFunction, dead_letter_queue: aws.sqs.Queue) -> aws.scheduler.Schedule:
        """EventBridge Scheduler runs ``sweeper`` every interval, with its own retries and dead-letter queue."""
        n = self._name
        spec = self.spec
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
                schedule_statements(sweeper_arn=sweeper.function.arn, dead_letter_queue_arn=dead_letter_queue.arn)
            ),
            opts=child(self),
        )
        return aws.scheduler.Schedule(
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
                dead_letter_config=aws.scheduler.ScheduleTargetDeadLetterConfigArgs(arn=dead_letter_queue.arn),
            ),
            opts=child(self, depends_on=[scheduler_policy]),
        )

    def _migration_function(self) -> LambdaFunction:
        return LambdaFunction.create(
            f"{self._name}-migrate",
            self,
            package=self._args.package,
            handler=self.spec.migration.handler,
            description="hookstack Aurora schema migrations (sql/), applied on deploy",
            statements=self.spec.migration_statements(cluster_arn=self.cluster.arn, secret_arn=self.secret_arn),
            environment=self._environment(self.spec.migration_environment),
            timeout_seconds=self.spec.migration.timeout_seconds,
            alarm_topic_arn=self._args.alarm_topic_arn,
            telemetry=self._args.telemetry,
        )

    def _migration_invocation(self, migration: LambdaFunction) -> aws.lambda_.Invocation:
        """``migration`` applied on deploy, once the writer, the relay's role and the network path exist."""
        migrations = list(self._args.migrations)
        payload = pulumi.Output.json_dumps(
            {
                "migrations": [m.payload() for m in migrations],
                "relay": {"functionArn": self.relay.function.arn, "region": self._region},
            }
        )
        return aws.lambda_.Invocation(
            f"{self._name}-migrations",
            function_name=migration.function.name,
            input=payload,
            # Re-run whenever a migration or the relay changes (a failing migration fails the deploy).
            triggers={"migrations": migrations_digest(migrations), "relay": self.relay.function.arn},
            opts=child(
                self,
                depends_on=[self.instance, self.role_association, *self.network.path_resources, migration.role_policy],
            ),
        )
