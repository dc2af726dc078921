"""The alert topic under Pulumi mocks: a customer managed key CloudWatch may use, a topic policy for
this account's hookstack alarms only, TLS-only publishing, and every alarm of every component wired
to it (CloudWatch cannot use the AWS managed key ``alias/aws/sns``: alarm actions would all fail)."""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

import pytest

from tests.harness import ACCOUNT, REGION, Program, run_program

KEY = "aws:kms/key:Key"
ALIAS = "aws:kms/alias:Alias"
TOPIC = "aws:sns/topic:Topic"
TOPIC_POLICY = "aws:sns/topicPolicy:TopicPolicy"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
ALARMS_OF_THIS_STACK = f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:hookstack*"
FROM_THESE_ALARMS = {"StringEquals": {"aws:SourceAccount": ACCOUNT}, "ArnLike": {"aws:SourceArn": ALARMS_OF_THIS_STACK}}


@pytest.fixture(scope="module")
def everything(dev_stack: tuple[dict[str, Any], list[str]]) -> Program:
    """The dev stack (provider, signed delivery, inbound, Aurora) with an alarm email."""
    config, secret_keys = dev_stack
    assert config["hookstack:alarmEmail"] == "ops@example.com"
    return run_program(config, secret_keys=secret_keys)


def test_the_topic_is_encrypted_with_a_rotating_customer_managed_key(everything: Program) -> None:
    key = everything.one(KEY)
    topic = everything.named("hookstack-alarms")
    assert topic["kmsMasterKeyId"] == key.arn
    assert "alias/aws/" not in topic["kmsMasterKeyId"]
    assert key["enableKeyRotation"] is True
    assert 7 <= key["deletionWindowInDays"] <= 30
    alias = everything.one(ALIAS)
    assert alias["targetKeyId"] == key.state["keyId"]
    assert alias.physical_name.startswith("alias/hookstack-alarms-") and not alias.physical_name.startswith(
        "alias/aws/"
    )


def test_the_key_policy_lets_the_account_administer_it_and_cloudwatch_use_it_for_these_alarms(
    everything: Program,
) -> None:
    document = everything.one(KEY).json("policy")
    assert document["Version"] == "2012-10-17"
    admin, cloudwatch = document["Statement"]
    assert admin == {
        "Sid": "AccountAdministersKeyThroughIam",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
        "Action": "kms:*",
        "Resource": "*",
    }
    assert cloudwatch["Effect"] == "Allow"
    assert cloudwatch["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert sorted(cloudwatch["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey*"]
    assert cloudwatch["Condition"] == FROM_THESE_ALARMS


def test_the_topic_policy_admits_these_alarms_and_refuses_plain_http(everything: Program) -> None:
    topic = everything.named("hookstack-alarms")
    policy = everything.one(TOPIC_POLICY)
    assert policy["arn"] == topic.arn
    publish, deny = policy.json("policy")["Statement"]
    assert publish["Effect"] == "Allow"
    assert publish["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert publish["Action"] == "sns:Publish"
    assert publish["Resource"] == topic.arn
    assert publish["Condition"] == FROM_THESE_ALARMS
    assert deny["Effect"] == "Deny" and deny["Principal"] == "*"
    assert deny["Action"] == "sns:Publish" and deny["Resource"] == [topic.arn]
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    subscription = everything.one("aws:sns/topicSubscription:TopicSubscription")
    assert (subscription["topic"], subscription["protocol"], subscription["endpoint"]) == (
        topic.arn,
        "email",
        "ops@example.com",
    )


def test_every_alarm_of_every_component_notifies_the_topic_and_is_admitted_by_its_policies(everything: Program) -> None:
    topic = everything.named("hookstack-alarms").arn
    alarms = everything.of_type(ALARM)
    # One of each component at least: provider, signed delivery, inbound, Aurora.
    for component in ("hookstack-dlq-alarm", "hookstack-delivery-", "hookstack-inbound-", "hookstack-aurora-"):
        assert any(a.name.startswith(component) for a in alarms), component
    for alarm in alarms:
        assert alarm["alarmActions"] == [topic], alarm.name
        assert alarm["okActions"] == [topic], alarm.name
        arn = f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{alarm.physical_name}"
        # An alarm outside the pattern could neither publish nor use the key: its notifications would be lost.
        assert fnmatchcase(arn, ALARMS_OF_THIS_STACK), arn


def test_without_an_alarm_email_there_is_no_topic_and_no_key(program: Any) -> None:
    declared = program({"tenants": [], "consumer": {"enabled": False}})
    assert not declared.of_type(TOPIC) and not declared.of_type(KEY) and not declared.of_type(TOPIC_POLICY)
    assert all(not a.get("alarmActions") for a in declared.of_type(ALARM))


def test_an_alarm_the_topic_would_not_admit_cannot_be_declared() -> None:
    from components.common import alarm, insights_alarm

    with pytest.raises(ValueError, match="must start with 'hookstack'"):
        alarm(
            "orders-errors",
            None,
            description="d",
            namespace="AWS/Lambda",
            metric_name="Errors",
            dimensions={},
            alarm_topic_arn=None,
        )  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="must start with 'hookstack'"):
        insights_alarm("orders-failed", None, description="d", query="SELECT 1", alarm_topic_arn=None)  # type: ignore[arg-type]
