"""Tenant scoping of the subscription API: the IAM policy a tenant's caller gets, evaluated against
request ARNs of other tenants (plain, prefix-sharing, percent-encoded), and the handler refusing what
such a policy could let through.

API Gateway authorizes ``execute-api:Invoke`` on ``<execution-arn>/<stage>/<METHOD>/<resource-path>``
(API Gateway developer guide, "Control access for invoking an API"). The guide does not say whether
the resource path is the raw request path or its percent-decoded form, and HTTP APIs decode paths
before matching routes, so every request below is evaluated both ways.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import unquote

import pytest

from components.config import TENANT_ID_RE as CONFIG_TENANT_ID_RE
from functions.delivery import api, routes
from tests.functions.delivery.conftest import DeliveryStack

EXECUTION_ARN = "arn:aws:execute-api:us-east-1:123456789012:a1b2c3d4e5"
URL = "https://hooks.example.com/webhooks"


def iam_allows(policy: dict[str, Any], arn: str) -> bool:
    """IAM resource matching: ``*`` is any run of characters ("/" included), ``?`` one character."""
    for statement in policy["Statement"]:
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        for resource in resources:
            pattern = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in resource)
            if statement["Effect"] == "Allow" and re.fullmatch(pattern, arn, re.S):
                return True
    return False


def request_arns(method: str, raw_path: str) -> set[str]:
    """The ARN API Gateway may authorize: built from the raw path or from its decoded form."""
    return {f"{EXECUTION_ARN}/$default/{method}{path}" for path in (raw_path, unquote(raw_path))}


# What a careless operator might grant instead: every method and stage under the tenant's prefix.
LOOSE = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": f"{EXECUTION_ARN}/*/*/tenants/acme/*"}
    ],
}

ATTACKS = [
    ("GET", "/tenants/acme2/endpoints"),  # a tenant whose id starts with the caller's
    ("GET", "/tenants/acme2/endpoints/ep_0123456789abcdef0123456789ab"),
    ("GET", "/tenants/other/endpoints"),
    ("POST", "/tenants/other/endpoints"),
    ("GET", "/tenants/other/messages/evt_1"),
    ("POST", "/tenants/other/messages/evt_1/resend"),
    ("GET", "/tenants/ACME/endpoints"),  # ids are case-sensitive
    ("GET", "/tenants/%61cme/endpoints"),  # percent-encoded letters of the caller's own id
    ("GET", "/tenants/%6Fther/endpoints"),  # ... and of another tenant's
    ("GET", "/tenants/acme%2F..%2Fother/endpoints"),
    ("GET", "/tenants/acme/endpoints%2F..%2F..%2Fother%2Fendpoints"),
    ("GET", "/tenants/acme/messages/x%2F..%2F..%2Fother%2Fendpoints"),
    ("POST", "/tenants/acme/messages/x%2F..%2F..%2Fother%2Fmessages%2Fevt_1/resend"),
    ("GET", "/tenants/acme/endpoints/ep_0123456789abcdef0123456789ab%2F..%2F..%2F..%2Fother%2Fendpoints"),
    ("DELETE", "/tenants/acme/endpoints/cfg_x%252F..%252F..%252F..%252Fother"),  # double-encoded
    ("GET", "/tenants/acme/messages/evt%2Etenants%2Eother"),
    ("POST", "/tenants/other/messages/x%2Ftenants%2Facme%2Fy/resend"),  # "/tenants/acme/" inside an id
    ("GET", "/tenants/other/endpoints/cfg_a%2Ftenants%2Facme%2Fattempts"),
]


def test_the_policy_names_exactly_the_routes_under_the_tenants_own_segment() -> None:
    policy = routes.tenant_policy(EXECUTION_ARN, "acme")
    (statement,) = policy["Statement"]
    assert statement["Action"] == "execute-api:Invoke" and statement["Effect"] == "Allow"
    prefix = f"{EXECUTION_ARN}/$default/"
    assert len(statement["Resource"]) == len(routes.TENANT_ROUTES)
    for resource, route in zip(statement["Resource"], routes.TENANT_ROUTES, strict=True):
        assert resource.startswith(f"{prefix}{route.method}/tenants/acme/")
        # The only wildcards stand for ids after the tenant's segment.
        assert "*" not in resource[: len(f"{prefix}{route.method}/tenants/acme/")]


@pytest.mark.parametrize(("method", "path"), ATTACKS)
def test_the_tenant_policy_never_allows_another_tenants_route(method: str, path: str) -> None:
    policy = routes.tenant_policy(EXECUTION_ARN, "acme")
    for arn in request_arns(method, path):
        if iam_allows(policy, arn):
            # Only the decoded reading of an encoded path can match, and it names acme's own prefix.
            assert "%" in path and arn.startswith(f"{EXECUTION_ARN}/$default/{method}/tenants/acme/"), arn


@pytest.mark.parametrize("policy", [routes.tenant_policy(EXECUTION_ARN, "acme"), LOOSE], ids=["exact", "loose"])
def test_the_handler_refuses_every_encoded_or_foreign_request_the_policy_lets_through(
    stack: DeliveryStack, policy: dict[str, Any]
) -> None:
    other = stack.create_endpoint("other", URL)
    mine = stack.create_endpoint("acme", URL)
    let_through = [(m, p) for m, p in ATTACKS if any(iam_allows(policy, arn) for arn in request_arns(m, p))]
    assert let_through, "the attack list must exercise what IAM can allow"

    for method, path in let_through:
        status, document = stack.api(method, path, {} if method in ("POST", "PATCH") else None)
        # Refused before any action runs: an encoded id (400), or no route in the raw path (404).
        refusal = (status, document["error"]["code"])
        assert refusal in ((400, "validation_error"), (404, "not_found")), (method, path, status, document)
        assert "percent-encoded" in document["error"]["message"] or "no route" in document["error"]["message"]

    # Nothing of the other tenant was read or changed, the caller's own data is intact.
    assert stack.api("GET", f"/tenants/other/endpoints/{other['id']}")[0] == 200
    assert [e["id"] for e in stack.api("GET", "/tenants/acme/endpoints")[1]["data"]] == [mine["id"]]


def test_a_wildcard_before_the_tenant_lets_iam_match_another_tenants_path_which_the_handler_refuses(
    stack: DeliveryStack,
) -> None:
    # IAM's "*" spans "/": with the method left as "*", the decoded reading of another tenant's path
    # that carries "/tenants/acme/" inside an encoded id matches acme's policy.
    method, path = "POST", "/tenants/other/messages/x%2Ftenants%2Facme%2Fy/resend"
    assert iam_allows(LOOSE, f"{EXECUTION_ARN}/$default/{method}{unquote(path)}")
    assert not any(iam_allows(routes.tenant_policy(EXECUTION_ARN, "acme"), arn) for arn in request_arns(method, path))
    status, document = stack.api(method, path, {})
    assert status == 400 and document["error"]["field"] == "eventId"


def test_plain_requests_for_the_callers_tenant_are_allowed_and_served(stack: DeliveryStack) -> None:
    policy = routes.tenant_policy(EXECUTION_ARN, "acme")
    created = stack.create_endpoint("acme", URL)
    for method, path in (
        ("GET", "/tenants/acme/endpoints"),
        ("GET", f"/tenants/acme/endpoints/{created['id']}"),
        ("GET", "/tenants/acme/attempts"),
    ):
        assert all(iam_allows(policy, arn) for arn in request_arns(method, path))
        assert stack.api(method, path)[0] == 200


def test_tenant_ids_with_colons_and_dots_stay_literal_in_the_policy() -> None:
    policy = routes.tenant_policy(EXECUTION_ARN, "org:1.eu")
    assert iam_allows(policy, f"{EXECUTION_ARN}/$default/GET/tenants/org:1.eu/endpoints")
    assert not iam_allows(policy, f"{EXECUTION_ARN}/$default/GET/tenants/org:1.eu2/endpoints")
    for bad in ("a*", "a?", "${aws:username}", "a/b", "a%2Fb", "", "acme\n"):
        with pytest.raises(ValueError, match="not a valid tenant id"):
            routes.tenant_policy(EXECUTION_ARN, bad)


def test_api_gateways_own_path_parameters_must_match_the_raw_path(stack: DeliveryStack) -> None:
    event = {
        "version": "2.0",
        "rawPath": "/tenants/acme/endpoints",
        "pathParameters": {"tenantId": "other"},
        "requestContext": {"http": {"method": "GET", "path": "/tenants/acme/endpoints"}, "requestId": "r1"},
    }
    response = api.handler(event)
    assert response["statusCode"] == 400 and json.loads(response["body"])["error"]["field"] == "tenantId"
    event["pathParameters"] = {"tenantId": "acme"}
    assert api.handler(event)["statusCode"] == 200


def test_the_router_and_the_config_share_one_tenant_id_rule() -> None:
    assert routes.TENANT_ID_RE.pattern == CONFIG_TENANT_ID_RE.pattern
    assert api.TENANT_ID_RE is routes.TENANT_ID_RE


def test_the_policy_in_the_docs_is_the_one_tenant_policy_builds() -> None:
    from pathlib import Path

    text = (Path(__file__).resolve().parents[3] / "docs" / "delivery.md").read_text()
    block = text.split("<!-- tenant-policy:42", 1)[1].split("```json\n", 1)[1].split("```", 1)[0]
    expected = routes.tenant_policy("arn:aws:execute-api:us-east-1:123456789012:<api-id>", "42")
    assert json.loads(block) == expected
