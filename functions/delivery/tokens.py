"""Tenant-scoped access tokens: their claims, the request that mints one, and who a token lets in.

A token is a compact JWT (RS256, :mod:`functions.delivery.jws`) with ``iss`` (the self-service API's
URL), ``aud`` (:data:`AUDIENCE`), ``sub`` (the tenant id, or :data:`OPERATOR_SUBJECT`), ``scope``
(space-separated), ``iat``, ``exp`` and ``jti``. API Gateway's JWT authorizer (or the sandbox's
self-service server, with :func:`functions.delivery.jws.verify`) has checked the signature, issuer,
audience, expiry and that the token holds one of the route's scopes before the handler runs;
:func:`authorize` is what only the handler can check, the path's tenant against ``sub``, and repeats
the scope check so no route depends on its declaration alone. docs/tokens.md has the design.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from typing import Any

from functions.delivery.routes import ANY_SCOPE, OPERATOR_SCOPE, ROUTES, TENANT_SCOPES, Route
from functions.records import record

AUDIENCE = "hookstack-self-service"
OPERATOR_SUBJECT = "operator"
DEFAULT_EXPIRES_SECONDS, MIN_EXPIRES_SECONDS, MAX_EXPIRES_SECONDS = 3600, 60, 86_400
WELL_KNOWN_JWKS = "/.well-known/jwks.json"
WELL_KNOWN_OPENID = "/.well-known/openid-configuration"
# The self-service API's CORS answer (the component's configuration and the sandbox's gate): a bearer
# header, JSON bodies, no cookies.
CORS_ALLOW_HEADERS = ("authorization", "content-type")
CORS_MAX_AGE_SECONDS = 600


def cors_methods() -> list[str]:
    """Every method a token or public route takes (what the portal's preflight asks about)."""
    return sorted({route.method for route in ROUTES if route.scope is not None or route.public})


class TokenRequestError(ValueError):
    """A mint request's field is not allowed; ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def check_scopes(value: Any) -> tuple[str, ...]:
    """The requested tenant scopes: a non-empty list of :data:`TENANT_SCOPES`, duplicates dropped."""
    allowed = ", ".join(TENANT_SCOPES)
    if not isinstance(value, list) or not value:
        raise TokenRequestError("scopes", f"scopes must be a non-empty list of: {allowed}")
    for index, scope in enumerate(value):
        if scope not in TENANT_SCOPES:
            raise TokenRequestError(f"scopes[{index}]", f"scopes[{index}] {str(scope)[:64]!r} is not one of: {allowed}")
    return tuple(scope for scope in TENANT_SCOPES if scope in value)


def check_expires(value: Any) -> int:
    """``expiresInSeconds``: a whole number from 60 to 86,400 (absent: 3,600)."""
    if value is None:
        return DEFAULT_EXPIRES_SECONDS
    if isinstance(value, bool) or not isinstance(value, int) or not MIN_EXPIRES_SECONDS <= value <= MAX_EXPIRES_SECONDS:
        raise TokenRequestError(
            "expiresInSeconds",
            f"expiresInSeconds must be a whole number from {MIN_EXPIRES_SECONDS} to {MAX_EXPIRES_SECONDS}",
        )
    return value


def claims(*, issuer: str, subject: str, scopes: tuple[str, ...], now: float, expires_in: int) -> dict[str, Any]:
    issued = int(now)
    return {
        "iss": issuer,
        "aud": AUDIENCE,
        "sub": subject,
        "scope": " ".join(scopes),
        "iat": issued,
        "exp": issued + expires_in,
        "jti": uuid.uuid4().hex,
    }


def iso_utc(epoch: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def openid_configuration(issuer: str) -> dict[str, Any]:
    """The discovery document API Gateway's JWT authorizer reads ``jwks_uri`` from."""
    return {
        "issuer": issuer,
        "jwks_uri": f"{issuer}{WELL_KNOWN_JWKS}",
        "response_types_supported": ["token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": [*TENANT_SCOPES, OPERATOR_SCOPE],
    }


# -- the caller a request carries ------------------------------------------------------------------------


@record
class Caller:
    """A token's holder, from the claims the authorizer verified."""

    subject: str
    scopes: frozenset[str]

    @property
    def is_operator(self) -> bool:
        return self.subject == OPERATOR_SUBJECT and OPERATOR_SCOPE in self.scopes


def token_caller(event: Mapping[str, Any]) -> Caller | None:
    """The token caller of a payload 2.0 event (``requestContext.authorizer.jwt``), ``None`` for IAM."""
    authorizer = (event.get("requestContext") or {}).get("authorizer") or {}
    jwt = authorizer.get("jwt") if isinstance(authorizer, Mapping) else None
    if not isinstance(jwt, Mapping):
        return None
    token_claims = jwt.get("claims") or {}
    scope = token_claims.get("scope") if isinstance(token_claims, Mapping) else None
    subject = token_claims.get("sub") if isinstance(token_claims, Mapping) else None
    return Caller(
        subject=subject if isinstance(subject, str) else "",
        scopes=frozenset(scope.split()) if isinstance(scope, str) else frozenset(),
    )


class Denied(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def authorize(caller: Caller, route: Route, params: Mapping[str, str]) -> None:
    """Raise :class:`Denied` (403) unless ``caller`` may call ``route`` with these raw path parameters.

    The tenant is compared with the path segment exactly as sent: ``acme`` is not ``ACME``, ``acm%65``
    nor ``acme%2F..``; only the operator's token is not bound to one tenant.
    """
    if route.scope is None:
        raise Denied(403, "forbidden", f"{route.key} takes IAM callers only, not tokens")
    if not caller.scopes.intersection(route.token_scopes):
        needed = "one of the token scopes " + ", ".join(route.token_scopes) if route.scope == ANY_SCOPE else route.scope
        raise Denied(403, "insufficient_scope", f"this route needs the token scope {needed}")
    if caller.is_operator or "{tenantId}" not in route.path:
        return  # a route of no tenant (GET /event-types) is every token holder's
    if "tenantId" not in params or caller.subject != params["tenantId"]:
        raise Denied(403, "forbidden", "the token is not for this tenant")
