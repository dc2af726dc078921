"""Signed deliveries in the sandbox, from the same spec as ``SignedDelivery``.

The delivery table (the schema the component declares), the events queue fed by the delivery rule
on the entry bus (``ProviderPlan.delivery_rule_pattern``), the tasks queue with its dead-letter
queue (same ``maxReceiveCount``), config-declared signed destinations written as the component
writes them, each function's ``DELIVERY_*`` environment written by its runtime contract (loopback
allowed by the SSRF allowlist, waits scaled by ``DELIVERY_TIME_SCALE``), the subscription API served
over local HTTP (payload 2.0; the IAM authorization of the deployed HTTP API is not emulated) and two
event source mappings. Every derived value comes from ``components.specs.delivery``; nothing here
imports Pulumi.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from typing import Any

from components.config import DeliverySettings, Destination, Tenant
from components.plan import delivery_rule_pattern
from components.specs.delivery import (
    API_HANDLER,
    FANOUT_HANDLER,
    RULE_TARGET_ID,
    WORKER_HANDLER,
    DeliverySpec,
    QueueSpec,
    auth_secret,
    delivery_spec,
    endpoint_options,
    endpoint_secrets_arn,
    table_indexes_arn,
)
from functions import whsec
from functions.events import EventCatalog
from sandbox.endpoint_secrets import create_endpoint_secrets
from sandbox.iam import LocalIam, Role
from sandbox.lambda_http import LambdaHttpServer, load_handler
from sandbox.self_service import SelfServiceGate
from sandbox.sqs_worker import QueueWorker

NAME = "hookstack-delivery"
# Locally, an endpoint created through the API takes the very next event (the deployed fan-out caches
# a tenant's endpoints for 10 s: FanoutSettings' default). The cost benchmark passes the deployed value.
ENDPOINT_CACHE_SECONDS = 0.0


def environment(
    spec: DeliverySpec,
    *,
    table_name: str,
    tasks_queue_url: str,
    dead_letter_queue_url: str,
    time_scale: float,
    endpoint_cache_seconds: float = ENDPOINT_CACHE_SECONDS,
    token_issuer: str = "",
    dead_letter_queue_urls: tuple[str, ...] = (),
    event_bus_name: str = "",
) -> dict[str, str]:
    """The union of the three functions' environments (one process runs them all), each written by
    its runtime contract, with the sandbox-only knobs: waits scaled, a short endpoint cache."""
    environments = (
        spec.api_settings(
            table_name=table_name,
            tasks_queue_url=tasks_queue_url,
            token_issuer=token_issuer,
            dead_letter_queue_urls=dead_letter_queue_urls,
            event_bus_name=event_bus_name,
        ).to_environ(),
        dataclasses.replace(
            spec.fanout_settings(table_name=table_name, tasks_queue_url=tasks_queue_url),
            endpoint_cache_seconds=endpoint_cache_seconds,
        ).to_environ(),
        dataclasses.replace(
            spec.worker_settings(
                table_name=table_name,
                tasks_queue_url=tasks_queue_url,
                dead_letter_queue_url=dead_letter_queue_url,
                event_bus_name=event_bus_name,
            ),
            time_scale=time_scale,
        ).to_environ(),
    )
    union: dict[str, str] = {}
    for variables in environments:
        for name, value in variables.items():
            # One variable, one meaning: the functions can share a process only if they agree on it.
            if union.setdefault(name, value) != value:
                raise ValueError(f"{name} differs between the delivery functions: {union[name]!r} and {value!r}")
    return union


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
        endpoint_cache_seconds: float = ENDPOINT_CACHE_SECONDS,
        iam: LocalIam | None = None,
        rule_patterns: Sequence[Mapping[str, Any]] | None = None,
        covered_tenants: Sequence[str] | None = None,
        event_types: EventCatalog | None = None,
        event_source: str | None = None,
    ) -> None:
        from sandbox.aws import client

        # The plan's delivery rules and covered tenants (``delivery.apiTenants``), as the component gets them.
        self.rule_patterns = (delivery_rule_pattern(),) if rule_patterns is None else tuple(rule_patterns)
        self.covered_tenants = covered_tenants
        self.event_types = event_types  # hookstack:eventTypes, one table item as the component writes it

        self.settings = settings
        # provider.eventSource: the operational events' source is <it>.operational, as in the component.
        self.spec = delivery_spec(settings) if event_source is None else delivery_spec(settings, event_source)
        self.destinations = destinations
        self.bus_name = bus_name
        self.time_scale = time_scale
        self.set_environment = set_environment
        self.local_secrets = local_secrets
        self.endpoint_cache_seconds = endpoint_cache_seconds
        self.iam = iam  # None: the functions use the process's credentials, which moto does not evaluate
        self.sqs = client("sqs", endpoint)
        self.events = client("events", endpoint)
        self.dynamodb = client("dynamodb", endpoint)
        self.secretsmanager = client("secretsmanager", endpoint)
        self.signing_public_keys: dict[str, dict[str, str]] = {}
        self.table = f"{NAME}-table"
        self.server = LambdaHttpServer(
            load_handler(API_HANDLER), function_name=f"{NAME}-api", timeout_seconds=self.spec.api_timeout_seconds
        )
        # The self-service API (tenant tokens): the same handler behind the JWT authorizer's checks and
        # CORS (sandbox/self_service.py); its URL is the tokens' issuer.
        self.self_service_gate = SelfServiceGate(
            load_handler(API_HANDLER), issuer=lambda: self.self_service_server.url, function_name=f"{NAME}-api"
        )
        self.self_service_server = LambdaHttpServer(
            load_handler(API_HANDLER),
            function_name=f"{NAME}-api",
            timeout_seconds=self.spec.api_timeout_seconds,
            gate=self.self_service_gate,
        )
        self.workers: list[QueueWorker] = []
        self.urls: dict[str, str] = {}

    def create(self) -> None:
        from functions.delivery import runtime, schema, store

        self.dynamodb.create_table(**schema.create_table_request(self.table))
        self.urls["events"], self.urls["events_dlq"] = self._queue(self.spec.events_queue)
        self.urls["tasks"], self.urls["dlq"] = self._queue(self.spec.tasks_queue)
        events_arn = self._arn(self.urls["events"])
        for index, pattern in enumerate(self.rule_patterns):
            rule = f"{NAME}-rule" if index == 0 else f"{NAME}-rule-{index}"
            self.events.put_rule(
                Name=rule, EventBusName=self.bus_name, EventPattern=json.dumps(pattern), State="ENABLED"
            )
            self.events.put_targets(
                Rule=rule, EventBusName=self.bus_name, Targets=[{"Id": RULE_TARGET_ID, "Arn": events_arn}]
            )
        for tenant_id in self.covered_tenants or ():
            self.dynamodb.put_item(TableName=self.table, Item=store.covered_tenant_item(tenant_id))
        if self.event_types is not None:
            from functions.delivery.event_catalog import catalog_item

            self.dynamodb.put_item(TableName=self.table, Item=catalog_item(self.event_types))
        for tenant_index, destination_index, tenant, destination in self.destinations:
            signing = destination.signing
            assert signing is not None  # every worker endpoint signs
            path = f"tenants[{tenant_index}].destinations[{destination_index}].auth.secret"
            secret = signing.secret.reveal() if signing.secret else self.local_secrets.get(path)
            if secret is None:
                secret = whsec.generate()
                self.local_secrets[path] = secret
            previous = signing.previous_secret
            self.dynamodb.put_item(
                TableName=self.table,
                Item=store.config_endpoint_item(
                    tenant.id,
                    destination.name,
                    destination.url,
                    destination.event_types,
                    destination.enabled,
                    endpoint_options(destination),
                ),
            )
            self.dynamodb.put_item(
                TableName=self.table,
                Item=store.config_secret_item(
                    tenant.id,
                    destination.name,
                    secret,
                    previous.reveal() if previous else None,
                    auth_secret(destination),
                ),
            )
        self.signing_public_keys = create_endpoint_secrets(
            self.secretsmanager, self.dynamodb, self.table, self.destinations, self.local_secrets
        )
        self.set_environment(
            environment(
                self.spec,
                table_name=self.table,
                tasks_queue_url=self.urls["tasks"],
                dead_letter_queue_url=self.urls["dlq"],
                dead_letter_queue_urls=(self.urls["dlq"], self.urls["events_dlq"]),
                time_scale=self.time_scale,
                endpoint_cache_seconds=self.endpoint_cache_seconds,
                token_issuer=self.self_service_server.url,
                event_bus_name=self.bus_name,
            )
        )
        runtime.reset()  # the handlers read the environment just written at their next invocation
        # An event source mapping polls with its function's role.
        fanout_sqs, worker_sqs = self.sqs, self.sqs
        if self.iam is not None:
            roles = self._run_as_roles(self.iam)
            fanout_sqs, worker_sqs = roles["fanout"].emulator_client("sqs"), roles["worker"].emulator_client("sqs")
        batch = self.spec.batch_size
        self.workers = [
            QueueWorker(
                fanout_sqs, self.urls["events"], load_handler(FANOUT_HANDLER), name=f"{NAME}-fanout", batch_size=batch
            ),
            QueueWorker(
                worker_sqs, self.urls["tasks"], load_handler(WORKER_HANDLER), name=f"{NAME}-worker", batch_size=batch
            ),
        ]

    def _run_as_roles(self, iam: LocalIam) -> dict[str, Role]:
        """Each function as its own role, holding the statements ``SignedDelivery`` declares for it."""
        import os

        from functions.delivery import api, fanout, runtime, worker
        from functions.delivery.settings import ApiSettings, FanoutSettings, WorkerSettings
        from functions.runtime import Clients

        table = str(self.dynamodb.describe_table(TableName=self.table)["Table"]["TableArn"])
        events, tasks, dead_letters = (self._arn(self.urls[queue]) for queue in ("events", "tasks", "dlq"))
        spec = self.spec
        endpoint_secrets = endpoint_secrets_arn(table)
        bus = str(self.events.describe_event_bus(Name=self.bus_name)["Arn"])
        roles = {
            "api": iam.function_role(
                f"{NAME}-api",
                spec.api_statements(
                    table_arn=table,
                    indexes_arn=table_indexes_arn(table),
                    tasks_queue_arn=tasks,
                    endpoint_secrets_arn=endpoint_secrets,
                    dead_letter_queue_arns=[dead_letters, self._arn(self.urls["events_dlq"])],
                    bus_arn=bus,
                ),
            ),
            "fanout": iam.function_role(
                f"{NAME}-fanout",
                spec.fanout_statements(table_arn=table, events_queue_arn=events, tasks_queue_arn=tasks),
            ),
            "worker": iam.function_role(
                f"{NAME}-worker",
                spec.worker_statements(
                    table_arn=table,
                    indexes_arn=table_indexes_arn(table),
                    tasks_queue_arn=tasks,
                    dead_letter_queue_arn=dead_letters,
                    endpoint_secrets_arn=endpoint_secrets,
                    bus_arn=bus,
                ),
            ),
        }

        def clients(role: str) -> Clients:
            return Clients(runtime._client_config(), roles[role].session)

        # The runtime idiom's injection point: each handler's state, built on its role's session.
        api._state.set(api.ApiRuntime(ApiSettings.from_environ(os.environ), clients("api")))
        fanout._state.set(fanout.FanoutRuntime(FanoutSettings.from_environ(os.environ), clients("fanout")))
        worker._state.set(worker.WorkerRuntime(WorkerSettings.from_environ(os.environ), clients("worker")))
        return roles

    def _queue(self, spec: QueueSpec) -> tuple[str, str]:
        """A queue and its dead-letter queue, named as the component names them; returns both URLs."""
        dead_letter_url = str(self.sqs.create_queue(QueueName=f"{NAME}-{spec.dead_letter_suffix}")["QueueUrl"])
        redrive = {"deadLetterTargetArn": self._arn(dead_letter_url), "maxReceiveCount": spec.max_receive_count}
        attributes = {**spec.attributes(), "RedrivePolicy": json.dumps(redrive)}
        return str(
            self.sqs.create_queue(QueueName=f"{NAME}-{spec.suffix}", Attributes=attributes)["QueueUrl"]
        ), dead_letter_url

    def _arn(self, url: str) -> str:
        return str(self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])

    def start(self) -> None:
        self.server.start()
        self.self_service_server.start()
        for worker in self.workers:
            worker.start()

    def stop(self) -> None:
        for worker in self.workers:
            worker.stopping.set()
        for worker in self.workers:
            worker.stop()
        self.server.stop()
        self.self_service_server.stop()

    def state(self) -> dict[str, Any]:
        return {
            "subscriptions_api": self.server.url,
            "self_service_api_url": self.self_service_server.url,
            "delivery_table": self.table,
            "delivery_dead_letter_queue_url": self.urls.get("dlq"),
            "local_secrets": dict(self.local_secrets),
            "signing_public_keys": self.signing_public_keys,
        }
