"""Where a dead letter is redriven: the rule that dead-lettered it, and whether that rule still takes it.

- Normally it is published to the bus of the rule in its ``RULE_ARN`` with
  ``detail.hookstackRedrive`` set to the marker that rule's pattern accepts (read with
  ``DescribeRule``; see :func:`components.plan.redrive_clause`). Every other hookstack rule refuses
  marked events, so the other destinations of the tenant and the signed-delivery rule do not get
  it again. A rule without a marker clause (deployed before markers, or not hookstack's) or a
  rule that is gone or disabled leaves the message in the queue, with the reason.
- A routing rule that failed to forward to a shard bus (its ``TARGET_ARN`` is a bus): the event,
  as it was, goes to that shard bus, where every rule of the tenant missed it.
- Before an event is published, ``TestEventPattern`` checks the rule's current pattern against the
  event exactly as it will be published (marker included): a rule changed since (other
  ``eventTypes``; a ``RULE_ARN`` naming another tenant's rule; a tenant routed to another shard)
  would let the event reach nobody while its message is deleted, so the message stays, with the
  reason. One call per distinct (rule, event); ``DescribeRule`` once per rule.
- ``all_rules``: unmarked to the entry bus, where every matching rule gets it (the way to reach
  rules that no longer exist, e.g. after tenants moved between buses); no pattern check.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from components.plan import redrive_marker
from functions.events import REDRIVE_MARKER_KEY, Event, mark_for_redrive
from ops.dlq import DeadLetter
from ops.outputs import OpsError, resource_name, rule_location, rule_scope


@dataclass(frozen=True)
class RedriveTarget:
    """Where one dead letter goes: ``bus``, reaching ``rule_arn`` (``""``: every matching rule)."""

    bus: str
    rule_arn: str
    marker: str | None
    """``detail.hookstackRedrive`` to set; ``None``: no marker (every matching rule of ``bus``)."""
    as_it_was: bool = False
    """Publish the event unchanged (a routing rule's dead letter, re-sent to its shard bus)."""
    pattern: str | None = None
    """The rule's current event pattern, which the published event must match (``None``: no check)."""

    def event_for(self, event: Event) -> Event:
        if self.as_it_was:
            return event
        return mark_for_redrive(event, self.marker)

    def published_event(self, event: Event, *, now: datetime) -> dict[str, Any]:
        """``event`` as EventBridge hands it to the rule: the envelope ``TestEventPattern`` needs
        (id, account, source, time, region, resources, detail-type) and the detail, marker included."""
        region, account = rule_scope(self.rule_arn)
        entry = self.event_for(event).entry(self.bus)
        return {
            "version": "0",
            "id": str(uuid.uuid4()),  # EventBridge assigns its own; no hookstack pattern reads it
            "detail-type": entry["DetailType"],
            "source": entry["Source"],
            "account": account,
            "time": (event.time or now).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": region,
            "resources": list(entry.get("Resources", [])),
            "detail": json.loads(entry["Detail"]),
        }


class RuleTargets:
    """Resolves each dead letter's :class:`RedriveTarget` (``DescribeRule`` once per rule)."""

    def __init__(self, events: Any, *, entry_bus: str, target_bus: str | None = None, all_rules: bool = False) -> None:
        self.events = events
        self.entry_bus = entry_bus
        self.target_bus = target_bus
        self.all_rules = all_rules
        self._cache: dict[tuple[str, str], RedriveTarget | str] = {}
        self._matches: dict[tuple[str, str], str | None] = {}

    def resolve(self, letter: DeadLetter) -> RedriveTarget | str:
        """The target, or why the message cannot be redriven. Raises on a failed AWS call."""
        if self.all_rules:
            return RedriveTarget(self.target_bus or self.entry_bus, "", None)
        if not letter.rule_arn:
            return "the message has no RULE_ARN: the rule that dead-lettered it is unknown (--all-rules sends it to every rule)"
        key = (letter.rule_arn, letter.target_arn or "")
        if key not in self._cache:
            self._cache[key] = self._resolve(letter.rule_arn, letter.target_arn or "")
        return self._cache[key]

    def _resolve(self, rule_arn: str, target_arn: str) -> RedriveTarget | str:
        try:
            bus, name = rule_location(rule_arn)
        except OpsError as error:
            return f"RULE_ARN {error}"
        if ":event-bus/" in target_arn:
            # A routing rule could not forward to its shard bus: every rule there missed the event.
            try:
                shard = resource_name(target_arn, "event-bus")
            except OpsError as error:
                return f"TARGET_ARN {error}"
            described = self._describe(name, bus)
            if isinstance(described, str):
                return described
            # The routing rule's current pattern says whether the tenant still routes to that shard.
            return RedriveTarget(
                self.target_bus or shard, rule_arn, None, as_it_was=True, pattern=described.get("EventPattern")
            )
        described = self._describe(name, bus)
        if isinstance(described, str):
            return described
        if described.get("State") != "ENABLED":
            return f"rule {name} is {described.get('State')}: a redriven event would reach nothing; enable it first"
        marker = redrive_marker(described.get("EventPattern"))
        if marker is None:
            return (
                f"rule {name} accepts no redrive marker (detail.{REDRIVE_MARKER_KEY} in its pattern): deployed "
                "before markers existed? `pulumi up`, or --all-rules to send to every rule"
            )
        return RedriveTarget(self.target_bus or bus, rule_arn, marker, pattern=described.get("EventPattern"))

    def _describe(self, name: str, bus: str) -> dict[str, Any] | str:
        try:
            described: dict[str, Any] = self.events.describe_rule(Name=name, EventBusName=bus)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                return (
                    f"rule {name} no longer exists on bus {bus} (destination removed, or moved to another bus): "
                    "--all-rules --tenant <id> sends its events to every rule of the tenant"
                )
            raise
        return described

    def mismatch(self, target: RedriveTarget, event: Event, *, now: datetime) -> str | None:
        """Why the rule would not match ``event`` as published (``None``: it matches). A refusal of
        the check itself (``InvalidEventPatternException``, ``ValidationException``) is a reason
        too; other failed calls raise."""
        if target.pattern is None or not target.rule_arn:
            return None  # --all-rules: every rule that matches gets it, none in particular
        published = target.published_event(event, now=now)
        key = (target.rule_arn, json.dumps({**published, "id": "", "time": ""}, sort_keys=True))
        if key not in self._matches:
            self._matches[key] = self._test(target, published)
        return self._matches[key]

    def _test(self, target: RedriveTarget, published: dict[str, Any]) -> str | None:
        name = rule_location(target.rule_arn)[1]
        try:
            response = self.events.test_event_pattern(EventPattern=target.pattern, Event=json.dumps(published))
        except ClientError as error:
            info = error.response.get("Error", {})
            if info.get("Code") in ("InvalidEventPatternException", "ValidationException"):
                return f"TestEventPattern refused rule {name}'s pattern or the event: {info.get('Code')}: {info.get('Message', '')}"
            raise
        result = response.get("Result")
        if result is True:
            return None
        if result is False:
            detail = published["detail"]
            marked = (
                f" marked {REDRIVE_MARKER_KEY}={detail[REDRIVE_MARKER_KEY]!r}" if REDRIVE_MARKER_KEY in detail else ""
            )
            return (
                f"rule {name} no longer matches this event (detail-type {published['detail-type']!r}, "
                f"tenantId {detail.get('tenantId')!r}{marked}): its pattern changed since, or the message names "
                "another rule; a redrive would reach nobody. Check the destination's eventTypes; --all-rules sends "
                "it to every rule that matches it now"
            )
        return f"TestEventPattern gave no result for rule {name} (answer without Result): not redriven"
