"""hookstack: webhooks on AWS, one stack per environment, tenants listed in the stack config.

Reads like the architecture: the validated config, one shared Lambda archive, an alert topic, then
each component. See README.md for the configuration keys and docs/ for each component.
"""

import pulumi

from components.alerts import AlertTopic
from components.packaging import build_package
from components.provider import WebhookProvider, WebhookProviderArgs
from components.stack_config import load_stack_from_pulumi

stack = load_stack_from_pulumi()  # the validated config and the provider plan, built once
config, plan = stack.config, stack.plan
package = build_package()

# Every component's alarms notify this topic (KMS key CloudWatch may use: components/alerts.py).
alarm_topic_arn = AlertTopic.create("hookstack-alarms", config.alarm_email).arn if config.alarm_email else None

# --- outgoing webhooks on EventBridge API destinations --------------------------------------
provider = WebhookProvider(
    "hookstack",
    WebhookProviderArgs(
        plan=plan,
        archive_retention_days=config.provider.archive_retention_days,
        alarm_topic_arn=alarm_topic_arn,
    ),
)
pulumi.export("busName", provider.bus_name)
pulumi.export("busArn", provider.bus_arn)
pulumi.export("deadLetterQueueUrl", provider.dead_letter_queue_url)
pulumi.export("archiveArn", provider.archive.arn)
pulumi.export("destinations", provider.destinations)
pulumi.export("busShards", {"sharded": plan.sharded, "tenants": provider.shards})

# --- signed deliveries, subscription API and delivery history -------------------------------
if config.delivery.enabled:
    from components.delivery import SignedDelivery, SignedDeliveryArgs

    delivery = SignedDelivery(
        "hookstack-delivery",
        SignedDeliveryArgs(
            bus_name=provider.bus_name,
            bus_arn=provider.bus_arn,
            settings=config.delivery,
            package=package,
            destinations=config.signed_destinations(),
            event_pattern=plan.delivery_rule_pattern,
            alarm_topic_arn=alarm_topic_arn,
        ),
    )
    pulumi.export("subscriptionsApiUrl", delivery.api_url)
    pulumi.export("deliveryTableName", delivery.table_name)
    pulumi.export("deliveryDeadLetterQueueUrl", delivery.dead_letter_queue_url)
    pulumi.export("deliveryEventsDeadLetterQueueUrl", delivery.events_dead_letter_queue_url)
    if delivery.generated_secrets is not None:
        pulumi.export("signedDestinationSecrets", delivery.generated_secrets)

# --- inbound webhooks -----------------------------------------------------------------------
if config.consumer.enabled:
    from components.consumer import WebhookConsumer, WebhookConsumerArgs

    consumer = WebhookConsumer(
        "hookstack-inbound",
        WebhookConsumerArgs(
            settings=config.consumer,
            package=package,
            event_source=config.provider.event_source,
            bus_name=provider.bus_name,
            bus_arn=provider.bus_arn,
            alarm_topic_arn=alarm_topic_arn,
        ),
    )
    pulumi.export("inboundUrls", consumer.urls)
    pulumi.export("inboundQueueName", consumer.queue_name)
    pulumi.export("inboundDeadLetterQueueName", consumer.dead_letter_queue_name)
    pulumi.export("inboundBucketName", consumer.bucket_name)

# --- Aurora PostgreSQL relay ----------------------------------------------------------------
if config.aurora.enabled:
    from components.aurora import AuroraRelay, AuroraRelayArgs

    aurora = AuroraRelay(
        "hookstack-aurora",
        AuroraRelayArgs(
            settings=config.aurora,
            bus_name=provider.bus_name,
            bus_arn=provider.bus_arn,
            package=package,
            provider_event_source=config.provider.event_source,
            alarm_topic_arn=alarm_topic_arn,
        ),
    )
    pulumi.export("auroraClusterEndpoint", aurora.cluster_endpoint)
    pulumi.export("auroraClusterArn", aurora.cluster_arn)
    pulumi.export("auroraSecretArn", aurora.secret_arn)
    pulumi.export("auroraRelayFunctionName", aurora.relay_function_name)
    pulumi.export("auroraSweeperFunctionName", aurora.sweeper_function_name)
