"""The sandbox's Secrets Manager secrets of config-declared worker endpoints (what
``components/delivery_endpoint_secrets.py`` declares on AWS): ``v1a`` private keys with their
public-key items, and OAuth client secrets, under the same names, in moto.

A generated ``v1a`` key is kept in the state file's ``local_secrets`` (as generated ``whsec_``
secrets are), so a restarted sandbox signs with the same key; the public keys are in the state file
as ``signing_public_keys`` (the stack output ``signingPublicKeys``).
"""

from __future__ import annotations

from typing import Any

from components.config import Destination, OAuthAuth, Tenant
from functions.delivery import oauth, store, v1a
from functions.delivery.store.dynamo import to_item


def create_endpoint_secrets(
    secretsmanager: Any,
    dynamodb: Any,
    table_name: str,
    destinations: list[tuple[int, int, Tenant, Destination]],
    local_secrets: dict[str, str],
) -> dict[str, dict[str, str]]:
    """Create the secrets; returns tenant id -> destination name -> ``whpk_`` public key."""
    public_keys: dict[str, dict[str, str]] = {}
    for tenant_index, destination_index, tenant, destination in destinations:
        endpoint_id = store.config_endpoint_id(destination.name)
        if destination.signing is not None and destination.signing.scheme == v1a.SCHEME:
            path = f"tenants[{tenant_index}].destinations[{destination_index}].signing.privateKey"
            private = local_secrets.get(path) or v1a.generate()[0]
            local_secrets[path] = private
            _put(secretsmanager, v1a.secret_name(table_name, tenant.id, endpoint_id), private)
            public = v1a.public_key(private)
            dynamodb.put_item(TableName=table_name, Item=to_item(v1a.public_key_item(tenant.id, endpoint_id, public)))
            public_keys.setdefault(tenant.id, {})[destination.name] = public
        if isinstance(destination.auth, OAuthAuth):
            name = oauth.client_secret_name(table_name, tenant.id, endpoint_id)
            _put(secretsmanager, name, destination.auth.client_secret.reveal())
    return public_keys


def _put(secretsmanager: Any, name: str, value: str) -> None:
    try:
        secretsmanager.create_secret(Name=name, SecretString=value)
    except secretsmanager.exceptions.ResourceExistsException:
        secretsmanager.put_secret_value(SecretId=name, SecretString=value)
