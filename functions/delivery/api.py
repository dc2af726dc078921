"""The subscription API: endpoints, secrets, delivery history, resend and replay, per tenant.

Handler ``functions.delivery.api.handler`` serves the HTTP API (payload format 2.0; the sandbox
calls it with the same events). API Gateway has already authorized the caller with IAM (SigV4) for
the exact route and path, so a caller's policy can be limited to ``/tenants/<id>/*``.

Routes (all JSON; errors are ``{"error": {"code", "message", "field"}}`` with the field named):

- ``POST /tenants/{tenantId}/endpoints`` ``{"url", "eventTypes"?, "description"?}`` -> 201 with the
  endpoint and its ``secret`` (``whsec_...``), shown this once only.
- ``GET /tenants/{tenantId}/endpoints`` (``limit``, ``cursor``) -> ``{"data", "nextCursor"}``.
- ``GET|PATCH|DELETE /tenants/{tenantId}/endpoints/{endpointId}``; PATCH takes ``url``,
  ``eventTypes``, ``description`` and ``enabled`` (``false`` disables, ``true`` re-enables after a
  manual or automatic disable and clears the failure count).
- ``POST .../endpoints/{endpointId}/rotate-secret`` ``{"secret"?}`` -> the new secret (once); the old
  one keeps signing for ``DELIVERY_ROTATION_OVERLAP_HOURS``, deliveries carry both signatures.
- ``GET .../endpoints/{endpointId}/attempts`` and ``GET /tenants/{tenantId}/attempts``: attempts
  newest first (``limit``, ``cursor``).
- ``GET /tenants/{tenantId}/messages/{eventId}``: the message and its delivery per endpoint.
- ``POST /tenants/{tenantId}/messages/{eventId}/resend`` ``{"endpointId"?}``: send it again (202).
- ``POST .../endpoints/{endpointId}/replay`` ``{"since", "limit"?, "cursor"?}``: resend every message
  that failed for good on this endpoint since ``since`` (ISO 8601) (202, ``nextCursor`` when more).

Endpoints declared in the stack config (``managedBy: config``) are read-only here except for
``enabled``; their URL and secret change through ``pulumi config``.

Environment: ``DELIVERY_TABLE_NAME``, ``DELIVERY_TASKS_QUEUE_URL``, ``DELIVERY_HISTORY_TTL_DAYS``,
``DELIVERY_ROTATION_OVERLAP_HOURS``, ``DELIVERY_ALLOWED_CIDRS`` (see :mod:`functions.delivery.settings`).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from functions import logs, whsec
from functions.delivery import bounded_json, clients, routes, settings, ssrf, store, tasks
from functions.delivery.routes import TENANT_ID_RE
from functions.events import EVENT_ID_RE

ENDPOINT_ID_RE = re.compile(r"^(?:ep_[0-9a-f]{28}|cfg_[a-z0-9-]{1,64})$")
MAX_EVENT_TYPES = 100
MAX_EVENT_TYPE_CHARS = 128  # EventBridge's detail-type limit
MAX_DESCRIPTION_CHARS = 500
MAX_BODY_BYTES = 64 * 1024
# Bodies are an object holding a list at most (eventTypes); deeper is never a valid request.
MAX_BODY_DEPTH = 8
MAX_ENDPOINTS_PER_TENANT = 100
DEFAULT_PAGE, MAX_PAGE = 50, 100
MAX_REPLAY_BATCH = 500

# The SSRF guard's DNS lookup (tests and the sandbox replace it; None = the system resolver).
resolver: ssrf.Resolver | None = None


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field


@dataclass(frozen=True)
class Request:
    tenant_id: str
    params: Mapping[str, str]
    query: Mapping[str, str]
    body: Mapping[str, Any]
    now: float


# -- the handler ------------------------------------------------------------------------------------


def handler(event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
    http = (event.get("requestContext") or {}).get("http") or {}
    method = str(http.get("method") or event.get("httpMethod") or "GET")
    path = str(event.get("rawPath") or http.get("path") or "/")
    request_id = (event.get("requestContext") or {}).get("requestId")
    caller = (((event.get("requestContext") or {}).get("authorizer") or {}).get("iam") or {}).get("userArn")
    route_key = None
    try:
        route, params = routes.match(method, path)
        route_key = route.key
        _check_path_parameters(params, event.get("pathParameters"))
        request = Request(
            tenant_id=params["tenantId"], params=params, query=_query(event), body=_body(event, method), now=time.time()
        )
        status, document = ACTIONS[route.action](request)
    except routes.NoRoute as error:
        status, document = error.status, _error("not_found" if error.status == 404 else "method_not_allowed", str(error))
    except ApiError as error:
        status, document = error.status, _error(error.code, error.message, error.field)
    except store.InvalidCursor as error:
        status, document = 400, _error("validation_error", str(error), "cursor")
    except store.Conflict as error:
        status, document = 409, _error("conflict", str(error))
    except Exception as error:
        logs.error("subscription API failed", route=route_key, requestId=request_id, error=repr(error)[:300])
        status, document = 500, _error("internal_error", f"internal error (request id {request_id})")
    logs.info("subscription API", route=route_key, status=status, requestId=request_id, caller=caller)
    return _response(status, document)


def _check_path_parameters(params: Mapping[str, str], matched: Any) -> None:
    """Ids are taken from the raw path as sent and must be valid as they are.

    IAM authorized the request against a resource path that API Gateway built from the request
    (raw or decoded: docs/delivery.md); the tenant this handler serves must be exactly the segment
    that path carried. So no id may be percent-encoded (valid ids never need it; ``%2F`` would
    decode into another path), and when API Gateway passes its own ``pathParameters`` they must
    equal the raw segments.
    """
    for name, value in params.items():
        if "%" in value:
            raise ApiError(
                400, "validation_error",
                f"{name} must be sent as it is, not percent-encoded (valid ids never need encoding)", name,
            )
    # fullmatch: a pattern's "$" also matches before a trailing newline.
    if not TENANT_ID_RE.fullmatch(params.get("tenantId", "")):
        raise ApiError(400, "validation_error", "tenantId must be 1-64 characters of A-Z a-z 0-9 _ . : - starting with a letter or digit", "tenantId")
    if isinstance(matched, Mapping):
        for name, value in params.items():
            if name in matched and matched[name] != value:
                raise ApiError(400, "validation_error", f"{name} differs from the path API Gateway matched", name)
    if "endpointId" in params and not ENDPOINT_ID_RE.fullmatch(params["endpointId"]):
        raise ApiError(404, "not_found", "no such endpoint", "endpointId")
    if "eventId" in params and not EVENT_ID_RE.fullmatch(params["eventId"]):
        raise ApiError(404, "not_found", "no such message", "eventId")


def _response(status: int, document: Any) -> dict[str, Any]:
    headers = {"content-type": "application/json", "cache-control": "no-store"}
    if document is None:
        return {"statusCode": status, "headers": headers, "body": "", "isBase64Encoded": False}
    return {"statusCode": status, "headers": headers, "body": json.dumps(document, separators=(",", ":")), "isBase64Encoded": False}


def _error(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if field:
        error["field"] = field
    return {"error": error}


def _query(event: Mapping[str, Any]) -> dict[str, str]:
    values = event.get("queryStringParameters")
    if isinstance(values, Mapping):
        return {str(k): str(v) for k, v in values.items()}
    raw = event.get("rawQueryString") or ""
    return {k: v[-1] for k, v in parse_qs(str(raw), keep_blank_values=True).items()}


def _body(event: Mapping[str, Any], method: str) -> Mapping[str, Any]:
    raw = event.get("body")
    if raw is None or raw == "":
        return {}
    if method not in ("POST", "PATCH"):
        return {}
    try:
        data = base64.b64decode(raw, validate=True) if event.get("isBase64Encoded") else str(raw).encode("utf-8")
    except (binascii.Error, ValueError):
        raise ApiError(400, "validation_error", "body is not valid base64", "body") from None
    if len(data) > MAX_BODY_BYTES:
        raise ApiError(413, "payload_too_large", f"body must be at most {MAX_BODY_BYTES} bytes", "body")
    try:
        document = bounded_json.loads(data.decode("utf-8"), MAX_BODY_DEPTH)
    except bounded_json.TooDeep as error:
        raise ApiError(400, "validation_error", f"body {error} (at most {MAX_BODY_DEPTH})", "body") from None
    except (UnicodeDecodeError, ValueError):
        raise ApiError(400, "validation_error", "body must be a JSON object", "body") from None
    if not isinstance(document, dict):
        raise ApiError(400, "validation_error", "body must be a JSON object", "body")
    return document


# -- validation -------------------------------------------------------------------------------------


def _only(body: Mapping[str, Any], allowed: tuple[str, ...]) -> None:
    for key in body:
        if key not in allowed:
            raise ApiError(400, "validation_error", f"unknown field {key!r}; allowed: {', '.join(allowed)}", str(key))


def _url(value: Any, field: str = "url") -> str:
    if not isinstance(value, str) or not value:
        raise ApiError(400, "validation_error", f"{field} must be an https:// URL", field)
    config = settings.get()
    try:
        ssrf.check_url(value, config.allowed_networks, resolver)
    except ssrf.UnsafeUrl as error:
        raise ApiError(400, "validation_error", f"{field} {error}", field) from None
    return value


def _event_types(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > MAX_EVENT_TYPES:
        raise ApiError(400, "validation_error", f"eventTypes must be a list of at most {MAX_EVENT_TYPES} strings", "eventTypes")
    types: list[str] = []
    for index, item in enumerate(value):
        if (
            not isinstance(item, str)
            or not 1 <= len(item) <= MAX_EVENT_TYPE_CHARS
            or any(ord(ch) < 0x20 for ch in item)
        ):
            raise ApiError(
                400, "validation_error", f"eventTypes[{index}] must be a string of 1-{MAX_EVENT_TYPE_CHARS} characters",
                f"eventTypes[{index}]",
            )
        if item in types:
            raise ApiError(400, "validation_error", f"eventTypes[{index}] repeats {item!r}", f"eventTypes[{index}]")
        types.append(item)
    return tuple(types)


def _description(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > MAX_DESCRIPTION_CHARS:
        raise ApiError(400, "validation_error", f"description must be a string of at most {MAX_DESCRIPTION_CHARS} characters", "description")
    return value


def _limit(query: Mapping[str, str]) -> int:
    raw = query.get("limit")
    if raw is None or raw == "":
        return DEFAULT_PAGE
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE:
        raise ApiError(400, "validation_error", f"limit must be a whole number from 1 to {MAX_PAGE}", "limit")
    return int(raw)


def _endpoint(request: Request) -> store.Endpoint:
    config = settings.get()
    endpoint = store.get_endpoint(clients.dynamodb(), config.table_name, request.tenant_id, request.params["endpointId"])
    if endpoint is None:
        raise ApiError(404, "not_found", "no such endpoint", "endpointId")
    return endpoint


# -- endpoints --------------------------------------------------------------------------------------


def create_endpoint(request: Request) -> tuple[int, Any]:
    body = request.body
    _only(body, ("url", "eventTypes", "description"))
    if "url" not in body:
        raise ApiError(400, "validation_error", "url is required", "url")
    url = _url(body["url"])
    event_types = _event_types(body.get("eventTypes"))
    description = _description(body.get("description"))
    config = settings.get()
    dynamodb = clients.dynamodb()
    if store.count_endpoints(dynamodb, config.table_name, request.tenant_id) >= MAX_ENDPOINTS_PER_TENANT:
        raise ApiError(409, "limit_exceeded", f"a tenant may have at most {MAX_ENDPOINTS_PER_TENANT} endpoints")
    secret = whsec.generate()
    endpoint = store.create_endpoint(
        dynamodb, config.table_name, request.tenant_id, url=url, event_types=event_types, description=description,
        secret=secret, now=request.now,
    )
    logs.info("endpoint created", tenantId=request.tenant_id, endpointId=endpoint.endpoint_id)
    return 201, {**endpoint.to_api(), "secret": secret}


def list_endpoints(request: Request) -> tuple[int, Any]:
    config = settings.get()
    endpoints, cursor = store.list_endpoints(
        clients.dynamodb(), config.table_name, request.tenant_id, limit=_limit(request.query),
        cursor=request.query.get("cursor"),
    )
    return 200, {"data": [e.to_api() for e in endpoints], "nextCursor": cursor}


def get_endpoint(request: Request) -> tuple[int, Any]:
    return 200, _endpoint(request).to_api()


def update_endpoint(request: Request) -> tuple[int, Any]:
    body = request.body
    _only(body, ("url", "eventTypes", "description", "enabled"))
    if not body:
        raise ApiError(400, "validation_error", "nothing to update: send url, eventTypes, description or enabled", "body")
    endpoint = _endpoint(request)
    changes: dict[str, Any] = {}
    if "url" in body:
        changes["url"] = _url(body["url"])
    if "eventTypes" in body:
        changes["eventTypes"] = list(_event_types(body["eventTypes"]))
    if "description" in body:
        changes["description"] = _description(body["description"])
    enabled = body.get("enabled")
    if "enabled" in body and not isinstance(enabled, bool):
        raise ApiError(400, "validation_error", "enabled must be true or false", "enabled")
    if changes and endpoint.managed_by != store.MANAGED_BY_API:
        field = sorted(changes)[0]
        raise ApiError(409, "managed_by_config", "this endpoint is declared in the stack config; change it there", field)
    if enabled is True and not endpoint.declared_enabled:
        raise ApiError(409, "managed_by_config", "this endpoint is disabled in the stack config; enable it there", "enabled")
    config = settings.get()
    dynamodb = clients.dynamodb()
    if changes:
        store.update_endpoint(dynamodb, config.table_name, request.tenant_id, endpoint.endpoint_id, changes, request.now)
    if enabled is False:
        store.disable_endpoint(dynamodb, config.table_name, request.tenant_id, endpoint.endpoint_id, store.DISABLED_MANUALLY, request.now)
    elif enabled is True:
        store.enable_endpoint(dynamodb, config.table_name, request.tenant_id, endpoint.endpoint_id)
    logs.info("endpoint updated", tenantId=request.tenant_id, endpointId=endpoint.endpoint_id, fields=sorted(body))
    return 200, _endpoint(request).to_api()


def delete_endpoint(request: Request) -> tuple[int, Any]:
    endpoint = _endpoint(request)
    if endpoint.managed_by != store.MANAGED_BY_API:
        raise ApiError(409, "managed_by_config", "this endpoint is declared in the stack config; remove it there")
    config = settings.get()
    store.delete_endpoint(clients.dynamodb(), config.table_name, request.tenant_id, endpoint.endpoint_id)
    logs.info("endpoint deleted", tenantId=request.tenant_id, endpointId=endpoint.endpoint_id)
    return 204, None


def rotate_secret(request: Request) -> tuple[int, Any]:
    body = request.body
    _only(body, ("secret",))
    endpoint = _endpoint(request)
    if endpoint.managed_by != store.MANAGED_BY_API:
        raise ApiError(
            409, "managed_by_config",
            "this endpoint's secret is set in the stack config (auth.secret; keep the old one in auth.previousSecret while receivers switch)",
        )
    new_secret = body.get("secret")
    if new_secret is None:
        new_secret = whsec.generate()
    else:
        try:
            whsec.key(new_secret)
        except whsec.SecretFormatError as error:
            raise ApiError(400, "validation_error", f"secret {error}", "secret") from None
    config = settings.get()
    overlap = config.rotation_overlap_hours * 3600
    rotated = store.rotate_secret(
        clients.dynamodb(), config.table_name, request.tenant_id, endpoint.endpoint_id, new_secret, overlap, request.now
    )
    logs.info("endpoint secret rotated", tenantId=request.tenant_id, endpointId=endpoint.endpoint_id)
    expires = rotated.previous_expires_at
    return 200, {
        "id": endpoint.endpoint_id,
        "secret": new_secret,
        "previousSecretValidUntil": store.iso(expires) if expires is not None else None,
    }


# -- history ----------------------------------------------------------------------------------------


def list_attempts(request: Request) -> tuple[int, Any]:
    config = settings.get()
    items, cursor = store.list_attempts(
        clients.dynamodb(), config.table_name, request.tenant_id, limit=_limit(request.query),
        cursor=request.query.get("cursor"),
    )
    return 200, {"data": items, "nextCursor": cursor}


def list_endpoint_attempts(request: Request) -> tuple[int, Any]:
    endpoint = _endpoint(request)
    config = settings.get()
    items, cursor = store.list_attempts(
        clients.dynamodb(), config.table_name, request.tenant_id, endpoint_id=endpoint.endpoint_id,
        limit=_limit(request.query), cursor=request.query.get("cursor"),
    )
    return 200, {"data": items, "nextCursor": cursor}


def get_message(request: Request) -> tuple[int, Any]:
    config = settings.get()
    dynamodb = clients.dynamodb()
    event_id = request.params["eventId"]
    message = store.get_message(dynamodb, config.table_name, request.tenant_id, event_id)
    if message is None:
        raise ApiError(404, "not_found", "no such message (never delivered to an endpoint, or older than the history TTL)", "eventId")
    deliveries = store.deliveries_of(dynamodb, config.table_name, request.tenant_id, event_id)
    return 200, {**message.to_api(), "deliveries": [store.delivery_to_api(d) for d in deliveries]}


# -- resend and replay ------------------------------------------------------------------------------


def resend_message(request: Request) -> tuple[int, Any]:
    body = request.body
    _only(body, ("endpointId",))
    config = settings.get()
    dynamodb = clients.dynamodb()
    event_id = request.params["eventId"]
    message = store.get_message(dynamodb, config.table_name, request.tenant_id, event_id)
    if message is None:
        raise ApiError(404, "not_found", "no such message (never delivered to an endpoint, or older than the history TTL)", "eventId")
    deliveries = {d["endpointId"]: d for d in store.deliveries_of(dynamodb, config.table_name, request.tenant_id, event_id)}
    endpoint_id = body.get("endpointId")
    if endpoint_id is not None:
        if not isinstance(endpoint_id, str) or not ENDPOINT_ID_RE.match(endpoint_id):
            raise ApiError(400, "validation_error", "endpointId must be an endpoint id", "endpointId")
        targets = [endpoint_id]
    else:
        targets = sorted(deliveries)
        if not targets:
            raise ApiError(409, "conflict", "the message has no deliveries to resend; name an endpointId")
    queued = []
    for target in targets:
        endpoint = store.get_endpoint(dynamodb, config.table_name, request.tenant_id, target)
        delivery = deliveries.get(target)
        if endpoint is None:
            if endpoint_id is not None:
                raise ApiError(404, "not_found", "no such endpoint", "endpointId")
            continue
        if not endpoint.enabled:
            if endpoint_id is not None:
                raise ApiError(409, "endpoint_disabled", "the endpoint is disabled; enable it first", "endpointId")
            continue
        if delivery is not None and delivery.get("status") == store.PENDING:
            if endpoint_id is not None:
                raise ApiError(409, "delivery_in_progress", "the message is still being delivered to this endpoint", "endpointId")
            continue
        run = int((delivery or {}).get("run") or 0) + 1
        queued.append(tasks.task(request.tenant_id, event_id, target, message.event_type, run))
    if not queued:
        raise ApiError(409, "conflict", "nothing to resend: every delivery is in progress or its endpoint is disabled or gone")
    store.extend_message(dynamodb, config.table_name, request.tenant_id, event_id, store.ttl(request.now, config.history_ttl_days))
    tasks.send_all(queued)
    logs.info("message resent", tenantId=request.tenant_id, eventId=event_id, tasks=len(queued))
    return 202, {"queued": [{"endpointId": t["endpointId"], "run": t["run"]} for t in queued]}


def replay_failed(request: Request) -> tuple[int, Any]:
    body = request.body
    _only(body, ("since", "limit", "cursor"))
    since_text = body.get("since")
    if not isinstance(since_text, str):
        raise ApiError(400, "validation_error", "since is required: an ISO 8601 time like 2026-01-01T00:00:00Z", "since")
    try:
        since = store.parse_time(since_text)
    except ValueError:
        raise ApiError(400, "validation_error", "since must be an ISO 8601 time with a zone, like 2026-01-01T00:00:00Z", "since") from None
    limit = body.get("limit", MAX_REPLAY_BATCH)
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_REPLAY_BATCH:
        raise ApiError(400, "validation_error", f"limit must be a whole number from 1 to {MAX_REPLAY_BATCH}", "limit")
    cursor = body.get("cursor")
    if cursor is not None and not isinstance(cursor, str):
        raise ApiError(400, "validation_error", "cursor must be the nextCursor of a previous replay", "cursor")
    endpoint = _endpoint(request)
    if not endpoint.enabled:
        raise ApiError(409, "endpoint_disabled", "the endpoint is disabled; enable it first", "endpointId")
    config = settings.get()
    dynamodb = clients.dynamodb()
    event_ids, next_cursor = store.failed_deliveries_since(
        dynamodb, config.table_name, request.tenant_id, endpoint.endpoint_id, since, limit=limit, cursor=cursor
    )
    queued = []
    for event_id in store.unique(event_ids):
        delivery = store.get_delivery(dynamodb, config.table_name, request.tenant_id, event_id, endpoint.endpoint_id)
        if delivery is None or delivery.get("status") != store.FAILED:
            continue
        run = int(delivery.get("run") or 0) + 1
        queued.append(tasks.task(request.tenant_id, event_id, endpoint.endpoint_id, str(delivery.get("eventType") or ""), run))
        store.extend_message(dynamodb, config.table_name, request.tenant_id, event_id, store.ttl(request.now, config.history_ttl_days))
    tasks.send_all(queued)
    logs.info("failed messages replayed", tenantId=request.tenant_id, endpointId=endpoint.endpoint_id, tasks=len(queued))
    return 202, {"queued": len(queued), "eventIds": [t["eventId"] for t in queued], "nextCursor": next_cursor}


ACTIONS: dict[str, Callable[[Request], tuple[int, Any]]] = {
    "create_endpoint": create_endpoint,
    "list_endpoints": list_endpoints,
    "get_endpoint": get_endpoint,
    "update_endpoint": update_endpoint,
    "delete_endpoint": delete_endpoint,
    "rotate_secret": rotate_secret,
    "list_attempts": list_attempts,
    "list_endpoint_attempts": list_endpoint_attempts,
    "get_message": get_message,
    "resend_message": resend_message,
    "replay_failed": replay_failed,
}
