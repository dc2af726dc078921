"""``python -m ops replay start --inbound-source`` on moto: which rules an inbound replay reaches.

As in test_replay.py, moto applies neither the window nor ``FilterArns`` when it replays, so the
tests check the request (what AWS acts on). Which rules take a source is asked of moto's pattern
engine through ``TestEventPattern`` (installed by the ``stack`` fixture, as the sandbox does).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from tests.ops.conftest import MotoStack, Result


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


END = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
WINDOW = ("--since", iso(END - timedelta(hours=1)), "--until", iso(END))


@pytest.fixture
def inbound(stack: MotoStack) -> MotoStack:
    """The stack with inbound sources and consumers' rules on the entry bus (and the fixture's
    ``capture`` rule, which takes every source starting with ``hookstack``)."""
    rules = {
        "github-pushes": {"source": ["hookstack.github"], "detail-type": ["push"]},
        "all-inbound": {"source": [{"prefix": "hookstack."}]},
        "stripe-only": {"source": ["hookstack.stripe"]},
        "by-type": {"detail-type": ["push"]},
        "disabled-github": {"source": ["hookstack.github"]},
    }
    for name, pattern in rules.items():
        stack.events.put_rule(
            Name=name,
            EventBusName=stack.bus_name,
            EventPattern=json.dumps(pattern),
            State="DISABLED" if name.startswith("disabled") else "ENABLED",
        )
    outputs = stack.outputs()
    outputs["inboundUrls"] = {"github": "https://x/github", "stripe": "https://x/stripe"}
    stack.outputs = lambda: outputs  # type: ignore[method-assign]
    return stack


def rule_arn(stack: MotoStack, name: str) -> str:
    return str(stack.events.describe_rule(Name=name, EventBusName=stack.bus_name)["Arn"])


def dry_run(stack: MotoStack, *args: str) -> Result:
    return stack.run("replay", "start", *WINDOW, *args, "--dry-run", "--output", "json")


def test_an_inbound_source_replays_to_the_rules_that_take_its_events_only(inbound: MotoStack) -> None:
    result = dry_run(inbound, "--inbound-source", "github")

    assert result.code == 0, result.err
    request = result.json()["request"]
    wanted = {"github-pushes", "all-inbound", "capture", "disabled-github"}
    assert sorted(request["Destination"]["FilterArns"]) == sorted(rule_arn(inbound, n) for n in wanted)
    # No tenant destination rule, no rule of another source: never the whole bus.
    notes = "\n".join(result.json()["notes"])
    assert "rule all-inbound also takes events of hookstack.stripe, hookstack.aurora" in notes
    assert "rule by-type has no source condition and is left out; add --rule-arn" in notes
    assert "rule disabled-github is DISABLED" in notes
    assert "crm" not in notes  # tenant rules (detail.tenantId) are left out silently
    # --since / --until are --from / --to.
    assert datetime.fromisoformat(request["EventStartTime"]) == END - timedelta(hours=1)
    assert datetime.fromisoformat(request["EventEndTime"]) == END


def test_a_full_event_source_and_another_prefix(inbound: MotoStack) -> None:
    inbound.events.put_rule(
        Name="acme-github", EventBusName=inbound.bus_name, EventPattern=json.dumps({"source": ["acme.github"]})
    )

    by_prefix = dry_run(inbound, "--inbound-source", "github", "--event-source", "acme")
    full = dry_run(inbound, "--inbound-source", "acme.github")

    for result in (by_prefix, full):
        assert result.code == 0, result.err
        assert result.json()["request"]["Destination"]["FilterArns"] == [rule_arn(inbound, "acme-github")]


def test_rules_add_up_with_the_other_filters(inbound: MotoStack) -> None:
    result = dry_run(inbound, "--inbound-source", "stripe", "--destination", "1/crm")

    assert result.code == 0, result.err
    filters = result.json()["request"]["Destination"]["FilterArns"]
    assert inbound.destinations["1/crm"]["rule_arn"] in filters and rule_arn(inbound, "stripe-only") in filters


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("gihub", "--inbound-source 'gihub': the stack has no such inbound source; its sources: github, stripe"),
        ("nobody.github", "no rule on bus hookstack-dev takes events of nobody.github: nothing would receive"),
    ],
)
def test_unknown_sources_and_sources_no_rule_takes_are_refused(inbound: MotoStack, source: str, message: str) -> None:
    result = dry_run(inbound, "--inbound-source", source)

    assert result.code == 2 and message in result.err, result.err


def test_a_started_inbound_replay_carries_the_filter(inbound: MotoStack) -> None:
    result = inbound.run("replay", "start", *WINDOW, "--inbound-source", "stripe", "--name", "stripe-fix")

    assert result.code == 0, result.err
    described = inbound.events.describe_replay(ReplayName="stripe-fix")
    assert sorted(described["Destination"]["FilterArns"]) == sorted(
        rule_arn(inbound, n) for n in ("all-inbound", "capture", "stripe-only")
    )
