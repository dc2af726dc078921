"""The EventBridge Pipe of ``WebhookConsumer``: FIFO queue -> enrichment function -> target.

The pipe reads the inbound FIFO queue ``batch_size`` messages at a time, has the enrichment function
rehydrate claim-checked payloads, and hands the result to the target: the entry bus (source, detail
type and time taken from the envelope: :mod:`functions.inbound.target`), a Lambda function (called
synchronously, so errors are retried) or a Step Functions state machine (started asynchronously).
Its role may read exactly that queue, invoke exactly that function, write its own log group and
reach exactly that target; the pipe logs errors to a log group of its own.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.common import (
    LambdaFunction,
    assume_role_policy,
    child,
    log_streams_arn,
    policy_json,
    retained_log_group,
)
from components.config import ConsumerSettings
from components.entry_bus import BusRef
from components.specs.consumer import ConsumerSpec
from functions.inbound.target import (
    PIPE_BUS_INPUT_TEMPLATE,
    PIPE_DETAIL_TYPE_PATH,
    PIPE_SOURCE_PATH,
    PIPE_TIME_PATH,
)


@dataclass(frozen=True)
class InboundPipe:
    log_group: aws.cloudwatch.LogGroup
    """Where the pipe logs failed executions (level ``ERROR``)."""
    role: aws.iam.Role
    """The role the pipe assumes (trusted by Pipes of this account only)."""
    role_policy: aws.iam.RolePolicy
    """Read the queue, invoke the enrichment, write the log group, reach the target."""
    pipe: aws.pipes.Pipe
    """The pipe itself."""


def inbound_pipe(
    name: str,
    parent: pulumi.Resource,
    *,
    settings: ConsumerSettings,
    spec: ConsumerSpec,
    batch_size: int,
    queue: aws.sqs.Queue,
    enrichment: LambdaFunction,
    entry_bus: BusRef,
    account: pulumi.Input[str],
) -> InboundPipe:
    """The pipe, its role and log group, children of ``parent`` named ``<name>-pipe...``."""
    log_group = retained_log_group(f"{name}-pipe-logs", parent, name_prefix=f"/aws/vendedlogs/pipes/hookstack/{name}-")
    role = aws.iam.Role(
        f"{name}-pipe-role",
        description="EventBridge Pipes drains hookstack's inbound FIFO queue",
        assume_role_policy=assume_role_policy("pipes.amazonaws.com", source_account=account),
        opts=child(parent),
    )
    target: pulumi.Input[str]
    if settings.target == "bus":
        target = entry_bus.arn
        parameters = aws.pipes.PipeTargetParametersArgs(
            eventbridge_event_bus_parameters=aws.pipes.PipeTargetParametersEventbridgeEventBusParametersArgs(
                source=PIPE_SOURCE_PATH, detail_type=PIPE_DETAIL_TYPE_PATH, time=PIPE_TIME_PATH
            ),
            input_template=PIPE_BUS_INPUT_TEMPLATE,
        )
    elif settings.target == "lambda":
        target = str(settings.target_arn)
        # Synchronous, so function errors are retried and batchItemFailures are honoured.
        parameters = aws.pipes.PipeTargetParametersArgs(
            lambda_function_parameters=aws.pipes.PipeTargetParametersLambdaFunctionParametersArgs(
                invocation_type="REQUEST_RESPONSE"
            )
        )
    else:
        target = str(settings.target_arn)
        # Standard workflows can only be started asynchronously (Express ones could run synchronously).
        parameters = aws.pipes.PipeTargetParametersArgs(
            step_function_state_machine_parameters=aws.pipes.PipeTargetParametersStepFunctionStateMachineParametersArgs(
                invocation_type="FIRE_AND_FORGET"
            )
        )
    statements = spec.pipe_statements(
        queue_arn=queue.arn,
        enrichment_arn=enrichment.function.arn,
        log_streams_arn=log_streams_arn(log_group),
        target_arn=target,
    )
    role_policy = aws.iam.RolePolicy(
        f"{name}-pipe-policy", role=role.id, policy=policy_json(statements), opts=child(parent)
    )
    pipe = aws.pipes.Pipe(
        f"{name}-pipe",
        description="hookstack inbound webhooks: FIFO queue -> rehydrate -> target",
        role_arn=role.arn,
        source=queue.arn,
        source_parameters=aws.pipes.PipeSourceParametersArgs(
            sqs_queue_parameters=aws.pipes.PipeSourceParametersSqsQueueParametersArgs(batch_size=batch_size)
        ),
        enrichment=enrichment.function.arn,
        target=target,
        target_parameters=parameters,
        log_configuration=aws.pipes.PipeLogConfigurationArgs(
            level="ERROR",
            cloudwatch_logs_log_destination=aws.pipes.PipeLogConfigurationCloudwatchLogsLogDestinationArgs(
                log_group_arn=log_group.arn
            ),
        ),
        desired_state="RUNNING",
        # Pipes validates its role at creation: the policy must exist first (IAM is eventually consistent).
        opts=child(parent, depends_on=[role_policy]),
    )
    return InboundPipe(log_group, role, role_policy, pipe)
