"""The signed-delivery pipeline's alarms: its rules' failures, the dead-letter queues, the fan-out's
lag and the subscription API's 5xx (each function's errors alarm in the function itself)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pulumi
import pulumi_aws as aws

from components.common import alarm, queue_age_alarm, queue_depth_alarm

if TYPE_CHECKING:
    from components.delivery import SignedDelivery

EVENTS_AGE_ALARM_SECONDS = 300


def delivery_alarms(
    name: str, parent: SignedDelivery, topic: pulumi.Input[str] | None, bus_name: pulumi.Input[str]
) -> list[aws.cloudwatch.MetricAlarm]:
    rule_alarms = [
        alarm(
            f"{name}-rule{suffix}-{kind}",
            parent,
            description=f"Signed-delivery rule {rule_index}: {what}",
            namespace="AWS/Events",
            metric_name=metric,
            dimensions={"RuleName": rule.name, "EventBusName": bus_name},
            alarm_topic_arn=topic,
        )
        for rule_index, rule in enumerate(parent.rules)
        for suffix in ["" if rule_index == 0 else f"-{rule_index}"]
        for kind, metric, what in (
            ("failed", "FailedInvocations", "events could not be put on the events queue (FailedInvocations)"),
            (
                "dlq-failed",
                "InvocationsFailedToBeSentToDlq",
                "failed events could not reach the dead-letter queue and are lost",
            ),
        )
    ]
    return rule_alarms + [
        queue_depth_alarm(
            f"{name}-dlq-alarm", parent, parent.dead_letter_queue, topic, "Signed deliveries failed for good"
        ),
        queue_depth_alarm(
            f"{name}-events-dlq-alarm",
            parent,
            parent.events_dead_letter_queue,
            topic,
            "Signed-delivery events not taken in",
        ),
        queue_age_alarm(
            f"{name}-events-age",
            parent,
            parent.events_queue,
            topic,
            "Signed-delivery fan-out is behind",
            EVENTS_AGE_ALARM_SECONDS,
        ),
        alarm(
            f"{name}-api-5xx",
            parent,
            description="Subscription API answered 5xx",
            namespace="AWS/ApiGateway",
            metric_name="5xx",
            dimensions={"ApiId": parent.http_api.id},
            alarm_topic_arn=topic,
        ),
    ]
