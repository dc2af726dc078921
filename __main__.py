"""hookstack: webhooks on AWS, one stack per environment, tenants listed in the stack config.

Reads like the architecture: the validated config and plan, one shared Lambda archive, the alert
topic, then the hub (the entry bus), the publishers that put events on it (Aurora relay, inbound
consumer), the subscribers that take events off it (API destinations, signed deliveries), and the
stack outputs. See README.md for the configuration keys and docs/ for each component.
"""

import pulumi

from components.alerts import AlertTopic
from components.common import FunctionTelemetry
from components.entry_bus import EntryBus, EntryBusArgs
from components.observability import StackObservability, StackObservabilityArgs
from components.packaging import build_package
from components.provider import WebhookProvider, WebhookProviderArgs
from components.stack_config import load_stack_from_pulumi

stack = load_stack_from_pulumi()  # the validated config and the provider plan, built once
config, plan = stack.config, stack.plan
package = build_package()
# Every function reports as this stack (the metrics' Stack dimension) and traces per hookstack:tracing.
telemetry = FunctionTelemetry(stack=pulumi.get_stack(), tracing=config.tracing)

# --- alerts: every component's alarms notify this topic (KMS key CloudWatch may use: components/alerts.py)
alarm_topic_arn = AlertTopic.create("hookstack-alarms", config.alarm_email).arn if config.alarm_email else None

# --- the hub: the entry bus every event enters through, archived for replays ------------------
hub = EntryBus(
    "hookstack",
    EntryBusArgs(bus_name=plan.entry_bus_name, archive_retention_days=config.provider.archive_retention_days),
)

# --- publishers: put events on the entry bus --------------------------------------------------
aurora = None
if config.aurora.enabled:
    from components.aurora import AuroraRelay, AuroraRelayArgs

    aurora = AuroraRelay(
        "hookstack-aurora",
        AuroraRelayArgs(
            settings=config.aurora,
            entry_bus=hub.ref,
            package=package,
            provider_event_source=config.provider.event_source,
            alarm_topic_arn=alarm_topic_arn,
            telemetry=telemetry,
        ),
    )

consumer = None
if config.consumer.enabled:
    from components.consumer import WebhookConsumer, WebhookConsumerArgs

    consumer = WebhookConsumer(
        "hookstack-inbound",
        WebhookConsumerArgs(
            settings=config.consumer,
            package=package,
            event_source=config.provider.event_source,
            entry_bus=hub.ref,
            alarm_topic_arn=alarm_topic_arn,
            telemetry=telemetry,
        ),
    )

# --- subscribers: take events off the entry bus -----------------------------------------------
# Outgoing webhooks on EventBridge API destinations (shard buses when one bus cannot hold the rules).
provider = WebhookProvider(
    "hookstack",
    WebhookProviderArgs(entry_bus=hub.ref, plan=plan, alarm_topic_arn=alarm_topic_arn),
)

# The tenant portal (docs/portal.md): static files on CloudFront calling the self-service API, which
# answers CORS for the portal's origin (so the portal comes first; its config.json once the API exists).
portal = None
if config.portal.enabled:  # only with the delivery pipeline (the config refuses it otherwise)
    from components.portal import TenantPortal, TenantPortalArgs

    portal = TenantPortal("hookstack-portal", TenantPortalArgs(settings=config.portal))

# Signed deliveries, subscription API and delivery history.
delivery = None
if config.delivery.enabled:
    from components.delivery import SignedDelivery, SignedDeliveryArgs
    from components.delivery_rules import worker_tenants
    from components.layers import build_crypto_layer

    delivery = SignedDelivery(
        "hookstack-delivery",
        SignedDeliveryArgs(
            entry_bus=hub.ref,
            settings=config.delivery,
            package=package,
            destinations=config.signed_destinations(),
            event_patterns=plan.delivery_rule_patterns,
            covered_tenants=plan.delivery_tenants,
            event_types=config.event_types,
            alarm_topic_arn=alarm_topic_arn,
            event_source=config.provider.event_source,
            crypto_layer=build_crypto_layer(),  # v1a signing (API and worker only)
            allowed_origins=[portal.origin] if portal is not None else [],
            telemetry=telemetry,
        ),
    )
    if portal is not None:
        portal.publish_config(delivery.self_service_api_url)

# --- observability: the dashboard and saved Logs Insights queries (docs/metrics.md) -------------
observability = StackObservability(
    "hookstack-observability",
    StackObservabilityArgs(
        stack=telemetry.stack,
        worker=delivery.worker_function if delivery is not None else None,
        ingest=consumer.ingest if consumer is not None else None,
        source_kinds=tuple(sorted({source.kind for source in config.consumer.sources})) if consumer else (),
        relay=aurora is not None,
        dead_letter_queues=[
            ("API destinations", provider.dead_letter_queue),
            *(
                [("Delivery events", delivery.events_dead_letter_queue), ("Deliveries", delivery.dead_letter_queue)]
                if delivery is not None
                else []
            ),
            *([("Inbound", consumer.dead_letter_queue)] if consumer is not None else []),
            *(
                [("Aurora relay", aurora.relay_dead_letter_queue), ("Aurora sweeper", aurora.sweeper_dead_letter_queue)]
                if aurora is not None
                else []
            ),
        ],
        api_destination_buses=[
            bus.name for bus in plan.buses if any(d.bus_index == bus.index for d in plan.destinations)
        ],
    ),
)

# --- stack outputs (ops/ reads them: docs/runbook.md) -----------------------------------------
pulumi.export("busName", hub.bus_name)
pulumi.export("busArn", hub.bus_arn)
pulumi.export("archiveArn", hub.archive_arn)
pulumi.export("deadLetterQueueUrl", provider.dead_letter_queue_url)
pulumi.export("destinations", provider.destinations)
pulumi.export("busShards", {"sharded": plan.sharded, "tenants": provider.shards})
pulumi.export("dashboardName", observability.dashboard_name)
if delivery is not None:
    pulumi.export("subscriptionsApiUrl", delivery.api_url)
    pulumi.export("selfServiceApiUrl", delivery.self_service_api_url)
    pulumi.export("deliveryTableName", delivery.table_name)
    pulumi.export("deliveryDeadLetterQueueUrl", delivery.dead_letter_queue_url)
    pulumi.export("deliveryEventsDeadLetterQueueUrl", delivery.events_dead_letter_queue_url)
    pulumi.export("deliveryTenants", list(worker_tenants(config)))
    if delivery.generated_secrets is not None:
        pulumi.export("signedDestinationSecrets", delivery.generated_secrets)
    if delivery.signing_public_keys is not None:
        pulumi.export("signingPublicKeys", delivery.signing_public_keys)
if portal is not None:
    pulumi.export("portalUrl", portal.url)
if config.event_types is not None:
    # The catalog for publishers: functions.events.EventCatalog.from_json(`pulumi stack output eventTypes --json`).
    pulumi.export("eventTypes", config.event_types.to_json())
if consumer is not None:
    pulumi.export("inboundUrls", consumer.urls)
    pulumi.export("inboundQueueName", consumer.queue_name)
    pulumi.export("inboundDeadLetterQueueName", consumer.dead_letter_queue_name)
    pulumi.export("inboundBucketName", consumer.bucket_name)
if aurora is not None:
    pulumi.export("auroraClusterEndpoint", aurora.cluster_endpoint)
    pulumi.export("auroraClusterArn", aurora.cluster_arn)
    pulumi.export("auroraSecretArn", aurora.secret_arn)
    pulumi.export("auroraRelayFunctionName", aurora.relay_function_name)
    pulumi.export("auroraSweeperFunctionName", aurora.sweeper_function_name)
