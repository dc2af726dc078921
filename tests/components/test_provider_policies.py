"""Policy sizes of the WebhookProvider: the invoke role's inline policy (IAM: 10,240 characters, white
space not counted) and the dead-letter queue policy (SQS: 8,192 bytes) fit for any number of
destinations, and list exact ARNs whenever the exact document fits.

The ARNs are AWS's real shapes, produced by the mocks harness: API destination ARNs end in a
36-character UUID, rule names carry Pulumi's random suffix. The sweep runs the sizing functions the
component uses on 1..150 destinations with ordinary and longest names in the longest region name; a
few program evaluations at the measured boundaries check the resolved policies end to end.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from typing import Any

import pytest

from components.config import parse_stack_config
from components.plan import ProviderPlan, build_provider_plan
from components.policy_documents import (
    IAM_ROLE_INLINE_POLICY_CHARS,
    POLICY_SIZE_MARGIN,
    SQS_QUEUE_POLICY_BYTES,
    iam_policy_chars,
    policy_document,
    sqs_policy_bytes,
    tls_only_statement,
)
from components.provider_policies import dead_letter_policy_document, invoke_policy_document
from sandbox.preview_aws import ACCOUNT, aws_state
from tests.harness import Program, reveal, run_program

LONGEST_REGION = "ap-southeast-3"  # 14 characters, as long as any commercial region name
STACK = "production"
BUS = "aws:cloudwatch/eventBus:EventBus"
RULE = "aws:cloudwatch/eventRule:EventRule"
API_DESTINATION = "aws:cloudwatch/eventApiDestination:EventApiDestination"
QUEUE = "aws:sqs/queue:Queue"
QUEUE_POLICY = "aws:sqs/queuePolicy:QueuePolicy"


def tenants(count: int, *, longest: bool = False) -> list[dict[str, Any]]:
    """Ordinary names (``tenant-0001`` / ``crm``), or the longest the config allows."""
    if longest:
        return [
            {
                "id": f"{i:04d}".ljust(64, "x"),
                "destinations": [
                    {"name": "d" * 28 + f"{i:04d}", "url": "https://e.example.com", "auth": {"type": "none"}}
                ],
            }
            for i in range(count)
        ]
    return [
        {
            "id": f"tenant-{i:04d}",
            "destinations": [{"name": "crm", "url": f"https://t{i}.example.com/hooks", "auth": {"type": "none"}}],
        }
        for i in range(count)
    ]


def config(count: int, *, longest: bool = False, **provider: Any) -> dict[str, Any]:
    return {
        "delivery": {"enabled": False},
        "consumer": {"enabled": False},
        "provider": provider,
        "tenants": tenants(count, longest=longest),
    }


def plan_of(raw: dict[str, Any]) -> ProviderPlan:
    return build_provider_plan(parse_stack_config(raw), default_bus_name=f"hookstack-{STACK}")


def arn(typ: str, logical: str, **inputs: Any) -> str:
    """The ARN the mocks harness (AWS's shapes) gives a resource, in the longest region."""
    return str(aws_state(typ, logical, inputs, region=LONGEST_REGION)["arn"])


def realistic_arns(plan: ProviderPlan) -> dict[str, Any]:
    """What the component's resources resolve to, by the component's logical names."""
    return {
        "entry_bus": arn(BUS, "hookstack-bus", name=plan.entry_bus_name),
        "api": [
            arn(API_DESTINATION, f"hookstack-{d.key}-dest", name=plan.connection_name(d)) for d in plan.destinations
        ],
        "shards": [arn(BUS, f"hookstack-shard-{b.index:02d}", name=b.name) for b in plan.buses if b.index],
        "rules": [
            arn(RULE, f"hookstack-{d.key}-rule", eventBusName=plan.bus(d.bus_index).name) for d in plan.destinations
        ]
        + [arn(RULE, f"hookstack-{r.key}", eventBusName=plan.entry_bus_name) for r in plan.routing_rules],
        "queue": arn(QUEUE, "hookstack-dlq"),
    }


def exact_invoke_document(arns: dict[str, Any]) -> str:
    statements = [
        {
            "Sid": "InvokeOwnApiDestinations",
            "Effect": "Allow",
            "Action": "events:InvokeApiDestination",
            "Resource": arns["api"],
        }
    ]
    if arns["shards"]:
        statements.append(
            {"Sid": "ForwardToShardBuses", "Effect": "Allow", "Action": "events:PutEvents", "Resource": arns["shards"]}
        )
    return policy_document(statements)


def exact_dead_letter_document(arns: dict[str, Any]) -> str:
    allow = {
        "Sid": "EventBridgeRulesSendFailedEvents",
        "Effect": "Allow",
        "Principal": {"Service": "events.amazonaws.com"},
        "Action": "sqs:SendMessage",
        "Resource": arns["queue"],
        "Condition": {"ArnLike": {"aws:SourceArn": arns["rules"]}},
    }
    return policy_document([allow, tls_only_statement([arns["queue"]])])


def fits(document: str, size: Callable[[str], int], limit: int) -> bool:
    return size(document) <= limit - POLICY_SIZE_MARGIN


@cache
def sweep(longest: bool) -> dict[int, tuple[bool, bool]]:
    """destinations -> (invoke policy exact?, DLQ policy exact?) for 1..150 destinations; asserts sizes."""
    results = {}
    for count in range(1, 151):
        plan = plan_of(config(count, longest=longest))
        arns = realistic_arns(plan)
        invoke = invoke_policy_document(plan, arns["entry_bus"], arns["api"], arns["shards"])
        dead_letter = dead_letter_policy_document(plan, arns["entry_bus"], arns["queue"], arns["rules"])
        assert iam_policy_chars(invoke) <= IAM_ROLE_INLINE_POLICY_CHARS, count
        assert sqs_policy_bytes(dead_letter) <= SQS_QUEUE_POLICY_BYTES, count
        exact_invoke, exact_dead_letter = exact_invoke_document(arns), exact_dead_letter_document(arns)
        # Exact ARNs whenever they fit; a wildcard only when they do not.
        assert (invoke == exact_invoke) == fits(exact_invoke, iam_policy_chars, IAM_ROLE_INLINE_POLICY_CHARS), count
        assert (dead_letter == exact_dead_letter) == fits(
            exact_dead_letter, sqs_policy_bytes, SQS_QUEUE_POLICY_BYTES
        ), count
        results[count] = (invoke == exact_invoke, dead_letter == exact_dead_letter)
    return results


def last_exact(results: dict[int, tuple[bool, bool]], which: int) -> int:
    exact = [count for count, flags in results.items() if flags[which]]
    # Monotonic: once the exact document stops fitting, it never fits again with more destinations.
    assert exact == list(range(1, len(exact) + 1))
    return exact[-1]


@pytest.mark.parametrize("longest", [False, True], ids=["ordinary-names", "longest-names"])
def test_policies_fit_for_1_to_150_destinations_and_list_exact_arns_while_they_fit(longest: bool) -> None:
    results = sweep(longest)
    invoke_boundary, dead_letter_boundary = last_exact(results, 0), last_exact(results, 1)
    # Both renderings are exercised: exact ARNs for small stacks, wildcards beyond.
    assert 1 < invoke_boundary < 150 and 1 < dead_letter_boundary < 150
    if not longest:
        # The old per-ARN estimates kept exact ARNs up to ~85 destinations with these names, past IAM's limit.
        assert invoke_boundary < 80


def test_the_wildcards_name_only_this_stacks_resources() -> None:
    plan = plan_of(config(150))
    arns = realistic_arns(plan)
    prefix = arns["entry_bus"].split("event-bus/")[0]
    (invoke,) = json.loads(invoke_policy_document(plan, arns["entry_bus"], arns["api"], arns["shards"]))["Statement"]
    assert invoke["Resource"] == [f"{prefix}api-destination/hookstack-production-*"]
    allow, _ = json.loads(dead_letter_policy_document(plan, arns["entry_bus"], arns["queue"], arns["rules"]))[
        "Statement"
    ]
    assert allow["Condition"]["ArnLike"]["aws:SourceArn"] == [f"{prefix}rule/hookstack-production/*"]
    assert prefix == f"arn:aws:events:{LONGEST_REGION}:{ACCOUNT}:"


def test_many_long_named_shard_buses_fall_back_to_a_shard_wildcard_within_the_limits() -> None:
    bus = "b" * 200  # the longest bus name the config accepts
    plan = plan_of(config(400, longest=True, busName=bus, shards=48))
    assert plan.sharded and len(plan.buses) == 49
    arns = realistic_arns(plan)
    prefix = arns["entry_bus"].split("event-bus/")[0]
    invoke = invoke_policy_document(plan, arns["entry_bus"], arns["api"], arns["shards"])
    assert iam_policy_chars(invoke) <= IAM_ROLE_INLINE_POLICY_CHARS
    forward = next(s for s in json.loads(invoke)["Statement"] if s["Action"] == "events:PutEvents")
    assert forward["Resource"] == [f"{prefix}event-bus/{bus}-shard-*"]
    dead_letter = dead_letter_policy_document(plan, arns["entry_bus"], arns["queue"], arns["rules"])
    assert sqs_policy_bytes(dead_letter) <= SQS_QUEUE_POLICY_BYTES
    allow = json.loads(dead_letter)["Statement"][0]
    assert allow["Condition"]["ArnLike"]["aws:SourceArn"] == [f"{prefix}rule/{bus}/*", f"{prefix}rule/{bus}-shard-*"]


def resolved_policies(program: Program) -> tuple[str, str]:
    return reveal(program.named("hookstack-invoke-policy")["policy"]), reveal(program.one(QUEUE_POLICY)["policy"])


@pytest.mark.parametrize("boundary", ["role-last-exact", "role-first-wildcard"])
def test_the_program_at_the_boundaries_declares_policies_within_the_limits(boundary: str) -> None:
    """At the invoke role's boundary; the DLQ policy is past its own there (its exact form: test_provider.py)."""
    results = sweep(False)
    count = {"role-last-exact": last_exact(results, 0), "role-first-wildcard": last_exact(results, 0) + 1}[boundary]
    declared = run_program(config(count), stack=STACK, region=LONGEST_REGION)
    invoke, dead_letter = resolved_policies(declared)
    assert iam_policy_chars(invoke) <= IAM_ROLE_INLINE_POLICY_CHARS
    assert sqs_policy_bytes(dead_letter) <= SQS_QUEUE_POLICY_BYTES
    resolved = {
        "entry_bus": declared.one(BUS).arn,
        "api": [r.arn for r in declared.of_type(API_DESTINATION)],
        "shards": [],
        "rules": [r.arn for r in declared.of_type(RULE)],
        "queue": declared.one(QUEUE).arn,
    }
    # The resolved ARNs are the shapes the sweep used: same sizes, same choice.
    assert sorted(resolved["api"]) == sorted(realistic_arns(plan_of(config(count)))["api"])
    listed = json.loads(invoke)["Statement"][0]["Resource"]
    assert (sorted(listed) == sorted(resolved["api"])) == results[count][0]
    sources = json.loads(dead_letter)["Statement"][0]["Condition"]["ArnLike"]["aws:SourceArn"]
    assert (sorted(sources) == sorted(resolved["rules"])) == results[count][1]


def test_eighty_destinations_with_ordinary_names_fit_both_limits() -> None:
    """The issue's example: the old per-ARN estimates listed all 80 ARNs, 10,942 characters here."""
    declared = run_program(config(80), stack=STACK, region=LONGEST_REGION)
    invoke, dead_letter = resolved_policies(declared)
    assert iam_policy_chars(invoke) <= IAM_ROLE_INLINE_POLICY_CHARS
    assert sqs_policy_bytes(dead_letter) <= SQS_QUEUE_POLICY_BYTES
