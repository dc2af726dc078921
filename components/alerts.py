"""The alert topic: where every hookstack alarm sends its notifications (and its return to OK).

CloudWatch cannot publish to a topic encrypted with the AWS managed key ``alias/aws/sns``: that key's
policy cannot be edited, it does not let ``cloudwatch.amazonaws.com`` call ``kms:GenerateDataKey*`` and
``kms:Decrypt``, and every alarm action then fails ("CloudWatch Alarms does not have authorization to
access the SNS topic encryption key"; AWS re:Post knowledge center, "How do I configure a CloudWatch
alarm with an encrypted SNS topic?", cloudwatch-configure-alarm-sns). So the topic is encrypted with a
customer managed key whose policy:

- lets the account administer the key through IAM (the ``root`` statement AWS puts in every default
  key policy; without it nobody could change the key again);
- lets ``cloudwatch.amazonaws.com`` use it (``kms:Decrypt``, ``kms:GenerateDataKey*``), and only for
  this account's hookstack alarms (``aws:SourceAccount``, ``aws:SourceArn``: confused-deputy
  protection).

The topic policy lets CloudWatch publish for the same alarms only (AWS re:Post knowledge center,
cloudwatch-receive-sns-for-alarm-trigger: ``ArnLike aws:SourceArn`` on the alarm ARN) and refuses
publishing without TLS (SNS security best practices, "Enforce encryption of data in transit"). The key
rotates yearly. Tests: ``tests/components/test_alerts.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.common import ALARM_NAME_PREFIX, CLOUDWATCH_SERVICE, policy_json
from components.policy_documents import tls_only_statement

KEY_DELETION_WINDOW_DAYS = 30


@dataclass
class AlertTopic:
    """The alert topic and what it needs (top-level resources: not a component, so URNs stay put)."""

    key: aws.kms.Key
    """The customer managed key the topic is encrypted with (CloudWatch may use it)."""
    alias: aws.kms.Alias
    """``alias/<name>-...`` for the key."""
    topic: aws.sns.Topic
    """Where every hookstack alarm publishes."""
    policy: aws.sns.TopicPolicy
    """CloudWatch may publish for this account's hookstack alarms only, over TLS."""
    subscription: aws.sns.TopicSubscription
    """The e-mail subscription (``alarmEmail``; confirmed by the recipient)."""

    @property
    def arn(self) -> pulumi.Output[str]:
        """The topic's ARN (what alarm actions name)."""
        return self.topic.arn

    @classmethod
    def create(cls, name: str, email: str) -> AlertTopic:
        """A KMS-encrypted topic CloudWatch can publish to, with ``email`` subscribed."""
        account = aws.get_caller_identity_output().account_id
        region = aws.get_region_output().region
        partition = aws.get_partition_output().partition
        # Every alarm of this stack (and of no other account): arn:<p>:cloudwatch:<region>:<account>:alarm:hookstack*
        alarms = pulumi.Output.concat(
            "arn:", partition, ":cloudwatch:", region, ":", account, ":alarm:", ALARM_NAME_PREFIX, "*"
        )
        from_these_alarms = {"StringEquals": {"aws:SourceAccount": account}, "ArnLike": {"aws:SourceArn": alarms}}
        key = aws.kms.Key(
            f"{name}-key",
            description="hookstack alarm notifications (SNS topic encryption)",
            enable_key_rotation=True,
            deletion_window_in_days=KEY_DELETION_WINDOW_DAYS,
            policy=policy_json(
                [
                    {
                        "Sid": "AccountAdministersKeyThroughIam",
                        "Effect": "Allow",
                        "Principal": {"AWS": pulumi.Output.concat("arn:", partition, ":iam::", account, ":root")},
                        "Action": "kms:*",
                        "Resource": "*",
                    },
                    {
                        "Sid": "CloudWatchAlarmsEncryptNotifications",
                        "Effect": "Allow",
                        "Principal": {"Service": CLOUDWATCH_SERVICE},
                        "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                        "Resource": "*",
                        "Condition": from_these_alarms,
                    },
                ]
            ),
        )
        alias = aws.kms.Alias(f"{name}-key-alias", name_prefix=f"alias/{name}-", target_key_id=key.key_id)
        topic = aws.sns.Topic(name, kms_master_key_id=key.arn)
        policy = aws.sns.TopicPolicy(
            f"{name}-policy",
            arn=topic.arn,
            policy=policy_json(
                [
                    {
                        "Sid": "CloudWatchAlarmsPublish",
                        "Effect": "Allow",
                        "Principal": {"Service": CLOUDWATCH_SERVICE},
                        "Action": "sns:Publish",
                        "Resource": topic.arn,
                        "Condition": from_these_alarms,
                    },
                    tls_only_statement([topic.arn], action="sns:Publish"),
                ]
            ),
        )
        subscription = aws.sns.TopicSubscription(f"{name}-email", topic=topic.arn, protocol="email", endpoint=email)
        return cls(key=key, alias=alias, topic=topic, policy=policy, subscription=subscription)
