"""The items of a worker endpoint declared in the stack config, as Pulumi writes them
(``aws.dynamodb.TableItem``, DynamoDB JSON) and the sandbox puts them: no client needed.

Attributes are written only when set (:class:`EndpointOptions`), so a destination declared before
the endpoint model grew keeps byte-identical items (and ``pulumi up`` changes nothing)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from functions.delivery import schema
from functions.delivery.store.dynamo import to_item
from functions.delivery.store.endpoint_options import EndpointOptions
from functions.delivery.vocab import ManagedBy

CONFIG_ENDPOINT_PREFIX = "cfg_"


def config_endpoint_id(name: str) -> str:
    return f"{CONFIG_ENDPOINT_PREFIX}{name}"


def is_config_endpoint_id(endpoint_id: str) -> bool:
    """Whether an endpoint id is one the stack config declares (``cfg_<name>``; API ids are ``ep_<hex>``)."""
    return endpoint_id.startswith(CONFIG_ENDPOINT_PREFIX)


def config_endpoint_item(
    tenant_id: str,
    name: str,
    url: str,
    event_types: Sequence[str],
    enabled: bool,
    options: EndpointOptions | None = None,
) -> dict[str, Any]:
    """The definition item of a config-declared worker endpoint (DynamoDB JSON, as TableItem takes it)."""
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
            **(options or EndpointOptions()).item_attributes(),
        }
    )


def config_secret_item(
    tenant_id: str, name: str, secret: str, previous: str | None = None, auth_secret: str | None = None
) -> dict[str, Any]:
    """The secrets item of a config-declared endpoint; ``previous`` signs too until it is removed,
    ``auth_secret`` is the value of its auth (API key, password or token)."""
    return to_item(
        {
            **schema.secret_key(tenant_id, config_endpoint_id(name)),
            "current": secret,
            "previous": previous,
            "authSecret": auth_secret,
        }
    )


def covered_tenant_item(tenant_id: str) -> dict[str, Any]:
    """The marker of a tenant whose events the delivery rule sends to the worker pipeline
    (``hookstack:delivery.apiTenants: listed``): the subscription API creates endpoints only for them."""
    return to_item({**schema.covered_tenant_key(tenant_id), "tenantId": tenant_id})
