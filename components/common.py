"""Building blocks every hookstack component uses, each with the secure default built in.

- :func:`encrypted_queue`: SQS with server-side encryption (14-day retention for dead-letter
  queues); :func:`queue_policy`: who may send to a queue, over TLS only.
- :func:`alarm`: a CloudWatch alarm wired to the stack's alert topic (when there is one), named
  ``hookstack*`` (the alert topic, ``components/alerts.py``, admits those alarms only).
- :class:`LambdaFunction`: a function from the shared ``functions/`` archive (arm64, Python 3.12)
  with its own log group (retention set, as in every :func:`retained_log_group`), a role allowed to
  write only to that log group, and whatever statements the caller scopes to its resources;
  :func:`contract_environment` writes its variables through the function's runtime contract.
- :func:`policy_json`: an IAM policy document as data (statements may hold Outputs); the plain-text
  side (size limits, :func:`~components.policy_documents.tls_only_statement`) is
  :mod:`components.policy_documents`.

Components pass themselves as ``parent`` so names and options (providers, protect) flow down.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

import pulumi
import pulumi_aws as aws

from components.config import MAX_EVENT_AGE_SECONDS, MAX_RETRY_ATTEMPTS, TracingSettings
from components.packaging import ARCHITECTURE, RUNTIME, Package
from components.policy_documents import POLICY_VERSION, function_role_statements, tls_only_statement
from functions.telemetry import Telemetry

DLQ_RETENTION_SECONDS = 14 * 24 * 3600
LOG_RETENTION_DAYS = 30

# Every alarm hookstack declares is named after its component (``hookstack``, ``hookstack-delivery``,
# ...) plus Pulumi's random suffix: the alert topic lets CloudWatch publish for these alarms only.
ALARM_NAME_PREFIX = "hookstack"
CLOUDWATCH_SERVICE = "cloudwatch.amazonaws.com"
# The WebhookProvider's type token: part of the URN of the provider and of everything it declared
# (the EntryBus aliases its resources to their URNs under it).
WEBHOOK_PROVIDER_TYPE = "hookstack:index:WebhookProvider"
# What a function with X-Ray active tracing needs (xray:PutTraceSegments, PutTelemetryRecords...): the
# AWS managed policy the Lambda console attaches. X-Ray takes no resource-level permission for them, so
# an inline statement would be a Resource "*" that the policy tests refuse in hookstack's own statements.
XRAY_WRITE_POLICY = "arn:aws:iam::aws:policy/AWSXRayDaemonWriteAccess"


@dataclass(frozen=True)
class FunctionTelemetry:
    """What every function of a stack reports as (the ``Stack`` metric dimension) and how it traces
    (``hookstack:tracing``): the environment (:class:`functions.telemetry.Telemetry`), the tracing
    mode and, with X-Ray, the managed policy."""

    stack: str
    tracing: TracingSettings = field(default_factory=TracingSettings)

    def environment(self) -> dict[str, str]:
        return Telemetry(stack=self.stack, propagate=self.tracing.propagate).to_environ()

    @property
    def tracing_mode(self) -> str:
        return "Active" if self.tracing.xray else "PassThrough"

    @property
    def managed_policy_arns(self) -> tuple[str, ...]:
        return (XRAY_WRITE_POLICY,) if self.tracing.xray else ()


def child(parent: pulumi.Resource, **kwargs: Any) -> pulumi.ResourceOptions:
    return pulumi.ResourceOptions(parent=parent, **kwargs)


def policy_json(statements: Sequence[Mapping[str, Any]]) -> pulumi.Output[str]:
    """An IAM policy document (``Version`` 2012-10-17) from statements that may contain Outputs."""
    return pulumi.Output.json_dumps({"Version": POLICY_VERSION, "Statement": list(statements)})


def assume_role_policy(service: str, *, source_account: pulumi.Input[str] | None = None) -> pulumi.Output[str]:
    statement: dict[str, Any] = {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
    if source_account is not None:
        # Confused-deputy protection: only this account's resources may use the role.
        statement["Condition"] = {"StringEquals": {"aws:SourceAccount": source_account}}
    return policy_json([statement])


def encrypted_queue(
    name: str,
    parent: pulumi.Resource,
    *,
    fifo: bool = False,
    retention_seconds: int = DLQ_RETENTION_SECONDS,
    visibility_timeout_seconds: int = 30,
    dead_letter_queue: aws.sqs.Queue | None = None,
    max_receive_count: int = 5,
    content_based_deduplication: bool = False,
    high_throughput: bool = False,
) -> aws.sqs.Queue:
    """An SQS queue encrypted at rest with SQS-managed keys (SSE-SQS)."""
    args: dict[str, Any] = {
        "sqs_managed_sse_enabled": True,
        "message_retention_seconds": retention_seconds,
        "visibility_timeout_seconds": visibility_timeout_seconds,
    }
    if fifo:
        args["fifo_queue"] = True
        args["content_based_deduplication"] = content_based_deduplication
        if high_throughput:
            args["deduplication_scope"] = "messageGroup"
            args["fifo_throughput_limit"] = "perMessageGroupId"
    if dead_letter_queue is not None:
        args["redrive_policy"] = pulumi.Output.json_dumps(
            {"deadLetterTargetArn": dead_letter_queue.arn, "maxReceiveCount": max_receive_count}
        )
    return aws.sqs.Queue(name, opts=child(parent), **args)


def queue_policy(
    name: str, parent: pulumi.Resource, queue: aws.sqs.Queue, *, allow: Sequence[Mapping[str, Any]] = ()
) -> aws.sqs.QueuePolicy:
    """The queue's policy: the ``allow`` statements (who may send), then deny anything but TLS."""
    return aws.sqs.QueuePolicy(
        name, queue_url=queue.url, policy=policy_json([*allow, tls_only_statement([queue.arn])]), opts=child(parent)
    )


def longest_retry_policy() -> aws.cloudwatch.EventTargetRetryPolicyArgs:
    """The most an EventBridge target may retry (185 times, for up to 24 hours).

    For hops into the stack's own queues and shard buses: an event should reach the next stage, not
    the dead-letter queue, while that stage is briefly unavailable.
    """
    return aws.cloudwatch.EventTargetRetryPolicyArgs(
        maximum_retry_attempts=MAX_RETRY_ATTEMPTS, maximum_event_age_in_seconds=MAX_EVENT_AGE_SECONDS
    )


def _metric_alarm(
    name: str, parent: pulumi.Resource, description: str, alarm_topic_arn: pulumi.Input[str] | None, **watch: Any
) -> aws.cloudwatch.MetricAlarm:
    """Every hookstack alarm: admitted by the alert topic, notifying it (if any) on alarm and on OK,
    quiet without data; ``watch`` says what it watches and when it fires."""
    # The physical name is ``name`` plus Pulumi's suffix; the topic's policies match ALARM_NAME_PREFIX*.
    if not name.startswith(ALARM_NAME_PREFIX):
        raise ValueError(
            f"alarm {name!r} must start with {ALARM_NAME_PREFIX!r}: the alert topic admits only those alarms"
        )
    actions = [alarm_topic_arn] if alarm_topic_arn is not None else []
    return aws.cloudwatch.MetricAlarm(
        name,
        alarm_description=description,
        treat_missing_data="notBreaching",
        alarm_actions=actions,
        ok_actions=actions,
        opts=child(parent),
        **watch,
    )


def alarm(
    name: str,
    parent: pulumi.Resource,
    *,
    description: str,
    namespace: str,
    metric_name: str,
    dimensions: Mapping[str, pulumi.Input[str]],
    alarm_topic_arn: pulumi.Input[str] | None,
    statistic: str = "Sum",
    threshold: float = 0,
    comparison: str = "GreaterThanThreshold",
    period_seconds: int = 300,
    evaluation_periods: int = 1,
) -> aws.cloudwatch.MetricAlarm:
    return _metric_alarm(
        name,
        parent,
        description,
        alarm_topic_arn,
        namespace=namespace,
        metric_name=metric_name,
        dimensions=dict(dimensions),
        statistic=statistic,
        threshold=threshold,
        comparison_operator=comparison,
        period=period_seconds,
        evaluation_periods=evaluation_periods,
    )


def insights_alarm(
    name: str,
    parent: pulumi.Resource,
    *,
    description: str,
    query: pulumi.Input[str],
    alarm_topic_arn: pulumi.Input[str] | None,
    threshold: float = 0,
    period_seconds: int = 300,
    evaluation_periods: int = 1,
) -> aws.cloudwatch.MetricAlarm:
    """An alarm on a CloudWatch Metrics Insights query (``SELECT ... GROUP BY ...``).

    One alarm watches many resources: with ``GROUP BY`` every returned series is a contributor, so
    the alarm names the rule/queue that breached. The region allows 200 such alarms.
    """
    query_args = aws.cloudwatch.MetricAlarmMetricQueryArgs(
        id="q1", expression=query, period=period_seconds, return_data=True, label=description[:100]
    )
    return _metric_alarm(
        name,
        parent,
        description,
        alarm_topic_arn,
        metric_queries=[query_args],
        threshold=threshold,
        comparison_operator="GreaterThanThreshold",
        evaluation_periods=evaluation_periods,
    )


def _queue_alarm(
    name: str,
    parent: pulumi.Resource,
    queue: aws.sqs.Queue,
    alarm_topic_arn: pulumi.Input[str] | None,
    *,
    description: str,
    metric_name: str,
    threshold: float = 0,
    evaluation_periods: int = 1,
) -> aws.cloudwatch.MetricAlarm:
    """An alarm on one of the queue's metrics, at its maximum per minute."""
    return alarm(
        name,
        parent,
        description=description,
        namespace="AWS/SQS",
        metric_name=metric_name,
        dimensions={"QueueName": queue.name},
        alarm_topic_arn=alarm_topic_arn,
        statistic="Maximum",
        threshold=threshold,
        period_seconds=60,
        evaluation_periods=evaluation_periods,
    )


def queue_depth_alarm(
    name: str,
    parent: pulumi.Resource,
    queue: aws.sqs.Queue,
    alarm_topic_arn: pulumi.Input[str] | None,
    what: str,
) -> aws.cloudwatch.MetricAlarm:
    """Alarm as soon as a dead-letter queue holds any message."""
    return _queue_alarm(
        name,
        parent,
        queue,
        alarm_topic_arn,
        description=f"{what}: messages are waiting in a dead-letter queue (see docs/runbook.md)",
        metric_name="ApproximateNumberOfMessagesVisible",
    )


def queue_age_alarm(
    name: str,
    parent: pulumi.Resource,
    queue: aws.sqs.Queue,
    alarm_topic_arn: pulumi.Input[str] | None,
    what: str,
    max_age_seconds: int,
) -> aws.cloudwatch.MetricAlarm:
    """Alarm when the oldest message has waited longer than ``max_age_seconds`` for five minutes."""
    return _queue_alarm(
        name,
        parent,
        queue,
        alarm_topic_arn,
        description=f"{what}: the oldest message is older than {max_age_seconds} s",
        metric_name="ApproximateAgeOfOldestMessage",
        threshold=max_age_seconds,
        evaluation_periods=5,
    )


def retained_log_group(
    name: str, parent: pulumi.Resource, *, name_prefix: str, retention_days: int = LOG_RETENTION_DAYS
) -> aws.cloudwatch.LogGroup:
    """A log group named ``name_prefix`` + a suffix that keeps events ``retention_days``."""
    return aws.cloudwatch.LogGroup(name, name_prefix=name_prefix, retention_in_days=retention_days, opts=child(parent))


def log_streams_arn(log_group: aws.cloudwatch.LogGroup) -> pulumi.Output[str]:
    """The ARN of the group's log streams (``...:log-group:<name>:*``), what ``logs:PutLogEvents`` is scoped to.

    pulumi-aws reports a group's ARN without the ``:*`` CloudWatch Logs adds; it is stripped anyway.
    """
    return log_group.arn.apply(lambda arn: f"{arn.removesuffix(':*')}:*")


def contract_environment(
    render: Callable[..., Mapping[str, str]], *names: pulumi.Input[str]
) -> dict[str, pulumi.Output[str]]:
    """A function's environment, written by its runtime contract from the resource names it uses.

    ``render`` takes those names, in order, and returns the variables (a spec's ``*_settings(...)
    .to_environ()``). ``LambdaFunction`` takes a mapping of inputs, and which variables exist never
    depends on a resource name (only on the config), so the variables are known now and each is an
    Output of the environment the contract renders once the names are.
    """
    variables = render(*["-" for _ in names])
    environment = pulumi.Output.all(*names).apply(lambda values: dict(render(*values)))
    return {variable: environment.apply(itemgetter(variable)) for variable in variables}


@dataclass
class LambdaFunction:
    """A function from the shared archive, its role, log group and error alarm."""

    function: aws.lambda_.Function
    """The function (arm64, Python 3.12, logging to :attr:`log_group`)."""
    role: aws.iam.Role
    """The role the function runs as (trusted by Lambda only)."""
    log_group: aws.cloudwatch.LogGroup
    """The function's own log group, with a retention."""
    errors_alarm: aws.cloudwatch.MetricAlarm
    """Alarms when the function reports errors."""
    role_policy: aws.iam.RolePolicy
    """The role's inline policy: its own log group plus the caller's statements."""
    managed_policies: list[aws.iam.RolePolicyAttachment]
    """Attachments of the managed policies the caller asked for (e.g. VPC access)."""

    @classmethod
    def create(
        cls,
        name: str,
        parent: pulumi.Resource,
        *,
        package: Package,
        handler: str,
        description: str,
        statements: Sequence[Mapping[str, Any]] = (),
        environment: Mapping[str, pulumi.Input[str]] | pulumi.Output[dict[str, str]] | None = None,
        timeout_seconds: int = 30,
        memory_mb: int = 256,
        alarm_topic_arn: pulumi.Input[str] | None = None,
        reserved_concurrency: int | None = None,
        log_retention_days: int = LOG_RETENTION_DAYS,
        vpc_config: Mapping[str, Any] | None = None,
        managed_policy_arns: Sequence[str] = (),
        layers: Sequence[pulumi.Input[str]] = (),
        telemetry: FunctionTelemetry | None = None,
    ) -> LambdaFunction:
        if telemetry is not None:
            extra = telemetry.environment()
            environment = (
                environment.apply(lambda variables: {**variables, **extra})
                if isinstance(environment, pulumi.Output)
                else {**(environment or {}), **extra}
            )
            managed_policy_arns = (*managed_policy_arns, *telemetry.managed_policy_arns)
        log_group = retained_log_group(
            f"{name}-logs", parent, name_prefix=f"/aws/lambda/hookstack/{name}-", retention_days=log_retention_days
        )
        role = aws.iam.Role(
            f"{name}-role",
            assume_role_policy=assume_role_policy("lambda.amazonaws.com"),
            description=f"Runs {description}",
            opts=child(parent),
        )
        managed_policies = [
            aws.iam.RolePolicyAttachment(f"{name}-managed-{index}", role=role.name, policy_arn=arn, opts=child(parent))
            for index, arn in enumerate(managed_policy_arns)
        ]
        role_policy = aws.iam.RolePolicy(
            f"{name}-policy",
            role=role.id,
            policy=policy_json(function_role_statements(log_streams_arn(log_group), statements)),
            opts=child(parent),
        )
        function_args: dict[str, Any] = {}
        if isinstance(environment, pulumi.Output):  # built by a spec once its inputs are known
            function_args["environment"] = aws.lambda_.FunctionEnvironmentArgs(variables=environment)
        elif environment:
            function_args["environment"] = aws.lambda_.FunctionEnvironmentArgs(variables=dict(environment))
        if reserved_concurrency is not None:
            function_args["reserved_concurrent_executions"] = reserved_concurrency
        if vpc_config is not None:
            function_args["vpc_config"] = aws.lambda_.FunctionVpcConfigArgs(**vpc_config)
        function = aws.lambda_.Function(
            name,
            description=description,
            runtime=RUNTIME,
            architectures=[ARCHITECTURE],
            handler=handler,
            code=pulumi.FileArchive(str(package.path)),
            source_code_hash=package.sha256_base64,
            role=role.arn,
            timeout=timeout_seconds,
            memory_size=memory_mb,
            logging_config=aws.lambda_.FunctionLoggingConfigArgs(log_format="Text", log_group=log_group.name),
            tracing_config=aws.lambda_.FunctionTracingConfigArgs(
                mode=telemetry.tracing_mode if telemetry is not None else "PassThrough"
            ),
            layers=list(layers) or None,  # None: no layers property at all (functions that need none)
            # The role must hold its policy before the function runs (IAM is eventually consistent).
            opts=child(parent, depends_on=[role_policy]),
            **function_args,
        )
        errors_alarm = alarm(
            f"{name}-errors",
            parent,
            description=f"{description}: the function reported errors",
            namespace="AWS/Lambda",
            metric_name="Errors",
            dimensions={"FunctionName": function.name},
            alarm_topic_arn=alarm_topic_arn,
            period_seconds=300,
        )
        return cls(
            function=function,
            role=role,
            log_group=log_group,
            errors_alarm=errors_alarm,
            role_policy=role_policy,
            managed_policies=managed_policies,
        )
