"""The subscription API of ``SignedDelivery``: an API Gateway HTTP API in front of the API function.

One IAM-authorized route per entry of the route table (:mod:`functions.delivery.routes`), an
``AWS_PROXY`` integration (payload 2.0), the ``$default`` stage with access logs and throttling, and
the permission for API Gateway to invoke the function. IAM on HTTP API routes can be scoped to
``/tenants/<id>/*`` in the caller's policy; a function URL's ``AWS_IAM`` is all-or-nothing.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.common import LambdaFunction, child, retained_log_group
from functions.delivery import routes

API_THROTTLE_RATE, API_THROTTLE_BURST = 50, 100
ACCESS_LOG_FORMAT = json.dumps(
    {
        "requestId": "$context.requestId",
        "ip": "$context.identity.sourceIp",
        "caller": "$context.identity.userArn",
        "routeKey": "$context.routeKey",
        "status": "$context.status",
        "responseLength": "$context.responseLength",
        "integrationLatency": "$context.integrationLatency",
        "error": "$context.integrationErrorMessage",
    },
    separators=(",", ":"),
)


@dataclass(frozen=True)
class SubscriptionApi:
    api: aws.apigatewayv2.Api
    """The HTTP API (its ``api_endpoint`` is the base URL)."""
    integration: aws.apigatewayv2.Integration
    """``AWS_PROXY`` to the API function, payload format 2.0."""
    routes: list[aws.apigatewayv2.Route]
    """One IAM-authorized route per entry of :data:`functions.delivery.routes.ROUTES`."""
    access_logs: aws.cloudwatch.LogGroup
    """The stage's access log group."""
    stage: aws.apigatewayv2.Stage
    """The ``$default`` stage (auto-deployed, throttled, access-logged)."""
    permission: aws.lambda_.Permission
    """Lets API Gateway (this API only) invoke the function."""


def subscription_api(
    name: str, parent: pulumi.ComponentResource, function: LambdaFunction, *, integration_timeout_ms: int
) -> SubscriptionApi:
    """The HTTP API's resources, children of ``parent`` and named ``<name>-...``."""
    api = aws.apigatewayv2.Api(
        f"{name}-http",
        protocol_type="HTTP",
        description="hookstack subscription API (IAM-authorized, per-tenant paths)",
        opts=child(parent),
    )
    integration = proxy_integration(f"{name}-integration", parent, api, function, integration_timeout_ms)
    declared = [
        aws.apigatewayv2.Route(
            f"{name}-route-{route.action.replace('_', '-')}",
            api_id=api.id,
            route_key=route.key,
            # Public routes (the token issuer's JWKS and discovery document) take no authorization.
            authorization_type="NONE" if route.public else "AWS_IAM",
            target=pulumi.Output.concat("integrations/", integration.id),
            opts=child(parent),
        )
        for route in routes.ROUTES
    ]
    access_logs, stage, permission = logged_stage(
        parent,
        api,
        function,
        declared,
        [route for route in routes.ROUTES if route.throttle],
        logs=(f"{name}-access-logs", f"/aws/apigateway/hookstack/{name}-"),
        stage_name=f"{name}-stage",
        permission_name=f"{name}-api-permission",
        log_format=ACCESS_LOG_FORMAT,
    )
    return SubscriptionApi(api, integration, declared, access_logs, stage, permission)


def proxy_integration(
    resource_name: str,
    parent: pulumi.ComponentResource,
    api: aws.apigatewayv2.Api,
    function: LambdaFunction,
    timeout_ms: int,
) -> aws.apigatewayv2.Integration:
    """The Lambda proxy integration (payload 2.0) of an HTTP API: the IAM and the self-service API
    call the same function the same way."""
    return aws.apigatewayv2.Integration(
        resource_name,
        api_id=api.id,
        integration_type="AWS_PROXY",
        integration_method="POST",
        integration_uri=function.function.invoke_arn,
        payload_format_version="2.0",
        timeout_milliseconds=timeout_ms,
        opts=child(parent),
    )


def logged_stage(
    parent: pulumi.ComponentResource,
    api: aws.apigatewayv2.Api,
    function: LambdaFunction,
    declared: list[aws.apigatewayv2.Route],
    throttled: Sequence[routes.Route],
    *,
    logs: tuple[str, str],
    stage_name: str,
    permission_name: str,
    log_format: str,
) -> tuple[aws.cloudwatch.LogGroup, aws.apigatewayv2.Stage, aws.lambda_.Permission]:
    """An HTTP API's ``$default`` stage (throttled, access-logged to a retained log group: ``logs`` is
    its resource name and name prefix) and the permission for the API to invoke ``function``: the
    same for the IAM API and the self-service API, so they cannot drift. ``throttled``: the declared
    routes with a throttle of their own (route settings need their route: the stage depends on them)."""
    access_logs = retained_log_group(logs[0], parent, name_prefix=logs[1])
    stage = aws.apigatewayv2.Stage(
        stage_name,
        api_id=api.id,
        name="$default",
        auto_deploy=True,
        default_route_settings=aws.apigatewayv2.StageDefaultRouteSettingsArgs(
            throttling_rate_limit=API_THROTTLE_RATE, throttling_burst_limit=API_THROTTLE_BURST
        ),
        route_settings=[
            aws.apigatewayv2.StageRouteSettingArgs(
                route_key=route.key, throttling_rate_limit=route.throttle[0], throttling_burst_limit=route.throttle[1]
            )
            for route in throttled
            if route.throttle is not None
        ],
        access_log_settings=aws.apigatewayv2.StageAccessLogSettingsArgs(
            destination_arn=access_logs.arn.apply(lambda arn: arn.removesuffix(":*")),
            format=log_format,
        ),
        opts=child(parent, depends_on=list(declared)),
    )
    permission = aws.lambda_.Permission(
        permission_name,
        action="lambda:InvokeFunction",
        function=function.function.name,
        principal="apigateway.amazonaws.com",
        source_arn=pulumi.Output.concat(api.execution_arn, "/*/*"),
        opts=child(parent),
    )
    return access_logs, stage, permission
