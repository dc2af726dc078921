"""The subscription API's routes: one table for the handler's router and the HTTP API's routes.

The component declares one API Gateway route per entry (``route_key`` = ``"<METHOD> <path>"``, IAM
authorization), and :func:`match` routes a request by method and raw path, so the local sandbox
can serve the handler over plain HTTP with the same paths.

Path parameters are returned exactly as sent, never percent-decoded: no valid id needs encoding
(tenant ids, endpoint ids and event ids are all drawn from characters a URL path carries as is), so
the handler refuses any ``%`` in them rather than decode ``/tenants/acme%2F..%2Fother`` into another
tenant's path. :func:`tenant_policy` is the IAM policy a tenant's caller gets (docs/delivery.md).
"""

from __future__ import annotations

import re
from typing import Any

from functions.events import TENANT_ID_RE
from functions.records import record

# Token scopes (docs/tokens.md). A tenant token holds a non-empty subset of TENANT_SCOPES; an operator
# token holds OPERATOR_SCOPE, which every token route accepts.
ENDPOINTS_READ, ENDPOINTS_WRITE = "endpoints:read", "endpoints:write"
MESSAGES_READ, MESSAGES_REPLAY = "messages:read", "messages:replay"
TENANT_SCOPES = (ENDPOINTS_READ, ENDPOINTS_WRITE, MESSAGES_READ, MESSAGES_REPLAY)
OPERATOR_SCOPE = "operator"
# A route any valid token may call, whatever its scopes (GET /event-types: the catalog is no secret).
ANY_SCOPE = "*"
# A test event holds the API function until its attempt is answered (up to
# functions.delivery.api.event_types.TEST_WAIT_SECONDS, 20 s): at the stage's 50 requests a second one
# caller could keep about 1,000 invocations running, the account's whole default concurrency. Its
# route is throttled on every stage to this rate and burst, which bounds it to about 25 at once.
TEST_EVENT_RATE_PER_SECOND, TEST_EVENT_BURST = 1.0, 5


@record
class Route:
    method: str
    path: str
    action: str
    """Key of :data:`functions.delivery.api.ACTIONS`: the function that serves the route."""
    scope: str | None = None
    """The token scope the route needs; ``None``: IAM callers only (never reachable with a token)."""
    public: bool = False
    """No authorization at all (the JWKS and the OpenID discovery document the authorizer reads, the
    OpenAPI document)."""
    throttle: tuple[float, int] | None = None
    """(requests per second, burst) of this route on every stage, below the stage's default."""

    @property
    def token_scopes(self) -> tuple[str, ...]:
        """The scopes of which a token needs one (API Gateway's ``authorization_scopes``)."""
        if self.scope is None:
            return ()
        if self.scope == ANY_SCOPE:
            return tuple(sorted({*TENANT_SCOPES, OPERATOR_SCOPE}))
        return tuple(sorted({self.scope, OPERATOR_SCOPE}))

    @property
    def key(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def pattern(self) -> re.Pattern[str]:
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", self.path)
        return re.compile(f"^{regex}/?$")


ROUTES: tuple[Route, ...] = (
    Route("POST", "/tenants/{tenantId}/endpoints", "create_endpoint", ENDPOINTS_WRITE),
    Route("GET", "/tenants/{tenantId}/endpoints", "list_endpoints", ENDPOINTS_READ),
    Route("GET", "/tenants/{tenantId}/endpoints/{endpointId}", "get_endpoint", ENDPOINTS_READ),
    Route("PATCH", "/tenants/{tenantId}/endpoints/{endpointId}", "update_endpoint", ENDPOINTS_WRITE),
    Route("DELETE", "/tenants/{tenantId}/endpoints/{endpointId}", "delete_endpoint", ENDPOINTS_WRITE),
    Route("POST", "/tenants/{tenantId}/endpoints/{endpointId}/rotate-secret", "rotate_secret", ENDPOINTS_WRITE),
    Route("GET", "/tenants/{tenantId}/endpoints/{endpointId}/public-key", "get_public_key", ENDPOINTS_READ),
    Route("GET", "/tenants/{tenantId}/endpoints/{endpointId}/attempts", "list_endpoint_attempts", MESSAGES_READ),
    Route("POST", "/tenants/{tenantId}/endpoints/{endpointId}/replay", "replay_failed", MESSAGES_REPLAY),
    Route("GET", "/tenants/{tenantId}/attempts", "list_attempts", MESSAGES_READ),
    Route("GET", "/tenants/{tenantId}/messages/{eventId}", "get_message", MESSAGES_READ),
    Route("GET", "/tenants/{tenantId}/deliveries", "list_deliveries", MESSAGES_READ),
    Route("GET", "/tenants/{tenantId}/stats", "get_stats", MESSAGES_READ),
    Route("POST", "/tenants/{tenantId}/messages/{eventId}/resend", "resend_message", MESSAGES_REPLAY),
    Route(
        "POST",
        "/tenants/{tenantId}/endpoints/{endpointId}/test",
        "send_test_event",
        ENDPOINTS_WRITE,
        throttle=(TEST_EVENT_RATE_PER_SECOND, TEST_EVENT_BURST),
    ),
    # Tokens (docs/tokens.md): the SaaS backend (IAM) or an operator token mints a tenant's token;
    # only IAM mints operator tokens. The JWKS and discovery document are public (the authorizer reads them).
    Route("POST", "/tenants/{tenantId}/tokens", "mint_tenant_token", OPERATOR_SCOPE),
    Route("POST", "/operator/tokens", "mint_operator_token"),
    # The operator view (docs/portal.md): every tenant's endpoints by health, the dead-letter queues.
    Route("GET", "/operator/tenants", "operator_tenants", OPERATOR_SCOPE),
    Route("GET", "/operator/dead-letter-queues", "operator_dead_letter_queues", OPERATOR_SCOPE),
    Route("GET", "/.well-known/jwks.json", "jwks", public=True),
    Route("GET", "/.well-known/openid-configuration", "openid_configuration", public=True),
    # Test events and the event-type catalog (docs/endpoints.md); the API's own OpenAPI document.
    Route("GET", "/event-types", "list_event_types", ANY_SCOPE),
    Route("GET", "/openapi.json", "openapi", public=True),
)

# The routes under one tenant's path (operator and public routes are no tenant's).
TENANT_ROUTES = tuple(route for route in ROUTES if route.path.startswith("/tenants/{tenantId}/"))


class NoRoute(LookupError):
    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def match(method: str, path: str) -> tuple[Route, dict[str, str]]:
    """The route for ``method`` and the raw ``path``, and its path parameters as sent (not decoded).

    Raises :class:`NoRoute` with status 404 (no such path) or 405 (path exists, method does not).
    """
    methods = []
    for route in ROUTES:
        found = route.pattern.match(path)
        if not found:
            continue
        if route.method == method.upper():
            return route, dict(found.groupdict())
        methods.append(route.method)
    if methods:
        raise NoRoute(f"{method.upper()} is not allowed here; use {', '.join(sorted(set(methods)))}", 405)
    raise NoRoute(f"no route for {path}", 404)


STAGE = "$default"


def tenant_policy(execution_arn: str, tenant_id: str) -> dict[str, Any]:
    """The IAM policy that lets a caller use the subscription API for ``tenant_id`` only.

    ``execution_arn`` is the HTTP API's ``arn:aws:execute-api:<region>:<account>:<api-id>``. One
    resource per route with the stage, the method and ``/tenants/<id>/`` spelled out: the only
    wildcards stand for an endpoint or event id *after* the tenant's segment, so every request the
    policy allows starts with ``/tenants/<id>/`` (``acme`` never matches ``acme2``).
    """
    if not TENANT_ID_RE.fullmatch(tenant_id):
        raise ValueError(f"tenant id {tenant_id!r} is not a valid tenant id")
    resources = []
    for route in TENANT_ROUTES:
        path = route.path.replace("{tenantId}", tenant_id)
        path = re.sub(r"\{\w+\}", "*", path)
        resources.append(f"{execution_arn}/{STAGE}/{route.method}{path}")
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "SubscriptionApiForOneTenant",
                "Effect": "Allow",
                "Action": "execute-api:Invoke",
                "Resource": resources,
            }
        ],
    }
