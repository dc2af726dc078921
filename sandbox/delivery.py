"""Signed deliveries in the sandbox, from the same settings as ``SignedDelivery``.

The delivery table (the schema the component declares), the events queue fed by the delivery rule
on the entry bus (``ProviderPlan.delivery_rule_pattern``), the tasks queue with its dead-letter
queue (same ``maxReceiveCount``), config-declared signed destinations written as the component
writes them, the ``DELIVERY_*`` environment (loopback allowed by the SSRF allowlist, waits scaled
by ``DELIVERY_TIME_SCALE``), the subscription API served over local HTTP (payload 2.0; the IAM
authorization of the deployed HTTP API is not emulated) and two event source mappings.
"""

from __future__ import annotations

import json
from typing import Any

from components.config import DeliverySettings, Destination, SignedAuth, Tenant
from components.delivery import (
    BATCH_SIZE,
    EVENTS_MAX_RECEIVE_COUNT,
    FANOUT_TIMEOUT_SECONDS,
    MAX_RECEIVE_COUNT,
    RECEIVE_SLACK,
    VISIBILITY_FACTOR,
    WORKER_OVERHEAD_SECONDS,
)
from components.plan import delivery_rule_pattern
from functions import whsec
from sandbox.lambda_http import LambdaHttpServer, load_handler
from sandbox.sqs_worker import QueueWorker

NAME = "hookstack-delivery"



class LocalDelivery:
    def __init__(
        self,
        settings: DeliverySettings,
        destinations: list[tuple[int, int, Tenant, Destination]],
        *,
        endpoint: str,
        bus_name: str,
        time_scale: float,
        set_environment: Any,
        local_secrets: dict[str, str],
    ) -> None:
        from sandbox.aws import client

        self.settings = settings
        self.destinations = destinations
        self.bus_name = bus_name
        self.time_scale = time_scale
        self.set_environment = set_environment
        self.local_secrets = local_secrets
        self.sqs = client("sqs", endpoint)
        self.events = client("events", endpoint)
        self.dynamodb = client("dynamodb", endpoint)
        self.table = f"{NAME}-table"
        self.server = LambdaHttpServer(load_handler("functions.delivery.api.handler"), function_name=f"{NAME}-api", timeout_seconds=25)
        self.workers: list[QueueWorker] = []
        self.urls: dict[str, str] = {}

    def create(self) -> None:
        from functions.delivery import schema, store

        attempts = len(self.settings.retry_schedule_seconds) + 1
        max_receives = min(MAX_RECEIVE_COUNT, attempts + RECEIVE_SLACK)
        worker_timeout = self.settings.timeout_seconds + WORKER_OVERHEAD_SECONDS
        self.dynamodb.create_table(**schema.create_table_request(self.table))
        self.urls["events_dlq"] = self._queue(f"{NAME}-events-dlq", {})
        self.urls["events"] = self._queue(
            f"{NAME}-events", {"VisibilityTimeout": str(VISIBILITY_FACTOR * FANOUT_TIMEOUT_SECONDS)}, self.urls["events_dlq"], EVENTS_MAX_RECEIVE_COUNT
        )
        self.urls["dlq"] = self._queue(f"{NAME}-dlq", {})
        self.urls["tasks"] = self._queue(f"{NAME}-tasks", {"VisibilityTimeout": str(VISIBILITY_FACTOR * worker_timeout)}, self.urls["dlq"], max_receives)
        events_arn = self._arn(self.urls["events"])
        self.events.put_rule(Name=f"{NAME}-rule", EventBusName=self.bus_name, EventPattern=json.dumps(delivery_rule_pattern()), State="ENABLED")
        self.events.put_targets(Rule=f"{NAME}-rule", EventBusName=self.bus_name, Targets=[{"Id": "signed-delivery", "Arn": events_arn}])
        for tenant_index, destination_index, tenant, destination in self.destinations:
            assert isinstance(destination.auth, SignedAuth)
            path = f"tenants[{tenant_index}].destinations[{destination_index}].auth.secret"
            secret = destination.auth.secret.reveal() if destination.auth.secret else self.local_secrets.get(path)
            if secret is None:
                secret = whsec.generate()
                self.local_secrets[path] = secret
            previous = destination.auth.previous_secret
            self.dynamodb.put_item(
                TableName=self.table,
                Item=store.config_endpoint_item(tenant.id, destination.name, destination.url, destination.event_types, destination.enabled),
            )
            self.dynamodb.put_item(
                TableName=self.table,
                Item=store.config_secret_item(tenant.id, destination.name, secret, previous.reveal() if previous else None),
            )
        self.set_environment(
            {
                "DELIVERY_TABLE_NAME": self.table,
                "DELIVERY_TASKS_QUEUE_URL": self.urls["tasks"],
                "DELIVERY_DEAD_LETTER_QUEUE_URL": self.urls["dlq"],
                "DELIVERY_TIMEOUT_SECONDS": str(self.settings.timeout_seconds),
                "DELIVERY_RETRY_SCHEDULE": ",".join(str(s) for s in self.settings.retry_schedule_seconds),
                "DELIVERY_DISABLE_AFTER_FAILURES": str(self.settings.disable_after_failures),
                "DELIVERY_HISTORY_TTL_DAYS": str(self.settings.history_ttl_days),
                "DELIVERY_ROTATION_OVERLAP_HOURS": str(self.settings.rotation_overlap_hours),
                "DELIVERY_ALLOWED_CIDRS": ",".join(self.settings.allowed_cidrs),
                "DELIVERY_MAX_RESPONSE_BYTES": str(self.settings.max_response_bytes),
                "DELIVERY_MAX_RECEIVES": str(max_receives),
                "DELIVERY_TIME_SCALE": repr(self.time_scale),
                # New endpoints are picked up within 1 s locally (the deployed fan-out caches 10 s).
                "DELIVERY_ENDPOINT_CACHE_SECONDS": "1",
            }
        )
        self.workers = [
            QueueWorker(self.sqs, self.urls["events"], load_handler("functions.delivery.fanout.handler"), name=f"{NAME}-fanout", batch_size=BATCH_SIZE),
            QueueWorker(self.sqs, self.urls["tasks"], load_handler("functions.delivery.worker.handler"), name=f"{NAME}-worker", batch_size=BATCH_SIZE),
        ]

    def _queue(self, name: str, attributes: dict[str, str], dead_letter_url: str | None = None, max_receives: int = 5) -> str:
        if dead_letter_url:
            attributes = {**attributes, "RedrivePolicy": json.dumps({"deadLetterTargetArn": self._arn(dead_letter_url), "maxReceiveCount": max_receives})}
        return str(self.sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"])

    def _arn(self, url: str) -> str:
        return str(self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])

    def start(self) -> None:
        self.server.start()
        for worker in self.workers:
            worker.start()

    def stop(self) -> None:
        for worker in self.workers:
            worker.stopping.set()
        for worker in self.workers:
            worker.stop()
        self.server.stop()

    def state(self) -> dict[str, Any]:
        return {
            "subscriptions_api": self.server.url,
            "delivery_table": self.table,
            "delivery_dead_letter_queue_url": self.urls.get("dlq"),
            "local_secrets": dict(self.local_secrets),
        }
