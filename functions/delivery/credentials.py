"""What an attempt signs and authenticates with, when it is not in the endpoint's secrets item: the
``v1a`` private key (Secrets Manager, :mod:`~functions.delivery.v1a`) and the OAuth access token
(:mod:`~functions.delivery.oauth`). Each lookup that fails for good is returned as the attempt's
response (nothing is sent), so the worker records it like any other failed attempt."""

from __future__ import annotations

from typing import Any

from functions.delivery import sender, store
from functions.delivery.endpoint_fields import OAUTH
from functions.delivery.signing import V1A


def prepare(
    clients: Any,
    table: store.DeliveryTable,
    table_name: str,
    allowed: Any,
    endpoint: store.Endpoint,
    secrets: store.SigningSecrets,
) -> tuple[store.SigningSecrets, sender.Response | None]:
    """The endpoint's secrets completed for this attempt, or the response that ends it unsent."""
    tenant_id, endpoint_id = endpoint.tenant_id, endpoint.endpoint_id
    # Each module is imported by the first endpoint that needs it (a v1/API-key worker never compiles them).
    if endpoint.options.signing_scheme == V1A:
        from functions.delivery import v1a

        secrets, failed = v1a.with_private_key(secrets, clients("secretsmanager"), table_name, tenant_id, endpoint_id)
        if failed is not None:
            return secrets, failed
    if endpoint.options.auth.type == OAUTH:
        from functions.delivery import oauth

        return oauth.with_access_token(
            table,
            clients("secretsmanager"),
            table_name,
            allowed,
            tenant_id,
            endpoint_id,
            endpoint.options.auth,
            secrets,
        )
    return secrets, None
