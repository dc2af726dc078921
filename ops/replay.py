"""Archive replays: send the entry bus's archived events of a time window through the rules again.

A replay goes to the bus the archive records (the entry bus) and, with ``Destination.FilterArns``,
only to the listed rules of that bus. A tenant whose rules live on a shard bus is reached through
the entry bus's routing rule for that shard, which forwards every event of the tenants it routes:
those tenants get the window again too (same ``eventId``, so receivers deduplicate).

AWS replays in 1-minute slices of event time, not in order, and runs at most 10 replays at once;
``DescribeReplay.EventLastReplayedTime`` tells how far a replay got.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from ops.aws import pages
from ops.outputs import DestinationRef, OpsError, StackOutputs, bus_arn_for, resource_name, rule_location

REPLAY_NAME_RE = re.compile(r"^[.\-_A-Za-z0-9]{1,64}$")
MAX_DESCRIPTION_CHARS = 512
TERMINAL_STATES = frozenset({"COMPLETED", "CANCELLED", "FAILED"})


def parse_time(text: str, flag: str) -> datetime:
    """An ISO 8601 instant with an explicit offset (``2026-01-05T10:00Z``), as UTC."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError as error:
        raise OpsError(f"{flag} {text!r}: not an ISO 8601 date-time (e.g. 2026-01-05T10:00:00Z)") from error
    if value.tzinfo is None:
        # A replay of the wrong hours re-sends the wrong events: never guess the time zone.
        example = text.strip() + ("Z" if "T" in text.strip() else "T00:00:00Z")  # a bare date takes no Z
        raise OpsError(f"{flag} {text!r}: add a UTC offset or Z (e.g. {example})")
    try:
        return value.astimezone(UTC)
    except OverflowError as error:  # 9999-12-31T23:59-01:00 is past datetime's range in UTC
        raise OpsError(f"{flag} {text!r}: out of range once converted to UTC") from error


def check_window(start: datetime, end: datetime, now: datetime) -> None:
    if start >= end:
        raise OpsError(f"--from {start.isoformat()} must be before --to {end.isoformat()}")
    if end > now:
        raise OpsError(f"--to {end.isoformat()} is in the future: a replay covers events already archived")


def default_replay_name(prefix: str, now: datetime) -> str:
    return f"{prefix}replay-{now:%Y%m%dT%H%M%SZ}"[-64:].lstrip(".-_") or "replay"


def check_replay_name(name: str) -> str:
    if not REPLAY_NAME_RE.fullmatch(name):
        raise OpsError(f"replay name {name!r}: 1-64 characters of A-Z, a-z, 0-9, '.', '-' and '_'")
    return name


@dataclass(frozen=True)
class Archive:
    name: str
    arn: str
    retention_days: int
    state: str


def find_archive(events: Any, outputs: StackOutputs) -> Archive:
    """The archive recording the entry bus (``--archive`` / ``archiveArn`` when given)."""
    if outputs.archive:
        name = resource_name(outputs.archive, "archive") if outputs.archive.startswith("arn:") else outputs.archive
    else:
        bus_arn = entry_bus_arn(events, outputs)
        names = [a["ArchiveName"] for a in pages(events.list_archives, "Archives", EventSourceArn=bus_arn)]
        if not names:
            raise OpsError(f"bus {outputs.bus_name} has no archive: nothing to replay (see docs/runbook.md)")
        if len(names) > 1:
            raise OpsError(
                f"bus {outputs.bus_name} has several archives ({', '.join(names)}): choose one with --archive"
            )
        name = names[0]
    described = events.describe_archive(ArchiveName=name)
    return Archive(
        name=name,
        arn=described["ArchiveArn"],
        retention_days=int(described.get("RetentionDays") or 0),
        state=str(described.get("State", "")),
    )


def entry_bus_arn(events: Any, outputs: StackOutputs) -> str:
    if outputs.bus_arn:
        return outputs.bus_arn
    return str(events.describe_event_bus(Name=outputs.bus_name)["Arn"])


@dataclass(frozen=True)
class ReplayTargets:
    """The rule ARNs a replay is limited to (empty: every rule on the entry bus), and why."""

    rule_arns: tuple[str, ...]
    notes: tuple[str, ...]


def resolve_rules(
    events: Any,
    outputs: StackOutputs,
    *,
    rule_arns: Iterable[str] = (),
    destinations: Iterable[str] = (),
    tenants: Iterable[str] = (),
) -> ReplayTargets:
    """Turn ``--rule-arn`` / ``--destination`` / ``--tenant`` into rules of the entry bus."""
    wanted: list[DestinationRef] = [outputs.destination(label) for label in destinations]
    for tenant in tenants:
        wanted.extend(outputs.tenant_destinations(tenant))
    arns: list[str] = []
    notes: list[str] = []
    for arn in rule_arns:
        bus, _ = rule_location(arn)
        if bus != outputs.bus_name:
            raise OpsError(
                f"--rule-arn {arn}: the rule is on bus {bus}, but a replay only reaches rules of the "
                f"archived bus {outputs.bus_name}; use --destination or --tenant for sharded tenants"
            )
        arns.append(arn)
    sharded: dict[str, set[str]] = {}
    for destination in wanted:
        if destination.bus_name == outputs.bus_name:
            arns.append(destination.rule_arn)
        else:
            sharded.setdefault(destination.bus_name, set()).add(destination.tenant_id)
    for shard, shard_tenants in sorted(sharded.items()):
        routing = _routing_rules(events, outputs, shard, shard_tenants)
        arns.extend(routing)
        notes.append(
            f"tenant(s) {', '.join(sorted(shard_tenants))} live on shard bus {shard}: the replay goes through "
            f"routing rule(s) {', '.join(rule_location(a)[1] for a in routing)}, so every destination of every "
            "tenant those rules route gets the window again (same eventId)"
        )
    return ReplayTargets(tuple(dict.fromkeys(arns)), tuple(notes))


def _routing_rules(events: Any, outputs: StackOutputs, shard: str, tenants: set[str]) -> list[str]:
    shard_arn = bus_arn_for(entry_bus_arn(events, outputs), shard)
    found: list[str] = []
    missing = set(tenants)
    for rule in pages(events.list_rules, "Rules", EventBusName=outputs.bus_name):
        routed = _routed_tenants(rule.get("EventPattern"))
        if not routed & tenants:
            continue
        targets = pages(events.list_targets_by_rule, "Targets", Rule=rule["Name"], EventBusName=outputs.bus_name)
        if any(t.get("Arn") == shard_arn for t in targets):
            found.append(rule["Arn"])
            missing -= routed
    if missing:
        raise OpsError(
            f"no rule on {outputs.bus_name} forwards tenant(s) {', '.join(sorted(missing))} to shard bus {shard}; "
            "check the deployment (`python -m ops status`) or pass the routing rule with --rule-arn"
        )
    return found


def _routed_tenants(pattern: Any) -> set[str]:
    try:
        detail = json.loads(pattern).get("detail", {}) if isinstance(pattern, str) else {}
        values = detail.get("tenantId", []) if isinstance(detail, Mapping) else []
    except (ValueError, AttributeError):
        return set()
    return {str(v) for v in values if isinstance(v, (str, int))}


def replay_request(
    *,
    name: str,
    archive_arn: str,
    bus_arn: str,
    start: datetime,
    end: datetime,
    rule_arns: Iterable[str],
    description: str,
) -> dict[str, Any]:
    """The ``StartReplay`` request (a dict so a dry run can print exactly what would be sent)."""
    destination: dict[str, Any] = {"Arn": bus_arn}
    rules = list(rule_arns)
    if rules:
        destination["FilterArns"] = rules
    return {
        "ReplayName": check_replay_name(name),
        "Description": description[:MAX_DESCRIPTION_CHARS],
        "EventSourceArn": archive_arn,
        "EventStartTime": start,
        "EventEndTime": end,
        "Destination": destination,
    }


def retention_warning(archive: Archive, start: datetime, now: datetime) -> str | None:
    if archive.retention_days and start < now - timedelta(days=archive.retention_days):
        cutoff = now - timedelta(days=archive.retention_days)
        return (
            f"archive {archive.name} keeps {archive.retention_days} day(s): events before "
            f"{cutoff:%Y-%m-%dT%H:%M:%SZ} are gone and cannot be replayed"
        )
    return None


def progress(replay: Mapping[str, Any]) -> float | None:
    """Share of the window replayed so far (0..1), from ``DescribeReplay``; ``None`` if unknown."""
    if replay.get("State") == "COMPLETED":
        return 1.0
    start, end, last = (replay.get(k) for k in ("EventStartTime", "EventEndTime", "EventLastReplayedTime"))
    if not (isinstance(start, datetime) and isinstance(end, datetime)) or end <= start:
        return None
    if not isinstance(last, datetime):
        return 0.0
    return max(0.0, min(1.0, (last - start) / (end - start)))


def wait_for(
    events: Any,
    name: str,
    *,
    interval: float = 15.0,
    timeout: float | None = None,
    on_update: Callable[[Mapping[str, Any]], None] = lambda _: None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Mapping[str, Any]:
    """Poll ``DescribeReplay`` until the replay ends (or ``timeout`` seconds pass)."""
    deadline = None if timeout is None else clock() + timeout
    while True:
        replay = events.describe_replay(ReplayName=name)
        on_update(replay)
        if replay.get("State") in TERMINAL_STATES or (deadline is not None and clock() >= deadline):
            return replay
        sleep(interval)
