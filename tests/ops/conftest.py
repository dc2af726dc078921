"""A deployed hookstack stack, as moto holds it, for the operations CLI tests.

``stack`` creates in moto what ``components/provider.py`` declares for a few destinations (entry
bus, archive, DLQ, per destination a connection + API destination named ``<prefix><key>`` and a
rule with the plan's pattern: ``detail.tenantId`` and the redrive marker clause), writes the matching ``pulumi stack output --json`` file, and adds a
"capture" rule + queue on the entry bus so a test can see what was put on the bus.

moto fidelity this relies on (moto 5.2.5, checked in its source):
- ``PutEvents`` routes to SQS targets by pattern, ``$or`` (at any level) and ``exists: false``
  (a missing leaf) included, as EventBridge documents them.
- ``StartReplay`` replays synchronously and echoes the request in ``DescribeReplay`` (it applies
  neither the window nor ``FilterArns``).
- ``ListConnections`` hard-codes ``ConnectionState: AUTHORIZED`` (AWS reports the real state);
  :func:`report_connection_states` patches it to report the model's state, like AWS.
- Connection / API destination / replay states cannot be changed through the API in moto; tests
  set them on moto's backend objects (what EventBridge does on a 401 or a failed replay).
- ``NamePrefix`` is ignored by ``ListConnections`` / ``ListApiDestinations``; the tool filters too.
- ``TestEventPattern`` answers with an empty body; :func:`moto_as_aws` installs the sandbox's
  answer (``sandbox/moto_events.py``: moto's own ``PutEvents`` matcher), as the sandbox does.
"""

from __future__ import annotations

import io
import json
import sys
import uuid
from collections.abc import Iterator, Sequence
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from components.plan import destination_pattern, resource_key

ACCOUNT = "123456789012"
REGION = "us-east-1"
SAMPLE_DLQ_MESSAGE = Path(__file__).resolve().parent.parent / "events" / "ops_dlq_message.json"
_SESSION: Any = None


def session() -> Any:
    """One boto3 session for every test: clients then share its loaded service models, which keeps
    a client to ~10 ms instead of ~150 ms. moto intercepts every client while a mock is active."""
    global _SESSION
    if _SESSION is None:
        import boto3

        _SESSION = boto3.session.Session(region_name=REGION)
    return _SESSION


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


_OUTPUT_KEYS = ("rule_arn", "api_destination_arn", "connection_arn", "bus_name")


@dataclass
class MotoStack:
    tmp_path: Path
    bus_name: str = "hookstack-dev"
    events: Any = None
    sqs: Any = None
    cloudwatch: Any = None
    bus_arn: str = ""
    archive_arn: str = ""
    dlq_url: str = ""
    capture_url: str = ""
    destinations: dict[str, dict[str, str]] = field(default_factory=dict)
    """``tenant/name`` -> rule_arn, api_destination_arn, connection_arn, bus_name, connection (name),
    rule_name, delivered_url (the queue standing in for the API destination)."""
    routes: dict[str, dict[str, str]] = field(default_factory=dict)
    """shard bus name -> rule_arn (the routing rule on the entry bus), bus_arn (the shard bus)."""

    @property
    def prefix(self) -> str:
        return resource_key(self.bus_name, max_length=24) + "-"

    # -- building ------------------------------------------------------------------------------

    def deploy(self, tenants: dict[str, Sequence[str]], shards: dict[str, Sequence[str]] | None = None) -> MotoStack:
        self.events = session().client("events")
        self.sqs = session().client("sqs")
        self.cloudwatch = session().client("cloudwatch")
        self.bus_arn = self.events.create_event_bus(Name=self.bus_name)["EventBusArn"]
        self.archive_arn = self.events.create_archive(
            ArchiveName="hookstack-archive-1a2b3c4", EventSourceArn=self.bus_arn, RetentionDays=7
        )["ArchiveArn"]
        self.dlq_url = self.sqs.create_queue(QueueName="hookstack-dlq-5e6f7a8")["QueueUrl"]
        self.capture_url = self.sqs.create_queue(QueueName="capture")["QueueUrl"]
        capture_arn = self._queue_arn(self.capture_url)
        self.events.put_rule(
            Name="capture", EventBusName=self.bus_name, EventPattern=json.dumps({"source": [{"prefix": "hookstack"}]})
        )
        self.events.put_targets(Rule="capture", EventBusName=self.bus_name, Targets=[{"Id": "q", "Arn": capture_arn}])
        for tenant, names in tenants.items():
            for name in names:
                self._destination(tenant, name, self.bus_name)
        for shard, shard_tenants in (shards or {}).items():
            shard_arn = self.events.create_event_bus(Name=shard)["EventBusArn"]
            for tenant in shard_tenants:
                self._destination(tenant, "hook", shard)
            route = f"hookstack-route-{shard[-2:]}-0-9f8e7d6"
            route_arn = self.events.put_rule(
                Name=route,
                EventBusName=self.bus_name,
                EventPattern=json.dumps({"detail": {"tenantId": list(shard_tenants)}}),
            )["RuleArn"]
            self.routes[shard] = {"rule_arn": route_arn, "bus_arn": shard_arn}
            self.events.put_targets(
                Rule=route, EventBusName=self.bus_name, Targets=[{"Id": "shard-bus", "Arn": shard_arn}]
            )
        return self

    def _destination(self, tenant: str, name: str, bus: str) -> None:
        key = resource_key(tenant, name)
        physical = f"{self.prefix}{key}"
        connection = self.events.create_connection(
            Name=physical,
            AuthorizationType="API_KEY",
            AuthParameters={"ApiKeyAuthParameters": {"ApiKeyName": "x-api-key", "ApiKeyValue": "old-key"}},
        )
        destination = self.events.create_api_destination(
            Name=physical,
            ConnectionArn=connection["ConnectionArn"],
            InvocationEndpoint=f"https://{name}.example.com/hooks",
            HttpMethod="POST",
        )
        rule_name = f"hookstack-{key}-rule-{uuid.uuid4().hex[:7]}"
        rule = self.events.put_rule(
            Name=rule_name,
            EventBusName=bus,
            EventPattern=json.dumps(destination_pattern(tenant, name)),  # as components/plan.py declares it
            State="ENABLED",
        )
        # A queue stands in for the API destination (moto cannot invoke one): what the rule delivered.
        queue_url = self.sqs.create_queue(QueueName=f"delivered-{key}")["QueueUrl"]
        self.events.put_targets(
            Rule=rule_name, EventBusName=bus, Targets=[{"Id": "api-destination", "Arn": self._queue_arn(queue_url)}]
        )
        self.destinations[f"{tenant}/{name}"] = {
            "rule_arn": rule["RuleArn"],
            "api_destination_arn": destination["ApiDestinationArn"],
            "connection_arn": connection["ConnectionArn"],
            "bus_name": bus,
            "connection": physical,
            "rule_name": rule_name,
            "delivered_url": queue_url,
        }

    def _queue_arn(self, url: str) -> str:
        return self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

    def outputs(self) -> dict[str, Any]:
        """What ``pulumi stack output --json`` prints for this stack."""
        nested: dict[str, dict[str, dict[str, str]]] = {}
        for label, arns in self.destinations.items():
            tenant, name = label.split("/")
            nested.setdefault(tenant, {})[name] = {k: arns[k] for k in _OUTPUT_KEYS}
        return {
            "busName": self.bus_name,
            "busArn": self.bus_arn,
            "deadLetterQueueUrl": self.dlq_url,
            "destinations": nested,
            "busShards": {"sharded": False, "tenants": {}},
        }

    def outputs_file(self) -> str:
        path = self.tmp_path / "outputs.json"
        path.write_text(json.dumps(self.outputs()))
        return str(path)

    # -- the dead-letter queue -----------------------------------------------------------------

    def dead_letter(
        self,
        label: str = "1/crm",
        *,
        detail: dict[str, Any] | None = None,
        event_id: str | None = None,
        error_code: str = "SDK_CLIENT_ERROR",
        body: str | None = None,
        detail_type: str = "widget.created",
        attributes: dict[str, str | None] | None = None,
    ) -> str:
        """Put a message on the DLQ the way EventBridge does for ``label``'s rule; returns the eventId.
        ``attributes`` replace the message attributes written (``None``: leave that one out)."""
        tenant = label.split("/", maxsplit=1)[0]
        event_id = event_id or f"evt_{uuid.uuid4().hex}"
        if body is None:
            envelope = {
                "version": "0",
                "id": str(uuid.uuid4()),
                "detail-type": detail_type,
                "source": "hookstack.aurora",
                "account": ACCOUNT,
                "time": "2026-01-05T10:00:00Z",
                "region": REGION,
                "resources": [],
                "detail": detail
                if detail is not None
                else {"widgetName": "W1", "tenantId": tenant, "eventId": event_id},
            }
            body = json.dumps(envelope)
        arns = self.destinations[label]
        written: dict[str, str | None] = {
            "RULE_ARN": arns["rule_arn"],
            "TARGET_ARN": arns["api_destination_arn"],
            "ERROR_CODE": error_code,
            "ERROR_MESSAGE": "Unable to invoke ApiDestination endpoint",
            "EXHAUSTED_RETRY_CONDITION": "MaximumRetryAttempts",
            "RETRY_ATTEMPTS": "24",
            **(attributes or {}),
        }
        self.sqs.send_message(
            QueueUrl=self.dlq_url,
            MessageBody=body,
            MessageAttributes={
                k: {"DataType": "String", "StringValue": v} for k, v in written.items() if v is not None
            },
        )
        return event_id

    def dlq_depth(self) -> tuple[int, int]:
        """(visible, in flight) messages on the DLQ."""
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.dlq_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]), int(attributes["ApproximateNumberOfMessagesNotVisible"])

    def dlq_event_ids(self) -> list[str]:
        """eventIds of the visible DLQ messages (made visible again after looking)."""
        ids = []
        messages = self.sqs.receive_message(QueueUrl=self.dlq_url, MaxNumberOfMessages=10, VisibilityTimeout=0).get(
            "Messages", []
        )
        for message in messages:
            try:
                ids.append(json.loads(message["Body"])["detail"]["eventId"])
            except (ValueError, KeyError, TypeError):
                ids.append("?")
        return sorted(ids)

    def captured(self) -> list[dict[str, Any]]:
        """Events that reached the entry bus since the last call (as the capture rule saw them: a
        rule of the bus's owner without the redrive clause, so it sees redriven events too)."""
        return self._drain(self.capture_url)

    def delivered(self, label: str) -> list[dict[str, Any]]:
        """Events the destination's rule matched since the last call."""
        return self._drain(self.destinations[label]["delivered_url"])

    def _drain(self, url: str) -> list[dict[str, Any]]:
        events = []
        while True:
            messages = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                return events
            for message in messages:
                events.append(json.loads(message["Body"]))
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])

    # -- moto's backend (what AWS changes on its own) ------------------------------------------

    def backend(self) -> Any:
        from moto.events.models import events_backends

        return events_backends[ACCOUNT][REGION]

    def set_connection_state(self, label: str, state: str) -> None:
        self.backend().connections[self.destinations[label]["connection"]].state = state

    def set_api_destination_state(self, label: str, state: str) -> None:
        self.backend().destinations[self.destinations[label]["connection"]].state = state

    # -- the CLI -------------------------------------------------------------------------------

    def run(self, *argv: str, clients: Any = None, stdin: str | None = None, outputs: bool = True) -> Result:
        from ops.aws import Clients
        from ops.cli import main

        clients = clients or Clients(region=REGION, session=session())
        args = list(argv)
        if outputs:
            args += ["--outputs", self.outputs_file()]
        out, err = io.StringIO(), io.StringIO()
        old_stdin = sys.stdin
        if stdin is not None:
            sys.stdin = io.StringIO(stdin)
        try:
            with redirect_stdout(out), redirect_stderr(err):
                code = main(args, clients=clients)
        finally:
            sys.stdin = old_stdin
        return Result(code, out.getvalue(), err.getvalue())


def report_connection_states(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make moto's ListConnections report each connection's state (it hard-codes AUTHORIZED)."""
    from moto.events.responses import EventsHandler

    def list_connections(handler: Any) -> tuple[str, dict[str, Any]]:
        connections = [
            {
                "ConnectionArn": c.arn,
                "ConnectionState": c.state,
                "CreationTime": c.creation_time,
                "Name": c.name,
                "LastModifiedTime": c.creation_time,
                "AuthorizationType": c.authorization_type,
            }
            for c in handler.events_backend.list_connections()
        ]
        return json.dumps({"Connections": connections}), handler.response_headers

    monkeypatch.setattr(EventsHandler, "list_connections", list_connections)


def moto_as_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the tool reads from AWS and moto answers otherwise: connection states, TestEventPattern."""
    from sandbox.moto_events import install_test_event_pattern

    report_connection_states(monkeypatch)
    install_test_event_pattern(monkeypatch.setattr)


@pytest.fixture
def stack(aws: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[MotoStack]:
    """Tenant 1 with destinations crm and erp, tenant 2 with billing, on one entry bus."""
    moto_as_aws(monkeypatch)
    yield MotoStack(tmp_path).deploy({"1": ["crm", "erp"], "2": ["billing"]})
