"""The stack configuration contract: what parses, and every class of bad input with its error."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.config import (
    ApiKeyAuth,
    BasicAuth,
    NoAuth,
    OAuthAuth,
    Secret,
    Signing,
    StackConfigError,
    load_stack_file,
    parse_stack_config,
    to_json,
)
from components.plan import event_pattern
from components.stack import load_stack
from functions.inbound.kinds import KIND_NAMES

ROOT = Path(__file__).resolve().parents[2]


def destination(**overrides: Any) -> dict[str, Any]:
    base = {
        "name": "crm",
        "url": "https://crm.example.com/hooks",
        "auth": {"type": "apiKey", "header": "x-api-key", "value": "k"},
    }
    base.update(overrides)
    return base


def config_with(*destinations: dict[str, Any], tenant_id: Any = "1") -> dict[str, Any]:
    return {"tenants": [{"id": tenant_id, "destinations": list(destinations)}]}


def problems(raw: dict[str, Any], **kwargs: Any) -> list[str]:
    """Every problem the program's entry point reports (field, cross-field and quota ones)."""
    with pytest.raises(StackConfigError) as caught:
        load_stack(raw, stack="dev", **kwargs)
    return [str(p) for p in caught.value.problems]


def only_problem(raw: dict[str, Any]) -> str:
    found = problems(raw)
    assert len(found) == 1, found
    return found[0]


# --- what parses ------------------------------------------------------------------------------


def test_dev_stack_parses_with_every_auth_type_and_source() -> None:
    config = load_stack_file(str(ROOT / "Pulumi.dev.yaml"), secret_resolver=lambda path, _: "whsec_" + "A" * 32)
    auth_types = {type(d.auth) for _, d in config.destinations()}
    assert auth_types == {ApiKeyAuth, BasicAuth, OAuthAuth, NoAuth}
    assert any(isinstance(d.signing, Signing) and d.is_worker for _, d in config.destinations())
    assert len(config.tenants) >= 2
    assert {s.kind for s in config.consumer.sources} >= {"github", "stripe", "twilio"}
    assert config.aurora.enabled


def test_dev_stack_secure_values_are_reported_when_not_decrypted() -> None:
    with pytest.raises(StackConfigError) as caught:
        load_stack_file(str(ROOT / "Pulumi.dev.yaml"))
    messages = [str(p) for p in caught.value.problems]
    assert "hookstack:tenants[0].destinations[0].auth.value: is encrypted and could not be decrypted here" in messages


def test_defaults_are_applied() -> None:
    config = parse_stack_config(config_with(destination()))
    (tenant,) = config.tenants
    (dest,) = tenant.destinations
    assert dest.method == "POST"
    assert dest.event_types == ()
    assert dest.rate_limit_per_second == 300
    assert (dest.retry.max_attempts, dest.retry.max_event_age_seconds) == (185, 86_400)
    assert config.provider.archive_retention_days == 7
    assert config.delivery.retry_schedule_seconds == (5, 300, 1800, 7200, 18000, 36000, 36000)
    assert not config.aurora.enabled
    assert not config.consumer.enabled


def test_numeric_tenant_ids_become_strings_like_events_carry_them() -> None:
    config = parse_stack_config(config_with(destination(), tenant_id=1))
    assert config.tenants[0].id == "1"


def test_numbers_given_as_strings_by_config_set_path_are_accepted() -> None:
    config = parse_stack_config(config_with(destination(rateLimitPerSecond="10", retry={"maxAttempts": "3"})))
    assert config.tenants[0].destinations[0].rate_limit_per_second == 10
    assert config.tenants[0].destinations[0].retry.max_attempts == 3


def test_secrets_never_show_in_repr_or_errors() -> None:
    config = parse_stack_config(
        config_with(destination(auth={"type": "apiKey", "header": "x-api-key", "value": "hunter2"}))
    )
    assert "hunter2" not in repr(config)
    assert isinstance(config.tenants[0].destinations[0].auth, ApiKeyAuth)
    assert config.tenants[0].destinations[0].auth.value.reveal() == "hunter2"
    bad = config_with(destination(auth={"type": "apiKey", "header": "bad header", "value": "hunter2"}))
    assert all("hunter2" not in p for p in problems(bad))


def test_loopback_http_only_in_local_mode() -> None:
    raw = config_with(destination(url="http://127.0.0.1:8080/hook"))
    assert "must be an https:// URL" in only_problem(raw)
    local = parse_stack_config(raw, local=True)
    assert local.tenants[0].destinations[0].url == "http://127.0.0.1:8080/hook"
    assert "must be an https://" in problems(config_with(destination(url="http://example.com/")), local=True)[0]


# --- each class of bad input ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param(
            {"tenants": [{"destinations": []}]}, "hookstack:tenants[0].id: is required", id="missing-tenant-id"
        ),
        pytest.param(
            config_with({"url": "https://x.example.com", "auth": {"type": "none"}}),
            "hookstack:tenants[0].destinations[0].name: is required",
            id="missing-destination-name",
        ),
        pytest.param(
            config_with({"name": "crm", "auth": {"type": "none"}}),
            "hookstack:tenants[0].destinations[0].url: is required",
            id="missing-url",
        ),
        pytest.param(
            config_with({"name": "crm", "url": "https://x.example.com"}),
            "hookstack:tenants[0].destinations[0].auth: is required; auth.type is one of apiKey, basic, oauth, bearer, signed, none",
            id="missing-auth",
        ),
        pytest.param(
            config_with(destination(url="http://crm.example.com/hooks")),
            "hookstack:tenants[0].destinations[0].url: must be an https:// URL; got 'http://crm.example.com/hooks'",
            id="non-https-url",
        ),
        pytest.param(
            config_with(destination(url="https:///nohost")),
            "hookstack:tenants[0].destinations[0].url: must name a host; got 'https:///nohost'",
            id="url-without-host",
        ),
        pytest.param(
            config_with(destination(url="https://user:pw@example.com/")),
            "hookstack:tenants[0].destinations[0].url: must not carry credentials in the URL (use auth)",
            id="url-with-credentials",
        ),
        pytest.param(
            {"tenants": [{"id": "1"}, {"id": "1"}]},
            "hookstack:tenants[1].id: duplicate tenant id '1' (also at hookstack:tenants[0].id)",
            id="duplicate-tenant",
        ),
        pytest.param(
            config_with(destination(), destination()),
            "hookstack:tenants[0].destinations[1].name: duplicate destination name 'crm' (also at "
            "hookstack:tenants[0].destinations[0].name)",
            id="duplicate-destination",
        ),
        pytest.param(
            config_with(destination(name="CRM_1")),
            "hookstack:tenants[0].destinations[0].name: must be 1-32 characters of a-z, 0-9 and '-' (not at either end); got 'CRM_1'",
            id="bad-destination-name",
        ),
        pytest.param(
            config_with(destination(), tenant_id="tenant/1"),
            "hookstack:tenants[0].id: must be 1-64 characters of A-Z, a-z, 0-9, '_', '.', ':' and '-', starting with "
            "a letter or digit; got 'tenant/1'",
            id="bad-tenant-id",
        ),
        pytest.param(
            config_with(destination(auth={"type": "token"})),
            "hookstack:tenants[0].destinations[0].auth.type: must be one of apiKey, basic, oauth, bearer, signed, none; got 'token'",
            id="unknown-auth-type",
        ),
        pytest.param(
            config_with(destination(method="GET")),
            "hookstack:tenants[0].destinations[0].method: must be one of POST, PUT, PATCH; got 'GET'",
            id="unknown-method",
        ),
        pytest.param(
            config_with(destination(auth={"type": "apiKey", "header": "x-api-key"})),
            "hookstack:tenants[0].destinations[0].auth.value: is required (set it with `pulumi config set --secret "
            "--path 'tenants[0].destinations[0].auth.value' <value>`)",
            id="apikey-missing-secret",
        ),
        pytest.param(
            config_with(destination(auth={"type": "basic", "username": "u"})),
            "hookstack:tenants[0].destinations[0].auth.password: is required (set it with `pulumi config set "
            "--secret --path 'tenants[0].destinations[0].auth.password' <value>`)",
            id="basic-missing-password",
        ),
        pytest.param(
            config_with(
                destination(
                    auth={"type": "oauth", "authorizationEndpoint": "https://a.example.com/token", "clientId": "c"}
                )
            ),
            "hookstack:tenants[0].destinations[0].auth.clientSecret: is required (set it with `pulumi config set "
            "--secret --path 'tenants[0].destinations[0].auth.clientSecret' <value>`)",
            id="oauth-missing-secret",
        ),
        pytest.param(
            config_with(
                destination(
                    auth={
                        "type": "oauth",
                        "authorizationEndpoint": "http://a.example.com/token",
                        "clientId": "c",
                        "clientSecret": "s",
                    }
                )
            ),
            "hookstack:tenants[0].destinations[0].auth.authorizationEndpoint: must be an https:// URL; got "
            "'http://a.example.com/token'",
            id="oauth-endpoint-not-https",
        ),
        pytest.param(
            config_with(destination(auth={"type": "signed", "secret": "not-a-whsec"})),
            "hookstack:tenants[0].destinations[0].auth.secret: must be 'whsec_' followed by base64 (the value is not shown)",
            id="signed-bad-secret",
        ),
        pytest.param(
            config_with(destination(rateLimitPerSecond=0)),
            "hookstack:tenants[0].destinations[0].rateLimitPerSecond: must be between 1 and 300, got 0",
            id="rate-limit-too-low",
        ),
        pytest.param(
            config_with(destination(rateLimitPerSecond=301)),
            "hookstack:tenants[0].destinations[0].rateLimitPerSecond: must be between 1 and 300, got 301",
            id="rate-limit-too-high",
        ),
        pytest.param(
            config_with(destination(retry={"maxAttempts": 186})),
            "hookstack:tenants[0].destinations[0].retry.maxAttempts: must be between 0 and 185, got 186",
            id="retry-attempts-too-high",
        ),
        pytest.param(
            config_with(destination(retry={"maxAttempts": -1})),
            "hookstack:tenants[0].destinations[0].retry.maxAttempts: must be between 0 and 185, got -1",
            id="retry-attempts-negative",
        ),
        pytest.param(
            config_with(destination(retry={"maxEventAgeSeconds": 59})),
            "hookstack:tenants[0].destinations[0].retry.maxEventAgeSeconds: must be between 60 and 86400, got 59",
            id="event-age-too-low",
        ),
        pytest.param(
            config_with(destination(retry={"maxEventAgeSeconds": 86401})),
            "hookstack:tenants[0].destinations[0].retry.maxEventAgeSeconds: must be between 60 and 86400, got 86401",
            id="event-age-too-high",
        ),
        pytest.param(
            config_with(destination(rateLimitPerSecond=True)),
            "hookstack:tenants[0].destinations[0].rateLimitPerSecond: must be a whole number, got a boolean (True)",
            id="rate-limit-boolean",
        ),
        pytest.param(
            config_with(destination(transform={"paths": {"name": "detail.name"}, "template": '"<name>"'})),
            "hookstack:tenants[0].destinations[0].transform.paths.name: must be a JSONPath like $.detail.name, "
            "$.detail.items[0] or $.detail['a key']; got 'detail.name'",
            id="transform-path-without-dollar",
        ),
        pytest.param(
            config_with(destination(transform={"paths": {"name": "$.detail..name"}, "template": '"<name>"'})),
            "hookstack:tenants[0].destinations[0].transform.paths.name: must be a JSONPath like $.detail.name, "
            "$.detail.items[0] or $.detail['a key']; got '$.detail..name'",
            id="transform-path-double-dot",
        ),
        pytest.param(
            config_with(destination(transform={"paths": {"AWSname": "$.detail.name"}, "template": '"<AWSname>"'})),
            "hookstack:tenants[0].destinations[0].transform.paths.AWSname: key must be 1-64 characters of A-Z, a-z, "
            "0-9, '_' and '-', not starting 'AWS'",
            id="transform-key-reserved",
        ),
        pytest.param(
            config_with(destination(transform={"paths": {"name": "$.detail.name"}, "template": '{"x": "<nme>"}'})),
            "hookstack:tenants[0].destinations[0].transform.template: uses <nme>, which is neither a key of paths nor "
            "one of aws.events.event, aws.events.event.ingestion-time, aws.events.event.json, aws.events.rule-arn, "
            "aws.events.rule-name",
            id="transform-unknown-placeholder",
        ),
        pytest.param(
            config_with(destination(transform={"paths": {"name": "$.detail.name"}})),
            "hookstack:tenants[0].destinations[0].transform.template: is required",
            id="transform-missing-template",
        ),
        pytest.param(
            config_with(destination(eventTypes=["a", "a"])),
            "hookstack:tenants[0].destinations[0].eventTypes[1]: duplicate event type 'a' (also at "
            "hookstack:tenants[0].destinations[0].eventTypes[0])",
            id="duplicate-event-type",
        ),
        pytest.param(
            config_with(destination(colour="blue")),
            "hookstack:tenants[0].destinations[0].colour: unknown key; allowed keys: name, url, engine, method, "
            "eventTypes, filter, auth, signing, headers, transform, rateLimitPerSecond, timeoutSeconds, retry, enabled",
            id="unknown-destination-key",
        ),
        pytest.param(
            {"tenant": []},
            "hookstack:tenant: unknown key; allowed keys: tenants, provider, delivery, consumer, aurora, alarmEmail, eventTypes, portal, tracing",
            id="unknown-top-key",
        ),
        pytest.param(
            {"tenants": {"id": "1"}},
            "hookstack:tenants: must be a list of tenants, got a mapping",
            id="tenants-not-list",
        ),
        pytest.param(
            {"consumer": {"sources": [{"name": "gh", "kind": "gitlab", "secret": "s"}]}},
            f"hookstack:consumer.sources[0].kind: must be one of {', '.join(KIND_NAMES)}; got 'gitlab'",
            id="unknown-source-kind",
        ),
        pytest.param(
            {"consumer": {"sources": [{"name": "gh", "kind": "github"}]}},
            "hookstack:consumer.sources[0].secret: is required (set it with `pulumi config set --secret --path "
            "'consumer.sources[0].secret' <value>`)",
            id="source-missing-secret",
        ),
        pytest.param(
            {
                "consumer": {
                    "sources": [
                        {"name": "gh", "kind": "github", "secret": "a"},
                        {"name": "gh", "kind": "stripe", "secret": "b"},
                    ]
                }
            },
            "hookstack:consumer.sources[1].name: duplicate source name 'gh' (also at hookstack:consumer.sources[0].name)",
            id="duplicate-source",
        ),
        pytest.param(
            {"consumer": {"sources": [{"name": "gh", "kind": "github", "secret": "a", "orderingKey": "repo..id"}]}},
            "hookstack:consumer.sources[0].orderingKey: must be a dotted JSON path like repository.id; got 'repo..id'",
            id="bad-ordering-key",
        ),
        pytest.param(
            {"consumer": {"claimCheckThresholdBytes": 300_000}},
            "hookstack:consumer.claimCheckThresholdBytes: must be between 0 and 240000, got 300000",
            id="claim-check-over-entry-limit",
        ),
        pytest.param(
            {"consumer": {"maxReceiveCount": 3}},
            "hookstack:consumer.maxReceiveCount: must be between 5 and 1000, got 3",
            id="max-receive-count-too-low",
        ),
        pytest.param(
            {"consumer": {"enabled": True}},
            "hookstack:consumer.sources: must list at least one source when enabled is true (or set enabled: false)",
            id="consumer-enabled-without-sources",
        ),
        pytest.param(
            {"consumer": {"enabled": True, "sources": []}},
            "hookstack:consumer.sources: must list at least one source when enabled is true (or set enabled: false)",
            id="consumer-enabled-with-empty-sources",
        ),
        pytest.param(
            {"consumer": {"ingestReservedConcurrency": 0}},
            "hookstack:consumer.ingestReservedConcurrency: must be between 1 and 10000 (0 would refuse every webhook), "
            "or none to leave the function unreserved; got 0",
            id="ingest-reserved-concurrency-zero",
        ),
        pytest.param(
            {"consumer": {"ingestReservedConcurrency": "NONE"}},
            "hookstack:consumer.ingestReservedConcurrency: must be a whole number between 1 and 10000, or none to "
            "leave the function unreserved; got 'NONE'",
            id="ingest-reserved-concurrency-other-word",
        ),
        pytest.param(
            {"consumer": {"sources": [{"name": "std", "kind": "standard", "secret": "whsec_"}]}},
            "hookstack:consumer.sources[0].secret: must encode 24 to 64 bytes of key, got 0 (the value is not shown)",
            id="standard-secret-empty-key",
        ),
        pytest.param(
            {"aurora": {"engineVersion": "12.4"}},
            "hookstack:aurora.engineVersion: must be an Aurora PostgreSQL version 13..17 like 16.6; got '12.4'",
            id="aurora-old-engine",
        ),
        pytest.param(
            {"aurora": {"engineVersion": "15.2"}},
            "hookstack:aurora.engineVersion: must support the RDS Data API (13.11+, 14.8+, 15.3+, 16.1+, 17.4+); got '15.2'",
            id="aurora-no-data-api",
        ),
        pytest.param(
            {"aurora": {"minCapacity": 8, "maxCapacity": 4}},
            "hookstack:aurora.minCapacity: must not exceed maxCapacity (4.0)",
            id="aurora-capacity-order",
        ),
        pytest.param(
            {"aurora": {"vpcId": "vpc-1", "subnetIds": ["subnet-1"]}},
            "hookstack:aurora.subnetIds: needs at least two private subnets in different AZs when vpcId is set",
            id="aurora-one-subnet",
        ),
        pytest.param(
            {"aurora": {"lambdaNetworkPath": "internet"}},
            "hookstack:aurora.lambdaNetworkPath: must be one of endpoint, nat; got 'internet'",
            id="aurora-network-path",
        ),
        pytest.param(
            {"delivery": {"retryScheduleSeconds": [5, 0]}},
            "hookstack:delivery.retryScheduleSeconds[1]: must be a whole number of seconds between 1 and 43200, got 0",
            id="delivery-schedule",
        ),
        pytest.param(
            {"delivery": {"allowedCidrs": ["10.0.0.0/33"]}},
            "hookstack:delivery.allowedCidrs[0]: must be a CIDR like 10.0.0.0/8; got '10.0.0.0/33'",
            id="delivery-cidr",
        ),
        pytest.param(
            {"delivery": {"enabled": False}, **config_with(destination(auth={"type": "signed"}))},
            "hookstack:tenants[0].destinations[0].auth.type: is signed, but hookstack:delivery.enabled is false: "
            "nothing would deliver it (enable delivery, or use apiKey, basic, oauth or none)",
            id="signed-without-delivery",
        ),
        pytest.param(
            {"alarmEmail": "ops"}, "hookstack:alarmEmail: must be an email address; got 'ops'", id="alarm-email"
        ),
        pytest.param(
            {"provider": {"rulesPerBus": 5}},
            "hookstack:provider.rulesPerBus: must be between 20 and 2000, got 5",
            id="rules-per-bus",
        ),
    ],
)
def test_bad_input_is_reported_with_its_key_path(raw: dict[str, Any], expected: str) -> None:
    assert expected in problems(raw)


def test_every_problem_is_reported_at_once() -> None:
    raw = {
        "tenants": [
            {"id": "1", "destinations": [destination(url="http://a.example.com"), destination(rateLimitPerSecond=0)]},
            {"id": "1"},
        ],
        "consumer": {"sources": [{"name": "x", "kind": "nope", "secret": "s"}]},
    }
    found = problems(raw)
    assert any(p.startswith("hookstack:tenants[0].destinations[0].url:") for p in found)
    assert any(p.startswith("hookstack:tenants[0].destinations[1].rateLimitPerSecond:") for p in found)
    assert any(p.startswith("hookstack:tenants[0].destinations[1].name: duplicate") for p in found)
    assert any(p.startswith("hookstack:tenants[1].id: duplicate") for p in found)
    assert any(p.startswith("hookstack:consumer.sources[0].kind:") for p in found)
    assert len(found) == 5


def test_error_message_lists_each_problem_on_its_own_line() -> None:
    with pytest.raises(StackConfigError) as caught:
        parse_stack_config(config_with(destination(url="http://a.example.com", rateLimitPerSecond=0)))
    text = str(caught.value)
    assert text.startswith("2 problem(s) in the stack configuration:")
    assert "\n  - hookstack:tenants[0].destinations[0].url" in text


# --- limits AWS would reject at deploy time -----------------------------------------------------


def test_event_pattern_over_2048_characters_is_rejected() -> None:
    event_types = [f"widget.event-type-number-{i:04d}" for i in range(80)]
    message = only_problem(config_with(destination(eventTypes=event_types)))
    assert message.startswith("hookstack:tenants[0].destinations[0].eventTypes: makes an event pattern of ")
    assert "EventBridge allows 2048" in message


def test_event_pattern_just_under_the_limit_is_accepted() -> None:
    event_types = [f"widget.event-type-number-{i:04d}" for i in range(60)]
    config = parse_stack_config(config_with(destination(eventTypes=event_types)))
    assert len(config.tenants[0].destinations[0].event_types) == 60
    assert 2000 < len(to_json(event_pattern(config.tenants[0], config.tenants[0].destinations[0]))) <= 2048


def test_the_pattern_size_check_counts_the_redrive_clause() -> None:
    # Fits without the clause every rule carries for redrives, not with it: rejected.
    event_types = [f"widget.event-type-number-{i:04d}" for i in range(61)]
    without_clause = to_json({"detail": {"tenantId": ["1"]}, "detail-type": event_types})
    assert len(without_clause) <= 2048
    message = only_problem(config_with(destination(eventTypes=event_types)))
    assert message.startswith("hookstack:tenants[0].destinations[0].eventTypes: makes an event pattern of ")


def test_more_api_destinations_than_the_account_quota_is_rejected() -> None:
    tenants = [{"id": f"t{i}", "destinations": [destination(name=f"d{j}") for j in range(10)]} for i in range(301)]
    found = problems({"tenants": tenants})
    assert any("declare 3010 API destinations" in p for p in found)


def test_one_bus_that_cannot_hold_every_rule_is_rejected_when_sharding_is_off() -> None:
    tenants = [{"id": f"t{i}", "destinations": [destination()]} for i in range(301)]
    message = only_problem({"tenants": tenants, "provider": {"shards": 1}})
    assert message.startswith("hookstack:tenants: bus hookstack-dev would hold 302 rules; the quota is 300")


def test_a_shard_that_overflows_is_rejected_with_advice() -> None:
    tenants = [{"id": f"t{i}", "destinations": [destination()]} for i in range(150)]
    found = problems({"tenants": tenants, "provider": {"shards": 2, "rulesPerBus": 50}})
    assert found
    assert all(p.startswith("hookstack:provider.shards: bus hookstack-dev-shard-0") for p in found)
    assert all("the quota is 50: set hookstack:provider.shards to a larger number" in p for p in found)


def test_six_destinations_with_the_same_filter_never_share_a_rule() -> None:
    from components.plan import build_provider_plan

    config = parse_stack_config(config_with(*[destination(name=f"d{i}") for i in range(6)]))
    plan = build_provider_plan(config)
    rules = {d.key for d in plan.destinations}
    assert len(rules) == 6  # one rule per destination, one target per rule: the 5-target quota is unreachable


def test_consumer_defaults_reserve_ingest_concurrency_and_accept_none() -> None:
    source = {"name": "gh", "kind": "github", "secret": "s"}
    assert parse_stack_config({"consumer": {"sources": [source]}}).consumer.ingest_reserved_concurrency == 100
    assert (
        parse_stack_config(
            {"consumer": {"sources": [source], "ingestReservedConcurrency": "none"}}
        ).consumer.ingest_reserved_concurrency
        is None
    )
    # Disabled without sources is fine.
    assert not parse_stack_config({"consumer": {"enabled": False}}).consumer.enabled


@pytest.mark.parametrize("source", ["aws", "AWS", "aws.events", "Aws.hookstack", "", "Hook Stack", "a/b", "e" * 257])
def test_an_event_source_eventbridge_refuses_or_aws_reserves_is_refused(source: str) -> None:
    """`aws` is refused like the `aws.` prefix: hookstack would publish aws.aurora and aws.<source>."""
    message = only_problem({"provider": {"eventSource": source}})
    assert message.startswith("hookstack:provider.eventSource: must be 1-256 characters of A-Z, a-z, 0-9")
    assert "neither 'aws' nor starting with 'aws.'" in message


def test_the_event_sources_hookstack_derives_must_fit_eventbridge() -> None:
    from functions.inbound.target import MAX_EVENT_SOURCE_CHARS

    longest_alone = "e" * MAX_EVENT_SOURCE_CHARS
    assert parse_stack_config({"provider": {"eventSource": longest_alone}}).provider.event_source == longest_alone
    # <eventSource>.aurora: 249 + 7 characters fit, 250 + 7 do not.
    fits = "e" * (MAX_EVENT_SOURCE_CHARS - len(".aurora"))
    assert (
        parse_stack_config({"provider": {"eventSource": fits}, "aurora": {"enabled": True}}).provider.event_source
        == fits
    )
    message = only_problem({"provider": {"eventSource": fits + "e"}, "aurora": {"enabled": True}})
    assert message.startswith("hookstack:provider.eventSource: with aurora enabled, makes the event source 'eeee")
    assert message.endswith("which is 257 characters; EventBridge allows 1-256")
    # <eventSource>.<source name>, named at the source whose name is too long for this eventSource.
    sources = [
        {"name": "gh", "kind": "github", "secret": "s"},
        {"name": "shop-orders", "kind": "shopify", "secret": "s"},
    ]
    prefix = "e" * (MAX_EVENT_SOURCE_CHARS - len(".shop-orders") + 1)
    message = only_problem({"provider": {"eventSource": prefix}, "consumer": {"sources": sources}})
    assert message.startswith("hookstack:consumer.sources[1].name: with provider.eventSource, makes the event source")
    assert message.endswith("which is 257 characters; EventBridge allows 1-256")
    assert (
        len(
            parse_stack_config(
                {"provider": {"eventSource": prefix[1:]}, "consumer": {"sources": sources}}
            ).consumer.sources
        )
        == 2
    )


def test_event_source_rule_is_eventbridges() -> None:
    from components.config.provider import event_source_problem

    assert event_source_problem("hookstack.github") is None
    assert event_source_problem("x" * 256) is None
    assert event_source_problem("x" * 257) == "is 257 characters; EventBridge allows 1-256"
    assert event_source_problem("") == "is 0 characters; EventBridge allows 1-256"
    assert event_source_problem("aws.aurora") == "starts with 'aws.', which is reserved for AWS services' events"
    assert event_source_problem("hook\u200bstack") == "may only contain A-Z, a-z, 0-9, '.', '_' and '-'"


def test_config_objects_are_immutable() -> None:
    config = parse_stack_config(config_with(destination()))
    with pytest.raises(AttributeError):
        config.tenants[0].destinations[0].url = "https://evil.example.com"  # type: ignore[misc]


def test_secret_equality_does_not_leak_value() -> None:
    assert Secret("a") == Secret("a")
    assert Secret("a") != Secret("b")
    assert str(Secret("a")) == "Secret(***)"


def test_readme_documents_every_configuration_key() -> None:
    """The README's key table must name every key the parser accepts."""
    import components.config as config_module

    readme = (ROOT / "README.md").read_text()
    keys = set(config_module.DESTINATION_KEYS) | {
        "id",
        "destinations",
        "type",
        "header",
        "value",
        "username",
        "password",
        "authorizationEndpoint",
        "clientId",
        "clientSecret",
        "scope",
        "httpMethod",
        "secret",
        "token",
        "scheme",
        "maxAttempts",
        "maxEventAgeSeconds",
        "paths",
        "template",
        "busName",
        "eventSource",
        "archiveRetentionDays",
        "rulesPerBus",
        "shards",
        "timeoutSeconds",
        "retryScheduleSeconds",
        "disableAfterFailures",
        "historyTtlDays",
        "rotationOverlapHours",
        "allowedCidrs",
        "maxResponseBytes",
        "claimCheckThresholdBytes",
        "ingestReservedConcurrency",
        "dedupeTtlHours",
        "payloadRetentionDays",
        "maxReceiveCount",
        "enrichmentTimeoutSeconds",
        "target",
        "targetArn",
        "sources",
        "kind",
        "previousSecret",
        "orderingKey",
        "publicUrl",
        "eventTypePath",
        "engineVersion",
        "databaseName",
        "masterUsername",
        "minCapacity",
        "maxCapacity",
        "deletionProtection",
        "skipFinalSnapshot",
        "vpcId",
        "subnetIds",
        "vpcCidr",
        "lambdaNetworkPath",
        "sweepIntervalMinutes",
        "sweepGraceSeconds",
        "alarmEmail",
        "enabled",
    }
    from components.config.event_types import ENTRY_KEYS

    keys |= {"eventTypes", *ENTRY_KEYS}
    import re

    documented: set[str] = set()
    for line in readme.splitlines():
        cell = line.split("|")[1] if line.startswith("|") else ""
        for path in re.findall(r"`([^`]+)`", cell):
            documented.update(re.split(r"[.:\[\]]+", path))
    missing = sorted(keys - documented)
    assert not missing, f"README key table lacks: {missing}"
    # and no row documents a destination key the parser does not accept
    rows = set(re.findall(r"^\| `destinations\[\]\.([A-Za-z]+)", readme, re.M))
    assert rows == set(config_module.DESTINATION_KEYS), rows


def test_stack_file_yaml_round_trip_keeps_the_contract() -> None:
    document = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())
    raw = copy.deepcopy(document["config"])
    assert raw["aws:region"]
    assert all(k.startswith(("hookstack:", "aws:")) for k in raw)


# --- hookstack:delivery ---------------------------------------------------------------------------


def test_delivery_concurrency_bounds_default_and_parse() -> None:
    defaults = parse_stack_config({}).delivery
    assert (defaults.worker_max_concurrency, defaults.fanout_max_concurrency) == (20, 5)
    given = parse_stack_config({"delivery": {"workerMaxConcurrency": "2", "fanoutMaxConcurrency": 1000}}).delivery
    assert (given.worker_max_concurrency, given.fanout_max_concurrency) == (2, 1000)


@pytest.mark.parametrize(
    ("delivery", "expected"),
    [
        ({"workerMaxConcurrency": 1}, "hookstack:delivery.workerMaxConcurrency: must be between 2 and 1000, got 1"),
        (
            {"workerMaxConcurrency": 1001},
            "hookstack:delivery.workerMaxConcurrency: must be between 2 and 1000, got 1001",
        ),
        ({"fanoutMaxConcurrency": 0}, "hookstack:delivery.fanoutMaxConcurrency: must be between 2 and 1000, got 0"),
        ({"fanoutMaxConcurrency": True}, "hookstack:delivery.fanoutMaxConcurrency: must be"),
    ],
)
def test_delivery_concurrency_outside_what_lambda_accepts_is_named(delivery: dict[str, Any], expected: str) -> None:
    assert any(p.startswith(expected) for p in problems({"delivery": delivery}))


SIGNED_AUTH = {"type": "signed"}


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://169.254.169.254/latest/meta-data", "metadata"),
        ("https://[::ffff:0:a9fe:a9fe]/", "metadata"),
        ("https://[::FFFF:0:169.254.169.254]/", "metadata"),
        ("https://[64:ff9b::a00:1]/", "private"),
        ("https://[3fff::1]/", "documentation"),
        ("https://metadata.google.internal/", "internal name"),
        ("https://10.1.2.3/", "private"),
    ],
)
def test_a_signed_destination_the_ssrf_guard_refuses_is_a_config_error(url: str, reason: str) -> None:
    found = problems(config_with(destination(url=url, auth=SIGNED_AUTH), destination(name="ok", rateLimitPerSecond=0)))
    (problem,) = [p for p in found if p.startswith("hookstack:tenants[0].destinations[0].url: ")]
    assert reason in problem and "allowedCidrs" in problem
    assert any(p.startswith("hookstack:tenants[0].destinations[1].rateLimitPerSecond:") for p in found)  # all at once


def test_allowed_cidrs_and_local_mode_exempt_signed_destinations_as_the_worker_does() -> None:
    raw = {
        **config_with(destination(url="https://10.1.2.3/", auth=SIGNED_AUTH)),
        "delivery": {"allowedCidrs": ["10.0.0.0/8"]},
    }
    assert parse_stack_config(raw).tenants[0].destinations[0].url == "https://10.1.2.3/"
    local = config_with(destination(url="http://127.0.0.1:8080/hook", auth=SIGNED_AUTH))
    assert parse_stack_config(local, local=True).tenants[0].destinations[0].url == "http://127.0.0.1:8080/hook"
    assert any("loopback" in p for p in problems(config_with(destination(url="https://127.0.0.1/", auth=SIGNED_AUTH))))
    # API destinations are called by EventBridge, outside the account's network: not the worker's guard.
    assert parse_stack_config(config_with(destination(url="https://10.1.2.3/"))).tenants[0].destinations[0].url


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://169\u3002254\u3002169\u3002254/", "host 169.254.169.254 is the cloud instance metadata service"),
        ("https://\uff11\uff12\uff17.\uff10.\uff10.\uff11/", "host 127.0.0.1 is a loopback address"),
        ("https://\uff10\uff58\uff17\uff46.\uff11/", "non-canonical"),
    ],
)
def test_a_signed_destination_ip_literal_in_unicode_is_judged_as_the_address_it_maps_to(url: str, reason: str) -> None:
    # Review 10, item 12: mapped (as the resolver maps it) before the numeric-host test, not after.
    (problem,) = problems(config_with(destination(url=url, auth=SIGNED_AUTH)))
    assert problem.startswith("hookstack:tenants[0].destinations[0].url: ") and reason in problem


@pytest.mark.parametrize("auth", [SIGNED_AUTH, {"type": "none"}], ids=["signed", "api-destination"])
def test_a_destination_url_that_is_not_ascii_is_one_config_error_with_its_ascii_spelling(auth: dict[str, Any]) -> None:
    # Review 10, item 3: the worker cannot send it, and EventBridge's InvocationEndpoint pattern is ASCII.
    found = problems(config_with(destination(url="https://b\u00fccher.example.com/caf\u00e9?q=\u00fc", auth=auth)))
    assert found == [
        "hookstack:tenants[0].destinations[0].url: must be ASCII, but has '\u00fc' at position 9 (percent-encode the path "
        "and query as UTF-8 and write an international host name in its xn-- form: "
        "https://xn--bcher-kva.example.com/caf%C3%A9?q=%C3%BC)"
    ]
    ascii_url = "https://xn--bcher-kva.example.com/caf%C3%A9?q=%C3%BC"
    assert (
        parse_stack_config(config_with(destination(url=ascii_url, auth=auth))).tenants[0].destinations[0].url
        == ascii_url
    )


def test_a_destination_url_problem_is_reported_once_per_key() -> None:
    found = problems(config_with(destination(url="https://user:pw@hooks.example.com/", auth=SIGNED_AUTH)))
    assert found == ["hookstack:tenants[0].destinations[0].url: must not carry credentials in the URL (use auth)"]


@pytest.mark.parametrize(
    ("cidr", "reason"),
    [
        ("0.0.0.0/0", "covers public addresses, which need no exemption"),
        ("::/0", "covers public addresses"),
        ("2000::/3", "covers public addresses"),
        (
            "64:ff9b::/96",
            "overlaps the NAT64 range 64:ff9b::/96, whose addresses are judged by the IPv4 address they carry",
        ),
        ("2002::/16", "overlaps the 6to4 range"),
    ],
)
def test_an_allowed_cidr_covering_public_addresses_or_an_ipv4_carrying_form_is_a_config_error(
    cidr: str, reason: str
) -> None:
    # Review 10, item 4: the worker's rule (functions.delivery.ssrf.allowed_cidr_problem), at deploy.
    (problem,) = problems({"delivery": {"allowedCidrs": ["10.0.0.0/8", cidr]}})
    assert problem.startswith(f"hookstack:delivery.allowedCidrs[1]: '{cidr}' ") and reason in problem


def test_allowed_cidrs_inside_refused_ranges_are_accepted() -> None:
    cidrs = ["10.0.0.0/8", "169.254.0.0/16", "fd00::/8", "::1/128", "64:ff9b:1:abcd::/96"]
    assert parse_stack_config({"delivery": {"allowedCidrs": cidrs}}).delivery.allowed_cidrs == tuple(cidrs)


def test_readme_documents_every_delivery_key_the_parser_accepts() -> None:
    from components.config import DELIVERY_KEYS

    readme = (ROOT / "README.md").read_text()
    missing = [key for key in DELIVERY_KEYS if f"| `delivery.{key}` |" not in readme]
    assert not missing, f"README's hookstack:delivery table lacks: {missing}"


HMAC = {"header": "X-Sig", "algorithm": "sha256", "encoding": "hex"}


# A `$` anchor with re.match lets one trailing newline through ("crm\n" matched ^[a-z0-9-]+$): AWS
# refuses such names mid-deploy, and a header value ending in a newline is an injected line.
@pytest.mark.parametrize(
    ("raw", "key"),
    [
        (config_with(destination(name="crm\n")), "tenants[0].destinations[0].name"),
        (config_with(destination(headers={"x-team": "ops\n"})), "tenants[0].destinations[0].headers.x-team"),
        (config_with(destination(headers={"x-team\n": "ops"})), "tenants[0].destinations[0].headers.x-team\n"),
        (
            config_with(destination(auth={"type": "apiKey", "header": "x-api-key\n", "value": "k"})),
            "tenants[0].destinations[0].auth.header",
        ),
        (
            config_with(destination(transform={"paths": {"n": "$.detail.name\n"}, "template": "<n>"})),
            "tenants[0].destinations[0].transform.paths.n",
        ),
        (
            config_with(destination(transform={"paths": {"n\n": "$.detail.name"}, "template": "<n>"})),
            "tenants[0].destinations[0].transform.paths.n\n",
        ),
        ({"provider": {"busName": "orders\n"}}, "provider.busName"),
        ({"provider": {"eventSource": "acme\n"}}, "provider.eventSource"),
        ({"alarmEmail": "ops@example.com\n"}, "alarmEmail"),
        ({"portal": {"frameAncestors": ["https://app.example.com\n"]}}, "portal.frameAncestors[0]"),
        ({"aurora": {"engineVersion": "16\n"}}, "aurora.engineVersion"),
        ({"aurora": {"databaseName": "orders\n"}}, "aurora.databaseName"),
        ({"aurora": {"masterUsername": "owner\n"}}, "aurora.masterUsername"),
        (
            {"consumer": {"sources": [{"name": "gh\n", "kind": "github", "secret": "s"}]}},
            "consumer.sources[0].name",
        ),
        (
            {"consumer": {"sources": [{"name": "gh", "kind": "github", "secret": "s", "orderingKey": "repo.id\n"}]}},
            "consumer.sources[0].orderingKey",
        ),
        (
            {
                "consumer": {
                    "sources": [{"name": "gh", "kind": "github", "secret": "s"}],
                    "payloadStore": "s3express",
                    "payloadStoreZoneId": "use1-az4\n",
                }
            },
            "consumer.payloadStoreZoneId",
        ),
        *(
            (
                {"consumer": {"sources": [{"name": "x", "kind": "hmac", "secret": "s", "hmac": {**HMAC, key: value}}]}},
                f"consumer.sources[0].hmac.{key}",
            )
            for key, value in [
                ("header", "X-Sig\n"),
                ("prefix", "sha256=\n"),
                ("signatureParam", "h1\n"),
                ("signedContent", "{body}{header:X-Id\n}"),
            ]
        ),
    ],
)
def test_a_value_with_a_trailing_newline_is_refused_at_its_key(raw: dict[str, Any], key: str) -> None:
    assert any(p.startswith(f"hookstack:{key}: ") for p in problems(raw)), problems(raw)


def test_a_secret_of_the_wrong_type_is_refused_without_showing_its_value() -> None:
    # YAML reads an unquoted numeric key as a number: the type error must not print it.
    found = problems(config_with(destination(auth={"type": "apiKey", "header": "x-api-key", "value": 48151623})))
    assert found == [
        "hookstack:tenants[0].destinations[0].auth.value: must be a string (quote it in YAML), "
        "got a number (the value is not shown)"
    ]
    found = problems({"consumer": {"sources": [{"name": "gh", "kind": "github", "secret": 4815.1623}]}})
    assert all("4815" not in p for p in found) and found


def test_a_top_level_value_of_the_wrong_type_is_named_by_its_key() -> None:
    assert only_problem({"alarmEmail": ["ops@example.com"]}) == "hookstack:alarmEmail: must be a string, got a list"


OAUTH = {
    "type": "oauth",
    "authorizationEndpoint": "https://auth.example.com/token",
    "clientId": "c",
    "clientSecret": "s",
}


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://hooks.example.com/in#top", "'#' at position 28"),
        ("https://[2001:db8::1]/in", "'[' at position 8"),
        ('https://hooks.example.com/"q"', "'\"' at position 26"),
        ("https://hooks.example.com/a%zz", "'%' at position 27"),
        ("https://hooks.example.com/{id}", "'{' at position 26"),
        ("https://hooks.example.com/\x01", "'\\x01' at position 26"),
    ],
)
def test_an_api_destination_url_eventbridge_refuses_is_a_config_error(url: str, shown: str) -> None:
    # CreateApiDestination's InvocationEndpoint (and a connection's AuthorizationEndpoint) pattern:
    # ^((%[0-9A-Fa-f]{2}|[-()_.!~*';/?:@&=+$,A-Za-z0-9])+)([).!';/?:,])?$ , else a failure mid-deploy.
    (found,) = problems(config_with(destination(url=url, auth={"type": "none"})))
    assert found.startswith("hookstack:tenants[0].destinations[0].url: has a character EventBridge does not accept")
    assert shown in found
    (found,) = problems(config_with(destination(auth={**OAUTH, "authorizationEndpoint": url})))
    assert found.startswith("hookstack:tenants[0].destinations[0].auth.authorizationEndpoint: has a character")


def test_every_character_eventbridge_accepts_in_an_api_destination_url_is_accepted() -> None:
    url = "https://hooks.example.com:8443/a-(b)_c.d!e~f*g'h;i/j?k=l&m=%2F+n$o,p@q:r"
    config = parse_stack_config(config_with(destination(url=url, auth=OAUTH)))
    assert config.tenants[0].destinations[0].url == url
    assert config.tenants[0].destinations[0].is_worker is False


@pytest.mark.parametrize(
    ("auth", "key"),
    [
        ({"type": "basic", "username": "u" * 513, "password": "p"}, "username"),
        ({"type": "basic", "username": "u\tx\x01", "password": "p"}, "username"),
        ({"type": "basic", "username": "u", "password": "p\x7f"}, "password"),
        ({**OAUTH, "clientId": "c" * 513}, "clientId"),
        ({**OAUTH, "clientSecret": "s\x00"}, "clientSecret"),
        ({**OAUTH, "scope": "s" * 513}, "scope"),
        ({"type": "apiKey", "header": "x-api-key", "value": "k\x1b[0m"}, "value"),
    ],
)
def test_a_connection_parameter_eventbridge_refuses_is_a_config_error(auth: dict[str, Any], key: str) -> None:
    # EventBridge connection parameters: 1-512 characters without control characters.
    (found,) = problems(config_with(destination(auth=auth)))
    assert found.startswith(f"hookstack:tenants[0].destinations[0].auth.{key}: ")
    assert "\x01" not in found and "\x7f" not in found and "\x00" not in found and "\x1b" not in found


@pytest.mark.parametrize("engine", ["apiDestination", "worker"])
def test_two_destinations_whose_resource_names_would_collide_are_refused(engine: str) -> None:
    # Tenant 'a-b' destination 'c' and tenant 'a' destination 'b-c' were both named hookstack-a-b-c-*:
    # a duplicate URN at `pulumi up` (and one connection name for two tenants).
    raw = {
        "tenants": [
            {"id": "a-b", "destinations": [destination(name="c", engine=engine, auth={"type": "none"})]},
            {"id": "a", "destinations": [destination(name="b-c", engine=engine, auth={"type": "none"})]},
        ]
    }
    assert only_problem(raw) == (
        "hookstack:tenants[1].destinations[0].name: its resources would be named like those of tenant 'a-b' "
        "destination 'c' (a-b-c: the tenant id and the destination name joined by '-'); rename one of them"
    )
    raw["tenants"][1]["destinations"][0]["name"] = "bc"
    assert len(parse_stack_config(raw).tenants) == 2


def test_listed_tenants_whose_delivery_rules_alone_overflow_the_entry_bus_are_named_not_the_shards() -> None:
    # 20,000 covered tenants need 667 delivery rules on the entry bus: sharding moves API destination
    # rules only, so "set hookstack:provider.shards to a larger number" was advice that cannot work.
    tenants = [{"id": f"tenant-{i:05d}-" + "x" * 50, "selfService": True} for i in range(20_000)]
    found = only_problem({"delivery": {"apiTenants": "listed"}, "tenants": tenants})
    assert found == (
        "hookstack:delivery.apiTenants: bus hookstack-dev would hold 667 rules; the quota is 300: 667 are delivery "
        "rules for 20000 listed tenants, which no shard count moves (use apiTenants: all, or cover fewer tenants)"
    ), found


def test_the_same_subnet_twice_is_not_two_subnets() -> None:
    # A DB subnet group needs subnets in two Availability Zones: one subnet listed twice passed the count.
    found = problems({"aurora": {"vpcId": "vpc-1", "subnetIds": ["subnet-1", "subnet-1"]}})
    assert found == [
        "hookstack:aurora.subnetIds[1]: duplicate subnet 'subnet-1' (also at hookstack:aurora.subnetIds[0])",
        "hookstack:aurora.subnetIds: needs at least two private subnets in different AZs when vpcId is set",
    ]


def test_an_unquoted_major_minor_engine_version_is_refused_rather_than_misread() -> None:
    # YAML reads `engineVersion: 16.10` as the number 16.1: the stack pinned 16.1 without a word.
    assert only_problem({"aurora": {"engineVersion": 16.10}}) == (
        "hookstack:aurora.engineVersion: must be a string: quote it (YAML and `pulumi config set --path` read an "
        "unquoted 1.10 as the number 1.1); got the number 16.1"
    )
    assert parse_stack_config({"aurora": {"engineVersion": 16}}).aurora.engine_version == "16"
    assert parse_stack_config({"aurora": {"engineVersion": "16.10"}}).aurora.engine_version == "16.10"


def test_a_tenant_id_given_as_a_decimal_number_is_refused_rather_than_misread() -> None:
    # `id: 1.10` became the tenant "1.1": events carrying tenantId "1.10" never matched its rules.
    assert only_problem(config_with(destination(), tenant_id=1.10)) == (
        "hookstack:tenants[0].id: must be a string: quote it (YAML and `pulumi config set --path` read an "
        "unquoted 1.10 as the number 1.1); got the number 1.1"
    )


def test_a_string_key_read_as_a_boolean_says_to_quote_it() -> None:
    # `id: on` (or yes, no, off) is a boolean in YAML 1.1: "got a boolean (True)" left the user guessing.
    assert only_problem(config_with(destination(), tenant_id=True)) == (
        "hookstack:tenants[0].id: must be a string, got a boolean (True): YAML reads an unquoted yes, no, on, off, "
        "y, n, true or false as a boolean, so quote it"
    )
