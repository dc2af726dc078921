"""The self-service API of ``SignedDelivery``: the subscription API for tenant tokens (docs/tokens.md).

A second HTTP API in front of the same API function: an HTTP API route has exactly one authorization
type, so IAM callers keep the subscription API (``AWS_IAM`` routes) and token callers get this one,
whose routes use a JWT authorizer:

- issuer: this API's own URL, which serves ``/.well-known/openid-configuration`` and
  ``/.well-known/jwks.json`` (public routes): API Gateway reads ``jwks_uri`` from the first and
  the keys from the second (RSA only: tokens are RS256);
- audience: :data:`functions.delivery.tokens.AUDIENCE`;
- one route per route-table entry that has a scope, with ``authorization_scopes`` = that scope and
  ``operator`` (API Gateway admits a token holding one of them: 401 for an invalid token, 403 for a
  missing scope); IAM-only routes are not declared here at all;
- CORS for the portal's origins (``allowed_origins``): API Gateway answers preflight itself.

The handler then checks the path's tenant against the token's ``sub``
(:func:`functions.delivery.tokens.authorize`), as the sandbox does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.common import LambdaFunction, child
from components.delivery_api import ACCESS_LOG_FORMAT as IAM_ACCESS_LOG_FORMAT
from components.delivery_api import logged_stage, proxy_integration
from functions.delivery import routes, tokens

# The IAM API's access log with the token's subject and the authorizer's error instead of the IAM caller.
ACCESS_LOG_FORMAT = IAM_ACCESS_LOG_FORMAT.replace(
    '"caller":"$context.identity.userArn"',
    '"subject":"$context.authorizer.claims.sub","authorizerError":"$context.authorizer.error"',
)
JWT_IDENTITY_SOURCE = "$request.header.Authorization"


def self_service_http_api(
    name: str, parent: pulumi.ComponentResource, allowed_origins: Sequence[pulumi.Input[str]]
) -> aws.apigatewayv2.Api:
    """The API itself, declared before the function: its URL is the function's token issuer."""
    cors = None
    if allowed_origins:
        cors = aws.apigatewayv2.ApiCorsConfigurationArgs(
            allow_origins=list(allowed_origins),
            allow_headers=list(tokens.CORS_ALLOW_HEADERS),
            allow_methods=tokens.cors_methods(),
            max_age=tokens.CORS_MAX_AGE_SECONDS,
        )
    return aws.apigatewayv2.Api(
        f"{name}-self-service-http",
        protocol_type="HTTP",
        description="hookstack self-service API (tenant tokens: JWT authorizer, per-tenant paths)",
        cors_configuration=cors,
        opts=child(parent),
    )


@dataclass(frozen=True)
class SelfServiceApi:
    api: aws.apigatewayv2.Api
    integration: aws.apigatewayv2.Integration
    authorizer: aws.apigatewayv2.Authorizer
    routes: list[aws.apigatewayv2.Route]
    access_logs: aws.cloudwatch.LogGroup
    stage: aws.apigatewayv2.Stage
    permission: aws.lambda_.Permission


def self_service_api(
    name: str,
    parent: pulumi.ComponentResource,
    api: aws.apigatewayv2.Api,
    function: LambdaFunction,
    *,
    integration_timeout_ms: int,
) -> SelfServiceApi:
    integration = proxy_integration(f"{name}-self-service-integration", parent, api, function, integration_timeout_ms)
    authorizer = aws.apigatewayv2.Authorizer(
        f"{name}-token-authorizer",
        api_id=api.id,
        authorizer_type="JWT",
        name=f"{name}-tokens",
        identity_sources=[JWT_IDENTITY_SOURCE],
        jwt_configuration=aws.apigatewayv2.AuthorizerJwtConfigurationArgs(
            audiences=[tokens.AUDIENCE], issuer=api.api_endpoint
        ),
        opts=child(parent),
    )
    target = pulumi.Output.concat("integrations/", integration.id)
    declared, throttled = [], []
    for route in routes.ROUTES:
        if route.throttle and (route.public or route.scope is not None):
            throttled.append(route)
        logical = f"{name}-self-service-route-{route.action.replace('_', '-')}"
        if route.public:
            declared.append(
                aws.apigatewayv2.Route(
                    logical,
                    api_id=api.id,
                    route_key=route.key,
                    authorization_type="NONE",
                    target=target,
                    opts=child(parent),
                )
            )
        elif route.scope is not None:
            declared.append(
                aws.apigatewayv2.Route(
                    logical,
                    api_id=api.id,
                    route_key=route.key,
                    authorization_type="JWT",
                    authorizer_id=authorizer.id,
                    authorization_scopes=list(route.token_scopes),
                    target=target,
                    opts=child(parent),
                )
            )
    access_logs, stage, permission = logged_stage(
        parent,
        api,
        function,
        declared,
        throttled,
        logs=(f"{name}-self-service-access-logs", f"/aws/apigateway/hookstack/{name}-self-service-"),
        stage_name=f"{name}-self-service-stage",
        permission_name=f"{name}-self-service-permission",
        log_format=ACCESS_LOG_FORMAT,
    )
    return SelfServiceApi(api, integration, authorizer, declared, access_logs, stage, permission)
