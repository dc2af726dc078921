"""WebhookProvider under Pulumi mocks: the exact resources, properties and IAM it declares."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest

from components.config import parse_stack_config
from components.plan import build_provider_plan, redrive_clause, shard_of
from tests.harness import ACCOUNT, REGION, Program, contains_text, is_secret, reveal

BUS = "aws:cloudwatch/eventBus:EventBus"
RULE = "aws:cloudwatch/eventRule:EventRule"
TARGET = "aws:cloudwatch/eventTarget:EventTarget"
CONNECTION = "aws:cloudwatch/eventConnection:EventConnection"
API_DESTINATION = "aws:cloudwatch/eventApiDestination:EventApiDestination"
QUEUE = "aws:sqs/queue:Queue"
QUEUE_POLICY = "aws:sqs/queuePolicy:QueuePolicy"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ARCHIVE = "aws:cloudwatch/eventArchive:EventArchive"

SECRETS = {
    "api-key-value-1": "crm key",
    "basic-password-2": "erp password",
    "oauth-client-secret-3": "oauth secret",
}

CONFIG: dict[str, Any] = {
    "alarmEmail": "ops@example.com",
    "delivery": {"enabled": False},
    "tenants": [
        {
            "id": "1",
            "destinations": [
                {
                    "name": "crm",
                    "url": "https://crm.example.com/hooks",
                    "eventTypes": ["widget.created"],
                    "auth": {"type": "apiKey", "header": "x-api-key", "value": "api-key-value-1"},
                    "rateLimitPerSecond": 10,
                    "retry": {"maxAttempts": 24, "maxEventAgeSeconds": 3600},
                    "transform": {
                        "paths": {"name": "$.detail.widgetName"},
                        "template": '{"text": "Widget <name> created"}',
                    },
                    "headers": {"X-Source": "hookstack"},
                },
            ],
        },
        {
            "id": "2",
            "destinations": [
                {
                    "name": "erp",
                    "url": "https://erp.example.org/api",
                    "method": "PUT",
                    "eventTypes": ["widget.created", "widget.updated"],
                    "auth": {"type": "basic", "username": "hookstack", "password": "basic-password-2"},
                },
                {
                    "name": "analytics",
                    "url": "https://analytics.example.net/ingest",
                    "enabled": False,
                    "auth": {
                        "type": "oauth",
                        "authorizationEndpoint": "https://auth.example.net/token",
                        "clientId": "client-2",
                        "clientSecret": "oauth-client-secret-3",
                        "scope": "events.write",
                    },
                },
            ],
        },
        {
            "id": "3",
            "destinations": [{"name": "status", "url": "https://status.example.com/n", "auth": {"type": "none"}}],
        },
    ],
}


@pytest.fixture(scope="module")
def declared() -> Program:
    from tests.harness import run_program

    return run_program(CONFIG, secret_keys=["tenants"])


def by_key(program: Program, typ: str, key: str) -> Any:
    return program.one(typ, lambda r: r.name.startswith(f"hookstack-{key}-"))


def test_one_connection_destination_rule_and_target_per_api_destination(declared: Program) -> None:
    counts = declared.types()
    assert counts[CONNECTION] == 4  # crm, erp, analytics, status
    assert counts[API_DESTINATION] == 4
    assert counts[TARGET] == 4
    assert counts[RULE] == 4
    assert counts[BUS] == 1
    assert counts[ARCHIVE] == 1
    assert sorted(declared.names(CONNECTION)) == sorted(
        [  # registration order is not a property
            "hookstack-1-crm-conn",
            "hookstack-2-erp-conn",
            "hookstack-2-analytics-conn",
            "hookstack-3-status-conn",
        ]
    )


def test_connection_auth_parameters_per_type(declared: Program) -> None:
    api_key = declared.named("hookstack-1-crm-conn")
    assert api_key["authorizationType"] == "API_KEY"
    assert reveal(api_key["authParameters"])["apiKey"] == {"key": "x-api-key", "value": "api-key-value-1"}
    assert reveal(api_key["authParameters"])["invocationHttpParameters"] == {
        "headers": [{"key": "X-Source", "value": "hookstack", "isValueSecret": False}]
    }
    basic = declared.named("hookstack-2-erp-conn")
    assert basic["authorizationType"] == "BASIC"
    assert reveal(basic["authParameters"])["basic"] == {"username": "hookstack", "password": "basic-password-2"}
    oauth = declared.named("hookstack-2-analytics-conn")
    assert oauth["authorizationType"] == "OAUTH_CLIENT_CREDENTIALS"
    params = reveal(oauth["authParameters"])["oauth"]
    assert params["authorizationEndpoint"] == "https://auth.example.net/token"
    assert params["httpMethod"] == "POST"
    assert params["clientParameters"] == {"clientId": "client-2", "clientSecret": "oauth-client-secret-3"}
    # AWS refuses client-credentials connections without oauth_http_parameters.
    assert params["oauthHttpParameters"]["bodies"] == [
        {"key": "grant_type", "value": "client_credentials", "isValueSecret": False},
        {"key": "scope", "value": "events.write", "isValueSecret": False},
    ]
    none = declared.named("hookstack-3-status-conn")
    assert none["authorizationType"] == "API_KEY"
    assert none["authParameters"] == {"apiKey": {"key": "X-Hookstack-Destination", "value": "3/status"}}


def test_secret_values_reach_the_engine_only_as_secrets(declared: Program) -> None:
    for name in ("hookstack-1-crm-conn", "hookstack-2-erp-conn", "hookstack-2-analytics-conn"):
        assert is_secret(declared.named(name)["authParameters"]), name
    for secret in SECRETS:
        for resource in declared.resources:
            assert not contains_text(resource.inputs, secret), (resource.name, secret)
        assert secret not in json.dumps(declared.outputs)


def test_api_destination_properties(declared: Program) -> None:
    crm = declared.named("hookstack-1-crm-dest")
    connection = declared.named("hookstack-1-crm-conn")
    assert crm["invocationEndpoint"] == "https://crm.example.com/hooks"
    assert crm["httpMethod"] == "POST"
    assert crm["invocationRateLimitPerSecond"] == 10
    assert crm["connectionArn"] == connection.arn
    erp = declared.named("hookstack-2-erp-dest")
    assert erp["httpMethod"] == "PUT"
    assert erp["invocationRateLimitPerSecond"] == 300


def test_rules_match_tenant_and_event_types_on_the_entry_bus(declared: Program) -> None:
    bus = declared.one(BUS)
    assert bus["name"] == "hookstack-dev"
    crm = declared.named("hookstack-1-crm-rule")
    assert crm["eventBusName"] == "hookstack-dev"
    assert crm.json("eventPattern") == {
        "detail": {"tenantId": ["1"], "$or": redrive_clause("crm")},
        "detail-type": ["widget.created"],
    }
    assert crm["state"] == "ENABLED"
    status = declared.named("hookstack-3-status-rule")
    assert status.json("eventPattern") == {"detail": {"tenantId": ["3"], "$or": redrive_clause("status")}}
    assert declared.named("hookstack-2-analytics-rule")["state"] == "DISABLED"


def test_targets_carry_transformer_retry_policy_and_dlq(declared: Program) -> None:
    dlq = declared.named("hookstack-dlq")
    role = declared.named("hookstack-invoke-role")
    crm = declared.named("hookstack-1-crm-target")
    assert crm["arn"] == declared.named("hookstack-1-crm-dest").arn
    assert crm["rule"] == declared.named("hookstack-1-crm-rule").physical_name
    assert crm["eventBusName"] == "hookstack-dev"
    assert crm["roleArn"] == role.arn
    assert crm["retryPolicy"] == {"maximumRetryAttempts": 24, "maximumEventAgeInSeconds": 3600}
    assert crm["deadLetterConfig"] == {"arn": dlq.arn}
    assert crm["inputTransformer"] == {
        "inputPaths": {"name": "$.detail.widgetName"},
        "inputTemplate": '{"text": "Widget <name> created"}',
    }
    status = declared.named("hookstack-3-status-target")
    assert "inputTransformer" not in status.inputs  # the whole event is delivered
    assert status["retryPolicy"] == {"maximumRetryAttempts": 185, "maximumEventAgeInSeconds": 86400}


def test_invoke_role_may_call_exactly_these_api_destinations(declared: Program) -> None:
    role = declared.named("hookstack-invoke-role")
    trust = role.json("assumeRolePolicy")
    assert trust["Statement"] == [
        {
            "Effect": "Allow",
            "Principal": {"Service": "events.amazonaws.com"},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT}},
        }
    ]
    policy = declared.named("hookstack-invoke-policy").json("policy")
    assert policy["Version"] == "2012-10-17"
    (statement,) = policy["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Action"] == "events:InvokeApiDestination"
    assert sorted(statement["Resource"]) == sorted(r.arn for r in declared.of_type(API_DESTINATION))


def test_dead_letter_queue_is_standard_encrypted_and_accepts_only_these_rules(declared: Program) -> None:
    dlq = declared.named("hookstack-dlq")
    assert dlq["sqsManagedSseEnabled"] is True
    assert dlq["messageRetentionSeconds"] == 14 * 24 * 3600
    assert not dlq.get("fifoQueue")  # FIFO queues cannot be rule DLQs
    policy = declared.one(QUEUE_POLICY)
    assert policy["queueUrl"] == dlq.state["url"]
    document = policy.json("policy")
    assert document["Version"] == "2012-10-17"
    allow, deny = document["Statement"]
    assert allow["Principal"] == {"Service": "events.amazonaws.com"}
    assert allow["Action"] == "sqs:SendMessage"
    assert allow["Resource"] == dlq.arn
    assert sorted(allow["Condition"]["ArnLike"]["aws:SourceArn"]) == sorted(r.arn for r in declared.of_type(RULE))
    assert deny["Effect"] == "Deny"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_archive_keeps_events_of_the_entry_bus(declared: Program) -> None:
    archive = declared.one(ARCHIVE)
    assert archive["eventSourceArn"] == declared.one(BUS).arn
    assert archive["retentionDays"] == 7


def test_alarms_watch_the_dlq_and_every_failure_metric_of_the_bus(declared: Program) -> None:
    topic = declared.named("hookstack-alarms")
    alarms = {a.name: a for a in declared.of_type(ALARM)}
    dlq_alarm = alarms["hookstack-dlq-alarm"]
    assert dlq_alarm["metricName"] == "ApproximateNumberOfMessagesVisible"
    assert dlq_alarm["dimensions"] == {"QueueName": declared.named("hookstack-dlq").physical_name}
    assert dlq_alarm["threshold"] == 0 and dlq_alarm["comparisonOperator"] == "GreaterThanThreshold"
    for name, metric in (
        ("hookstack-failed", "FailedInvocations"),
        ("hookstack-dlq-failed", "InvocationsFailedToBeSentToDlq"),
        ("hookstack-throttled", "ThrottledRules"),
    ):
        (query,) = alarms[name]["metricQueries"]
        assert query["expression"] == (
            f'SELECT SUM({metric}) FROM SCHEMA("AWS/Events", EventBusName, RuleName) '
            "WHERE EventBusName = 'hookstack-dev' GROUP BY RuleName"
        )
        assert query["returnData"] is True
        assert alarms[name]["alarmActions"] == [topic.arn]
    subscription = declared.one("aws:sns/topicSubscription:TopicSubscription")
    assert subscription["protocol"] == "email" and subscription["endpoint"] == "ops@example.com"
    assert topic["kmsMasterKeyId"] == declared.one("aws:kms/key:Key").arn  # see test_alerts.py


def test_without_alarm_email_there_is_no_topic_and_alarms_have_no_actions(program: Callable[..., Program]) -> None:
    config = {k: v for k, v in CONFIG.items() if k != "alarmEmail"}
    declared = program(config, secret_keys=["tenants"])
    assert not declared.of_type("aws:sns/topic:Topic")
    assert all(a.get("alarmActions") in (None, []) for a in declared.of_type(ALARM))


def test_outputs_name_bus_dlq_and_every_destination(declared: Program) -> None:
    outputs = declared.outputs
    assert outputs["busName"] == "hookstack-dev"
    assert outputs["busArn"] == f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/hookstack-dev"
    assert outputs["deadLetterQueueUrl"] == declared.named("hookstack-dlq").state["url"]
    crm = outputs["destinations"]["1"]["crm"]
    assert crm["rule_arn"] == declared.named("hookstack-1-crm-rule").arn
    assert crm["api_destination_arn"] == declared.named("hookstack-1-crm-dest").arn
    assert set(outputs["destinations"]) == {"1", "2", "3"}
    assert outputs["busShards"] == {
        "sharded": False,
        "tenants": {"1": "hookstack-dev", "2": "hookstack-dev", "3": "hookstack-dev"},
    }


NAME_LIMITS = {
    RULE: (64, r"^[\.\-_A-Za-z0-9]+$"),
    CONNECTION: (64, r"^[\.\-_A-Za-z0-9]+$"),
    API_DESTINATION: (64, r"^[\.\-_A-Za-z0-9]+$"),
    BUS: (256, r"^[/\.\-_A-Za-z0-9]+$"),
    ARCHIVE: (48, r"^[\.\-_A-Za-z0-9]+$"),
    QUEUE: (80, r"^[A-Za-z0-9_-]+$"),
    ROLE: (64, r"^[\w+=,.@-]+$"),
}


def test_every_physical_name_fits_aws_limits(declared: Program) -> None:
    for typ, (limit, pattern) in NAME_LIMITS.items():
        for resource in declared.of_type(typ):
            name = resource.physical_name
            assert len(name) <= limit, (typ, name)
            assert re.match(pattern, name), (typ, name)
    for target in declared.of_type(TARGET):
        assert re.match(r"^[\.\-_A-Za-z0-9]{1,64}$", target["targetId"])


def test_long_tenant_ids_still_give_valid_names(program: Callable[..., Program]) -> None:
    tenant = "tenant:" + "x" * 57
    config = {
        "delivery": {"enabled": False},
        "tenants": [
            {
                "id": tenant,
                "destinations": [{"name": "a" * 32, "url": "https://e.example.com", "auth": {"type": "none"}}],
            }
        ],
    }
    declared = program(config)
    for typ, (limit, pattern) in NAME_LIMITS.items():
        for resource in declared.of_type(typ):
            assert len(resource.physical_name) <= limit and re.match(pattern, resource.physical_name), (
                resource.physical_name
            )


def test_sharded_stack_routes_from_the_entry_bus_to_shard_buses(program: Callable[..., Program]) -> None:
    tenants = [
        {"id": f"t{i}", "destinations": [{"name": "d", "url": f"https://t{i}.example.com", "auth": {"type": "none"}}]}
        for i in range(12)
    ]
    config = {"delivery": {"enabled": False}, "tenants": tenants, "provider": {"shards": 3}}
    declared = program(config)
    plan = build_provider_plan(parse_stack_config(config), "hookstack-dev")
    shard_buses = {b["name"]: b for b in declared.of_type(BUS) if "shard" in b["name"]}
    assert set(shard_buses) == {b.name for b in plan.buses if b.index}
    for tenant in tenants:
        rule = declared.named(f"hookstack-{tenant['id']}-d-rule")
        assert rule["eventBusName"] == plan.bus(plan.tenant_bus[tenant["id"]]).name
    routing = [r for r in declared.of_type(RULE) if "-route-" in r.name]
    assert routing and all(r["eventBusName"] == "hookstack-dev" for r in routing)
    routed = {t: r for r in routing for t in r.json("eventPattern")["detail"]["tenantId"]}
    assert set(routed) == {t["id"] for t in tenants}
    for route in routing:
        target = declared.named(f"{route.name}-target")
        shard = plan.tenant_bus[route.json("eventPattern")["detail"]["tenantId"][0]]
        assert target["arn"] == shard_buses[plan.bus(shard).name].arn
        assert target["deadLetterConfig"]["arn"] == declared.named("hookstack-dlq").arn
        assert target["retryPolicy"]["maximumRetryAttempts"] == 185
    policy = declared.named("hookstack-invoke-policy").json("policy")
    forward = next(s for s in policy["Statement"] if s["Action"] == "events:PutEvents")
    assert sorted(forward["Resource"]) == sorted(b.arn for b in shard_buses.values())
    assert declared.outputs["busShards"]["sharded"] is True
    assert declared.outputs["busShards"]["tenants"] == {t: plan.bus(b).name for t, b in plan.tenant_bus.items()}
    # One alarm set per bus holding rules.
    failed = [a for a in declared.of_type(ALARM) if a.name.endswith("-failed") and not a.name.endswith("dlq-failed")]
    assert len(failed) == len(plan.buses)


def test_a_sharded_tenant_without_api_destinations_is_listed_on_the_entry_bus(program: Callable[..., Program]) -> None:
    """A tenant with no rule of its own (no destinations, or only worker ones) whose shard holds no other
    tenant: no shard bus exists for it, and its events stay on the entry bus (no routing rule takes them)."""
    with_rules = "t0"
    alone = next(f"t{i}" for i in range(1, 100) if shard_of(f"t{i}", 16) != shard_of(with_rules, 16))
    config = {
        "delivery": {"enabled": False},
        "provider": {"shards": 16},
        "tenants": [
            {
                "id": with_rules,
                "destinations": [{"name": "d", "url": "https://t0.example.com", "auth": {"type": "none"}}],
            },
            {"id": alone},
        ],
    }
    declared = program(config)
    plan = build_provider_plan(parse_stack_config(config), "hookstack-dev")
    assert plan.tenant_bus[alone] == 0
    assert declared.outputs["busShards"]["tenants"] == {
        with_rules: f"hookstack-dev-shard-{shard_of(with_rules, 16):02d}",
        alone: "hookstack-dev",
    }


def test_large_stacks_scope_policies_by_name_prefix_within_size_limits(program: Callable[..., Program]) -> None:
    tenants = [
        {"id": f"t{i}", "destinations": [{"name": "d", "url": f"https://t{i}.example.com", "auth": {"type": "none"}}]}
        for i in range(150)
    ]
    declared = program({"delivery": {"enabled": False}, "tenants": tenants})
    policy_text = reveal(declared.named("hookstack-invoke-policy")["policy"])
    assert len(policy_text) < 10_240  # IAM's inline policy limit per role
    (statement,) = json.loads(policy_text)["Statement"]
    (resource,) = statement["Resource"]
    assert resource == f"arn:aws:events:{REGION}:{ACCOUNT}:api-destination/hookstack-dev-*"
    assert all(r.physical_name.startswith("hookstack-dev-") for r in declared.of_type(API_DESTINATION))
    queue_policy = reveal(declared.one(QUEUE_POLICY)["policy"])
    assert len(queue_policy.encode()) < 8_192  # SQS policy limit
    allow = json.loads(queue_policy)["Statement"][0]
    assert allow["Condition"]["ArnLike"]["aws:SourceArn"] == [f"arn:aws:events:{REGION}:{ACCOUNT}:rule/hookstack-dev/*"]


def test_signed_destinations_get_no_connection_rule_or_api_destination(program: Callable[..., Program]) -> None:
    config = {
        "tenants": [
            {
                "id": "9",
                "destinations": [
                    {"name": "audit", "url": "https://audit.example.com/in", "auth": {"type": "signed"}},
                    {"name": "crm", "url": "https://crm.example.com/in", "auth": {"type": "none"}},
                ],
            }
        ]
    }
    declared = program(config)
    assert declared.names(CONNECTION) == ["hookstack-9-crm-conn"]
    assert declared.names(API_DESTINATION) == ["hookstack-9-crm-dest"]
    assert set(declared.outputs["destinations"]["9"]) == {"crm"}  # signed deliveries are not API destinations
    assert declared.one("hookstack:index:SignedDelivery")


def test_bus_name_from_config(program: Callable[..., Program]) -> None:
    declared = program(
        {
            "delivery": {"enabled": False},
            "provider": {"busName": "acme-webhooks", "archiveRetentionDays": 30},
            "tenants": CONFIG["tenants"][2:],
        }
    )
    assert declared.one(BUS)["name"] == "acme-webhooks"
    assert declared.one(ARCHIVE)["retentionDays"] == 30
    assert declared.outputs["busName"] == "acme-webhooks"


def test_invalid_config_declares_nothing_and_names_every_problem(program: Callable[..., Program]) -> None:
    import pulumi

    bad = {
        "tenants": [
            {"id": "1", "destinations": [{"name": "x", "url": "http://x.example.com", "auth": {"type": "nope"}}]}
        ]
    }
    with pytest.raises(pulumi.RunError) as caught:
        program(bad)
    message = str(caught.value)
    assert "hookstack:tenants[0].destinations[0].url: must be an https:// URL" in message
    assert "hookstack:tenants[0].destinations[0].auth.type: must be one of" in message


def _tenants(count: int, destinations: int) -> list[dict[str, Any]]:
    return [
        {
            "id": f"tenant-{i:04d}",
            "destinations": [
                {"name": f"d{j}", "url": f"https://t{i}.example.com/{j}", "auth": {"type": "none"}}
                for j in range(destinations)
            ],
        }
        for i in range(count)
    ]


def test_thousand_tenants_by_two_destinations_plan_within_quotas() -> None:
    # The plan decides every bus, rule and pattern; the program declares exactly what it says (next
    # test). Evaluating this stack under mocks takes ~30 s: benchmarks/program_eval.py times it.
    plan = build_provider_plan(parse_stack_config({"tenants": _tenants(1000, 2)}), "hookstack-dev")
    assert plan.sharded and len(plan.destinations) == 2000
    assert all(plan.rules_on(bus.index) <= 300 for bus in plan.buses)
    assert len(plan.buses) <= 49  # 3 Metrics Insights alarms per bus within the region's 200
    assert all(len(d.event_pattern_json) <= 2048 for d in plan.destinations)
    assert all(len(r.event_pattern_json) <= 2048 for r in plan.routing_rules)


def test_a_sharded_stack_declares_what_its_plan_says_within_quotas(program: Callable[..., Program]) -> None:
    # rulesPerBus at its minimum shards a small stack the way a large one is sharded.
    tenants = _tenants(40, 2)
    config = {"delivery": {"enabled": False}, "provider": {"rulesPerBus": 20}, "tenants": tenants}
    declared = program(config)
    plan = build_provider_plan(parse_stack_config(config), "hookstack-dev")
    assert plan.sharded
    rules_per_bus: dict[str, int] = {}
    for rule in declared.of_type(RULE):
        rules_per_bus[rule["eventBusName"]] = rules_per_bus.get(rule["eventBusName"], 0) + 1
        assert len(rule["eventPattern"]) <= 2048
    assert max(rules_per_bus.values()) <= 20
    assert len(declared.of_type(BUS)) == len(plan.buses) <= 100
    assert len(declared.of_type(API_DESTINATION)) == 80
    assert sum(1 for a in declared.of_type(ALARM) if a.get("metricQueries")) == 3 * len(plan.buses) <= 200
    for tenant in tenants:
        rule = declared.named(f"hookstack-{tenant['id']}-d0-rule")
        assert rule["eventBusName"] == plan.bus(plan.tenant_bus[tenant["id"]]).name


# --- validation before any resource -------------------------------------------------------------


def test_quota_and_cross_field_problems_are_reported_with_the_others_before_any_resource(
    program: Callable[..., Program],
) -> None:
    import pulumi

    tenants = [
        {"id": f"t{i}", "destinations": [{"name": "d", "url": f"https://t{i}.example.com", "auth": {"type": "none"}}]}
        for i in range(301)
    ]
    tenants[0]["destinations"][0]["url"] = "http://t0.example.com"  # a field problem in the tenants
    bad = {"tenants": tenants, "provider": {"shards": 1}, "aurora": {"minCapacity": 8, "maxCapacity": 4}}
    with pytest.raises(pulumi.RunError) as caught:
        program(bad)
    message = str(caught.value)
    assert "hookstack:tenants[0].destinations[0].url: must be an https:// URL" in message
    assert "hookstack:aurora.minCapacity: must not exceed maxCapacity" in message
    # The rules-per-bus quota, reported at the same time and naming the bus the stack would create
    # (300 valid destinations + the signed-delivery rule on one bus).
    assert "hookstack:tenants: bus hookstack-dev would hold 301 rules; the quota is 300" in message
    assert caught.value.declared == []  # type: ignore[attr-defined]


def test_positions_of_quota_problems_are_held_back_while_tenants_have_other_problems() -> None:
    from components.config import StackConfigError
    from components.stack import load_stack

    too_many_types = [f"widget.event-{i:04d}" for i in range(120)]  # a pattern over 2,048 characters
    raw = {
        "tenants": [
            {
                "id": "1",
                "destinations": [
                    {"name": "broken", "url": "http://x.example.com", "auth": {"type": "none"}},
                    {
                        "name": "wide",
                        "url": "https://x.example.com",
                        "eventTypes": too_many_types,
                        "auth": {"type": "none"},
                    },
                ],
            }
        ]
    }
    with pytest.raises(StackConfigError) as caught:
        load_stack(raw, stack="dev")
    paths = [p.path for p in caught.value.problems]
    # "broken" is left out of the model, so the wide pattern would be reported at destinations[0].
    assert paths == ["hookstack:tenants[0].destinations[0].url"]
    raw["tenants"][0]["destinations"][0]["url"] = "https://x.example.com"
    with pytest.raises(StackConfigError) as caught:
        load_stack(raw, stack="dev")
    assert [p.path for p in caught.value.problems] == ["hookstack:tenants[0].destinations[1].eventTypes"]


def test_quota_messages_name_the_stacks_own_entry_bus() -> None:
    from components.config import StackConfigError
    from components.stack import load_stack

    tenants = [
        {"id": f"t{i}", "destinations": [{"name": "d", "url": "https://e.example.com", "auth": {"type": "none"}}]}
        for i in range(301)
    ]
    with pytest.raises(StackConfigError, match="hookstack:tenants: bus hookstack-prod would hold"):
        load_stack({"tenants": tenants, "provider": {"shards": 1}}, stack="prod")


@pytest.mark.parametrize(("shards", "accepted"), [(48, True), (49, False), (99, False)])
def test_explicit_shards_stay_within_the_metrics_insights_alarm_quota(shards: int, accepted: bool) -> None:
    from components.config import MAX_SHARDS, StackConfigError

    assert MAX_SHARDS * 3 + 3 <= 200  # three Metrics Insights alarms per bus (shards + entry), 200 per region
    raw = {"provider": {"shards": shards}}
    if accepted:
        assert parse_stack_config(raw).provider.shards == shards
    else:
        with pytest.raises(StackConfigError, match=r"hookstack:provider\.shards: must be between 1 and 48"):
            parse_stack_config(raw)
