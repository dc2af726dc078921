"""The entry bus and the outgoing side in the sandbox, created from the plan ``__main__.py`` uses.

The entry bus and its archive (``EntryBus``), then what ``WebhookProvider`` declares: shard buses,
the dead-letter queue, every connection and API destination
(same names as deployed, so ``python -m ops status --endpoint-url`` works here too), every rule with
its pattern and state, routing rules to shard buses. Each destination rule targets an SQS queue that
:class:`sandbox.api_destinations.ApiDestinationWorker` delivers from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from components.plan import ApiDestinationPlan, ProviderPlan
from sandbox.api_destinations import ApiDestinationWorker, connection_auth_parameters
from sandbox.moto_events import ConnectionHandle


@dataclass
class LocalProvider:
    plan: ProviderPlan
    events: Any
    sqs: Any
    time_scale: float
    bus_arns: dict[int, str] = field(default_factory=dict)
    dead_letter_queue_url: str = ""
    archive_arn: str = ""
    workers: dict[str, ApiDestinationWorker] = field(default_factory=dict)
    rule_names: dict[str, str] = field(default_factory=dict)
    # tenant -> destination -> ARNs, as the ``destinations`` stack output lists them
    destination_outputs: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)

    def create(self) -> None:
        self._entry_bus()
        for bus in self.plan.buses:
            if bus.index:  # the shard buses
                self.bus_arns[bus.index] = self.events.create_event_bus(Name=bus.name)["EventBusArn"]
        self.dead_letter_queue_url = self.sqs.create_queue(
            QueueName=f"{self.plan.entry_bus_name}-dlq"[:80], Attributes={"MessageRetentionPeriod": str(14 * 24 * 3600)}
        )["QueueUrl"]
        for routing in self.plan.routing_rules:
            name = f"hookstack-{routing.key}"
            self.events.put_rule(
                Name=name,
                EventBusName=self.plan.entry_bus_name,
                EventPattern=routing.event_pattern_json,
                State="ENABLED",
            )
            self.events.put_targets(
                Rule=name,
                EventBusName=self.plan.entry_bus_name,
                Targets=[{"Id": "shard-bus", "Arn": self.bus_arns[routing.shard]}],
            )
        for destination in self.plan.destinations:
            self._destination(destination)

    def _entry_bus(self) -> None:
        """What ``EntryBus`` declares: the bus every event enters through and its archive."""
        self.bus_arns[0] = self.events.create_event_bus(Name=self.plan.entry_bus_name)["EventBusArn"]
        self.archive_arn = self.events.create_archive(
            ArchiveName=f"{self.plan.entry_bus_name}-archive"[:48], EventSourceArn=self.bus_arns[0], RetentionDays=7
        )["ArchiveArn"]

    def _destination(self, destination: ApiDestinationPlan) -> None:
        bus = self.plan.bus(destination.bus_index).name
        name = self.plan.connection_name(destination)
        connection_arn = self.events.create_connection(
            Name=name,
            AuthorizationType=destination.auth.authorization_type,
            AuthParameters=connection_auth_parameters(destination),
        )["ConnectionArn"]
        api_destination_arn = self.events.create_api_destination(
            Name=name,
            ConnectionArn=connection_arn,
            InvocationEndpoint=destination.url,
            HttpMethod=destination.method,
            InvocationRateLimitPerSecond=destination.rate_limit_per_second,
        )["ApiDestinationArn"]
        rule = f"hookstack-{destination.key}-rule"
        rule_arn = self.events.put_rule(
            Name=rule,
            EventBusName=bus,
            EventPattern=destination.event_pattern_json,
            State="ENABLED" if destination.enabled else "DISABLED",
        )["RuleArn"]
        queue_url = self.sqs.create_queue(QueueName=f"apidest-{destination.key}"[:80])["QueueUrl"]
        queue_arn = self.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        # The real pattern engine decides what matches; the queue stands in for the API destination.
        self.events.put_targets(Rule=rule, EventBusName=bus, Targets=[{"Id": destination.target_id, "Arn": queue_arn}])
        self.rule_names[destination.key] = rule
        self.destination_outputs.setdefault(destination.tenant_id, {})[destination.name] = {
            "rule_arn": rule_arn,
            "api_destination_arn": api_destination_arn,
            "connection_arn": connection_arn,
            "bus_name": bus,
        }
        self.workers[destination.key] = ApiDestinationWorker(
            destination,
            sqs=self.sqs,
            queue_url=queue_url,
            dead_letter_queue_url=self.dead_letter_queue_url,
            rule_arn=rule_arn,
            target_arn=api_destination_arn,
            connection=ConnectionHandle(name),
            time_scale=self.time_scale,
        )

    def start(self) -> None:
        for worker in self.workers.values():
            worker.start()

    def stop(self) -> None:
        for worker in self.workers.values():
            worker.stopping.set()  # all at once: each then waits out at most one long poll
        for worker in self.workers.values():
            worker.stop()

    def state(self) -> dict[str, Any]:
        return {"bus_names": self.bus_names, "dead_letter_queue_url": self.dead_letter_queue_url}

    @property
    def bus_names(self) -> list[str]:
        return [bus.name for bus in self.plan.buses]
