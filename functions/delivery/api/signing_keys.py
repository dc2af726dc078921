"""``v1a`` (ed25519) key pairs of API-created endpoints, and the route that serves the public key.

An endpoint that signs with ``v1a`` gets its key pair when it is created with, or changed to,
``signing.scheme: v1a``: the private ``whsk_`` key goes to Secrets Manager
(:func:`functions.delivery.v1a.secret_name`), the public ``whpk_`` key into the table
(:func:`functions.delivery.v1a.public_key_item`), where ``GET /tenants/{t}/endpoints/{e}/public-key`` reads it. Deleting the
endpoint schedules its secret for deletion. Config-declared endpoints get theirs from Pulumi
(``components/delivery_endpoints.py``), under the same name.
"""

from __future__ import annotations

import contextlib
from typing import Any

from functions import logs
from functions.delivery import store, v1a
from functions.delivery.api.http import ApiError, ApiRuntime, Request
from functions.delivery.store.dynamo import from_item, to_item

# A deleted endpoint's key can be restored this long (Secrets Manager's shortest recovery window).
DELETED_KEY_RECOVERY_DAYS = 7


def public_key_of(state: ApiRuntime, tenant_id: str, endpoint_id: str) -> str | None:
    item = state.table.client.get_item(
        TableName=state.table.name, Key=to_item(v1a.public_key_item_key(tenant_id, endpoint_id)), ConsistentRead=True
    ).get("Item")
    value = from_item(item or {}).get("publicKey")
    return str(value) if value else None


def provision(state: ApiRuntime, endpoint: store.Endpoint) -> str:
    """Make the endpoint's key pair unless it has one; returns the public key."""
    existing = public_key_of(state, endpoint.tenant_id, endpoint.endpoint_id)
    if existing:
        return existing
    private, public = v1a.generate()
    name = v1a.secret_name(state.settings.table_name, endpoint.tenant_id, endpoint.endpoint_id)
    manager = state.clients("secretsmanager")
    try:
        manager.create_secret(
            Name=name,
            SecretString=private,
            Description=f"hookstack v1a signing key of endpoint {endpoint.endpoint_id} (tenant {endpoint.tenant_id})",
        )
    except manager.exceptions.ResourceExistsException:
        # A crash after the secret and before the public key: keep the stored key, derive its half.
        stored = v1a.keys.private_key(manager, name)
        public = v1a.public_key(stored)
    state.table.client.put_item(
        TableName=state.table.name, Item=to_item(v1a.public_key_item(endpoint.tenant_id, endpoint.endpoint_id, public))
    )
    logs.info("v1a key pair created", tenantId=endpoint.tenant_id, endpointId=endpoint.endpoint_id)
    return public


def discard(state: ApiRuntime, tenant_id: str, endpoint_id: str) -> None:
    """Schedule a deleted endpoint's private key for deletion (nothing to do without one)."""
    state.table.client.delete_item(
        TableName=state.table.name, Key=to_item(v1a.public_key_item_key(tenant_id, endpoint_id))
    )
    manager = state.clients("secretsmanager")
    with contextlib.suppress(manager.exceptions.ResourceNotFoundException):
        manager.delete_secret(
            SecretId=v1a.secret_name(state.settings.table_name, tenant_id, endpoint_id),
            RecoveryWindowInDays=DELETED_KEY_RECOVERY_DAYS,
        )


def get_public_key(request: Request, state: ApiRuntime) -> tuple[int, Any]:
    endpoint = state.table.get_endpoint(request.tenant_id, request.params["endpointId"])
    if endpoint is None:
        raise ApiError(404, "not_found", "no such endpoint", "endpointId")
    public = public_key_of(state, endpoint.tenant_id, endpoint.endpoint_id)
    if endpoint.options.signing_scheme != v1a.SCHEME or public is None:
        raise ApiError(
            404,
            "not_found",
            f"endpoint signs with {endpoint.options.signing_scheme} (a shared secret): it has no public key; "
            "set signing.scheme to v1a for ed25519 signatures",
            "endpointId",
        )
    return 200, {"endpointId": endpoint.endpoint_id, "scheme": v1a.SCHEME, "publicKey": public}
