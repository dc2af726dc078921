"""The self-service API under Pulumi mocks: the JWT authorizer, one route per token scope, CORS, the
issuer wiring and the API role's access to the token key secret (docs/tokens.md)."""

from __future__ import annotations

import fnmatch
import json
from pathlib import Path
from typing import Any

import pytest

from functions.delivery import routes, token_keys, tokens
from tests.components.test_delivery import config, random_bytes_in_mocks  # noqa: F401 (autouse fixture)
from tests.harness import Program

ROUTE = "aws:apigatewayv2/route:Route"


@pytest.fixture(scope="module")
def deployed() -> Program:
    from tests import harness

    return harness.run_program(config(), secret_keys=[])


def _self_service(deployed: Program) -> Any:
    return deployed.named("hookstack-delivery-self-service-http")


def _on(api: Any) -> Any:
    return lambda resource: resource["apiId"] == f"{api.physical_name}-id"


def test_the_authorizer_is_a_jwt_authorizer_whose_issuer_is_the_api_itself(deployed: Program) -> None:
    api = _self_service(deployed)
    assert api["protocolType"] == "HTTP"
    authorizer = deployed.one("aws:apigatewayv2/authorizer:Authorizer")
    assert authorizer["apiId"] == f"{api.physical_name}-id"
    assert authorizer["authorizerType"] == "JWT"
    assert authorizer["identitySources"] == ["$request.header.Authorization"]
    assert authorizer["jwtConfiguration"]["issuer"] == api.state["apiEndpoint"]
    assert authorizer["jwtConfiguration"]["audiences"] == [tokens.AUDIENCE]
    # The function signs with the same issuer, and the URL is exported.
    variables = deployed.named("hookstack-delivery-api-fn")["environment"]["variables"]
    assert variables["DELIVERY_TOKEN_ISSUER"] == api.state["apiEndpoint"]
    assert deployed.outputs["selfServiceApiUrl"] == api.state["apiEndpoint"]
    assert deployed.outputs["selfServiceApiUrl"] != deployed.outputs["subscriptionsApiUrl"]


def test_each_token_route_needs_its_scope_or_operator_and_iam_only_routes_are_absent(deployed: Program) -> None:
    api = _self_service(deployed)
    authorizer = deployed.one("aws:apigatewayv2/authorizer:Authorizer")
    integration = deployed.one("aws:apigatewayv2/integration:Integration", _on(api))
    assert integration["integrationUri"] == deployed.named("hookstack-delivery-api-fn").state["invokeArn"]
    declared = {r["routeKey"]: r for r in deployed.of_type(ROUTE) if _on(api)(r)}
    expected = {route.key for route in routes.ROUTES if route.scope is not None or route.public}
    assert set(declared) == expected
    assert "POST /operator/tokens" not in declared  # only IAM mints operator tokens
    for route in routes.ROUTES:
        if route.key not in declared:
            continue
        found = declared[route.key]
        assert found["target"].startswith("integrations/hookstack-delivery-self-service-integration-")
        if route.public:
            assert found["authorizationType"] == "NONE"
            assert "authorizationScopes" not in found.inputs or not found["authorizationScopes"]
        else:
            assert found["authorizationType"] == "JWT"
            assert found["authorizerId"] == f"{authorizer.physical_name}-id"
            scopes = routes.TENANT_SCOPES if route.scope == routes.ANY_SCOPE else (route.scope,)
            assert found["authorizationScopes"] == sorted({*scopes, routes.OPERATOR_SCOPE})
    # The mint route takes operator tokens only; tenant routes their own scope.
    # Any token reads the event-type catalog; the OpenAPI document needs none.
    assert declared["GET /event-types"]["authorizationScopes"] == sorted({*routes.TENANT_SCOPES, "operator"})
    assert declared["GET /openapi.json"]["authorizationType"] == "NONE"
    assert declared["POST /tenants/{tenantId}/tokens"]["authorizationScopes"] == ["operator"]
    assert declared["GET /tenants/{tenantId}/endpoints"]["authorizationScopes"] == ["endpoints:read", "operator"]
    assert declared["POST /tenants/{tenantId}/messages/{eventId}/resend"]["authorizationScopes"] == [
        "messages:replay",
        "operator",
    ]


def test_the_stage_is_throttled_and_logs_the_subject_and_the_permission_is_this_api_s(deployed: Program) -> None:
    api = _self_service(deployed)
    stage = deployed.one("aws:apigatewayv2/stage:Stage", _on(api))
    assert stage["name"] == "$default" and stage["autoDeploy"] is True
    assert stage["defaultRouteSettings"]["throttlingRateLimit"] > 0
    log_format = json.loads(stage["accessLogSettings"]["format"])
    assert log_format["subject"] == "$context.authorizer.claims.sub"
    assert log_format["authorizerError"] == "$context.authorizer.error"
    permission = deployed.named("hookstack-delivery-self-service-permission")
    assert permission["principal"] == "apigateway.amazonaws.com"
    assert permission["sourceArn"] == api.state["executionArn"] + "/*/*"
    assert "corsConfiguration" not in api.inputs or not api["corsConfiguration"]  # no portal origins given


def test_the_api_role_may_make_and_read_the_token_key_secret_and_no_other_role_may(deployed: Program) -> None:
    table = deployed.one("aws:dynamodb/table:Table")
    secret_arn = (
        f"arn:aws:secretsmanager:us-east-1:123456789012:secret:{token_keys.secret_name(table.physical_name)}-AbCdEf"
    )

    def allowed(part: str) -> set[str]:
        policy = deployed.one("aws:iam/rolePolicy:RolePolicy", lambda r: f"delivery-{part}-fn-policy" in r.name)
        actions: set[str] = set()
        for statement in policy.json("policy")["Statement"]:
            resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            if any(fnmatch.fnmatchcase(secret_arn, pattern) for pattern in resources):
                actions.update(statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]])
        return actions

    assert {"secretsmanager:CreateSecret", "secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue"} <= allowed(
        "api"
    )
    assert allowed("fanout") == set()


def test_cors_allows_the_portal_origins_the_bearer_header_and_the_token_routes_methods(tmp_path: Path) -> None:
    from sandbox import preview

    program = tmp_path / "program.py"
    program.write_text(
        "import pulumi\n"
        "from components.delivery_self_service import self_service_http_api\n"
        "parent = pulumi.ComponentResource('test:index:Parent', 'parent')\n"
        "self_service_http_api('portal-test', parent, ['https://portal.example.com'])\n"
    )
    deployed = preview.run_program({}, program=program)
    cors = deployed.named("portal-test-self-service-http")["corsConfiguration"]
    assert cors["allowOrigins"] == ["https://portal.example.com"]
    assert cors["allowHeaders"] == ["authorization", "content-type"]
    assert cors["allowMethods"] == sorted({r.method for r in routes.ROUTES if r.scope is not None or r.public})
    assert {"GET", "POST", "PATCH", "DELETE"} <= set(cors["allowMethods"])
    assert cors.get("allowCredentials") in (None, False)  # bearer tokens, no cookies
