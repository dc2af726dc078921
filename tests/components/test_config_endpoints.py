"""The endpoint model in the stack config (docs/endpoints.md): the engine each destination gets, every
new key's validation naming its key path, and what each engine is handed (rule pattern, connection,
worker endpoint options). Pure functions: no Pulumi, no AWS."""

from __future__ import annotations

from typing import Any

import pytest

from components.config import BearerAuth, NoAuth, StackConfigError, parse_stack_config
from components.plan import connection_auth, event_pattern
from components.specs.delivery import auth_secret, endpoint_options
from components.stack import load_stack

URL = "https://crm.example.com/hooks"
PATH = "hookstack:tenants[0].destinations[0]"
WHSEC = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo="


def stack(**destination: Any) -> dict[str, Any]:
    return {"tenants": [{"id": "1", "destinations": [{"name": "crm", "url": URL, **destination}]}]}


def problems(raw: dict[str, Any]) -> list[str]:
    with pytest.raises(StackConfigError) as caught:
        load_stack(raw, stack="dev")
    return [str(p) for p in caught.value.problems]


def destination(**fields: Any) -> Any:
    return parse_stack_config(stack(**fields)).tenants[0].destinations[0]


@pytest.mark.parametrize(
    ("fields", "engine"),
    [
        ({"auth": {"type": "none"}}, "apiDestination"),
        ({"auth": {"type": "apiKey", "header": "x-api-key", "value": "k"}, "headers": {"x-a": "b"}}, "apiDestination"),
        ({"auth": {"type": "none"}, "filter": {"detail": {"a": [1]}}}, "apiDestination"),
        ({"auth": {"type": "none"}, "timeoutSeconds": 20}, "worker"),
        ({"auth": {"type": "none"}, "signing": {"scheme": "v1"}}, "worker"),
        ({"auth": {"type": "signed"}}, "worker"),
        ({"auth": {"type": "none"}, "engine": "worker"}, "worker"),
        ({"auth": {"type": "bearer", "token": "t"}, "engine": "apiDestination"}, "apiDestination"),
    ],
)
def test_the_engine_defaults_to_api_destination_unless_a_worker_only_key_is_set(
    fields: dict[str, Any], engine: str
) -> None:
    parsed = destination(**fields)
    assert parsed.engine == engine
    # Every worker endpoint signs (v1 by default); an API destination never does.
    assert (parsed.signing is not None) == (engine == "worker")


def test_legacy_signed_auth_is_a_worker_with_signing_and_no_auth() -> None:
    parsed = destination(auth={"type": "signed", "secret": WHSEC})
    assert isinstance(parsed.auth, NoAuth) and parsed.signing.secret.reveal() == WHSEC
    assert parsed.signing.scheme == "v1"


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"engine": "lambda"}, f"{PATH}.engine: must be one of apiDestination, worker; got 'lambda'"),
        ({"engine": "apiDestination", "timeoutSeconds": 10}, f"{PATH}.timeoutSeconds: needs engine worker"),
        ({"engine": "apiDestination", "signing": {"scheme": "v1"}}, f"{PATH}.signing: needs engine worker"),
        ({"engine": "worker", "retry": {"maxAttempts": 1}}, f"{PATH}.retry: applies to engine apiDestination only"),
        ({"timeoutSeconds": 61}, f"{PATH}.timeoutSeconds: must be"),
        ({"timeoutSeconds": 0}, f"{PATH}.timeoutSeconds: must be"),
        ({"engine": "worker", "signing": {"scheme": "v2"}}, f"{PATH}.signing.scheme: must be one of v1, v1a"),
        ({"engine": "worker", "signing": {"secret": "nope"}}, f"{PATH}.signing.secret: must be 'whsec_'"),
        ({"engine": "worker", "signing": {"previousSecret": WHSEC}}, f"{PATH}.signing.previousSecret: needs secret"),
        ({"eventTypes": ["invoice*"]}, f"{PATH}.eventTypes[0]: "),
        ({"eventTypes": ["*"]}, f"{PATH}.eventTypes[0]: "),
        ({"filter": {"detail": {"x": [{"contains": "a"}]}}}, f"{PATH}.filter.detail.x[0]: "),
        ({"filter": {"detail": {"tenantId": ["2"]}}}, f"{PATH}.filter.detail.tenantId: is reserved"),
        ({"filter": {"detail": {"hookstackRedrive": ["x"]}}}, f"{PATH}.filter.detail.hookstackRedrive: is reserved"),
        ({"filter": {"detail-type": ["a"]}, "eventTypes": ["a"]}, f"{PATH}.filter.detail-type: cannot be combined"),
        # A leaf on detail cannot be ANDed with the rule's detail.tenantId (was a PatternConflict traceback).
        ({"filter": {"detail": ["x"]}}, f"{PATH}.filter.detail: must be an object of detail fields"),
        ({"engine": "worker", "filter": {"detail": [{"exists": True}]}}, f"{PATH}.filter.detail: must be an object"),
        ({"headers": {"Content-Length": "1"}}, f"{PATH}.headers.Content-Length: is reserved"),
        ({"headers": {"webhook-id": "x"}}, f"{PATH}.headers.webhook-id: is reserved"),
        ({"headers": {"x-team": "a\r\nb"}}, f"{PATH}.headers.x-team: must be visible ASCII"),
        (
            {"auth": {"type": "apiKey", "header": "x-api-key", "value": "k"}, "headers": {"X-API-KEY": "v"}},
            f"{PATH}.headers.X-API-KEY: is set by the endpoint's auth",
        ),
        ({"auth": {"type": "apiKey", "header": "Host", "value": "k"}}, f"{PATH}.auth.header: is reserved"),
        (
            {"engine": "worker", "transform": {"paths": {}, "template": '{"r": "<aws.events.rule-arn>"}'}},
            f"{PATH}.transform.template: uses <aws.events.rule-arn>, which only an API destination fills in",
        ),
        ({"transform": {"paths": {"n": "$.detail[*]"}, "template": "<n>"}}, f"{PATH}.transform.paths.n: must be"),
        ({"auth": {"type": "bearer"}}, f"{PATH}.auth.token: is required"),
        (
            {"auth": {"type": "signed"}, "signing": {"scheme": "v1"}},
            f"{PATH}.signing: cannot be combined with auth.type signed",
        ),
        (
            {"engine": "apiDestination", "auth": {"type": "signed"}},
            f"{PATH}.auth.type: is signed, which means engine worker",
        ),
    ],
)
def test_each_bad_key_is_reported_with_its_key_path(fields: dict[str, Any], expected: str) -> None:
    found = problems(stack(**{"auth": {"type": "none"}, **fields}))
    assert any(p.startswith(expected) for p in found), found


# Each field alone is valid and the filter itself is 2,018 characters; with the tenant and redrive
# clauses the API destination's rule pattern would exceed EventBridge's 2,048.
BIG_FILTER = {"detail": {f"field{i}": [f"value-{i:04d}-" + "x" * 30] for i in range(36)}}


def test_a_filter_only_the_worker_can_hold_makes_the_default_engine_worker() -> None:
    parsed = destination(auth={"type": "none"}, filter=BIG_FILTER)
    assert parsed.engine == "worker" and parsed.filter == BIG_FILTER and parsed.signing is not None
    # a smaller filter keeps the default
    small = {"detail": dict(list(BIG_FILTER["detail"].items())[:5])}
    assert destination(auth={"type": "none"}, filter=small).engine == "apiDestination"


def test_an_explicit_api_destination_whose_rule_pattern_overflows_names_the_filter() -> None:
    (problem,) = problems(stack(auth={"type": "none"}, filter=BIG_FILTER, engine="apiDestination"))
    assert problem.startswith(f"{PATH}.filter: makes an event pattern of ")
    assert "EventBridge allows 2048" in problem and "engine: worker" in problem


def test_a_worker_implied_by_its_filter_on_a_stack_without_delivery_names_the_filter() -> None:
    raw = {**stack(auth={"type": "none"}, filter=BIG_FILTER), "delivery": {"enabled": False}}
    (problem,) = problems(raw)
    assert problem.startswith(f"{PATH}.filter: needs engine worker, but hookstack:delivery.enabled is false")


def test_an_api_destination_rule_carries_wildcards_and_the_filter() -> None:
    parsed = parse_stack_config(
        stack(auth={"type": "none"}, eventTypes=["invoice.*", "order.created"], filter={"detail": {"n": [1]}})
    )
    tenant = parsed.tenants[0]
    pattern = event_pattern(tenant, tenant.destinations[0])
    assert pattern["detail-type"] == [{"prefix": "invoice."}, "order.created"]
    assert pattern["detail"]["n"] == [1] and pattern["detail"]["tenantId"] == ["1"]


def test_bearer_is_an_api_key_connection_on_authorization_and_the_worker_stores_the_token_apart() -> None:
    parsed = parse_stack_config(stack(auth={"type": "bearer", "token": "tok-123"}))
    tenant, crm = parsed.tenants[0], parsed.tenants[0].destinations[0]
    assert isinstance(crm.auth, BearerAuth) and "tok-123" not in repr(crm)
    connection = connection_auth(tenant, crm)
    assert connection.authorization_type == "API_KEY" and connection.parameters["key"] == "Authorization"
    assert connection.parameters["value"].reveal() == "Bearer tok-123"

    worker = destination(
        auth={"type": "bearer", "token": "tok-123"}, engine="worker", timeoutSeconds=30, headers={"x-team": "b"}
    )
    options = endpoint_options(worker)
    assert options.auth.type == "bearer" and "tok-123" not in repr(options.item_attributes())
    assert options.timeout_seconds == 30 and dict(options.headers) == {"x-team": "b"}
    assert auth_secret(worker) == "tok-123"


def test_a_filter_nested_beyond_the_recursion_limit_is_one_problem_not_a_traceback() -> None:
    # An event pattern holds at most 2,048 characters (some 340 levels); 3,000 levels raised RecursionError.
    deep: dict[str, Any] = {"x": ["a"]}
    for _ in range(3000):
        deep = {"a": deep}
    found = problems(stack(auth={"type": "none"}, filter={"detail": deep}))
    assert found == [f"{PATH}.filter: is nested too deeply (an event pattern may have 2048 characters)"]
