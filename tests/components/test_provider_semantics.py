"""What the declared rules DO, run on moto's EventBridge engine rather than compared as strings.

The patterns, input transformers and routing rules are taken from the program as declared under
Pulumi mocks, then recreated in moto with an SQS queue standing in for each API destination (moto
delivers to SQS with the same pattern matching and input transformer; it cannot call API
destinations with their auth, see docs/sandbox.md). Events are published with hookstack's own
publishing helper and read back from the queues.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from moto.events.models import EventPattern

from components.plan import redrive_marker
from functions.events import REDRIVE_MARKER_KEY, make_event, mark_for_redrive, publish
from tests.harness import Program

TENANTS: list[dict[str, Any]] = [
    {
        "id": "acme",
        "destinations": [
            {
                "name": "crm",
                "url": "https://crm.example.com/hooks",
                "eventTypes": ["widget.created"],
                "auth": {"type": "apiKey", "header": "x-api-key", "value": "k"},
                "transform": {
                    "paths": {"name": "$.detail.widgetName", "id": "$.detail.eventId", "tenant": "$.detail.tenantId"},
                    "template": '{"text": "Widget <name> created", "eventId": "<id>", "tenant": "<tenant>"}',
                },
            },
            {"name": "all", "url": "https://all.example.com/hooks", "auth": {"type": "none"}},
        ],
    },
    {
        "id": "globex",
        "destinations": [
            {
                "name": "erp",
                "url": "https://erp.example.com/hooks",
                "eventTypes": ["widget.created", "widget.deleted"],
                "auth": {"type": "basic", "username": "u", "password": "p"},
            }
        ],
    },
    # A tenant id that is a prefix of another must not match it.
    {"id": "acme2", "destinations": [{"name": "x", "url": "https://x.example.com", "auth": {"type": "none"}}]},
]


@pytest.fixture(scope="module")
def declared() -> Program:
    from tests.harness import run_program

    return run_program({"delivery": {"enabled": False}, "tenants": TENANTS}, secret_keys=["tenants"])


def rule_patterns(program: Program) -> dict[str, dict[str, Any]]:
    return {
        r.name.removeprefix("hookstack-").removesuffix("-rule"): r.json("eventPattern")
        for r in program.of_type("aws:cloudwatch/eventRule:EventRule")
    }


def event(tenant: Any, event_type: str, **detail: Any) -> dict[str, Any]:
    return {
        "version": "0",
        "id": "x",
        "source": "hookstack.test",
        "account": "123456789012",
        "time": "2026-11-22T00:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail-type": event_type,
        "detail": {"tenantId": tenant, "eventId": "evt_1", **detail},
    }


@pytest.mark.parametrize(
    ("tenant", "event_type", "expected"),
    [
        ("acme", "widget.created", {"acme-crm", "acme-all"}),
        ("acme", "widget.updated", {"acme-all"}),
        ("globex", "widget.created", {"globex-erp"}),
        ("globex", "widget.deleted", {"globex-erp"}),
        ("globex", "widget.updated", set()),
        ("acme2", "widget.created", {"acme2-x"}),
        ("ACME", "widget.created", set()),  # tenant ids are case-sensitive
        (7, "widget.created", set()),  # a numeric tenantId matches no string rule
        ("unknown", "widget.created", set()),
    ],
)
def test_each_event_reaches_exactly_its_tenants_destinations(
    declared: Program, tenant: Any, event_type: str, expected: set[str]
) -> None:
    matched = {
        key
        for key, pattern in rule_patterns(declared).items()
        if EventPattern.load(json.dumps(pattern)).matches_event(event(tenant, event_type))
    }
    assert matched == expected


def test_events_without_tenant_match_no_destination(declared: Program) -> None:
    bare = event("acme", "widget.created")
    del bare["detail"]["tenantId"]
    assert not any(EventPattern.load(json.dumps(p)).matches_event(bare) for p in rule_patterns(declared).values())


def _recreate_in_moto(program: Program, region: str = "us-east-1") -> dict[str, str]:
    """Rules as declared; each API destination replaced by a queue. Returns rule key -> queue URL."""
    events = boto3.client("events", region_name=region)
    sqs = boto3.client("sqs", region_name=region)
    buses = {b["name"] for b in program.of_type("aws:cloudwatch/eventBus:EventBus")}
    arns = {}
    for bus in buses:
        arns[bus] = events.create_event_bus(Name=bus)["EventBusArn"]
    queues = {}
    for rule in program.of_type("aws:cloudwatch/eventRule:EventRule"):
        events.put_rule(
            Name=rule.name, EventBusName=rule["eventBusName"], EventPattern=rule["eventPattern"], State=rule["state"]
        )
        target = program.named(
            rule.name.removesuffix("-rule") + "-target" if rule.name.endswith("-rule") else f"{rule.name}-target"
        )
        if "-route-" in rule.name:
            shard_bus = next(
                b["name"] for b in program.of_type("aws:cloudwatch/eventBus:EventBus") if b.arn == target["arn"]
            )
            events.put_targets(
                Rule=rule.name, EventBusName=rule["eventBusName"], Targets=[{"Id": "shard", "Arn": arns[shard_bus]}]
            )
            continue
        key = rule.name.removeprefix("hookstack-").removesuffix("-rule")
        url = sqs.create_queue(QueueName=f"q-{key}")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        spec: dict[str, Any] = {"Id": target["targetId"], "Arn": queue_arn}
        if "inputTransformer" in target.inputs:
            spec["InputTransformer"] = {
                "InputPathsMap": target["inputTransformer"]["inputPaths"],
                "InputTemplate": target["inputTransformer"]["inputTemplate"],
            }
        events.put_targets(Rule=rule.name, EventBusName=rule["eventBusName"], Targets=[spec])
        queues[key] = url
    return queues


def _drain(url: str) -> list[str]:
    sqs = boto3.client("sqs", region_name="us-east-1")
    bodies = []
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return bodies
        for message in messages:
            bodies.append(message["Body"])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


@pytest.mark.usefixtures("aws")
def test_input_transformer_produces_the_intended_body(declared: Program) -> None:
    queues = _recreate_in_moto(declared)
    client = boto3.client("events", region_name="us-east-1")
    created = make_event("hookstack.test", "widget.created", {"widgetName": "W1"}, tenant_id="acme", event_id="evt_abc")
    publish(client, [created], "hookstack-dev")
    (crm_body,) = _drain(queues["acme-crm"])
    assert json.loads(crm_body) == {"text": "Widget W1 created", "eventId": "evt_abc", "tenant": "acme"}
    (whole,) = _drain(queues["acme-all"])
    delivered = json.loads(whole)  # no transform: the whole event, stable id inside
    assert delivered["detail"] == {"widgetName": "W1", "tenantId": "acme", "eventId": "evt_abc"}
    assert delivered["detail-type"] == "widget.created"
    assert _drain(queues["globex-erp"]) == []  # globex subscribed to created events, but this one is acme's


@pytest.mark.usefixtures("aws")
def test_tenant_isolation_end_to_end_on_moto(declared: Program) -> None:
    queues = _recreate_in_moto(declared)
    client = boto3.client("events", region_name="us-east-1")
    publish(
        client,
        [
            make_event("hookstack.test", "widget.created", {"widgetName": "G"}, tenant_id="globex", event_id="evt_g"),
            make_event("hookstack.test", "widget.updated", {"widgetName": "A"}, tenant_id="acme", event_id="evt_a"),
        ],
        "hookstack-dev",
    )
    received = {key: [json.loads(b) for b in _drain(url)] for key, url in queues.items()}
    assert [b["detail"]["eventId"] for b in received["globex-erp"]] == ["evt_g"]
    assert [b["detail"]["eventId"] for b in received["acme-all"]] == ["evt_a"]
    assert received["acme-crm"] == []
    assert received["acme2-x"] == []


@pytest.mark.usefixtures("aws")
def test_sharded_routing_delivers_through_the_shard_bus(program: Callable[..., Program]) -> None:
    tenants = [
        {"id": f"t{i}", "destinations": [{"name": "d", "url": f"https://t{i}.example.com", "auth": {"type": "none"}}]}
        for i in range(8)
    ]
    declared = program({"delivery": {"enabled": False}, "tenants": tenants, "provider": {"shards": 3}})
    queues = _recreate_in_moto(declared)
    client = boto3.client("events", region_name="us-east-1")
    publish(
        client,
        [make_event("hookstack.test", "x.happened", {}, tenant_id=f"t{i}", event_id=f"evt_{i}") for i in range(8)],
        "hookstack-dev",
    )
    for i in range(8):
        bodies = [json.loads(b) for b in _drain(queues[f"t{i}-d"])]
        assert [b["detail"]["eventId"] for b in bodies] == [f"evt_{i}"], i


# --- redriven events (ops redrive marks them for the rule that dead-lettered them) -------------

REDRIVE_TENANTS: list[dict[str, Any]] = [
    {
        "id": "acme",
        "destinations": [
            {"name": "crm", "url": "https://crm.example.com/hooks", "auth": {"type": "none"}},
            {"name": "erp", "url": "https://erp.example.com/hooks", "auth": {"type": "none"}},
            {"name": "audit", "url": "https://audit.example.com/hooks", "auth": {"type": "signed"}},
        ],
    },
    # Same destination name as acme's: the marker names a destination within its tenant.
    {
        "id": "globex",
        "destinations": [{"name": "crm", "url": "https://crm.globex.example.com", "auth": {"type": "none"}}],
    },
]


@pytest.fixture(scope="module")
def declared_with_delivery() -> Program:
    from tests.harness import run_program

    return run_program({"tenants": REDRIVE_TENANTS}, secret_keys=["tenants"])


def _marked(tenant: str, marker: Any) -> dict[str, Any]:
    evt = event(tenant, "widget.created")
    if marker is not None:
        evt["detail"][REDRIVE_MARKER_KEY] = marker
    return evt


@pytest.mark.parametrize(
    ("tenant", "marker", "expected"),
    [
        ("acme", None, {"acme-crm", "acme-erp", "delivery"}),  # not redriven: every rule, as before
        ("acme", "crm", {"acme-crm"}),  # not acme-erp, not the signed-delivery rule, not globex-crm
        ("acme", "erp", {"acme-erp"}),
        ("globex", "crm", {"globex-crm"}),
        ("acme", "audit", set()),  # signed destinations are redriven from their own DLQ, not this way
        ("acme", "nobody", set()),
        ("acme", "CRM", set()),
        # exists matches leaf values only (AWS and moto alike): an object is no marker at all.
        ("acme", {"x": "crm"}, {"acme-crm", "acme-erp", "delivery"}),
    ],
)
def test_a_redriven_event_reaches_only_the_rule_it_is_marked_for(
    declared_with_delivery: Program, tenant: str, marker: Any, expected: set[str]
) -> None:
    patterns = rule_patterns(declared_with_delivery)
    assert "delivery" in patterns  # the signed-delivery rule is among the rules checked
    matched = {
        key
        for key, pattern in patterns.items()
        if EventPattern.load(json.dumps(pattern)).matches_event(_marked(tenant, marker))
    }
    assert matched == expected


def test_every_destination_pattern_names_its_own_marker(declared_with_delivery: Program) -> None:
    patterns = rule_patterns(declared_with_delivery)
    assert {key: redrive_marker(p) for key, p in patterns.items()} == {
        "acme-crm": "crm",
        "acme-erp": "erp",
        "globex-crm": "crm",
        "delivery": None,
    }


@pytest.mark.usefixtures("aws")
def test_a_redriven_event_is_delivered_only_by_its_rule_on_moto(declared_with_delivery: Program) -> None:
    queues = _recreate_in_moto(declared_with_delivery)
    client = boto3.client("events", region_name="us-east-1")
    redriven = mark_for_redrive(
        make_event("hookstack.test", "widget.created", {}, tenant_id="acme", event_id="evt_r"), "crm"
    )
    publish(client, [redriven], "hookstack-dev")
    received = {key: [json.loads(b)["detail"]["eventId"] for b in _drain(url)] for key, url in queues.items()}
    assert received == {"acme-crm": ["evt_r"], "acme-erp": [], "globex-crm": [], "delivery": []}


@pytest.mark.usefixtures("aws")
def test_a_redriven_event_of_a_sharded_tenant_reaches_only_its_rule_on_the_shard(
    program: Callable[..., Program],
) -> None:
    tenants = [
        {
            "id": f"t{i}",
            "destinations": [
                {"name": n, "url": f"https://t{i}.example.com/{n}", "auth": {"type": "none"}} for n in ("d", "e")
            ],
        }
        for i in range(6)
    ]
    declared = program({"delivery": {"enabled": False}, "tenants": tenants, "provider": {"shards": 3}})
    queues = _recreate_in_moto(declared)
    client = boto3.client("events", region_name="us-east-1")
    # Through the entry bus (the routing rule forwards it) and straight to the tenant's shard bus.
    buses = ["hookstack-dev", declared.outputs["busShards"]["tenants"]["t3"]]
    for bus in buses:
        publish(
            client,
            [mark_for_redrive(make_event("hookstack.test", "x", {}, tenant_id="t3", event_id=f"evt_{bus}"), "e")],
            bus,
        )
    received = {key: [json.loads(b)["detail"]["eventId"] for b in _drain(url)] for key, url in queues.items()}
    assert received.pop("t3-e") == [f"evt_{bus}" for bus in buses]
    assert all(got == [] for got in received.values()), received
