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
from dataclasses import dataclass
from typing import Any

from functions.events import TENANT_ID_RE


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    action: str
    """Key of :data:`functions.delivery.api.ACTIONS`: the function that serves the route."""

    @property
    def key(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def pattern(self) -> re.Pattern[str]:
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", self.path)
        return re.compile(f"^{regex}/?$")


ROUTES: tuple[Route, ...] = (
    Route("POST", "/tenants/{tenantId}/endpoints", "create_endpoint"),
    Route("GET", "/tenants/{tenantId}/endpoints", "list_endpoints"),
    Route("GET", "/tenants/{tenantId}/endpoints/{endpointId}", "get_endpoint"),
    Route("PATCH", "/tenants/{tenantId}/endpoints/{endpointId}", "update_endpoint"),
    Route("DELETE", "/tenants/{tenantId}/endpoints/{endpointId}", "delete_endpoint"),
    Route("POST", "/tenants/{tenantId}/endpoints/{endpointId}/rotate-secret", "rotate_secret"),
    Route("GET", "/tenants/{tenantId}/endpoints/{endpointId}/public-key", "get_public_key"),
    Route("GET", "/tenants/{tenantId}/endpoints/{endpointId}/attempts", "list_endpoint_attempts"),
    Route("POST", "/tenants/{tenantId}/endpoints/{endpointId}/replay", "replay_failed"),
    Route("GET", "/tenants/{tenantId}/attempts", "list_attempts"),
    Route("GET", "/tenants/{tenantId}/messages/{eventId}", "get_message"),
    Route("POST", "/tenants/{tenantId}/messages/{eventId}/resend", "resend_message"),
    Route("GET", "/tenants/{tenantId}/deliveries", "list_deliveries"),
    Route("GET", "/tenants/{tenantId}/stats", "get_stats"),
)


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
    for route in ROUTES:
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
