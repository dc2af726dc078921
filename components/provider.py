"""WebhookProvider: per-tenant outgoing webhooks on EventBridge API destinations.

For every destination (auth ``apiKey``, ``basic``, ``oauth`` or ``none``) the component declares
its own connection (so a 401 from one customer endpoint de-authorizes nobody else), an API
destination, a rule on ``detail.tenantId`` (and ``detail-type`` when event types are set) and one
target carrying the input transformer, retry policy and dead-letter queue.

Around them: shard buses when the tenants need more rules than one bus allows (routing rules on the
entry bus forward each tenant's events to its shard), one role EventBridge assumes to call exactly
these API destinations, a standard SQS dead-letter queue whose policy lets exactly these rules send
to it, and alarms. The entry bus itself (and its archive) is :class:`components.entry_bus.EntryBus`,
passed in as a :class:`components.entry_bus.BusRef`. The role's and the queue's policies are fitted
to AWS's size limits by :mod:`components.provider_policies`.

Everything is declared from :class:`components.plan.ProviderPlan`, which the sandbox also uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.common import (
    DLQ_RETENTION_SECONDS,
    WEBHOOK_PROVIDER_TYPE,
    assume_role_policy,
    child,
    encrypted_queue,
    insights_alarm,
    longest_retry_policy,
    queue_depth_alarm,
)
from components.config import Secret
from components.entry_bus import BusRef
from components.plan import ApiDestinationPlan, ConnectionAuth, ProviderPlan
from components.provider_policies import dead_letter_policy_document, invoke_policy_document

# Per bus: (metric, logical-name key, what a breach means).
BUS_ALARMS = (
    ("FailedInvocations", "failed", "deliveries failed permanently (not retried further)"),
    ("InvocationsFailedToBeSentToDlq", "dlq-failed", "failed events could not be written to the DLQ and are lost"),
    ("ThrottledRules", "throttled", "deliveries are throttled (API destination rate limit or account quota)"),
)


@dataclass(frozen=True)
class WebhookProviderArgs:
    entry_bus: BusRef
    """The entry bus (:class:`components.entry_bus.EntryBus`): rules of unsharded tenants and the
    routing rules to shard buses live on it."""
    plan: ProviderPlan
    """Buses, destinations and routing, built by :func:`components.plan.build_provider_plan`."""
    alarm_topic_arn: pulumi.Input[str] | None = None
    """SNS topic that receives the alarms (none: alarms only show in CloudWatch)."""


class WebhookProvider(pulumi.ComponentResource):
    shard_buses: dict[int, aws.cloudwatch.EventBus]
    """Shard index (1..) -> shard bus; empty unless the tenants need more rules than one bus allows."""
    dead_letter_queue: aws.sqs.Queue
    """Where events go after a destination's retry policy gave up."""
    dead_letter_queue_url: pulumi.Output[str]
    """The dead-letter queue's URL (``ops redrive`` reads it)."""
    dead_letter_policy: aws.sqs.QueuePolicy
    """Lets exactly these rules send to the dead-letter queue, over TLS only."""
    connections: dict[str, aws.cloudwatch.EventConnection]
    """Destination key -> its connection (one per destination: a 401 de-authorizes nobody else)."""
    api_destinations: dict[str, aws.cloudwatch.EventApiDestination]
    """Destination key -> its API destination."""
    invoke_role: aws.iam.Role
    """The role EventBridge assumes to call the API destinations and forward to shard buses."""
    invoke_role_policy: aws.iam.RolePolicy | None
    """The invoke role's only policy (none when there is nothing to invoke)."""
    rules: dict[str, aws.cloudwatch.EventRule]
    """Destination key -> its rule (on the bus the plan puts the tenant on)."""
    targets: dict[str, aws.cloudwatch.EventTarget]
    """Destination key -> its target (input transformer, retry policy, dead-letter queue)."""
    routing_rules: list[aws.cloudwatch.EventRule]
    """Rules on the entry bus forwarding sharded tenants' events to their shard bus."""
    routing_targets: list[aws.cloudwatch.EventTarget]
    """The routing rules' targets (the shard buses), in the same order."""
    alarms: list[aws.cloudwatch.MetricAlarm]
    """The dead-letter queue alarm and, per bus with rules, one Metrics Insights alarm per failure metric."""
    destinations: dict[str, dict[str, dict[str, pulumi.Input[str]]]]
    """tenant id -> destination name -> {rule_arn, api_destination_arn, connection_arn, bus_name}."""
    shards: dict[str, str]
    """tenant id -> name of the bus holding its rules (the entry bus unless sharded)."""

    def __init__(self, name: str, args: WebhookProviderArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(WEBHOOK_PROVIDER_TYPE, name, None, opts)
        if len(name) > 16:
            raise ValueError(f"WebhookProvider name {name!r} must be at most 16 characters (AWS name limits)")
        self._name = name
        self._args = args
        plan = args.plan
        identity = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self))
        self._account = identity.account_id

        self.shard_buses = self._shard_buses(plan)
        # Bus index -> the bus as rules and policies need it (0: the entry bus).
        self._buses = {0: args.entry_bus, **{i: BusRef(bus.name, bus.arn) for i, bus in self.shard_buses.items()}}
        self.dead_letter_queue = encrypted_queue(f"{name}-dlq", self, retention_seconds=DLQ_RETENTION_SECONDS)
        self.connections = {}
        self.api_destinations = {}
        for destination in plan.destinations:
            self.connections[destination.key], self.api_destinations[destination.key] = self._api_destination(
                destination
            )
        self.invoke_role, self.invoke_role_policy = self._invoke_role(plan)
        self.rules = {}
        self.targets = {}
        for destination in plan.destinations:
            self.rules[destination.key], self.targets[destination.key] = self._rule(destination)
        self.routing_rules, self.routing_targets = self._routing(plan)
        self.dead_letter_policy = self._dead_letter_policy(plan)
        self.alarms = self._alarms(plan)

        self.dead_letter_queue_url = self.dead_letter_queue.url
        self.shards = {tenant: plan.bus(index).name for tenant, index in plan.tenant_bus.items()}
        self.destinations = {}
        for destination in plan.destinations:
            self.destinations.setdefault(destination.tenant_id, {})[destination.name] = {
                "rule_arn": self.rules[destination.key].arn,
                "api_destination_arn": self.api_destinations[destination.key].arn,
                "connection_arn": self.connections[destination.key].arn,
                "bus_name": plan.bus(destination.bus_index).name,
            }
        self.register_outputs(
            {
                "dead_letter_queue_url": self.dead_letter_queue_url,
                "destinations": self.destinations,
                "shards": self.shards,
            }
        )

    # -- buses ---------------------------------------------------------------------------------

    def _shard_buses(self, plan: ProviderPlan) -> dict[int, aws.cloudwatch.EventBus]:
        return {
            bus.index: aws.cloudwatch.EventBus(
                f"{self._name}-shard-{bus.index:02d}",
                name=bus.name,
                description=f"hookstack shard {bus.index}",
                opts=child(self),
            )
            for bus in plan.buses
            if bus.index
        }

    # -- connections and API destinations ------------------------------------------------------

    def _api_destination(
        self, destination: ApiDestinationPlan
    ) -> tuple[aws.cloudwatch.EventConnection, aws.cloudwatch.EventApiDestination]:
        physical = self._args.plan.connection_name(destination)
        connection = aws.cloudwatch.EventConnection(
            f"{self._name}-{destination.key}-conn",
            name=physical,
            description=f"tenant {destination.tenant_id} / {destination.name}",
            authorization_type=destination.auth.authorization_type,
            auth_parameters=_auth_parameters(destination.auth),
            # Explicit names cannot coexist during a create-before-delete replacement.
            opts=child(self, delete_before_replace=True),
        )
        api_destination = aws.cloudwatch.EventApiDestination(
            f"{self._name}-{destination.key}-dest",
            name=physical,
            description=f"tenant {destination.tenant_id} / {destination.name}",
            connection_arn=connection.arn,
            invocation_endpoint=destination.url,
            http_method=destination.method,
            invocation_rate_limit_per_second=destination.rate_limit_per_second,
            opts=child(self, delete_before_replace=True),
        )
        return connection, api_destination

    def _invoke_role(self, plan: ProviderPlan) -> tuple[aws.iam.Role, aws.iam.RolePolicy | None]:
        role = aws.iam.Role(
            f"{self._name}-invoke-role",
            description="EventBridge invokes hookstack API destinations and forwards to shard buses",
            assume_role_policy=assume_role_policy("events.amazonaws.com", source_account=self._account),
            opts=child(self),
        )
        api_arns = [d.arn for d in self.api_destinations.values()]
        shard_arns = [bus.arn for bus in self.shard_buses.values()]
        if not api_arns and not shard_arns:
            return role, None
        # Sized on the resolved ARNs: the document is chosen from exactly what IAM will count.
        entry_bus_arn = self._args.entry_bus.arn
        document = pulumi.Output.all(entry_bus_arn, pulumi.Output.all(*api_arns), pulumi.Output.all(*shard_arns)).apply(
            lambda values: invoke_policy_document(plan, values[0], values[1], values[2])
        )
        policy = aws.iam.RolePolicy(f"{self._name}-invoke-policy", role=role.id, policy=document, opts=child(self))
        return role, policy

    # -- rules and targets ---------------------------------------------------------------------

    def _rule(self, destination: ApiDestinationPlan) -> tuple[aws.cloudwatch.EventRule, aws.cloudwatch.EventTarget]:
        bus = self._buses[destination.bus_index]
        rule = aws.cloudwatch.EventRule(
            f"{self._name}-{destination.key}-rule",
            event_bus_name=bus.name,
            description=f"tenant {destination.tenant_id} -> {destination.name}",
            event_pattern=destination.event_pattern_json,
            state="ENABLED" if destination.enabled else "DISABLED",
            opts=child(self),
        )
        target_args: dict[str, Any] = {}
        if destination.transform is not None:
            target_args["input_transformer"] = aws.cloudwatch.EventTargetInputTransformerArgs(
                input_paths=dict(destination.transform.paths),
                input_template=destination.transform.template,
            )
        target = aws.cloudwatch.EventTarget(
            f"{self._name}-{destination.key}-target",
            rule=rule.name,
            event_bus_name=bus.name,
            target_id=destination.target_id,
            arn=self.api_destinations[destination.key].arn,
            role_arn=self.invoke_role.arn,
            retry_policy=aws.cloudwatch.EventTargetRetryPolicyArgs(
                maximum_retry_attempts=destination.retry.max_attempts,
                maximum_event_age_in_seconds=destination.retry.max_event_age_seconds,
            ),
            dead_letter_config=aws.cloudwatch.EventTargetDeadLetterConfigArgs(arn=self.dead_letter_queue.arn),
            opts=child(self, depends_on=[p for p in [self.invoke_role_policy] if p is not None]),
            **target_args,
        )
        return rule, target

    def _routing(self, plan: ProviderPlan) -> tuple[list[aws.cloudwatch.EventRule], list[aws.cloudwatch.EventTarget]]:
        rules, targets = [], []
        entry_bus = self._args.entry_bus
        for routing in plan.routing_rules:
            rule = aws.cloudwatch.EventRule(
                f"{self._name}-{routing.key}",
                event_bus_name=entry_bus.name,
                description=f"Forward {len(routing.tenant_ids)} tenant(s) to shard {routing.shard}",
                event_pattern=routing.event_pattern_json,
                state="ENABLED",
                opts=child(self),
            )
            target = aws.cloudwatch.EventTarget(
                f"{self._name}-{routing.key}-target",
                rule=rule.name,
                event_bus_name=entry_bus.name,
                target_id="shard-bus",
                arn=self.shard_buses[routing.shard].arn,
                role_arn=self.invoke_role.arn,
                retry_policy=longest_retry_policy(),
                dead_letter_config=aws.cloudwatch.EventTargetDeadLetterConfigArgs(arn=self.dead_letter_queue.arn),
                opts=child(self, depends_on=[p for p in [self.invoke_role_policy] if p is not None]),
            )
            rules.append(rule)
            targets.append(target)
        return rules, targets

    # -- dead-letter queue policy --------------------------------------------------------------

    def _dead_letter_policy(self, plan: ProviderPlan) -> aws.sqs.QueuePolicy:
        rule_arns = [r.arn for r in self.rules.values()] + [r.arn for r in self.routing_rules]
        document = pulumi.Output.all(
            self._args.entry_bus.arn, self.dead_letter_queue.arn, pulumi.Output.all(*rule_arns)
        ).apply(lambda values: dead_letter_policy_document(plan, values[0], values[1], values[2]))
        return aws.sqs.QueuePolicy(
            f"{self._name}-dlq-policy",
            queue_url=self.dead_letter_queue.url,
            policy=document,
            opts=child(self),
        )

    # -- alarms --------------------------------------------------------------------------------

    def _alarms(self, plan: ProviderPlan) -> list[aws.cloudwatch.MetricAlarm]:
        """The DLQ alarm, and per bus one Metrics Insights alarm per failure metric.

        Grouped by rule, each alarm names the destinations (rules) that breached, while the number
        of alarms grows with buses, not with destinations (3,000 destinations would otherwise need
        9,000 alarms and as many resources in every deployment).
        """
        topic = self._args.alarm_topic_arn
        alarms = [
            queue_depth_alarm(f"{self._name}-dlq-alarm", self, self.dead_letter_queue, topic, "Webhook deliveries")
        ]
        watched = [bus for bus in plan.buses if plan.rules_on(bus.index)]
        for bus in watched:
            suffix = "" if bus.index == 0 else f"-{bus.index:02d}"
            for metric, key, meaning in BUS_ALARMS:
                alarms.append(
                    insights_alarm(
                        f"{self._name}{suffix}-{key}",
                        self,
                        description=f"{bus.name}: {meaning} (contributors name the rule: tenant-destination)",
                        query=bus_metric_query(metric, bus.name),
                        alarm_topic_arn=topic,
                        evaluation_periods=3 if metric == "ThrottledRules" else 1,
                    )
                )
        return alarms


def _auth_parameters(auth: ConnectionAuth) -> aws.cloudwatch.EventConnectionAuthParametersArgs:
    """Connection auth parameters (typed, so a misspelt key fails here, not at deploy time).

    Every secret value stays a Pulumi secret: encrypted in state, never shown in a diff.
    """
    cw = aws.cloudwatch

    def value(item: Any) -> Any:
        return pulumi.Output.secret(item.reveal()) if isinstance(item, Secret) else item

    params = auth.parameters
    invocation = None
    if auth.headers:
        invocation = cw.EventConnectionAuthParametersInvocationHttpParametersArgs(
            headers=[
                cw.EventConnectionAuthParametersInvocationHttpParametersHeaderArgs(
                    key=k, value=v, is_value_secret=False
                )
                for k, v in auth.headers
            ]
        )
    if auth.authorization_type == "API_KEY":
        return cw.EventConnectionAuthParametersArgs(
            api_key=cw.EventConnectionAuthParametersApiKeyArgs(key=params["key"], value=value(params["value"])),
            invocation_http_parameters=invocation,
        )
    if auth.authorization_type == "BASIC":
        return cw.EventConnectionAuthParametersArgs(
            basic=cw.EventConnectionAuthParametersBasicArgs(
                username=params["username"], password=value(params["password"])
            ),
            invocation_http_parameters=invocation,
        )
    return cw.EventConnectionAuthParametersArgs(
        oauth=cw.EventConnectionAuthParametersOauthArgs(
            authorization_endpoint=params["authorization_endpoint"],
            http_method=params["http_method"],
            client_parameters=cw.EventConnectionAuthParametersOauthClientParametersArgs(
                client_id=params["client_id"], client_secret=value(params["client_secret"])
            ),
            # Required by AWS for client credentials: the grant type (and scope) in the token request body.
            oauth_http_parameters=cw.EventConnectionAuthParametersOauthOauthHttpParametersArgs(
                bodies=[
                    cw.EventConnectionAuthParametersOauthOauthHttpParametersBodyArgs(
                        key=k, value=v, is_value_secret=False
                    )
                    for k, v in params["body_parameters"]
                ]
            ),
        ),
        invocation_http_parameters=invocation,
    )


def bus_metric_query(metric: str, bus_name: str) -> str:
    """Metrics Insights: the metric per rule on one custom bus (which reports both dimensions).

    Bus names are validated to ``[A-Za-z0-9._-]`` (no quote can end the string literal).
    """
    return (
        f'SELECT SUM({metric}) FROM SCHEMA("AWS/Events", EventBusName, RuleName) '  # noqa: S608 (not SQL)
        f"WHERE EventBusName = '{bus_name}' GROUP BY RuleName"
    )
