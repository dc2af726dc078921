"""Health of a stack's outgoing webhooks: connections, API destinations, rules, archive, DLQ, alarms.

Problems (exit code 1) are what stops deliveries without anything else noticing: a connection
that is not authorized (``DEAUTHORIZED`` after a 401/407, ``FAILED_CONNECTIVITY``, ...), an API
destination that is ``INACTIVE``, a resource the outputs name but AWS does not have, an archive
that records nothing. Warnings need a look but can be intended (a rule disabled by
``enabled: false``) or are already alarmed (messages in the DLQ, alarms firing); ``--strict``
counts them as problems too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from botocore.exceptions import ClientError

from ops.aws import pages
from ops.outputs import StackOutputs, resource_name, rule_location

Level = Literal["ok", "warning", "problem"]

CONNECTION_OK = frozenset({"AUTHORIZED", "ACTIVE"})
# Passing states during a deployment or a re-authorization.
CONNECTION_PASSING = frozenset({"CREATING", "UPDATING", "AUTHORIZING"})
ARCHIVE_PASSING = frozenset({"CREATING", "UPDATING"})


def connection_level(state: str) -> Level:
    if state in CONNECTION_OK:
        return "ok"
    if state in CONNECTION_PASSING:
        return "warning"
    return "problem"  # DEAUTHORIZED, DEAUTHORIZING, FAILED_CONNECTIVITY, DELETING, anything new


def api_destination_level(state: str) -> Level:
    return "ok" if state == "ACTIVE" else "problem"


def rule_level(state: str) -> Level:
    return "ok" if state.startswith("ENABLED") else "warning"


def archive_level(state: str) -> Level:
    if state == "ENABLED":
        return "ok"
    return "warning" if state in ARCHIVE_PASSING else "problem"


@dataclass(frozen=True)
class Finding:
    kind: str
    name: str
    state: str
    level: Level
    label: str = ""
    """``tenant/destination`` when known."""
    detail: str = ""


@dataclass
class StatusReport:
    bus_name: str
    prefix: str
    findings: list[Finding] = field(default_factory=list)

    def add(self, finding: Finding) -> None:
        self.findings.append(finding)

    def problems(self, strict: bool = False) -> list[Finding]:
        levels = {"problem", "warning"} if strict else {"problem"}
        return [f for f in self.findings if f.level in levels]

    def as_dict(self) -> dict[str, Any]:
        return {
            "bus": self.bus_name,
            "prefix": self.prefix,
            "findings": [f.__dict__ for f in self.findings],
        }


def collect(events: Any, sqs: Any, cloudwatch: Any, outputs: StackOutputs) -> StatusReport:
    prefix = outputs.resource_prefix
    report = StatusReport(outputs.bus_name, prefix)
    by_connection = {resource_name(d.connection_arn, "connection"): d.label for d in outputs.destinations}
    by_destination = {resource_name(d.api_destination_arn, "api-destination"): d.label for d in outputs.destinations}
    # Another stack's bus name can start with this one's (hookstack-dev vs hookstack-dev-2): when the
    # outputs list the stack's own names, prefix matches outside them are shown but not judged.
    known = bool(outputs.destinations)

    _judge_listed(
        report,
        "connection",
        pages(events.list_connections, "Connections", NamePrefix=prefix),
        state=lambda c: (str(c.get("ConnectionState", "UNKNOWN")), str(c.get("StateReason", ""))),
        level_of=connection_level,
        labels=by_connection,
        known=known,
    )
    _judge_listed(
        report,
        "api-destination",
        pages(events.list_api_destinations, "ApiDestinations", NamePrefix=prefix),
        state=lambda d: (str(d.get("ApiDestinationState", "UNKNOWN")), str(d.get("InvocationEndpoint", ""))),
        level_of=api_destination_level,
        labels=by_destination,
        known=known,
    )

    rule_names: set[tuple[str, str]] = set()
    for ref in outputs.destinations:
        bus, rule = rule_location(ref.rule_arn)
        rule_names.add((bus, rule))
        state = _rule_state(events, bus, rule)
        level = "problem" if state == "MISSING" else rule_level(state)
        detail = "disabled: no deliveries and nothing in the DLQ (replay later)" if level == "warning" else ""
        report.add(Finding("rule", rule, state, level, ref.label, detail))

    _archive(events, outputs, report)
    queue_name = _dead_letter_queue(sqs, outputs, report)
    _alarms(cloudwatch, report, rule_names, queue_name)
    return report


def _judge_listed(
    report: StatusReport,
    kind: str,
    listed: list[Mapping[str, Any]],
    *,
    state: Callable[[Mapping[str, Any]], tuple[str, str]],
    level_of: Callable[[str], Level],
    labels: dict[str, str],
    known: bool,
) -> None:
    """One finding per resource AWS lists under the stack's prefix (``state`` gives its state and
    detail), and a problem for each one the outputs name (``labels``) that AWS does not have."""
    found = {item["Name"]: item for item in listed if item["Name"].startswith(report.prefix)}
    for name, item in sorted(found.items()):
        current, detail = state(item)
        level = level_of(current)
        label = labels.get(name, "")
        if known and not label:
            level, label = "ok", "not in this stack's outputs"
        report.add(Finding(kind, name, current, level, label, detail))
    for name, label in sorted(labels.items()):
        if name not in found:
            report.add(Finding(kind, name, "MISSING", "problem", label, "named in the outputs, absent in AWS"))


def _archive(events: Any, outputs: StackOutputs, report: StatusReport) -> None:
    bus_arn = outputs.bus_arn
    if bus_arn is None:
        bus_arn = _call_or_missing(lambda: events.describe_event_bus(Name=outputs.bus_name)["Arn"])
        if bus_arn == "MISSING":
            report.add(Finding("bus", outputs.bus_name, "MISSING", "problem", "", "the entry bus does not exist"))
            return
    archives = pages(events.list_archives, "Archives", EventSourceArn=bus_arn)
    if not archives:
        report.add(
            Finding(
                "archive",
                outputs.bus_name,
                "MISSING",
                "problem",
                "",
                "no archive records the entry bus: no replay possible",
            )
        )
    for archive in archives:
        state = str(archive.get("State", "UNKNOWN"))
        detail = f"{archive.get('EventCount', '?')} events, retention {archive.get('RetentionDays', '?')} day(s)"
        report.add(Finding("archive", archive["ArchiveName"], state, archive_level(state), "", detail))


def _dead_letter_queue(sqs: Any, outputs: StackOutputs, report: StatusReport) -> str | None:
    url = outputs.dead_letter_queue_url
    if not url:
        report.add(
            Finding("dead-letter-queue", "?", "UNKNOWN", "warning", "", "pass --outputs or --dlq-url to check it")
        )
        return None
    name = url.rstrip("/").rsplit("/", 1)[-1]
    try:
        attributes = sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        )["Attributes"]
    except ClientError as error:
        report.add(Finding("dead-letter-queue", name, "MISSING", "problem", "", str(error)))
        return name
    visible = int(attributes.get("ApproximateNumberOfMessages", 0))
    in_flight = int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0))
    level: Level = "warning" if visible or in_flight else "ok"
    detail = f"{visible} waiting, {in_flight} in flight" + (" (python -m ops redrive)" if visible or in_flight else "")
    report.add(Finding("dead-letter-queue", name, str(visible + in_flight), level, "", detail))
    return name


def _alarms(cloudwatch: Any, report: StatusReport, rules: set[tuple[str, str]], queue_name: str | None) -> None:
    """Alarms in ALARM that watch this stack: the DLQ depth alarm (``QueueName``), the per-bus
    Metrics Insights alarms (``WHERE EventBusName = '<bus>'``) and per-rule alarms if any."""
    buses = {bus for bus, _ in rules} | {report.bus_name}
    bus_clauses = tuple(f"EventBusName = '{bus}'" for bus in buses)
    for alarm in pages(cloudwatch.describe_alarms, "MetricAlarms", StateValue="ALARM"):
        dimensions = {d["Name"]: d["Value"] for d in alarm.get("Dimensions", [])}
        expressions = " ".join(str(q.get("Expression", "")) for q in alarm.get("Metrics", []))
        ours = (
            (dimensions.get("EventBusName", "default"), dimensions.get("RuleName")) in rules
            or (queue_name is not None and dimensions.get("QueueName") == queue_name)
            or any(clause in expressions for clause in bus_clauses)
        )
        if ours:
            reason = str(alarm.get("StateReason", ""))
            detail = str(alarm.get("AlarmDescription", "")) + (f" [{reason}]" if reason else "")
            report.add(Finding("alarm", alarm["AlarmName"], "ALARM", "warning", "", detail))


def _rule_state(events: Any, bus: str, rule: str) -> str:
    return _call_or_missing(lambda: events.describe_rule(Name=rule, EventBusName=bus).get("State", "UNKNOWN"))


def _call_or_missing(call: Callable[[], Any]) -> str:
    try:
        return str(call())
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            return "MISSING"
        raise
