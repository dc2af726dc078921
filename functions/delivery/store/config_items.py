"""The items of a signed destination declared in the stack config, as Pulumi writes them
(``aws.dynamodb.TableItem``, DynamoDB JSON) and the sandbox puts them: no client needed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from functions.delivery import schema
from functions.delivery.store.dynamo import to_item
from functions.delivery.vocab import ManagedBy


def config_endpoint_id(name: str) -> str:
    return f"cfg_{name}"


def config_endpoint_item(
    tenant_id: str, name: str, url: str, event_types: Sequence[str], enabled: bool
) -> dict[str, Any]:
    """The definition item of a config-declared signed destination (DynamoDB JSON, as TableItem takes it)."""
    endpoint_id = config_endpoint_id(name)
    return to_item(
        {
            **schema.endpoint_key(tenant_id, endpoint_id),
            "tenantId": tenant_id,
            "endpointId": endpoint_id,
            "name": name,
            "url": url,
            "eventTypes": list(event_types),
            "description": f"declared in the stack config (tenant {tenant_id}, destination {name})",
            "enabled": enabled,
            "managedBy": ManagedBy.CONFIG,
        }
    )


def config_secret_item(tenant_id: str, name: str, secret: str, previous: str | None = None) -> dict[str, Any]:
    """The secrets item of a config-declared destination; ``previous`` signs too until it is removed."""
    return to_item({**schema.secret_key(tenant_id, config_endpoint_id(name)), "current": secret, "previous": previous})
