"""Endpoints in the delivery table: the definition (``EP#``, written by the API or by Pulumi for
config-declared ones) merged with its delivery state (``ST#``: disables and the failure count, only
ever written here, so a ``pulumi up`` never resets them)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import field
from typing import Any

from functions.delivery import protection, schema
from functions.delivery.store.dynamo import (
    Conflict,
    TableBase,
    decode_cursor,
    encode_cursor,
    expression_values,
    from_item,
    iso,
    query_from,
    to_item,
)
from functions.delivery.store.endpoint_options import EndpointOptions, options_from
from functions.delivery.vocab import DisabledReason, ManagedBy
from functions.records import record

# A changed attribute set to this is removed from the item (a PATCH sending null).
REMOVE = None

_NOT_API_MANAGED = "the endpoint does not exist or is managed by the stack configuration"


@record
class Endpoint:
    """An endpoint's definition merged with its delivery state."""

    tenant_id: str
    endpoint_id: str
    url: str
    event_types: tuple[str, ...] = ()
    description: str = ""
    declared_enabled: bool = True
    """``false`` only when the stack config says ``enabled: false``."""
    managed_by: str = ManagedBy.API
    created_at: str | None = None
    updated_at: str | None = None
    disabled_reason: str | None = None
    disabled_at: str | None = None
    consecutive_failures: int = 0
    name: str | None = None
    """The destination name for endpoints declared in the stack config."""
    options: EndpointOptions = field(default_factory=EndpointOptions)
    """Method, auth, headers, transform, filter, rate limit, timeout, signing scheme."""
    state: Mapping[str, Any] = field(default_factory=dict, repr=False)
    """The state item as read: the breaker's and the concurrency cap's fields (:mod:`~functions.delivery.protection`)."""

    @property
    def enabled(self) -> bool:
        return self.declared_enabled and self.disabled_reason is None

    def subscribes_to(self, event_type: str) -> bool:
        """Whether ``eventTypes`` (exact types, or prefixes ending in ``.*``) take ``event_type``."""
        if not self.event_types:
            return True
        from functions import patterns  # imported by the first endpoint that subscribes to some types only

        return patterns.event_type_matches(self.event_types, event_type)

    def accepts(self, event: Mapping[str, Any]) -> bool:
        """Whether the bus event matches the endpoint's ``filter`` (an EventBridge pattern; none: all)."""
        if self.options.filter is None:
            return True
        from functions import patterns  # imported by the first endpoint with a filter only

        return patterns.matches(self.options.filter, event)

    def to_api(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "id": self.endpoint_id,
            "tenantId": self.tenant_id,
            "url": self.url,
            "eventTypes": list(self.event_types),
            "description": self.description,
            "enabled": self.enabled,
            "disabledReason": self.disabled_reason if self.declared_enabled else DisabledReason.CONFIG,
            "disabledAt": self.disabled_at,
            "consecutiveFailures": self.consecutive_failures,
            "managedBy": self.managed_by,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
        }
        document.update(self.options.to_api())
        document["circuitBreaker"] = protection.breaker_from(self.state).to_api(int(time.time() * 1000), iso)
        if self.name:
            document["name"] = self.name
        return document


def endpoint_from(definition: Mapping[str, Any], state: Mapping[str, Any] | None) -> Endpoint:
    """An :class:`Endpoint` from its definition item and its state item (absent: never disabled)."""
    state = state or {}
    return Endpoint(
        tenant_id=str(definition["tenantId"]),
        endpoint_id=str(definition["endpointId"]),
        url=str(definition["url"]),
        event_types=tuple(definition.get("eventTypes") or ()),
        description=str(definition.get("description") or ""),
        declared_enabled=bool(definition.get("enabled", True)),
        managed_by=str(definition.get("managedBy") or ManagedBy.API),
        created_at=definition.get("createdAt"),
        updated_at=definition.get("updatedAt"),
        disabled_reason=state.get("disabledReason"),
        disabled_at=state.get("disabledAt"),
        consecutive_failures=int(state.get("consecutiveFailures") or 0),
        name=definition.get("name"),
        options=options_from(definition),
        state=dict(state),
    )


def new_endpoint_id(now: float) -> str:
    """``ep_`` + 12 hex digits of milliseconds + 16 random hex digits: unique and creation-ordered."""
    return f"ep_{int(now * 1000):012x}{uuid.uuid4().hex[:16]}"


class EndpointsTable(TableBase):
    """Endpoint definitions and their delivery state."""

    def list_endpoints(
        self, tenant_id: str, *, limit: int | None = None, cursor: str | None = None
    ) -> tuple[list[Endpoint], str | None]:
        """A page of a tenant's endpoints (creation order); ``limit=None`` returns them all."""
        pk = schema.tenant_pk(tenant_id)
        start = decode_cursor(cursor, schema.PK, pk)
        definitions: list[dict[str, Any]] = []
        next_key = None
        while True:
            request: dict[str, Any] = {
                "TableName": self.name,
                "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
                "ExpressionAttributeValues": expression_values({":pk": pk, ":prefix": schema.ENDPOINT_PREFIX}),
            }
            if limit is not None:
                request["Limit"] = limit - len(definitions)
            response = query_from(self.client, request, start)
            definitions.extend(from_item(i) for i in response.get("Items", []))
            next_key = response.get("LastEvaluatedKey")
            if not next_key or (limit is not None and len(definitions) >= limit):
                break
            start = next_key
        states = self.batch_get([schema.state_key(tenant_id, d["endpointId"]) for d in definitions])
        endpoints = [endpoint_from(d, states.get((pk, f"{schema.STATE_PREFIX}{d['endpointId']}"))) for d in definitions]
        return endpoints, encode_cursor(next_key) if limit is not None else None

    def get_endpoint(self, tenant_id: str, endpoint_id: str) -> Endpoint | None:
        items = self.batch_get([schema.endpoint_key(tenant_id, endpoint_id), schema.state_key(tenant_id, endpoint_id)])
        pk = schema.tenant_pk(tenant_id)
        definition = items.get((pk, f"{schema.ENDPOINT_PREFIX}{endpoint_id}"))
        if definition is None:
            return None
        return endpoint_from(definition, items.get((pk, f"{schema.STATE_PREFIX}{endpoint_id}")))

    def count_endpoints(self, tenant_id: str) -> int:
        total = 0
        start = None
        while True:
            request: dict[str, Any] = {
                "TableName": self.name,
                "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
                "ExpressionAttributeValues": expression_values(
                    {":pk": schema.tenant_pk(tenant_id), ":prefix": schema.ENDPOINT_PREFIX}
                ),
                "Select": "COUNT",
            }
            if start:
                request["ExclusiveStartKey"] = start
            response = self.client.query(**request)
            total += int(response.get("Count", 0))
            start = response.get("LastEvaluatedKey")
            if not start:
                return total

    def create_endpoint(
        self,
        tenant_id: str,
        *,
        url: str,
        event_types: Sequence[str],
        description: str,
        secret: str,
        now: float,
        options: EndpointOptions | None = None,
        auth_secret: str | None = None,
        previous_secret: str | None = None,
    ) -> Endpoint:
        """A new API-managed endpoint and its secrets (signing, and the auth's value), written together."""
        endpoint_id = new_endpoint_id(now)
        stamp = iso(now)
        definition = {
            **schema.endpoint_key(tenant_id, endpoint_id),
            "tenantId": tenant_id,
            "endpointId": endpoint_id,
            "url": url,
            "eventTypes": list(event_types),
            "description": description,
            "enabled": True,
            "managedBy": ManagedBy.API,
            "createdAt": stamp,
            "updatedAt": stamp,
            **(options or EndpointOptions()).item_attributes(),
        }
        secrets_item = {
            **schema.secret_key(tenant_id, endpoint_id),
            "current": secret,
            "previous": previous_secret,
            "authSecret": auth_secret,
            "rotatedAt": stamp,
        }
        new = "attribute_not_exists(pk)"
        self.client.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": self.name, "Item": to_item(definition), "ConditionExpression": new}},
                {"Put": {"TableName": self.name, "Item": to_item(secrets_item), "ConditionExpression": new}},
            ]
        )
        return endpoint_from({k: v for k, v in definition.items() if v is not None}, None)

    def update_endpoint(
        self,
        tenant_id: str,
        endpoint_id: str,
        changes: Mapping[str, Any],
        now: float,
        *,
        auth_secret: str | None = None,
        auth_changed: bool = False,
    ) -> None:
        """Change an API-managed endpoint's attributes (a value of :data:`REMOVE` removes one); with
        ``auth_changed`` its secrets item's ``authSecret`` becomes ``auth_secret`` in the same write."""
        names: dict[str, str] = {}
        values: dict[str, Any] = {":now": iso(now), ":api": ManagedBy.API}
        sets, removes = ["updatedAt = :now"], []
        for index, (attribute, value) in enumerate(sorted(changes.items())):
            names[f"#a{index}"] = attribute
            if value is REMOVE:
                removes.append(f"#a{index}")
                continue
            values[f":v{index}"] = list(value) if isinstance(value, tuple) else value
            sets.append(f"#a{index} = :v{index}")
        expression = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
        update: dict[str, Any] = {
            "TableName": self.name,
            "Key": to_item(schema.endpoint_key(tenant_id, endpoint_id)),
            "UpdateExpression": expression,
            "ConditionExpression": "attribute_exists(pk) AND managedBy = :api",
            "ExpressionAttributeValues": expression_values(values),
        }
        if names:
            update["ExpressionAttributeNames"] = names
        if not auth_changed:
            try:
                self.client.update_item(**update)
            except self.client.exceptions.ConditionalCheckFailedException:
                raise Conflict(_NOT_API_MANAGED) from None
            return
        secret_update: dict[str, Any] = {
            "TableName": self.name,
            "Key": to_item(schema.secret_key(tenant_id, endpoint_id)),
            "ConditionExpression": "attribute_exists(pk)",
        }
        if auth_secret is None:
            secret_update["UpdateExpression"] = "REMOVE authSecret"
        else:
            secret_update["UpdateExpression"] = "SET authSecret = :secret"
            secret_update["ExpressionAttributeValues"] = expression_values({":secret": auth_secret})
        try:
            self.client.transact_write_items(TransactItems=[{"Update": update}, {"Update": secret_update}])
        except self.client.exceptions.TransactionCanceledException:
            raise Conflict(_NOT_API_MANAGED) from None

    def delete_endpoint(self, tenant_id: str, endpoint_id: str) -> None:
        """Delete an API-managed endpoint with its state and secrets."""
        try:
            self.client.transact_write_items(
                TransactItems=[
                    {
                        "Delete": {
                            "TableName": self.name,
                            "Key": to_item(schema.endpoint_key(tenant_id, endpoint_id)),
                            "ConditionExpression": "attribute_exists(pk) AND managedBy = :api",
                            "ExpressionAttributeValues": expression_values({":api": ManagedBy.API}),
                        }
                    },
                    {"Delete": {"TableName": self.name, "Key": to_item(schema.state_key(tenant_id, endpoint_id))}},
                    {"Delete": {"TableName": self.name, "Key": to_item(schema.secret_key(tenant_id, endpoint_id))}},
                ]
            )
        except self.client.exceptions.TransactionCanceledException:
            raise Conflict(_NOT_API_MANAGED) from None

    # -- delivery state (the ST# item) ----------------------------------------------------------

    def disable_endpoint(self, tenant_id: str, endpoint_id: str, reason: DisabledReason, now: float) -> bool:
        """Mark the endpoint disabled for ``reason`` unless it already is; returns whether it changed."""
        try:
            self.client.update_item(
                TableName=self.name,
                Key=to_item(schema.state_key(tenant_id, endpoint_id)),
                UpdateExpression="SET disabledReason = :reason, disabledAt = :now, tenantId = :t, endpointId = :e",
                ConditionExpression="attribute_not_exists(disabledReason)",
                ExpressionAttributeValues=expression_values(
                    {":reason": reason, ":now": iso(now), ":t": tenant_id, ":e": endpoint_id}
                ),
            )
            return True
        except self.client.exceptions.ConditionalCheckFailedException:
            return False

    def enable_endpoint(self, tenant_id: str, endpoint_id: str) -> bool:
        """Clear a manual or automatic disable and the failure count; returns whether it was disabled."""
        response = self.client.update_item(
            TableName=self.name,
            Key=to_item(schema.state_key(tenant_id, endpoint_id)),
            UpdateExpression="SET consecutiveFailures = :zero, tenantId = :t, endpointId = :e REMOVE disabledReason, disabledAt",
            ExpressionAttributeValues=expression_values({":zero": 0, ":t": tenant_id, ":e": endpoint_id}),
            ReturnValues="UPDATED_OLD",
        )
        return "disabledReason" in (response.get("Attributes") or {})

    def record_failed_message(self, tenant_id: str, endpoint_id: str, now: float) -> int:
        """One more message failed for good; returns the consecutive count."""
        response = self.client.update_item(
            TableName=self.name,
            Key=to_item(schema.state_key(tenant_id, endpoint_id)),
            UpdateExpression="ADD consecutiveFailures :one SET lastFailureAt = :now, tenantId = :t, endpointId = :e",
            ExpressionAttributeValues=expression_values(
                {":one": 1, ":now": iso(now), ":t": tenant_id, ":e": endpoint_id}
            ),
            ReturnValues="UPDATED_NEW",
        )
        return int(from_item(response["Attributes"]).get("consecutiveFailures", 0))

    def reset_failures(self, tenant_id: str, endpoint_id: str) -> None:
        self.client.update_item(
            TableName=self.name,
            Key=to_item(schema.state_key(tenant_id, endpoint_id)),
            UpdateExpression="SET consecutiveFailures = :zero",
            ExpressionAttributeValues=expression_values({":zero": 0}),
        )
