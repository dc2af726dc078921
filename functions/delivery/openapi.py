"""The subscription API's OpenAPI 3.1 document, generated from the route table.

Methods, paths, path parameters and authorization come from :data:`functions.delivery.routes.ROUTES`
(the table the handler routes with and the component declares); each route's ``action`` picks its
:class:`Operation` here: a summary, the query parameters, the request body and the responses. Limits
and choices in the schemas are the constants the handler's validators use (imported, never
restated), and the id patterns are the handler's own regular expressions.

Served at ``GET /openapi.json`` (no authorization) and written to ``docs/openapi.json`` by
``python -m tools.openapi``; tests check both against the route table, validate the document with
``openapi-spec-validator`` and every response of the API tests against its schemas.
"""

from __future__ import annotations

import re
from dataclasses import field
from typing import Any

from functions.delivery import endpoint_fields as fields
from functions.delivery import event_catalog, routes, signing, tokens
from functions.delivery import since as since_module
from functions.delivery.api import endpoints, http, messages, oauth_clients
from functions.delivery.api.endpoint_body import OPTION_FIELDS
from functions.delivery.store.recent import PUBLISHED, STAT_NAMES
from functions.delivery.vocab import DeliveryStatus
from functions.events import EVENT_ID_RE, MAX_EVENT_ID_CHARS, TENANT_ID_RE
from functions.patterns import MAX_EVENT_TYPE_CHARS
from functions.records import record
from functions.transform import MAX_INPUT_PATHS, MAX_INPUT_TEMPLATE_CHARS

OPENAPI_VERSION = "3.1.0"
TITLE = "hookstack subscription API"
VERSION = "1"
IAM, BEARER = "sigv4", "bearer"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


def _pattern(regex: re.Pattern[str]) -> str:
    """A Python ``fullmatch`` regex as an anchored ECMA pattern (JSON Schema's dialect)."""
    text = regex.pattern
    return text if text.startswith("^") else f"^(?:{text})$"


STRING = {"type": "string"}
TIME = {"type": "string", "format": "date-time"}
EVENT_TYPE = {"type": "string", "minLength": 1, "maxLength": MAX_EVENT_TYPE_CHARS}
EVENT_TYPES = {"type": "array", "items": EVENT_TYPE, "maxItems": endpoints.MAX_EVENT_TYPES, "uniqueItems": True}
DESCRIPTION = {"type": "string", "maxLength": endpoints.MAX_DESCRIPTION_CHARS}
HEADERS = {
    "type": "object",
    "maxProperties": fields.MAX_HEADERS,
    "propertyNames": {"pattern": fields.HEADER_NAME_RE.pattern},
    "additionalProperties": {"type": "string", "maxLength": fields.MAX_HEADER_VALUE_CHARS},
}
AUTH_INPUT = {
    "type": "object",
    "required": ["type"],
    "properties": {
        "type": {"enum": [*fields.WORKER_AUTH_TYPES, fields.OAUTH]},
        "header": STRING,
        "value": {"type": "string", "maxLength": fields.MAX_HEADER_VALUE_CHARS},
        "username": STRING,
        "password": {"type": "string", "maxLength": fields.MAX_HEADER_VALUE_CHARS},
        "token": {"type": "string", "maxLength": fields.MAX_BEARER_TOKEN_CHARS},
        **{key: STRING for key in oauth_clients.KEYS if key != "type"},
    },
    "additionalProperties": False,
}
TRANSFORM = {
    "type": "object",
    "required": ["template"],
    "properties": {
        "paths": {"type": "object", "maxProperties": MAX_INPUT_PATHS, "additionalProperties": STRING},
        "template": {"type": "string", "maxLength": MAX_INPUT_TEMPLATE_CHARS},
    },
    "additionalProperties": False,
}
OPTIONS: dict[str, Any] = {
    "engine": {"const": fields.WORKER},
    "method": {"enum": list(fields.METHODS)},
    "signing": {
        "type": "object",
        "properties": {"scheme": {"enum": list(signing.SCHEMES)}, "secret": STRING, "previousSecret": STRING},
        "additionalProperties": False,
    },
    "auth": AUTH_INPUT,
    "headers": _nullable(HEADERS),
    "transform": _nullable(TRANSFORM),
    "filter": _nullable({"type": "object", "description": "an EventBridge event pattern"}),
    "rateLimitPerSecond": _nullable({"type": "integer", "minimum": 1, "maximum": fields.MAX_RATE_LIMIT}),
    "timeoutSeconds": _nullable(
        {"type": "integer", "minimum": fields.MIN_TIMEOUT_SECONDS, "maximum": fields.MAX_TIMEOUT_SECONDS}
    ),
}
assert set(OPTIONS) == set(OPTION_FIELDS), "every option the handler takes is described"
EXPIRES = {
    "type": "integer",
    "minimum": tokens.MIN_EXPIRES_SECONDS,
    "maximum": tokens.MAX_EXPIRES_SECONDS,
    "default": tokens.DEFAULT_EXPIRES_SECONDS,
}
PAGE = [
    {
        "name": "limit",
        "in": "query",
        "required": False,
        "schema": {"type": "integer", "minimum": 1, "maximum": http.MAX_PAGE, "default": http.DEFAULT_PAGE},
    },
    {"name": "cursor", "in": "query", "required": False, "schema": STRING, "description": "a previous nextCursor"},
]
SINCE = {
    "name": "since",
    "in": "query",
    "required": False,
    "schema": {"type": "string", "default": since_module.DEFAULT},
    "description": "ISO 8601 with a zone, or back from now: 30m, 24h, 7d",
}
STATUS = {
    "name": "status",
    "in": "query",
    "required": False,
    "schema": {"enum": [status.value for status in DeliveryStatus]},
}
STAT_COUNTS = {
    "type": "object",
    "required": [PUBLISHED, *STAT_NAMES.values()],
    "properties": {name: {"type": "integer", "minimum": 0} for name in (PUBLISHED, *STAT_NAMES.values())},
}

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {"code": STRING, "message": STRING, "field": STRING},
            }
        },
    },
    "EndpointCreate": {
        "type": "object",
        "required": ["url"],
        "properties": {"url": STRING, "eventTypes": _nullable(EVENT_TYPES), "description": DESCRIPTION, **OPTIONS},
        "additionalProperties": False,
    },
    "EndpointUpdate": {
        "type": "object",
        "minProperties": 1,
        "properties": {
            "url": STRING,
            "eventTypes": _nullable(EVENT_TYPES),
            "description": _nullable(DESCRIPTION),
            "enabled": {"type": "boolean"},
            **OPTIONS,
        },
        "additionalProperties": False,
    },
    "Endpoint": {
        "type": "object",
        "required": ["id", "tenantId", "url", "eventTypes", "enabled", "managedBy", "circuitBreaker", "engine"],
        "properties": {
            "id": {"type": "string", "pattern": http.ENDPOINT_ID_RE.pattern},
            "tenantId": STRING,
            "name": STRING,
            "url": STRING,
            "eventTypes": {"type": "array", "items": STRING},
            "description": STRING,
            "enabled": {"type": "boolean"},
            "disabledReason": _nullable(STRING),
            "disabledAt": _nullable(TIME),
            "consecutiveFailures": {"type": "integer", "minimum": 0},
            "managedBy": {"enum": ["api", "config"]},
            "createdAt": _nullable(TIME),
            "updatedAt": _nullable(TIME),
            "engine": {"const": fields.WORKER},
            "method": {"enum": list(fields.METHODS)},
            "signing": {"type": "object", "properties": {"scheme": {"enum": list(signing.SCHEMES)}}},
            "auth": {"type": "object", "required": ["type"], "properties": {"type": STRING}},
            "headers": {"type": "object", "additionalProperties": STRING},
            "transform": _nullable(TRANSFORM),
            "filter": _nullable({"type": "object"}),
            "rateLimitPerSecond": _nullable({"type": "integer"}),
            "timeoutSeconds": _nullable({"type": "integer"}),
            "circuitBreaker": {
                "type": "object",
                "required": ["state", "consecutiveFailedAttempts"],
                "properties": {"state": STRING, "consecutiveFailedAttempts": {"type": "integer"}, "openUntil": TIME},
            },
        },
    },
    "EndpointWithSecret": {
        "allOf": [_ref("Endpoint")],
        "required": ["secret"],
        "properties": {"secret": {"type": "string", "pattern": "^whsec_"}, "publicKey": STRING},
    },
    "EndpointList": {
        "type": "object",
        "required": ["data", "nextCursor"],
        "properties": {"data": {"type": "array", "items": _ref("Endpoint")}, "nextCursor": _nullable(STRING)},
    },
    "RotateSecret": {"type": "object", "properties": {"secret": STRING}, "additionalProperties": False},
    "RotatedSecret": {
        "type": "object",
        "required": ["id", "secret", "previousSecretValidUntil"],
        "properties": {"id": STRING, "secret": STRING, "previousSecretValidUntil": _nullable(TIME)},
    },
    "PublicKey": {
        "type": "object",
        "required": ["endpointId", "scheme", "publicKey"],
        "properties": {"endpointId": STRING, "scheme": STRING, "publicKey": {"type": "string", "pattern": "^whpk_"}},
    },
    "AttemptSummary": {
        "type": "object",
        "required": ["attempt", "outcome"],
        "properties": {
            "attempt": {"type": "integer", "minimum": 0},
            "at": TIME,
            "outcome": {"enum": ["succeeded", "retrying", "failed", "gone"]},
            "statusCode": _nullable({"type": "integer"}),
            "latencyMs": _nullable({"type": "integer"}),
            "error": _nullable(STRING),
        },
    },
    "Attempt": {
        "allOf": [_ref("AttemptSummary")],
        "required": ["attemptId", "endpointId", "eventId", "eventType", "run", "url"],
        "properties": {
            "attemptId": STRING,
            "tenantId": STRING,
            "endpointId": STRING,
            "eventId": STRING,
            "eventType": STRING,
            "run": {"type": "integer", "minimum": 1},
            "url": STRING,
            "response": _nullable(STRING),
            "responseTruncated": {"type": "boolean"},
            "nextAttemptInSeconds": _nullable({"type": "integer"}),
        },
    },
    "AttemptList": {
        "type": "object",
        "required": ["data", "nextCursor"],
        "properties": {"data": {"type": "array", "items": _ref("Attempt")}, "nextCursor": _nullable(STRING)},
    },
    "Delivery": {
        "type": "object",
        "required": ["endpointId", "status"],
        "properties": {
            "endpointId": STRING,
            "status": {"enum": ["pending", "succeeded", "failed", "cancelled"]},
            "run": {"type": "integer"},
            "attempts": {"type": "integer"},
            "history": {"type": "array", "items": _ref("AttemptSummary")},
        },
    },
    "Message": {
        "type": "object",
        "required": ["eventId", "tenantId", "eventType", "eventTime", "payload", "deliveries"],
        "properties": {
            "eventId": {"type": "string", "pattern": EVENT_ID_RE.pattern},
            "tenantId": STRING,
            "eventType": STRING,
            "eventTime": STRING,
            "receivedAt": _nullable(STRING),
            "payload": {"type": "object", "description": "the Standard Webhooks body: type, timestamp, data"},
            "deliveries": {"type": "array", "items": _ref("Delivery")},
        },
    },
    "Resend": {"type": "object", "properties": {"endpointId": STRING}, "additionalProperties": False},
    "Resent": {
        "type": "object",
        "required": ["queued"],
        "properties": {
            "queued": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["endpointId", "run"],
                    "properties": {"endpointId": STRING, "run": {"type": "integer"}},
                },
            }
        },
    },
    "Replay": {
        "type": "object",
        "required": ["since"],
        "properties": {
            "since": TIME,
            "limit": {"type": "integer", "minimum": 1, "maximum": messages.MAX_REPLAY_BATCH},
            "cursor": STRING,
        },
        "additionalProperties": False,
    },
    "Replayed": {
        "type": "object",
        "required": ["queued", "eventIds", "nextCursor"],
        "properties": {
            "queued": {"type": "integer", "minimum": 0},
            "eventIds": {"type": "array", "items": STRING},
            "nextCursor": _nullable(STRING),
        },
    },
    "TestEvent": {
        "type": "object",
        "properties": {"eventType": {**EVENT_TYPE, "description": "a catalogued type; its example is sent"}},
        "additionalProperties": False,
    },
    "TestEventResult": {
        "type": "object",
        "required": ["eventId", "eventType", "endpointId", "status", "attempt"],
        "properties": {
            "eventId": STRING,
            "eventType": STRING,
            "endpointId": STRING,
            "status": {"enum": ["pending", "succeeded", "failed", "cancelled"]},
            "attempt": _nullable(_ref("AttemptSummary")),
        },
    },
    "EventType": {
        "type": "object",
        "required": ["name", "description"],
        "properties": {
            "name": EVENT_TYPE,
            "description": {"type": "string", "maxLength": event_catalog.MAX_DESCRIPTION_CHARS},
            "schema": {"type": "object", "description": "JSON Schema (draft 2020-12) of the event's data"},
            "example": {"type": "object"},
        },
    },
    "EventTypeList": {
        "type": "object",
        "required": ["data", "enforced"],
        "properties": {
            "data": {"type": "array", "items": _ref("EventType")},
            "enforced": {"type": "boolean", "description": "a catalog is configured: endpoints subscribe to its types"},
        },
    },
    "OpenApiDocument": {"type": "object", "required": ["openapi"], "properties": {"openapi": STRING}},
    "TenantTokenRequest": {
        "type": "object",
        "required": ["scopes"],
        "properties": {
            "scopes": {"type": "array", "minItems": 1, "items": {"enum": list(routes.TENANT_SCOPES)}},
            "expiresInSeconds": EXPIRES,
        },
        "additionalProperties": False,
    },
    "OperatorTokenRequest": {
        "type": "object",
        "properties": {"expiresInSeconds": EXPIRES},
        "additionalProperties": False,
    },
    "Token": {
        "type": "object",
        "required": ["token", "expiresAt"],
        "properties": {"token": {"type": "string", "description": "a JWT (RS256)"}, "expiresAt": TIME},
    },
    "Jwks": {
        "type": "object",
        "required": ["keys"],
        "properties": {"keys": {"type": "array", "items": {"type": "object", "required": ["kty", "kid"]}}},
    },
    "OpenIdConfiguration": {
        "type": "object",
        "required": ["issuer", "jwks_uri"],
        "properties": {"issuer": STRING, "jwks_uri": STRING, "scopes_supported": {"type": "array", "items": STRING}},
    },
    "RecentDeliveryList": {
        "type": "object",
        "required": ["data", "nextCursor", "since"],
        "properties": {
            "data": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["endpointId", "eventId", "status"],
                    "properties": {
                        "endpointId": STRING,
                        "eventId": STRING,
                        "eventType": STRING,
                        "status": {"enum": [status.value for status in DeliveryStatus]},
                        "run": {"type": "integer"},
                        "createdAt": TIME,
                        "finishedAt": TIME,
                        "failedReason": STRING,
                    },
                },
            },
            "nextCursor": _nullable(STRING),
            "since": TIME,
        },
    },
    "DeliveryStats": {
        "type": "object",
        "required": ["since", "complete", "totals", "endpoints"],
        "properties": {
            "since": TIME,
            "complete": {"type": "boolean", "description": "false: counting stopped at its bound"},
            "totals": STAT_COUNTS,
            "endpoints": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["endpointId", *STAT_COUNTS["required"]],
                    "properties": {"endpointId": STRING, **STAT_COUNTS["properties"]},
                },
            },
        },
    },
    "OperatorTenantList": {
        "type": "object",
        "required": ["data", "truncated"],
        "properties": {
            "data": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["tenantId", "endpoints"],
                    "properties": {
                        "tenantId": STRING,
                        "endpoints": {
                            "type": "array",
                            "description": "each endpoint with health: attempts, succeeded, successRate (null: none)",
                            "items": _ref("Endpoint"),
                        },
                    },
                },
            },
            "truncated": {"type": "boolean", "description": "the scan stopped before the end of the table"},
        },
    },
    "DeadLetterQueueList": {
        "type": "object",
        "required": ["data"],
        "properties": {
            "data": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["name", "url", "depth", "inFlight"],
                    "properties": {
                        "name": STRING,
                        "url": STRING,
                        "depth": {"type": "integer"},
                        "inFlight": {"type": "integer"},
                    },
                },
            }
        },
    },
}


@record
class Operation:
    """What the document says about one route's action beyond the route table."""

    summary: str
    responses: dict[int, str | None]
    """Success status -> schema name (``None``: no body); every operation also answers :data:`ERRORS`."""
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
    "list_deliveries": Operation("A tenant's deliveries whose status changed since a time, oldest first", {200: "RecentDeliveryList"}, query=[STATUS, SINCE, *PAGE]),
    "get_stats": Operation("Per endpoint: deliveries published, delivered, failed, pending, cancelled since a time", {200: "DeliveryStats"}, query=[SINCE]),
    "resend_message": Operation("Send a message again", {202: "Resent"}, "Resend", conflicts=True),
    "send_test_event": Operation("Send a test event to this endpoint and answer its first attempt (202: still pending)", {200: "TestEventResult", 202: "TestEventResult"}, "TestEvent", conflicts=True),
    "list_event_types": Operation("The event-type catalog", {200: "EventTypeList"}),
    "openapi": Operation("This document", {200: "OpenApiDocument"}),
    "mint_tenant_token": Operation("Mint a token for one tenant (Authorization: Bearer)", {201: "Token"}, "TenantTokenRequest", needs_tokens=True),
    "mint_operator_token": Operation("Mint an operator token (every tenant)", {201: "Token"}, "OperatorTokenRequest", needs_tokens=True),
    "jwks": Operation("The public keys that verify tokens", {200: "Jwks"}, needs_tokens=True),
    "openid_configuration": Operation("OpenID discovery (the JWT authorizer reads jwks_uri)", {200: "OpenIdConfiguration"}, needs_tokens=True),
    "operator_tenants": Operation("Every tenant with its endpoints and their health (operator)", {200: "OperatorTenantList"}),
    "operator_dead_letter_queues": Operation("The delivery dead-letter queues and their depths (operator)", {200: "DeadLetterQueueList"}),
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
PARAMETER_SCHEMAS = {
    "tenantId": {"type": "string", "pattern": _pattern(TENANT_ID_RE)},
    "endpointId": {"type": "string", "pattern": http.ENDPOINT_ID_RE.pattern},
    "eventId": {"type": "string", "pattern": EVENT_ID_RE.pattern, "maxLength": MAX_EVENT_ID_CHARS},
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
            "content": {"application/json": {"schema": _ref(operation.request)}},
        }
    for status, schema in operation.responses.items():
        response: dict[str, Any] = {"description": "success"}
        if schema is not None:
            response["content"] = {"application/json": {"schema": _ref(schema)}}
        document["responses"][str(status)] = response
    for status in _error_statuses(route, operation):
        document["responses"][str(status)] = {
            "description": ERROR_DESCRIPTIONS.get(status, "internal error (the request id is named)"),
            "content": {"application/json": {"schema": _ref("Error")}},
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
