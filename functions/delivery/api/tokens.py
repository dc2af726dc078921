"""Token routes: mint a tenant's or an operator's token, and publish the keys that verify them.

- ``POST /tenants/{tenantId}/tokens`` ``{"scopes", "expiresInSeconds"?}`` -> 201 ``{"token", "expiresAt"}``
  (IAM callers, and operator tokens through the self-service API).
- ``POST /operator/tokens`` ``{"expiresInSeconds"?}`` -> 201, a token with ``sub`` and ``scope``
  ``operator`` (IAM callers only).
- ``GET /.well-known/jwks.json`` and ``GET /.well-known/openid-configuration`` (public): what API
  Gateway's JWT authorizer reads to verify tokens.

The signing key is read from Secrets Manager (:mod:`functions.delivery.token_keys`); ``cryptography``
(the crypto layer) is imported at the first token, not at the handler's import.
"""

from __future__ import annotations

from typing import Any

from functions.delivery import jws, token_keys, tokens
from functions.delivery.api import http
from functions.delivery.api.http import ApiError, ApiRuntime, Request
from functions.delivery.routes import OPERATOR_SCOPE


def _issuer(state: ApiRuntime) -> str:
    issuer = state.settings.token_issuer
    if not issuer:
        raise ApiError(503, "tokens_not_configured", "tokens are not configured here (DELIVERY_TOKEN_ISSUER is unset)")
    return issuer


def _mint(
    state: ApiRuntime, request: Request, subject: str, scopes: tuple[str, ...], expires_in: int
) -> dict[str, Any]:
    issuer = _issuer(state)
    pem, kid = token_keys.CACHE.get(state.clients("secretsmanager"), state.settings.table_name).current
    claims = tokens.claims(issuer=issuer, subject=subject, scopes=scopes, now=request.now, expires_in=expires_in)
    return {"token": jws.sign(claims, pem, kid), "expiresAt": tokens.iso_utc(claims["exp"])}


def _checked(check: Any, value: Any) -> Any:
    try:
        return check(value)
    except tokens.TokenRequestError as error:
        raise ApiError(400, "validation_error", str(error), error.field) from None


def mint_tenant_token(request: Request, state: ApiRuntime) -> tuple[int, Any]:
    http.only(request.body, ("scopes", "expiresInSeconds"))
    scopes = _checked(tokens.check_scopes, request.body.get("scopes"))
    expires_in = _checked(tokens.check_expires, request.body.get("expiresInSeconds"))
    return 201, _mint(state, request, request.tenant_id, scopes, expires_in)


def mint_operator_token(request: Request, state: ApiRuntime) -> tuple[int, Any]:
    http.only(request.body, ("expiresInSeconds",))
    expires_in = _checked(tokens.check_expires, request.body.get("expiresInSeconds"))
    return 201, _mint(state, request, tokens.OPERATOR_SUBJECT, (OPERATOR_SCOPE,), expires_in)


def jwks(request: Request, state: ApiRuntime) -> tuple[int, Any]:
    _issuer(state)
    # Read fresh (not the signing cache): a key that signs is published before a token names it.
    return 200, token_keys.read(state.clients("secretsmanager"), state.settings.table_name).jwks()


def openid_configuration(request: Request, state: ApiRuntime) -> tuple[int, Any]:
    return 200, tokens.openid_configuration(_issuer(state))
