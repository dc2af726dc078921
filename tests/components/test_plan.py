"""The provider plan: sharding stays within quotas and never moves an existing tenant."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from components.config import MAX_EVENT_PATTERN_CHARS, parse_stack_config
from components.plan import (
    AUTO_MIN_SHARDS,
    build_provider_plan,
    delivery_rule_pattern,
    plan_problems,
    redrive_clause,
    redrive_marker,
    resource_key,
    shard_of,
)


def tenants(count: int, destinations_each: int = 2, prefix: str = "tenant") -> list[dict[str, Any]]:
    return [
        {
            "id": f"{prefix}-{i:05d}",
            "destinations": [
                {"name": f"d{j}", "url": f"https://t{i}.example.com/{j}", "auth": {"type": "none"}}
                for j in range(destinations_each)
            ],
        }
        for i in range(count)
    ]


def test_small_stack_stays_on_one_bus() -> None:
    plan = build_provider_plan(parse_stack_config({"tenants": tenants(10)}), "hookstack-dev")
    assert not plan.sharded
    assert [b.name for b in plan.buses] == ["hookstack-dev"]
    assert set(plan.tenant_bus.values()) == {0}
    assert plan.routing_rules == ()


@pytest.fixture(scope="module")
def thousand() -> tuple[Any, Any]:
    raw = {"tenants": tenants(1000)}
    started = time.perf_counter()
    config = parse_stack_config(raw)
    plan = build_provider_plan(config, "hookstack-prod")
    elapsed = time.perf_counter() - started
    assert elapsed < 5, f"planning 1,000 tenants took {elapsed:.1f}s"
    return raw, plan


def test_thousand_tenants_by_two_destinations_shard_within_quotas(thousand: tuple[Any, Any]) -> None:
    _, plan = thousand
    assert plan.sharded
    assert plan.shard_count >= AUTO_MIN_SHARDS
    assert len(plan.destinations) == 2000
    assert plan_problems(plan) == []
    for bus in plan.buses:
        assert plan.rules_on(bus.index) <= 300, bus
    assert len(plan.buses) <= 100
    for routing in plan.routing_rules:
        assert len(routing.event_pattern_json) <= MAX_EVENT_PATTERN_CHARS
    # Every tenant with a rule is routed from the entry bus to exactly the shard holding its rules.
    routed = {t: r.shard for r in plan.routing_rules for t in r.tenant_ids}
    assert routed == plan.tenant_bus
    for destination in plan.destinations:
        assert destination.bus_index == plan.tenant_bus[destination.tenant_id] != 0


def test_adding_a_tenant_moves_no_existing_tenant(thousand: tuple[Any, Any]) -> None:
    raw, before = thousand
    grown = {"tenants": [*raw["tenants"][:500], *tenants(1, prefix="newcomer"), *raw["tenants"][500:]]}
    after = build_provider_plan(parse_stack_config(grown), "hookstack-prod")
    for tenant_id, bus in before.tenant_bus.items():
        assert after.tenant_bus[tenant_id] == bus, tenant_id
    assert {b.name for b in before.buses} <= {b.name for b in after.buses}


def test_removing_a_tenant_moves_no_other_tenant(thousand: tuple[Any, Any]) -> None:
    raw, before = thousand
    shrunk = {"tenants": raw["tenants"][1:]}
    after = build_provider_plan(parse_stack_config(shrunk), "hookstack-prod")
    for tenant_id, bus in after.tenant_bus.items():
        assert before.tenant_bus[tenant_id] == bus


def test_shard_assignment_depends_only_on_tenant_id_and_count() -> None:
    assert shard_of("acme", 16) == shard_of("acme", 16)
    assert {shard_of(f"t{i}", 16) for i in range(500)} == set(range(1, 17))


def test_explicit_shard_count_is_honoured() -> None:
    plan = build_provider_plan(parse_stack_config({"tenants": tenants(20), "provider": {"shards": 4}}))
    assert plan.sharded and plan.shard_count == 4
    assert {b.index for b in plan.buses} <= {0, 1, 2, 3, 4}


def test_routing_rules_split_long_tenant_lists_under_the_pattern_limit() -> None:
    long_ids = [
        {
            "id": f"{'x' * 60}-{i:03d}",
            "destinations": [{"name": "d", "url": "https://e.example.com", "auth": {"type": "none"}}],
        }
        for i in range(200)
    ]
    plan = build_provider_plan(parse_stack_config({"tenants": long_ids, "provider": {"shards": 2}}))
    assert len(plan.routing_rules) > 2
    assert all(len(r.event_pattern_json) <= MAX_EVENT_PATTERN_CHARS for r in plan.routing_rules)
    assert sorted(t for r in plan.routing_rules for t in r.tenant_ids) == sorted(t["id"] for t in long_ids)


def test_every_destination_gets_its_own_rule_with_one_target() -> None:
    plan = build_provider_plan(parse_stack_config({"tenants": tenants(3, destinations_each=7)}))
    keys = [d.key for d in plan.destinations]
    assert len(keys) == len(set(keys)) == 21


def test_event_pattern_matches_tenant_and_types() -> None:
    raw = {
        "tenants": [
            {
                "id": "7",
                "destinations": [
                    {"name": "a", "url": "https://a.example.com", "eventTypes": ["x.created"], "auth": {"type": "none"}}
                ],
            }
        ]
    }
    (destination,) = build_provider_plan(parse_stack_config(raw)).destinations
    assert json.loads(destination.event_pattern_json) == {
        "detail": {
            "tenantId": ["7"],
            # Unmarked events, or events redriven to this destination (ops redrive sets the marker).
            "$or": [{"hookstackRedrive": [{"exists": False}]}, {"hookstackRedrive": ["a"]}],
        },
        "detail-type": ["x.created"],
    }


def test_redrive_marker_reads_back_the_destination_each_rule_accepts() -> None:
    plan = build_provider_plan(parse_stack_config({"tenants": tenants(2, destinations_each=2)}))
    for destination in plan.destinations:
        assert redrive_marker(destination.event_pattern_json) == destination.name
        assert redrive_marker(destination.event_pattern) == destination.name


@pytest.mark.parametrize(
    "pattern",
    [
        {"detail": {"tenantId": ["1"]}},  # a rule deployed before markers
        {"detail": {"tenantId": ["1", "2"]}},  # a routing rule
        delivery_rule_pattern(),  # refuses every marked event
        {"detail": {"$or": [{"hookstackRedrive": [{"exists": False}]}, {"hookstackRedrive": ["a", "b"]}]}},
        {"detail": {"$or": "x"}},
        {"detail": []},
        "not json",
        "[1]",
        None,
    ],
)
def test_redrive_marker_is_none_for_patterns_without_one_marker(pattern: Any) -> None:
    assert redrive_marker(pattern) is None


def test_routing_and_delivery_patterns_keep_their_shape() -> None:
    assert redrive_clause("crm") == [{"hookstackRedrive": [{"exists": False}]}, {"hookstackRedrive": ["crm"]}]
    assert delivery_rule_pattern() == {
        "detail": {"tenantId": [{"exists": True}], "hookstackRedrive": [{"exists": False}]}
    }
    long_ids = [
        {"id": f"t{i}", "destinations": [{"name": "d", "url": "https://e.example.com", "auth": {"type": "none"}}]}
        for i in range(20)
    ]
    plan = build_provider_plan(parse_stack_config({"tenants": long_ids, "provider": {"shards": 2}}))
    assert all(r.event_pattern == {"detail": {"tenantId": list(r.tenant_ids)}} for r in plan.routing_rules)


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        (("1", "crm"), "1-crm"),
        (("tenant:ACME", "crm"), None),
        (("t" * 60, "crm"), None),
    ],
)
def test_resource_keys_are_short_safe_and_unique(parts: tuple[str, ...], expected: str | None) -> None:
    key = resource_key(*parts)
    assert len(key) <= 32
    assert all(c.isalnum() or c == "-" for c in key)
    if expected is not None:
        assert key == expected
    else:
        assert key != resource_key(*parts[:-1], parts[-1] + "x")


def test_keys_of_ids_differing_only_in_case_or_symbols_do_not_collide() -> None:
    assert resource_key("Acme", "crm") != resource_key("acme", "crm")
    assert resource_key("a.b", "crm") != resource_key("a-b", "crm")
