"""Endpoints: create, list, read, update (including enable/disable) and delete.

Every field of the endpoint model (docs/endpoints.md) is settable here with the stack config's
camelCase names (:mod:`~.endpoint_body`); ``GET`` returns them all, secrets never. Endpoints declared
in the stack config (``managedBy: config``) are read-only here except for ``enabled``; their fields
and secrets change through ``pulumi config``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from functions import logs, whsec
from functions.delivery import runtime, store
from functions.delivery.api.http import ApiError, ApiRuntime, Request, only, page_limit
from functions.delivery.endpoint_fields import OAUTH
from functions.delivery.settings import API_TENANTS_LISTED
from functions.delivery.signing import V1A
from functions.delivery.vocab import DisabledReason, ManagedBy

if TYPE_CHECKING:
    from functions.delivery import ssrf

# The writes' validation (patterns, endpoint_body, oauth_clients, signing_keys) is imported by the
# first write of a process: a cold start that serves a read does not compile it
# (docs/benchmarks/cold-start.md; tests/functions/delivery/test_cold_imports.py).

MAX_EVENT_TYPES = 100
MAX_DESCRIPTION_CHARS = 500
MAX_ENDPOINTS_PER_TENANT = 100

# The SSRF guard's DNS lookup (tests and the sandbox replace it; None = the system resolver).
resolver: ssrf.Resolver | None = None


def endpoint_of(request: Request, state: ApiRuntime) -> store.Endpoint:
    """The endpoint the path names, or a 404."""
    endpoint = state.table.get_endpoint(request.tenant_id, request.params["endpointId"])
    if endpoint is None:
        raise ApiError(404, "not_found", "no such endpoint", "endpointId")
    return endpoint


# -- validation -------------------------------------------------------------------------------------


def _url(value: Any, state: ApiRuntime, field: str = "url") -> str:
    if not isinstance(value, str) or not value:
        raise ApiError(400, "validation_error", f"{field} must be an https:// URL", field)
    from functions.delivery import ssrf

    try:
        ssrf.check_url(value, state.settings.allowed_networks, resolver)
    except ssrf.UnsafeUrl as error:
        raise ApiError(400, "validation_error", f"{field} {error}", field) from None
    return value


def _event_types(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > MAX_EVENT_TYPES:
        raise ApiError(
            400, "validation_error", f"eventTypes must be a list of at most {MAX_EVENT_TYPES} strings", "eventTypes"
        )
    from functions import patterns

    types: list[str] = []
    for index, item in enumerate(value):
        if problem := patterns.event_type_problem(item):
            raise ApiError(400, "validation_error", f"eventTypes[{index}] {problem}", f"eventTypes[{index}]")
        if item in types:
            raise ApiError(400, "validation_error", f"eventTypes[{index}] repeats {item!r}", f"eventTypes[{index}]")
        types.append(item)
    return tuple(types)


def _description(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > MAX_DESCRIPTION_CHARS:
        raise ApiError(
            400,
            "validation_error",
            f"description must be a string of at most {MAX_DESCRIPTION_CHARS} characters",
            "description",
        )
    # Shown in the portal and printed by operators' tools: an escape sequence would drive a terminal.
    if any((char < " " or "\x7f" <= char < "\xa0") and char not in "\t\n" for char in value):  # C0, DEL, C1
        raise ApiError(
            400,
            "validation_error",
            "description must not hold control characters (tab and newline are allowed)",
            "description",
        )
    return value


# -- routes -----------------------------------------------------------------------------------------


def create_endpoint(request: Request, state: ApiRuntime) -> tuple[int, Any]:
    from functions.delivery.api import oauth_clients, signing_keys
    from functions.delivery.api.endpoint_body import OPTION_FIELDS, parse_options
    from functions.delivery.api.event_types import catalog_problem

    body = request.body
    only(body, ("url", "eventTypes", "description", *OPTION_FIELDS))
    if "url" not in body:
        raise ApiError(400, "validation_error", "url is required", "url")
    url = _url(body["url"], state)
    event_types = _event_types(body.get("eventTypes"))
    catalog_problem(state, event_types)
    description = _description(body.get("description"))
    parsed = parse_options(body, event_types)
    oauth_clients.check_token_url(parsed.options.auth, lambda value, field: _url(value, state, field))
    # An OAuth client secret lives in Secrets Manager only, never in the table.
    client_secret = parsed.auth_secret if parsed.options.auth.type == OAUTH else None
    if state.settings.api_tenants == API_TENANTS_LISTED and not state.table.tenant_covered(request.tenant_id):
        # The delivery rule would never send this tenant's events to the worker: refuse rather than
        # accept an endpoint that silently receives nothing (docs/delivery.md, "Which tenants").
        raise ApiError(
            409,
            "tenant_not_covered",
            f"tenant {request.tenant_id}'s events do not reach the delivery worker (hookstack:delivery.apiTenants "
            "is listed): set selfService: true on the tenant in hookstack:tenants (or hookstack:delivery.apiTenants: "
            "all) and run pulumi up",
        )
    if state.table.count_endpoints(request.tenant_id) >= MAX_ENDPOINTS_PER_TENANT:
        raise ApiError(409, "limit_exceeded", f"a tenant may have at most {MAX_ENDPOINTS_PER_TENANT} endpoints")
    secret = parsed.signing_secret or whsec.generate()
    endpoint = state.table.create_endpoint(
        request.tenant_id,
        url=url,
        event_types=event_types,
        description=description,
        secret=secret,
        now=request.now,
        options=parsed.options,
        auth_secret=None if client_secret else parsed.auth_secret,
        previous_secret=parsed.previous_secret,
    )
    if state.table.count_endpoints(request.tenant_id) > MAX_ENDPOINTS_PER_TENANT:
        # Creates racing past the count above all wrote: each that finds the bound exceeded after its
        # write removes its endpoint, so the bound holds (racers at the edge may all get 409; a retry works).
        state.table.delete_endpoint(request.tenant_id, endpoint.endpoint_id)
        raise ApiError(409, "limit_exceeded", f"a tenant may have at most {MAX_ENDPOINTS_PER_TENANT} endpoints")
    keys = {}
    if client_secret:
        try:
            oauth_clients.store_client_secret(state, request.tenant_id, endpoint.endpoint_id, client_secret)
        except Exception:
            state.table.delete_endpoint(request.tenant_id, endpoint.endpoint_id)  # no endpoint without its secret
            raise
    if parsed.options.signing_scheme == V1A:
        try:
            keys["publicKey"] = signing_keys.provision(state, endpoint)
        except Exception:
            state.table.delete_endpoint(request.tenant_id, endpoint.endpoint_id)  # no endpoint without its key
            raise
    logs.info("endpoint created", tenantId=request.tenant_id, endpointId=endpoint.endpoint_id)
    return 201, {**endpoint.to_api(), "secret": secret, **keys}


def list_endpoints(request: Request, state: ApiRuntime) -> tuple[int, Any]:
    endpoints, cursor = state.table.list_endpoints(
        request.tenant_id, limit=page_limit(request.query), cursor=request.query.get("cursor")
    )
    return 200, {"data": [e.to_api() for e in endpoints], "nextCursor": cursor}


def get_endpoint(request: Request, state: ApiRuntime) -> tuple[int, Any]:
    return 200, endpoint_of(request, state).to_api()


def update_endpoint(request: Request, state: ApiRuntime) -> tuple[int, Any]:
    from functions.delivery.api import oauth_clients, signing_keys
    from functions.delivery.api.endpoint_body import OPTION_FIELDS, parse_options
    from functions.delivery.api.event_types import catalog_problem

    body = request.body
    only(body, ("url", "eventTypes", "description", "enabled", *OPTION_FIELDS))
    if not body:
        raise ApiError(
            400,
            "validation_error",
            f"nothing to update: send url, eventTypes, description, enabled or {', '.join(OPTION_FIELDS)}",
            "body",
        )
    endpoint = endpoint_of(request, state)
    changes: dict[str, Any] = {}
    if "url" in body:
        changes["url"] = _url(body["url"], state)
    if "eventTypes" in body:
        changes["eventTypes"] = list(_event_types(body["eventTypes"]))
        catalog_problem(state, tuple(changes["eventTypes"]))
    if "description" in body:
        changes["description"] = _description(body["description"])
    parsed = None
    if any(field in body for field in OPTION_FIELDS):
        parsed = parse_options(body, changes.get("eventTypes", endpoint.event_types), endpoint.options)
        oauth_clients.check_token_url(parsed.options.auth, lambda value, field: _url(value, state, field))
        changes.update(_changed_attributes(endpoint.options, parsed.options))
        if parsed.auth_changed:
            changes.setdefault("auth", parsed.options.item_attributes()["auth"])
    enabled = body.get("enabled")
    if "enabled" in body and not isinstance(enabled, bool):
        raise ApiError(400, "validation_error", "enabled must be true or false", "enabled")
    if (changes or (parsed and parsed.auth_changed)) and endpoint.managed_by != ManagedBy.API:
        field = sorted(set(changes) | {k for k in body if k in OPTION_FIELDS})[0]
        raise ApiError(
            409, "managed_by_config", "this endpoint is declared in the stack config; change it there", field
        )
    if enabled is True and not endpoint.declared_enabled:
        raise ApiError(
            409, "managed_by_config", "this endpoint is disabled in the stack config; enable it there", "enabled"
        )
    client_secret = parsed.auth_secret if parsed and parsed.options.auth.type == OAUTH else None
    if client_secret:
        oauth_clients.store_client_secret(state, request.tenant_id, endpoint.endpoint_id, client_secret)
    if changes or (parsed and parsed.auth_changed):
        state.table.update_endpoint(
            request.tenant_id,
            endpoint.endpoint_id,
            changes,
            request.now,
            auth_secret=parsed.auth_secret if parsed and not client_secret else None,
            auth_changed=bool(parsed and parsed.auth_changed),
        )
    if parsed and parsed.options.signing_scheme == V1A:
        signing_keys.provision(state, endpoint)
    if enabled is False:
        if state.table.disable_endpoint(request.tenant_id, endpoint.endpoint_id, DisabledReason.MANUAL, request.now):
            _publish(state, request, endpoint.endpoint_id, "ENDPOINT_DISABLED", DisabledReason.MANUAL)
    elif enabled is True and state.table.enable_endpoint(request.tenant_id, endpoint.endpoint_id):
        _publish(state, request, endpoint.endpoint_id, "ENDPOINT_ENABLED", "enabled through the subscription API")
    logs.info("endpoint updated", tenantId=request.tenant_id, endpointId=endpoint.endpoint_id, fields=sorted(body))
    return 200, endpoint_of(request, state).to_api()


def _publish(state: ApiRuntime, request: Request, endpoint_id: str, kind: str, reason: str) -> None:
    """The operational event of a transition this request's write made (never raises)."""
    runtime.publish_operational(
        state.clients,
        state.settings,
        kind,
        tenant_id=request.tenant_id,
        endpoint_id=endpoint_id,
        reason=str(reason),
        at=request.now,
    )


def _changed_attributes(before: store.EndpointOptions, after: store.EndpointOptions) -> dict[str, Any]:
    """The definition item's attributes that differ (``None``: remove the attribute)."""
    old, new = before.item_attributes(), after.item_attributes()
    return {name: new[name] for name in new if new[name] != old[name]}


def delete_endpoint(request: Request, state: ApiRuntime) -> tuple[int, Any]:
    endpoint = endpoint_of(request, state)
    if endpoint.managed_by != ManagedBy.API:
        raise ApiError(409, "managed_by_config", "this endpoint is declared in the stack config; remove it there")
    from functions.delivery.api import oauth_clients, signing_keys

    state.table.delete_endpoint(request.tenant_id, endpoint.endpoint_id)
    signing_keys.discard(state, request.tenant_id, endpoint.endpoint_id)
    oauth_clients.discard(state, request.tenant_id, endpoint.endpoint_id)
    logs.info("endpoint deleted", tenantId=request.tenant_id, endpointId=endpoint.endpoint_id)
    return 204, None
