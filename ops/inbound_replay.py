"""Which rules of the entry bus a replay of inbound events goes to (``replay start --inbound-source``).

Inbound webhooks reach the entry bus as ``<provider.eventSource>.<source name>`` events and are
archived with everything else. ``StartReplay`` cannot filter events, only rules
(``Destination.FilterArns``): every archived event of the window is offered to each listed rule, which
takes those its pattern matches, as it did live. So an inbound replay is limited to the rules whose
``source`` condition takes that source's events, asked of EventBridge itself (``TestEventPattern``
with the rule's ``source`` condition, so ``prefix``, ``wildcard`` and ``anything-but`` count as
EventBridge counts them). Never every rule of the bus: that would deliver the window's outgoing
events to every tenant destination again.

Left out, and said so: rules without a ``source`` condition (they may or may not take inbound
events; pass them with ``--rule-arn``), hookstack's tenant rules (they require ``detail.tenantId``,
which inbound events never carry) and EventBridge's own rules (the archive's).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from components.config.model import ProviderSettings
from components.config.provider import AURORA_SOURCE_NAME
from ops.aws import pages
from ops.outputs import OpsError, StackOutputs
from ops.replay import ReplayTargets, entry_bus_arn

INBOUND_URLS_OUTPUT = "inboundUrls"


def check_source_name(name: str, outputs: StackOutputs | None, flag: str) -> None:
    """``name`` is one of the stack's inbound sources, when the outputs list them (``inboundUrls``)."""
    known = outputs.extra.get(INBOUND_URLS_OUTPUT) if outputs is not None else None
    if isinstance(known, Mapping) and known and name not in known:
        listed = ", ".join(sorted(str(k) for k in known))
        raise OpsError(f"{flag} {name!r}: the stack has no such inbound source; its sources: {listed}")


def event_source_prefix(flag: str | None) -> str:
    """``--event-source``, else the default of ``provider.eventSource``."""
    return flag or ProviderSettings().event_source


def event_sources(names: Iterable[str], prefix: str, outputs: StackOutputs) -> list[str]:
    """``--inbound-source`` values as event sources: ``<prefix>.<name>`` for a source name (checked
    against the stack's ``inboundUrls`` when the outputs list them), a value with a dot as it is."""
    found = []
    for name in names:
        if "." in name:  # source names are [a-z0-9-]: a dot makes it a whole event source
            found.append(name)
            continue
        check_source_name(name, outputs, "--inbound-source")
        found.append(f"{prefix}.{name}")
    return found


def inbound_rules(
    events: Any, outputs: StackOutputs, sources: Sequence[str], *, prefix: str, bus_arn: str
) -> ReplayTargets:
    """The entry bus's rules that take events of ``sources`` (event sources), and notes on the rest."""
    chosen: list[str] = []
    notes: list[str] = []
    wanted = list(dict.fromkeys(sources))
    others = _other_sources(outputs, wanted, prefix)
    scope = _scope(bus_arn)
    for rule in pages(events.list_rules, "Rules", EventBusName=outputs.bus_name):
        name, pattern = str(rule.get("Name", "")), _pattern(rule.get("EventPattern"))
        if rule.get("ManagedBy") or name.startswith("Events-Archive-") or pattern is None:
            continue  # EventBridge's own rules (the archive's), scheduled rules
        if "source" not in pattern:
            detail = pattern.get("detail")
            if not (isinstance(detail, Mapping) and "tenantId" in detail):
                notes.append(
                    f"rule {name} has no source condition and is left out; add --rule-arn {rule['Arn']} if it "
                    "consumes inbound events"
                )
            continue
        condition = json.dumps({"source": pattern["source"]})
        takes = [s for s in wanted if _matches(events, condition, s, scope)]
        if not takes:
            continue
        chosen.append(str(rule["Arn"]))
        if rule.get("State") not in (None, "ENABLED"):
            notes.append(f"rule {name} is {rule.get('State')}: it receives nothing from the replay")
        also = [s for s in others if _matches(events, condition, s, scope)]
        if also:
            notes.append(
                f"rule {name} also takes events of {', '.join(also)}: the window's events of those sources "
                "are replayed to it too (same eventId)"
            )
    if not chosen:
        raise OpsError(
            f"no rule on bus {outputs.bus_name} takes events of {', '.join(wanted)}: nothing would receive the "
            "replay (check the source name and --event-source, or pass the rule with --rule-arn)"
        )
    return ReplayTargets(tuple(chosen), tuple(notes))


def with_inbound_rules(
    events: Any, outputs: StackOutputs, targets: ReplayTargets, names: Sequence[str], event_source: str | None
) -> ReplayTargets:
    """``targets`` (from ``--rule-arn`` / ``--destination`` / ``--tenant``) plus the rules taking the
    events of the ``--inbound-source`` names."""
    prefix = event_source_prefix(event_source)
    sources = event_sources(names, prefix, outputs)
    found = inbound_rules(events, outputs, sources, prefix=prefix, bus_arn=entry_bus_arn(events, outputs))
    return ReplayTargets(tuple(dict.fromkeys(targets.rule_arns + found.rule_arns)), targets.notes + found.notes)


def _other_sources(outputs: StackOutputs, wanted: Sequence[str], prefix: str) -> list[str]:
    """The stack's other inbound event sources and its Aurora one, when the outputs name them."""
    known = outputs.extra.get(INBOUND_URLS_OUTPUT)
    if not isinstance(known, Mapping):
        return []
    names = [*sorted(str(k) for k in known), AURORA_SOURCE_NAME]
    return [s for s in (f"{prefix}.{n}" for n in names) if s not in wanted]


def _pattern(text: Any) -> dict[str, Any] | None:
    try:
        pattern = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        return None
    return pattern if isinstance(pattern, dict) else None


def _scope(bus_arn: str) -> tuple[str, str]:
    """(region, account) of the bus, for the sample event (TestEventPattern wants both fields)."""
    parts = bus_arn.split(":")
    region = parts[3] if len(parts) > 4 and parts[3] else "us-east-1"
    account = parts[4] if len(parts) > 4 and parts[4].isdigit() else "000000000000"
    return region, account


def _matches(events: Any, condition: str, source: str, scope: tuple[str, str]) -> bool:
    region, account = scope
    event = {
        "id": "00000000-0000-0000-0000-000000000000",
        "detail-type": "webhook",
        "source": source,
        "account": account,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [],
        "detail": {},
    }
    return bool(events.test_event_pattern(EventPattern=condition, Event=json.dumps(event))["Result"])
