"""The schemas of the subscription API's OpenAPI document (:mod:`functions.delivery.openapi`).

Request and response bodies as the handler reads and writes them. Limits and choices are the
constants the handler's validators use, imported, never restated; the id patterns are the handler's
own regular expressions. Every response of the delivery API tests is validated against these
(tests/functions/delivery/openapi_check.py), so a shape that drifts fails a test.
"""

from __future__ import annotations

import re
from typing import Any

from functions.delivery import endpoint_fields as fields
from functions.delivery import event_catalog, routes, signing, tokens
from functions.delivery import since as since_module
from functions.delivery.api import endpoints, http, messages, oauth_clients, operator
from functions.delivery.api.endpoint_body import OPTION_FIELDS
from functions.delivery.store.recent import PUBLISHED, STAT_NAMES
from functions.delivery.vocab import DeliveryStatus
from functions.events import EVENT_ID_RE, MAX_EVENT_ID_CHARS, TENANT_ID_RE
from functions.patterns import MAX_EVENT_TYPE_CHARS
from functions.transform import MAX_INPUT_PATHS, MAX_INPUT_TEMPLATE_CHARS


def ref(name: str) -> dict[str, str]:
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
STAT_FIELDS = (PUBLISHED, *STAT_NAMES.values())
COUNT = {"type": "integer", "minimum": 0}
STAT_COUNTS: dict[str, Any] = {
    "type": "object",
    "required": list(STAT_FIELDS),
    "properties": dict.fromkeys(STAT_FIELDS, COUNT),
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
        "allOf": [ref("Endpoint")],
        "required": ["secret"],
        "properties": {"secret": {"type": "string", "pattern": "^whsec_"}, "publicKey": STRING},
    },
    "EndpointList": {
        "type": "object",
        "required": ["data", "nextCursor"],
        "properties": {"data": {"type": "array", "items": ref("Endpoint")}, "nextCursor": _nullable(STRING)},
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
        "allOf": [ref("AttemptSummary")],
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
        "properties": {"data": {"type": "array", "items": ref("Attempt")}, "nextCursor": _nullable(STRING)},
    },
    "Delivery": {
        "type": "object",
        "required": ["endpointId", "status"],
        "properties": {
            "endpointId": STRING,
            "status": {"enum": ["pending", "succeeded", "failed", "cancelled"]},
            "run": {"type": "integer"},
            "attempts": {"type": "integer"},
            "history": {"type": "array", "items": ref("AttemptSummary")},
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
            "deliveries": {"type": "array", "items": ref("Delivery")},
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
            "attempt": _nullable(ref("AttemptSummary")),
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
            "data": {"type": "array", "items": ref("EventType")},
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
                    "required": ["endpointId", *STAT_FIELDS],
                    "properties": {"endpointId": STRING, **dict.fromkeys(STAT_FIELDS, COUNT)},
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
                            "items": ref("Endpoint"),
                        },
                    },
                },
            },
            "truncated": {
                "type": "boolean",
                "description": "the scan stopped before the end of the table, or the tenants past "
                f"{operator.MAX_ENDPOINTS} endpoints are left out",
            },
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
PARAMETER_SCHEMAS = {
    "tenantId": {"type": "string", "pattern": _pattern(TENANT_ID_RE)},
    "endpointId": {"type": "string", "pattern": http.ENDPOINT_ID_RE.pattern},
    "eventId": {"type": "string", "pattern": EVENT_ID_RE.pattern, "maxLength": MAX_EVENT_ID_CHARS},
}
