"""The WebhookProvider's two fitted policies, computed from resolved ARNs (pure: no Pulumi).

The invoke role's policy and the dead-letter queue's policy list every ARN while the document fits
IAM's or SQS's size limit, measured on the real ARNs (API destination ARNs end in a 36-character
UUID, rule names in Pulumi's random suffix); beyond, they fall back to wildcards on this stack's own
names. :class:`components.provider.WebhookProvider` calls these inside ``apply``.
"""

from __future__ import annotations

from collections.abc import Sequence
from fnmatch import fnmatchcase
from typing import Any

from components.plan import ProviderPlan
from components.policy_documents import (
    IAM_ROLE_INLINE_POLICY_CHARS,
    SQS_QUEUE_POLICY_BYTES,
    first_fitting_policy,
    iam_policy_chars,
    policy_document,
    sqs_policy_bytes,
    tls_only_statement,
)


def _events_arn_prefix(entry_bus_arn: str) -> str:
    """``arn:<partition>:events:<region>:<account>:`` of this stack, taken from the entry bus ARN."""
    prefix, separator, _ = entry_bus_arn.partition("event-bus/")
    if not separator:
        raise ValueError(f"not an event bus ARN: {entry_bus_arn!r}")
    return prefix


def _shard_bus_wildcard(plan: ProviderPlan) -> str:
    """``<entry bus>-shard-*``: matches exactly the shard buses the plan names (checked)."""
    pattern = f"{plan.entry_bus_name}-shard-*"
    names = [bus.name for bus in plan.buses if bus.index]
    if not all(fnmatchcase(name, pattern) for name in names):
        raise ValueError(f"shard bus names {names} do not match {pattern!r}")
    return pattern


def invoke_policy_document(
    plan: ProviderPlan, entry_bus_arn: str, api_destination_arns: Sequence[str], shard_bus_arns: Sequence[str]
) -> str:
    """The invoke role's policy: every ARN while it fits IAM's 10,240 characters, else wildcards.

    Tried from most to least specific (exact API destinations and shard buses; API destinations by
    this stack's name prefix; shard buses by ``<entry bus>-shard-*`` too), the first that fits wins.
    """
    arn = _events_arn_prefix(entry_bus_arn)
    api_scopes = (
        [list(api_destination_arns), [f"{arn}api-destination/{plan.name_prefix}*"]] if api_destination_arns else [[]]
    )
    shard_scopes = [list(shard_bus_arns), [f"{arn}event-bus/{_shard_bus_wildcard(plan)}"]] if shard_bus_arns else [[]]
    candidates = []
    for shards in shard_scopes:
        for destinations in api_scopes:
            statements: list[dict[str, Any]] = []
            if destinations:
                statements.append(
                    {
                        "Sid": "InvokeOwnApiDestinations",
                        "Effect": "Allow",
                        "Action": "events:InvokeApiDestination",
                        "Resource": destinations,
                    }
                )
            if shards:
                statements.append(
                    {"Sid": "ForwardToShardBuses", "Effect": "Allow", "Action": "events:PutEvents", "Resource": shards}
                )
            candidates.append(policy_document(statements))
    return first_fitting_policy(candidates, iam_policy_chars, IAM_ROLE_INLINE_POLICY_CHARS)


def dead_letter_policy_document(
    plan: ProviderPlan, entry_bus_arn: str, queue_arn: str, rule_arns: Sequence[str]
) -> str:
    """The DLQ policy: only these rules may send (``aws:SourceArn``), TLS only, within SQS's 8,192 bytes.

    Sources from most to least specific: every rule ARN; ``rule/<bus>/*`` per bus (every rule on
    these buses is this stack's); ``rule/<entry bus>/*`` and ``rule/<entry bus>-shard-*``.
    """
    arn = _events_arn_prefix(entry_bus_arn)
    scopes: list[list[str]] = [list(rule_arns), [f"{arn}rule/{bus.name}/*" for bus in plan.buses]]
    if plan.sharded:
        scopes.append([f"{arn}rule/{plan.entry_bus_name}/*", f"{arn}rule/{_shard_bus_wildcard(plan)}"])
    candidates = []
    for sources in scopes if rule_arns else [[]]:
        statements: list[dict[str, Any]] = [tls_only_statement([queue_arn])]
        if sources:
            statements.insert(
                0,
                {
                    "Sid": "EventBridgeRulesSendFailedEvents",
                    "Effect": "Allow",
                    "Principal": {"Service": "events.amazonaws.com"},
                    "Action": "sqs:SendMessage",
                    "Resource": queue_arn,
                    "Condition": {"ArnLike": {"aws:SourceArn": sources}},
                },
            )
        candidates.append(policy_document(statements))
    return first_fitting_policy(candidates, sqs_policy_bytes, SQS_QUEUE_POLICY_BYTES)
