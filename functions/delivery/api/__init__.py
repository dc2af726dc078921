"""The subscription API: endpoints, secrets, delivery history, resend and replay, per tenant.

Handler ``functions.delivery.api.handler`` serves the HTTP API (payload format 2.0; the sandbox
calls it with the same events). API Gateway has already authorized the caller with IAM (SigV4) for
the exact route and path, so a caller's policy can be limited to ``/tenants/<id>/*``; or, on the
self-service API, its JWT authorizer verified a tenant token, whose tenant and scope the handler
checks against the route before anything else (:func:`functions.delivery.tokens.authorize`,
docs/tokens.md).

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
- ``POST .../endpoints/{endpointId}/test`` ``{"eventType"?}``: a test event through the real delivery
  path of that endpoint; the first attempt (200) or the event id to follow (202).
- ``GET /event-types``: the event-type catalog (``hookstack:eventTypes``).
- ``GET /openapi.json``: the API's OpenAPI 3.1 document (:mod:`functions.delivery.openapi`), unauthenticated.
- ``GET /tenants/{tenantId}/deliveries`` (``status``, ``since``, ``limit``, ``cursor``): deliveries
  whose status changed since ``since`` (default ``24h``), oldest first; ``GET /tenants/{tenantId}/stats``
  (``since``): per endpoint, published, delivered, failed, pending (:mod:`~.reports`).
- ``POST /tenants/{tenantId}/tokens``, ``POST /operator/tokens``, ``GET /.well-known/jwks.json``,
  ``GET /.well-known/openid-configuration``: tokens (:mod:`~.tokens`, docs/tokens.md).

Endpoints declared in the stack config (``managedBy: config``) are read-only here except for
``enabled``; their URL and secret change through ``pulumi config``.

The package is split by resource, as Svix's server splits its endpoint API:
:mod:`~.http` (parsing, errors, bounded JSON bodies, responses), :mod:`~.endpoints` (CRUD),
:mod:`~.secrets` (rotation), :mod:`~.messages` (history, resend, replay). The route table
(:mod:`functions.delivery.routes`) is the single list of routes; :data:`ACTIONS` maps each route's
action to the function that serves it.

Environment: :class:`functions.delivery.settings.ApiSettings`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from typing import Any

from functions import logs
from functions.delivery import routes, runtime, store
from functions.delivery.api import http
from functions.delivery.api.http import MAX_BODY_DEPTH, ApiError, ApiRuntime, Request
from functions.delivery.settings import ApiSettings
from functions.events import EVENT_ID_RE, TENANT_ID_RE
from functions.lazy import lazy

__all__ = ["ACTIONS", "EVENT_ID_RE", "MAX_BODY_DEPTH", "TENANT_ID_RE", "handler", "reset"]

# Each route's module is imported by its first request (functions.lazy): a read does not compile the writes.
ACTIONS: dict[str, Callable[[Request, ApiRuntime], tuple[int, Any]]] = {
    "create_endpoint": lazy("functions.delivery.api.endpoints", "create_endpoint"),
    "list_endpoints": lazy("functions.delivery.api.endpoints", "list_endpoints"),
    "get_endpoint": lazy("functions.delivery.api.endpoints", "get_endpoint"),
    "update_endpoint": lazy("functions.delivery.api.endpoints", "update_endpoint"),
    "delete_endpoint": lazy("functions.delivery.api.endpoints", "delete_endpoint"),
    "rotate_secret": lazy("functions.delivery.api.secrets", "rotate_secret"),
    "get_public_key": lazy("functions.delivery.api.signing_keys", "get_public_key"),
    "list_attempts": lazy("functions.delivery.api.messages", "list_attempts"),
    "list_endpoint_attempts": lazy("functions.delivery.api.messages", "list_endpoint_attempts"),
    "get_message": lazy("functions.delivery.api.messages", "get_message"),
    "resend_message": lazy("functions.delivery.api.messages", "resend_message"),
    "replay_failed": lazy("functions.delivery.api.messages", "replay_failed"),
    "mint_tenant_token": lazy("functions.delivery.api.tokens", "mint_tenant_token"),
    "mint_operator_token": lazy("functions.delivery.api.tokens", "mint_operator_token"),
    "jwks": lazy("functions.delivery.api.tokens", "jwks"),
    "operator_tenants": lazy("functions.delivery.api.operator", "list_tenants"),
    "operator_dead_letter_queues": lazy("functions.delivery.api.operator", "list_dead_letter_queues"),
    "openid_configuration": lazy("functions.delivery.api.tokens", "openid_configuration"),
    "send_test_event": lazy("functions.delivery.api.event_types", "send_test_event"),
    "list_event_types": lazy("functions.delivery.api.event_types", "list_event_types"),
    "openapi": lazy("functions.delivery.openapi", "serve"),
    "list_deliveries": lazy("functions.delivery.api.reports", "list_deliveries"),
    "get_stats": lazy("functions.delivery.api.reports", "get_stats"),
}

_state = runtime.process_state(lambda clients: ApiRuntime(ApiSettings.from_environ(os.environ), clients))
reset = _state.reset


def handler(event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
    request_context = event.get("requestContext") or {}
    method = str((request_context.get("http") or {}).get("method") or event.get("httpMethod") or "GET")
    request_id = request_context.get("requestId")
    caller = ((request_context.get("authorizer") or {}).get("iam") or {}).get("userArn")
    route_key = None
    try:
        route, params = routes.match(method, http.path(event))
        route_key = route.key
        if not route.public:
            _authorize(event, route, params)
        http.check_path_parameters(params, event.get("pathParameters"))
        request = Request(
            tenant_id=params.get("tenantId", ""),  # "": a route of no tenant (/event-types, /openapi.json)
            params=params,
            query=http.query(event),
            body=http.body(event, method),
            now=time.time(),
        )
        status, document = ACTIONS[route.action](request, _state.get())
    except routes.NoRoute as error:
        status, document = (
            error.status,
            http.error("not_found" if error.status == 404 else "method_not_allowed", str(error)),
        )
    except ApiError as error:
        status, document = error.status, http.error(error.code, error.message, error.field)
    except store.InvalidCursor as error:
        status, document = 400, http.error("validation_error", str(error), "cursor")
    except store.Conflict as error:
        status, document = 409, http.error("conflict", str(error))
    except Exception as error:
        logs.error("subscription API failed", route=route_key, requestId=request_id, error=repr(error)[:300])
        status, document = 500, http.error("internal_error", f"internal error (request id {request_id})")
    logs.info("subscription API", route=route_key, status=status, requestId=request_id, caller=caller)
    return http.response(status, document)


def _authorize(event: Mapping[str, Any], route: routes.Route, params: dict[str, str]) -> None:
    """A token caller (the self-service API's JWT authorizer verified it) may use only its tenant's
    routes within its scopes (:func:`functions.delivery.tokens.authorize`, which the sandbox runs too);
    a request that came through the self-service API without verified claims is refused. IAM callers
    were authorized by API Gateway for the exact route and path."""
    request_context = event.get("requestContext") or {}
    if not isinstance((request_context.get("authorizer") or {}).get("jwt"), Mapping):
        issuer = _state.get().settings.token_issuer
        domain = str(request_context.get("domainName") or "")
        if issuer and domain and issuer.split("://", 1)[-1] == domain:
            raise ApiError(401, "unauthorized", "a bearer token is required here")
        return
    from functions.delivery import tokens  # token callers only: an IAM request's cold start never loads it

    caller = tokens.token_caller(event)
    assert caller is not None  # the jwt context is there
    try:
        tokens.authorize(caller, route, params)
    except tokens.Denied as denied:
        raise ApiError(denied.status, denied.code, denied.message) from None
