"""OAuth client credentials of API-created endpoints: the ``auth`` body and the client secret's home.

``auth: {"type": "oauth", "authorizationEndpoint": "https://...", "clientId": "...", "clientSecret":
"...", "scope": "..."}`` (``tokenUrl`` is taken as another name for ``authorizationEndpoint``, the
stack config's key). The client secret goes to Secrets Manager only
(:func:`functions.delivery.oauth.client_secret_name`), never to the table; the token URL passes the
SSRF guard as the endpoint's URL does (:func:`check_token_url`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from typing import Any

from functions.delivery import endpoint_fields as fields
from functions.delivery import oauth
from functions.delivery.api.http import ApiError, ApiRuntime
from functions.delivery.store import EndpointAuth

KEYS = ("type", "authorizationEndpoint", "tokenUrl", "clientId", "clientSecret", "scope")
MAX_CLIENT_ID_CHARS = MAX_SCOPE_CHARS = 512
MAX_CLIENT_SECRET_CHARS = 4096
# A deleted endpoint's client secret can be restored this long (Secrets Manager's shortest window).
DELETED_SECRET_RECOVERY_DAYS = 7


def _invalid(field: str, message: str) -> ApiError:
    return ApiError(400, "validation_error", f"{field} {message}", field)


def oauth_auth(value: Mapping[str, Any]) -> tuple[EndpointAuth, str]:
    """The ``oauth`` auth of a request body and its client secret (to store in Secrets Manager)."""
    for key in value:
        if key not in KEYS:
            raise ApiError(
                400, "validation_error", f"unknown field auth.{key}; allowed: {', '.join(KEYS)}", f"auth.{key}"
            )
    if "tokenUrl" in value and "authorizationEndpoint" in value:
        raise _invalid("auth.tokenUrl", "is another name for auth.authorizationEndpoint: send one of them")
    url_key = "tokenUrl" if "tokenUrl" in value else "authorizationEndpoint"
    url = value.get(url_key)
    if not isinstance(url, str) or not url:
        raise _invalid(f"auth.{url_key}", "is required: the https:// token endpoint")
    client_id = value.get("clientId")
    if not isinstance(client_id, str) or not 1 <= len(client_id) <= MAX_CLIENT_ID_CHARS or ":" in client_id:
        raise _invalid("auth.clientId", f"must be 1-{MAX_CLIENT_ID_CHARS} characters without ':'")
    if problem := fields.header_value_problem(client_id, MAX_CLIENT_ID_CHARS):
        raise _invalid("auth.clientId", problem)
    secret = value.get("clientSecret")
    if problem := fields.header_value_problem(secret, MAX_CLIENT_SECRET_CHARS):
        raise _invalid("auth.clientSecret", problem)
    scope = value.get("scope")
    if scope is not None and (problem := fields.header_value_problem(scope, MAX_SCOPE_CHARS)):
        raise _invalid("auth.scope", problem)
    return EndpointAuth(type=oauth.TYPE, token_url=url, client_id=client_id, scope=scope), str(secret)


def check_token_url(auth: EndpointAuth, check: Callable[[Any, str], str]) -> None:
    """The token URL through the same checks as the endpoint's (``check``: the API's URL check)."""
    if auth.type == oauth.TYPE:
        check(auth.token_url, "auth.authorizationEndpoint")


def store_client_secret(state: ApiRuntime, tenant_id: str, endpoint_id: str, secret: str) -> None:
    manager = state.clients("secretsmanager")
    name = oauth.client_secret_name(state.settings.table_name, tenant_id, endpoint_id)
    try:
        manager.put_secret_value(SecretId=name, SecretString=secret)
    except manager.exceptions.ResourceNotFoundException:
        manager.create_secret(
            Name=name, SecretString=secret, Description=f"hookstack OAuth client secret of endpoint {endpoint_id}"
        )


def discard(state: ApiRuntime, tenant_id: str, endpoint_id: str) -> None:
    manager = state.clients("secretsmanager")
    with contextlib.suppress(manager.exceptions.ResourceNotFoundException):
        manager.delete_secret(
            SecretId=oauth.client_secret_name(state.settings.table_name, tenant_id, endpoint_id),
            RecoveryWindowInDays=DELETED_SECRET_RECOVERY_DAYS,
        )
