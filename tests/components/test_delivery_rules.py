"""``delivery.apiTenants`` / ``tenants[].selfService``: which tenants' events enter the worker pipeline.

Issue #12 item 7 (b): an event of a tenant with API destinations only pays no worker-path charge when
``apiTenants`` is ``listed``; the delivery rules then list the covered tenants, split so every
pattern fits EventBridge's 2,048 characters (designed for 1,000 tenants), and every covered tenant
gets the marker item the subscription API checks before it creates an endpoint.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from moto.events.models import EventPattern

from components.config import MAX_EVENT_PATTERN_CHARS, StackConfigError, parse_stack_config
from components.plan import build_provider_plan, delivery_rule_pattern, quota_problems
from functions.delivery import schema, store
from functions.events import REDRIVE_MARKER_KEY
from tests.harness import Program

API_ONLY = {"name": "crm", "url": "https://crm.example.com/hooks", "auth": {"type": "none"}}
WORKER = {"name": "audit", "url": "https://audit.example.com/hooks", "auth": {"type": "signed"}}


def stack(api_tenants: str | None, *tenants: dict[str, Any]) -> dict[str, Any]:
    raw: dict[str, Any] = {"tenants": list(tenants)}
    if api_tenants is not None:
        raw["delivery"] = {"apiTenants": api_tenants}
    return raw


THREE = (
    {"id": "api-only", "destinations": [API_ONLY]},
    {"id": "signs", "destinations": [API_ONLY, WORKER]},
    {"id": "self", "selfService": True, "destinations": [API_ONLY]},
)


def matches(patterns: tuple[dict[str, Any], ...], tenant_id: str, **detail: Any) -> bool:
    """Whether any rule matches the tenant's event: moto's EventBridge pattern engine is the oracle."""
    event = {"source": "app", "detail-type": "x", "detail": {"tenantId": tenant_id, **detail}}
    return any(EventPattern.load(json.dumps(p)).matches_event(event) for p in patterns)


def test_all_is_the_default_and_keeps_one_rule_for_every_tenant_event() -> None:
    plan = build_provider_plan(parse_stack_config(stack(None, *THREE)))
    assert plan.delivery_tenants is None
    assert plan.delivery_rule_patterns == (delivery_rule_pattern(),)
    assert all(matches(plan.delivery_rule_patterns, t["id"]) for t in THREE)


def test_listed_covers_config_worker_tenants_and_self_service_ones_only() -> None:
    plan = build_provider_plan(parse_stack_config(stack("listed", *THREE)))
    assert plan.delivery_tenants == ("signs", "self")
    assert not matches(plan.delivery_rule_patterns, "api-only")
    assert not matches(plan.delivery_rule_patterns, "unknown")
    assert matches(plan.delivery_rule_patterns, "signs") and matches(plan.delivery_rule_patterns, "self")
    # Redriven events stay for their API destination's rule, as under apiTenants: all.
    assert not matches(plan.delivery_rule_patterns, "signs", **{REDRIVE_MARKER_KEY: "crm"})


def test_listed_without_a_covered_tenant_declares_no_rule() -> None:
    plan = build_provider_plan(parse_stack_config(stack("listed", THREE[0])))
    assert plan.delivery_rule_patterns == () and plan.delivery_tenants == ()
    assert plan.rules_on(0) == 1  # the API destination's rule only


def test_a_thousand_tenants_of_the_longest_ids_split_into_rules_that_each_fit() -> None:
    ids = [f"t{index:03d}-" + "x" * 59 for index in range(1000)]  # 64 characters: the longest tenant id
    tenants = [{"id": tenant_id, "selfService": True} for tenant_id in ids]
    config = parse_stack_config(stack("listed", *tenants))
    plan = build_provider_plan(config)
    sizes = [len(json.dumps(p, separators=(",", ":"), sort_keys=True)) for p in plan.delivery_rule_patterns]
    assert max(sizes) <= MAX_EVENT_PATTERN_CHARS
    listed = [t for p in plan.delivery_rule_patterns for t in p["detail"]["tenantId"]]
    assert sorted(listed) == sorted(ids) and len(listed) == len(set(listed))  # each tenant in one rule
    assert len(plan.delivery_rule_patterns) == plan.rules_on(0) <= plan.rules_per_bus
    assert 30 <= len(plan.delivery_rule_patterns) <= 40
    assert quota_problems(config, plan) == []
    assert matches(plan.delivery_rule_patterns, ids[999]) and not matches(plan.delivery_rule_patterns, "t1000")


def test_delivery_rules_take_room_from_the_entry_bus_api_destination_rules() -> None:
    # 100 rules per bus: 95 API destination rules fit beside one delivery rule, not beside 3 of them.
    many = [{"id": f"{'y' * 60}{i:03d}", "selfService": True} for i in range(80)]
    api = {"id": "big", "destinations": [{**API_ONLY, "name": f"d{i}"} for i in range(95)]}
    raw = {**stack("listed", api, *many), "provider": {"rulesPerBus": 100, "shards": "auto"}}
    plan = build_provider_plan(parse_stack_config(raw))
    assert len(plan.delivery_rule_patterns) == 3
    assert plan.sharded  # the API destination rules moved to a shard bus rather than overflow the entry bus
    assert all(plan.rules_on(bus.index) <= 100 for bus in plan.buses)


@pytest.mark.parametrize(
    ("raw", "key", "message"),
    [
        (stack("some"), "hookstack:delivery.apiTenants", "must be one of all, listed; got 'some'"),
        (stack(None, {"id": "1", "selfService": "yes"}), "hookstack:tenants[0].selfService", "must be true or false"),
    ],
)
def test_bad_values_name_their_key(raw: dict[str, Any], key: str, message: str) -> None:
    with pytest.raises(StackConfigError) as error:
        parse_stack_config(raw)
    problems = {problem.path: problem.message for problem in error.value.problems}
    assert key in problems and message in problems[key], problems


def test_listed_declares_one_rule_target_and_alarm_pair_per_pattern_and_the_marker_items(program: Any) -> None:
    tenants = [{"id": f"{'z' * 60}{i:03d}", "selfService": True} for i in range(40)]
    deployed: Program = program(stack("listed", *tenants, THREE[0]), secret_keys=[])
    rules = [r for r in deployed.of_type("aws:cloudwatch/eventRule:EventRule") if "hookstack-delivery-rule" in r.name]
    assert len(rules) == 2
    assert sorted(r.name for r in rules) == ["hookstack-delivery-rule", "hookstack-delivery-rule-1"]
    covered = sorted(t for r in rules for t in r.json("eventPattern")["detail"]["tenantId"])
    assert covered == sorted(t["id"] for t in tenants)
    targets = [r for r in deployed.of_type("aws:cloudwatch/eventTarget:EventTarget") if "delivery-target" in r.name]
    assert len(targets) == 2 and all(t["deadLetterConfig"] for t in targets)
    alarms = [r for r in deployed.of_type("aws:cloudwatch/metricAlarm:MetricAlarm") if "delivery-rule" in r.name]
    assert len(alarms) == 4
    markers = [
        json.loads(item["item"])
        for item in [r for r in deployed.of_type("aws:dynamodb/tableItem:TableItem") if "-covered-" in r.name]
    ]
    assert sorted(m["tenantId"]["S"] for m in markers) == covered
    assert all(m[schema.SK]["S"] == schema.COVERED_SK for m in markers)
    assert markers[0] == store.covered_tenant_item(markers[0]["tenantId"]["S"])
    policy = deployed.one("aws:sqs/queuePolicy:QueuePolicy", lambda r: r.name.endswith("delivery-events-policy"))
    allow = next(s for s in policy.json("policy")["Statement"] if s["Effect"] == "Allow")
    assert len(allow["Condition"]["ArnEquals"]["aws:SourceArn"]) == 2
    api = deployed.one("aws:lambda/function:Function", lambda r: "delivery-api-fn" in r.name)
    assert api["environment"]["variables"]["DELIVERY_API_TENANTS"] == "listed"
