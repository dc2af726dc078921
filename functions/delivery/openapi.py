"""The subscription API's OpenAPI 3.1 document, generated from the route table.

Methods, paths, path parameters and authorization come from :data:`functions.delivery.routes.ROUTES`
(the table the handler routes with and the component declares); each route's ``action`` picks its
:class:`Operation` here: a summary, the query parameters, the request body and the responses, whose
schemas are in :mod:`functions.delivery.openapi_schemas` (limits and choices are the constants the
handler's validators use, imported, never restated).

Served at ``GET /openapi.json`` (no authorization) and written to ``docs/openapi.json`` by
``python -m tools.openapi``; tests check both against the route table, validate the document with
``openapi-spec-validator`` and every response of the API tests against its schemas.
"""

from __future__ import annotations

import re
from dataclasses import field
from typing import Any

from functions.delivery import routes
from functions.delivery.openapi_schemas import PAGE, PARAMETER_SCHEMAS, SCHEMAS, SINCE, STATUS, ref
from functions.records import record

OPENAPI_VERSION = "3.1.0"
TITLE = "hookstack subscription API"
VERSION = "1"
IAM, BEARER = "sigv4", "bearer"


@record
class Operation:
    """What the document says about one route's action beyond the route table."""

    summary: str
    responses: dict[int, str | None]
    """Success status -> schema name (``None``: no body); errors: :func:`_error_statuses`."""
    request: str | None = None
    query: list[dict[str, Any]] = field(default_factory=list)
    conflicts: bool = False
    """Answers 409 (the resource's state refuses the change); 400, 404 and 413 follow from the route."""
    needs_tokens: bool = False
    """Answers 503 where tokens are not configured (no issuer)."""


OPERATIONS: dict[str, Operation] = {
    "create_endpoint": Operation("Create an endpoint (its signing secret is shown this once)", {201: "EndpointWithSecret"}, "EndpointCreate", conflicts=True),
    "list_endpoints": Operation("List a tenant's endpoints", {200: "EndpointList"}, query=PAGE),
    "get_endpoint": Operation("Read an endpoint (never its secrets)", {200: "Endpoint"}),
    "update_endpoint": Operation("Change an endpoint, or enable/disable it", {200: "Endpoint"}, "EndpointUpdate", conflicts=True),
    "delete_endpoint": Operation("Delete an endpoint", {204: None}, conflicts=True),
    "rotate_secret": Operation("Rotate the signing secret (the old one signs for the overlap)", {200: "RotatedSecret"}, "RotateSecret", conflicts=True),
    "get_public_key": Operation("The ed25519 public key of a v1a endpoint", {200: "PublicKey"}),
    "list_endpoint_attempts": Operation("An endpoint's attempts, newest first", {200: "AttemptList"}, query=PAGE),
    "replay_failed": Operation("Resend every message that failed for good since a time", {202: "Replayed"}, "Replay", conflicts=True),
    "list_attempts": Operation("A tenant's attempts, newest first", {200: "AttemptList"}, query=PAGE),
    "get_message": Operation("A message and its delivery per endpoint", {200: "Message"}),
    "resend_message": Operation("Send a message again", {202: "Resent"}, "Resend", conflicts=True),
    "send_test_event": Operation("Send a test event to this endpoint and answer its first attempt (202: still pending)", {200: "TestEventResult", 202: "TestEventResult"}, "TestEvent", conflicts=True),
    "list_event_types": Operation("The event-type catalog", {200: "EventTypeList"}),
    "openapi": Operation("This document", {200: "OpenApiDocument"}),
    "mint_tenant_token": Operation("Mint a token for one tenant (Authorization: Bearer)", {201: "Token"}, "TenantTokenRequest", needs_tokens=True),
    "mint_operator_token": Operation("Mint an operator token (every tenant)", {201: "Token"}, "OperatorTokenRequest", needs_tokens=True),
    "jwks": Operation("The public keys that verify tokens", {200: "Jwks"}, needs_tokens=True),
    "list_deliveries": Operation("A tenant's deliveries whose status changed since a time, oldest first", {200: "RecentDeliveryList"}, query=[STATUS, SINCE, *PAGE]),
    "get_stats": Operation("Per endpoint: deliveries published, delivered, failed, pending, cancelled since a time", {200: "DeliveryStats"}, query=[SINCE]),
    "operator_tenants": Operation("Every tenant with its endpoints and their health (operator)", {200: "OperatorTenantList"}),
    "operator_dead_letter_queues": Operation("The delivery dead-letter queues and their depths (operator)", {200: "DeadLetterQueueList"}),
    "openid_configuration": Operation("OpenID discovery (the JWT authorizer reads jwks_uri)", {200: "OpenIdConfiguration"}, needs_tokens=True),
}  # fmt: skip
ERROR_DESCRIPTIONS = {
    400: "invalid input (the field is named)",
    404: "no such resource",
    409: "conflict with the resource's state",
    413: "body too large",
    401: "no valid bearer token (self-service API)",
    403: "the caller may not call this route for this tenant (token scope or tenant)",
    503: "tokens are not configured on this stack",
}


def path_parameters(path: str) -> list[str]:
    return re.findall(r"\{(\w+)\}", path)


def _operation(route: routes.Route) -> dict[str, Any]:
    operation = OPERATIONS[route.action]
    document: dict[str, Any] = {
        "operationId": re.sub(r"_(\w)", lambda m: m.group(1).upper(), route.action),
        "summary": operation.summary,
        "parameters": [
            {"name": name, "in": "path", "required": True, "schema": PARAMETER_SCHEMAS[name]}
            for name in path_parameters(route.path)
        ]
        + operation.query,
        "responses": {},
    }
    if not document["parameters"]:
        del document["parameters"]
    if operation.request is not None:
        document["requestBody"] = {
            "required": operation.request in ("EndpointCreate", "EndpointUpdate", "Replay"),
            "content": {"application/json": {"schema": ref(operation.request)}},
        }
    for status, schema in operation.responses.items():
        response: dict[str, Any] = {"description": "success"}
        if schema is not None:
            response["content"] = {"application/json": {"schema": ref(schema)}}
        document["responses"][str(status)] = response
    for status in _error_statuses(route, operation):
        document["responses"][str(status)] = {
            "description": ERROR_DESCRIPTIONS.get(status, "internal error (the request id is named)"),
            "content": {"application/json": {"schema": ref("Error")}},
        }
    document["security"] = security(route)
    return document


def security(route: routes.Route) -> list[dict[str, list[str]]]:
    """Who may call: nobody needs to authenticate (public); IAM (SigV4) only; or IAM or a bearer
    token holding one of the route's scopes (the self-service API's JWT authorizer checks them)."""
    if route.public:
        return []
    if route.scope is None:
        return [{IAM: []}]
    return [{IAM: []}, {BEARER: list(route.token_scopes)}]


def _error_statuses(route: routes.Route, operation: Operation) -> list[int]:
    """What the handler can answer besides success: path ids are checked (400; an unknown id 404),
    bodies are parsed and bounded (400, 413), the operation's own conflicts (409), and 500."""
    statuses = {500}
    names = path_parameters(route.path)
    if names or operation.query or operation.request:
        statuses.add(400)
    if set(names) - {"tenantId"}:
        statuses.add(404)
    if route.method in ("POST", "PATCH"):
        statuses |= {400, 413}
    if operation.conflicts:
        statuses.add(409)
    if not route.public:
        statuses |= {401, 403}
    if operation.needs_tokens:
        statuses.add(503)
    return sorted(statuses)


def document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of every route in :data:`functions.delivery.routes.ROUTES`."""
    paths: dict[str, dict[str, Any]] = {}
    for route in routes.ROUTES:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route)
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": TITLE,
            "version": VERSION,
            "description": "Endpoints, secrets, delivery history, resend, replay, test events and the event-type "
            'catalog, per tenant. Errors are {"error": {"code", "message", "field"}}. docs/delivery.md.',
        },
        "jsonSchemaDialect": "https://spec.openapis.org/oas/3.1/dialect/base",
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                IAM: {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Authorization",
                    "description": "AWS Signature Version 4 (service execute-api); a tenant's IAM policy "
                    "allows /tenants/<its id>/* only (functions.delivery.routes.tenant_policy)",
                    "x-amazon-apigateway-authtype": "awsSigv4",
                },
                BEARER: {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "A tenant or operator token (POST /tenants/{tenantId}/tokens, POST /operator/tokens), "
                    "on the self-service API; an operation's list names the scopes of which the token needs one "
                    "(operator tokens hold 'operator'). A tenant token reaches its own tenant's routes only. "
                    "Keys: /.well-known/jwks.json. docs/tokens.md.",
                },
            },
        },
    }


def serve(request: Any, state: Any) -> tuple[int, Any]:
    return 200, document()
