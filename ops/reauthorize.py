"""Re-authorize a connection: ``UpdateConnection`` with its credential, read from stdin.

EventBridge de-authorizes a Basic or API-key connection when the endpoint answers 401/407 (and an
OAuth connection when its token request fails); the API destination stops delivering until the
connection is updated. Updating it with the (corrected) credential starts authorization again.

The credential never appears in argv, output or logs. The non-secret half (API key header name,
user name, OAuth client id, endpoint) is taken from ``DescribeConnection`` so that it cannot
drift from what Pulumi deployed. Pulumi does not read connection secrets back: after an
emergency update with a NEW value, set the same value in the stack config (docs/runbook.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from components.config.limits import CONNECTION_PARAMETER_CONTROL_RE
from ops.outputs import OpsError

MAX_SECRET_CHARS = 512


def update_request(connection: Mapping[str, Any], secret: str) -> dict[str, Any]:
    """The ``UpdateConnection`` request that sets ``secret`` on ``connection`` (DescribeConnection)."""
    name = str(connection["Name"])
    if not secret or len(secret) > MAX_SECRET_CHARS:
        raise OpsError(f"the credential read from stdin must be 1-{MAX_SECRET_CHARS} characters, got {len(secret)}")
    if CONNECTION_PARAMETER_CONTROL_RE.search(secret):
        # As the config refuses it: a line break or tab inside (a multi-line paste) would be sent as is.
        raise OpsError("the credential read from stdin must not contain control characters (line breaks, tabs)")
    kind = connection.get("AuthorizationType")
    params = connection.get("AuthParameters") or {}
    if kind == "API_KEY":
        key_name = (params.get("ApiKeyAuthParameters") or {}).get("ApiKeyName")
        auth: dict[str, Any] = {
            "ApiKeyAuthParameters": {"ApiKeyName": _required(key_name, name, "ApiKeyName"), "ApiKeyValue": secret}
        }
    elif kind == "BASIC":
        username = (params.get("BasicAuthParameters") or {}).get("Username")
        auth = {"BasicAuthParameters": {"Username": _required(username, name, "Username"), "Password": secret}}
    elif kind == "OAUTH_CLIENT_CREDENTIALS":
        client_id = ((params.get("OAuthParameters") or {}).get("ClientParameters") or {}).get("ClientID")
        auth = {
            "OAuthParameters": {
                "ClientParameters": {"ClientID": _required(client_id, name, "ClientID"), "ClientSecret": secret}
            }
        }
    else:
        raise OpsError(f"connection {name}: authorization type {kind!r} is not one hookstack deploys")
    return {"Name": name, "AuthorizationType": kind, "AuthParameters": auth}


def _required(value: Any, connection: str, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise OpsError(
            f"connection {connection}: DescribeConnection returned no {what}; update it with `pulumi up` instead"
        )
    return value


def reauthorize(events: Any, name: str, secret: str) -> dict[str, Any]:
    """Update the connection; returns its new state (never the credential)."""
    connection = events.describe_connection(Name=name)
    response = events.update_connection(**update_request(connection, secret))
    return {"name": name, "state": response.get("ConnectionState"), "previousState": connection.get("ConnectionState")}
