"""Reads and writes of the delivery table (layout in :mod:`functions.delivery.schema`).

Every function takes the low-level DynamoDB client and the table name, so tests run them against
moto and the handlers pass their lazily created client. Conditional-write failures are mapped to
meaningful results (``None``, ``False``, :class:`Conflict`); every other error propagates so the
platform retries.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from functions.delivery import bounded_json, schema

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()

MANAGED_BY_API = "api"
MANAGED_BY_CONFIG = "config"
DISABLED_MANUALLY = "manual"
DISABLED_GONE = "gone"
DISABLED_FAILURES = "failures"
PENDING, SUCCEEDED, FAILED, CANCELLED = "pending", "succeeded", "failed", "cancelled"
FINAL_STATUSES = (SUCCEEDED, FAILED, CANCELLED)
MAX_HISTORY_ENTRIES = 25
BATCH_GET_LIMIT = 100


class Conflict(Exception):
    """The write was refused because of the item's current state (message says which)."""


class InvalidCursor(ValueError):
    """A pagination cursor that this listing did not produce."""


# -- time -----------------------------------------------------------------------------------------


def iso(timestamp: float) -> str:
    """Fixed-width UTC ISO 8601 with milliseconds: sorts as text in time order."""
    moment = datetime.fromtimestamp(timestamp, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_time(text: str) -> float:
    """An ISO 8601 timestamp (``Z`` or an offset required) as epoch seconds; ``ValueError`` otherwise."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError("a timestamp needs a time zone (Z or +hh:mm)")
    return moment.timestamp()


def new_endpoint_id(now: float) -> str:
    """``ep_`` + 12 hex digits of milliseconds + 16 random hex digits: unique and creation-ordered."""
    return f"ep_{int(now * 1000):012x}{uuid.uuid4().hex[:16]}"


# -- marshalling ----------------------------------------------------------------------------------


def to_item(values: Mapping[str, Any]) -> dict[str, Any]:
    """Python values to DynamoDB attribute values (``None`` values are left out)."""
    return {k: _serializer.serialize(_plain(v)) for k, v in values.items() if v is not None}


def from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _python(_deserializer.deserialize(v)) for k, v in item.items()}


def _plain(value: Any) -> Any:
    if isinstance(value, float):
        from decimal import Decimal

        return Decimal(repr(value))
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if v is not None}
    return value


def _python(value: Any) -> Any:
    from decimal import Decimal

    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, list):
        return [_python(v) for v in value]
    if isinstance(value, dict):
        return {k: _python(v) for k, v in value.items()}
    if isinstance(value, set):
        return sorted(_python(v) for v in value)
    return value


def _values(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _serializer.serialize(_plain(v)) for k, v in values.items()}


def _is_conditional_failure(error: Exception) -> bool:
    code = getattr(error, "response", {}).get("Error", {}).get("Code")
    return code in ("ConditionalCheckFailedException", "TransactionCanceledException")


# -- cursors --------------------------------------------------------------------------------------


def encode_cursor(last_key: Mapping[str, Any] | None) -> str | None:
    if not last_key:
        return None
    plain = {k: v["S"] for k, v in sorted(last_key.items())}
    return base64.urlsafe_b64encode(json.dumps(plain, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None, partition_attribute: str, partition_value: str) -> dict[str, Any] | None:
    """A cursor back into ``ExclusiveStartKey``; it must belong to the same listing (partition)."""
    if cursor is None or cursor == "":
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        # A cursor is a flat object; bounded_json refuses "[[[[..." before json.loads recurses.
        plain = bounded_json.loads(base64.urlsafe_b64decode(padded.encode()).decode(), 1)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise InvalidCursor("cursor is not one this API returned") from None
    if (
        not isinstance(plain, dict)
        or not set(plain) <= set(schema.KEY_ATTRIBUTES)
        or not all(isinstance(v, str) for v in plain.values())
        or plain.get(partition_attribute) != partition_value
    ):
        raise InvalidCursor("cursor does not belong to this listing")
    return {k: {"S": v} for k, v in plain.items()}


# -- endpoints ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    """An endpoint's definition merged with its delivery state."""

    tenant_id: str
    endpoint_id: str
    url: str
    event_types: tuple[str, ...] = ()
    description: str = ""
    declared_enabled: bool = True
    """``false`` only when the stack config says ``enabled: false``."""
    managed_by: str = MANAGED_BY_API
    created_at: str | None = None
    updated_at: str | None = None
    disabled_reason: str | None = None
    disabled_at: str | None = None
    consecutive_failures: int = 0
    name: str | None = None
    """The destination name for endpoints declared in the stack config."""

    @property
    def enabled(self) -> bool:
        return self.declared_enabled and self.disabled_reason is None

    def subscribes_to(self, event_type: str) -> bool:
        return not self.event_types or event_type in self.event_types

    def to_api(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "id": self.endpoint_id,
            "tenantId": self.tenant_id,
            "url": self.url,
            "eventTypes": list(self.event_types),
            "description": self.description,
            "enabled": self.enabled,
            "disabledReason": self.disabled_reason if self.declared_enabled else "config",
            "disabledAt": self.disabled_at,
            "consecutiveFailures": self.consecutive_failures,
            "managedBy": self.managed_by,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
        }
        if self.name:
            document["name"] = self.name
        return document


def _endpoint(definition: Mapping[str, Any], state: Mapping[str, Any] | None) -> Endpoint:
    state = state or {}
    return Endpoint(
        tenant_id=str(definition["tenantId"]),
        endpoint_id=str(definition["endpointId"]),
        url=str(definition["url"]),
        event_types=tuple(definition.get("eventTypes") or ()),
        description=str(definition.get("description") or ""),
        declared_enabled=bool(definition.get("enabled", True)),
        managed_by=str(definition.get("managedBy") or MANAGED_BY_API),
        created_at=definition.get("createdAt"),
        updated_at=definition.get("updatedAt"),
        disabled_reason=state.get("disabledReason"),
        disabled_at=state.get("disabledAt"),
        consecutive_failures=int(state.get("consecutiveFailures") or 0),
        name=definition.get("name"),
    )


def _batch_get(client: Any, table: str, keys: Sequence[Mapping[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
    """Items by (pk, sk); retries unprocessed keys."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    pending = [to_item(k) for k in keys]
    attempts = 0
    while pending:
        chunk, pending = pending[:BATCH_GET_LIMIT], pending[BATCH_GET_LIMIT:]
        request: dict[str, Any] = {table: {"Keys": chunk}}
        while request:
            response = client.batch_get_item(RequestItems=request)
            for raw in response.get("Responses", {}).get(table, []):
                item = from_item(raw)
                found[(item[schema.PK], item[schema.SK])] = item
            request = response.get("UnprocessedKeys") or {}
            if request:
                attempts += 1
                time.sleep(min(1.0, 0.05 * 2**attempts))
    return found


def list_endpoints(
    client: Any, table: str, tenant_id: str, *, limit: int | None = None, cursor: str | None = None
) -> tuple[list[Endpoint], str | None]:
    """A page of a tenant's endpoints (creation order); ``limit=None`` returns them all."""
    pk = schema.tenant_pk(tenant_id)
    start = decode_cursor(cursor, schema.PK, pk)
    definitions: list[dict[str, Any]] = []
    next_key = None
    while True:
        request: dict[str, Any] = {
            "TableName": table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": _values({":pk": pk, ":prefix": schema.ENDPOINT_PREFIX}),
        }
        if limit is not None:
            request["Limit"] = limit - len(definitions)
        if start:
            request["ExclusiveStartKey"] = start
        response = client.query(**request)
        definitions.extend(from_item(i) for i in response.get("Items", []))
        next_key = response.get("LastEvaluatedKey")
        if not next_key or (limit is not None and len(definitions) >= limit):
            break
        start = next_key
    states = _batch_get(client, table, [schema.state_key(tenant_id, d["endpointId"]) for d in definitions])
    endpoints = [
        _endpoint(d, states.get((pk, f"{schema.STATE_PREFIX}{d['endpointId']}"))) for d in definitions
    ]
    return endpoints, encode_cursor(next_key) if limit is not None else None


def get_endpoint(client: Any, table: str, tenant_id: str, endpoint_id: str) -> Endpoint | None:
    items = _batch_get(client, table, [schema.endpoint_key(tenant_id, endpoint_id), schema.state_key(tenant_id, endpoint_id)])
    pk = schema.tenant_pk(tenant_id)
    definition = items.get((pk, f"{schema.ENDPOINT_PREFIX}{endpoint_id}"))
    if definition is None:
        return None
    return _endpoint(definition, items.get((pk, f"{schema.STATE_PREFIX}{endpoint_id}")))


def count_endpoints(client: Any, table: str, tenant_id: str) -> int:
    total = 0
    start = None
    while True:
        request: dict[str, Any] = {
            "TableName": table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": _values({":pk": schema.tenant_pk(tenant_id), ":prefix": schema.ENDPOINT_PREFIX}),
            "Select": "COUNT",
        }
        if start:
            request["ExclusiveStartKey"] = start
        response = client.query(**request)
        total += int(response.get("Count", 0))
        start = response.get("LastEvaluatedKey")
        if not start:
            return total


def create_endpoint(
    client: Any,
    table: str,
    tenant_id: str,
    *,
    url: str,
    event_types: Sequence[str],
    description: str,
    secret: str,
    now: float,
) -> Endpoint:
    """A new API-managed endpoint and its secret, written together."""
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
        "managedBy": MANAGED_BY_API,
        "createdAt": stamp,
        "updatedAt": stamp,
    }
    secrets_item = {**schema.secret_key(tenant_id, endpoint_id), "current": secret, "rotatedAt": stamp}
    client.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": table, "Item": to_item(definition), "ConditionExpression": "attribute_not_exists(pk)"}},
            {"Put": {"TableName": table, "Item": to_item(secrets_item), "ConditionExpression": "attribute_not_exists(pk)"}},
        ]
    )
    return _endpoint(definition, None)


def update_endpoint(
    client: Any, table: str, tenant_id: str, endpoint_id: str, changes: Mapping[str, Any], now: float
) -> None:
    """Change an API-managed endpoint's url / eventTypes / description."""
    names: dict[str, str] = {}
    values: dict[str, Any] = {":now": iso(now), ":api": MANAGED_BY_API}
    sets = ["updatedAt = :now"]
    for index, (attribute, value) in enumerate(sorted(changes.items())):
        names[f"#a{index}"] = attribute
        values[f":v{index}"] = list(value) if isinstance(value, tuple) else value
        sets.append(f"#a{index} = :v{index}")
    request: dict[str, Any] = {
        "TableName": table,
        "Key": to_item(schema.endpoint_key(tenant_id, endpoint_id)),
        "UpdateExpression": "SET " + ", ".join(sets),
        "ConditionExpression": "attribute_exists(pk) AND managedBy = :api",
        "ExpressionAttributeValues": _values(values),
    }
    if names:
        request["ExpressionAttributeNames"] = names
    try:
        client.update_item(**request)
    except client.exceptions.ConditionalCheckFailedException:
        raise Conflict("the endpoint does not exist or is managed by the stack configuration") from None


def delete_endpoint(client: Any, table: str, tenant_id: str, endpoint_id: str) -> None:
    try:
        client.transact_write_items(
            TransactItems=[
                {
                    "Delete": {
                        "TableName": table,
                        "Key": to_item(schema.endpoint_key(tenant_id, endpoint_id)),
                        "ConditionExpression": "attribute_exists(pk) AND managedBy = :api",
                        "ExpressionAttributeValues": _values({":api": MANAGED_BY_API}),
                    }
                },
                {"Delete": {"TableName": table, "Key": to_item(schema.state_key(tenant_id, endpoint_id))}},
                {"Delete": {"TableName": table, "Key": to_item(schema.secret_key(tenant_id, endpoint_id))}},
            ]
        )
    except client.exceptions.TransactionCanceledException:
        raise Conflict("the endpoint does not exist or is managed by the stack configuration") from None


def disable_endpoint(client: Any, table: str, tenant_id: str, endpoint_id: str, reason: str, now: float) -> bool:
    """Mark the endpoint disabled for ``reason`` unless it already is; returns whether it changed."""
    try:
        client.update_item(
            TableName=table,
            Key=to_item(schema.state_key(tenant_id, endpoint_id)),
            UpdateExpression="SET disabledReason = :reason, disabledAt = :now, tenantId = :t, endpointId = :e",
            ConditionExpression="attribute_not_exists(disabledReason)",
            ExpressionAttributeValues=_values({":reason": reason, ":now": iso(now), ":t": tenant_id, ":e": endpoint_id}),
        )
        return True
    except client.exceptions.ConditionalCheckFailedException:
        return False


def enable_endpoint(client: Any, table: str, tenant_id: str, endpoint_id: str) -> None:
    """Clear a manual or automatic disable and the failure count."""
    client.update_item(
        TableName=table,
        Key=to_item(schema.state_key(tenant_id, endpoint_id)),
        UpdateExpression="SET consecutiveFailures = :zero, tenantId = :t, endpointId = :e REMOVE disabledReason, disabledAt",
        ExpressionAttributeValues=_values({":zero": 0, ":t": tenant_id, ":e": endpoint_id}),
    )


def record_failed_message(client: Any, table: str, tenant_id: str, endpoint_id: str, now: float) -> int:
    """One more message failed for good; returns the consecutive count."""
    response = client.update_item(
        TableName=table,
        Key=to_item(schema.state_key(tenant_id, endpoint_id)),
        UpdateExpression="ADD consecutiveFailures :one SET lastFailureAt = :now, tenantId = :t, endpointId = :e",
        ExpressionAttributeValues=_values({":one": 1, ":now": iso(now), ":t": tenant_id, ":e": endpoint_id}),
        ReturnValues="UPDATED_NEW",
    )
    return int(from_item(response["Attributes"]).get("consecutiveFailures", 0))


def reset_failures(client: Any, table: str, tenant_id: str, endpoint_id: str) -> None:
    client.update_item(
        TableName=table,
        Key=to_item(schema.state_key(tenant_id, endpoint_id)),
        UpdateExpression="SET consecutiveFailures = :zero",
        ExpressionAttributeValues=_values({":zero": 0}),
    )


# -- secrets --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SigningSecrets:
    current: str
    previous: str | None = None
    previous_expires_at: float | None = None
    """Epoch seconds after which ``previous`` stops signing; ``None`` = until removed (config)."""
    rotated_at: str | None = None

    def active(self, now: float) -> list[str]:
        secrets = [self.current]
        if self.previous and (self.previous_expires_at is None or now < self.previous_expires_at):
            secrets.append(self.previous)
        return secrets

    def __repr__(self) -> str:
        return f"SigningSecrets(rotated_at={self.rotated_at!r}, previous={'set' if self.previous else 'none'})"


def _secrets(item: Mapping[str, Any] | None) -> SigningSecrets | None:
    if not item or not item.get("current"):
        return None
    expires = item.get("previousExpiresAt")
    return SigningSecrets(
        current=str(item["current"]),
        previous=item.get("previous"),
        previous_expires_at=float(expires) if expires is not None else None,
        rotated_at=item.get("rotatedAt"),
    )


def rotate_secret(
    client: Any, table: str, tenant_id: str, endpoint_id: str, new_secret: str, overlap_seconds: float, now: float
) -> SigningSecrets:
    """Make ``new_secret`` current; the old one keeps signing for ``overlap_seconds``."""
    key = to_item(schema.secret_key(tenant_id, endpoint_id))
    current = client.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")
    if not current:
        raise Conflict("the endpoint has no secret")
    old = from_item(current)
    expires = now + overlap_seconds
    values: dict[str, Any] = {":new": new_secret, ":old": old["current"], ":now": iso(now)}
    if overlap_seconds > 0:
        expression = "SET #current = :new, previous = :old, previousExpiresAt = :exp, rotatedAt = :now"
        values[":exp"] = int(expires)
    else:
        expression = "SET #current = :new, rotatedAt = :now REMOVE previous, previousExpiresAt"
    try:
        client.update_item(
            TableName=table,
            Key=key,
            UpdateExpression=expression,
            # Two rotations racing: the second must see the first's result, not clobber it.
            ConditionExpression="#current = :old",
            ExpressionAttributeNames={"#current": "current"},
            ExpressionAttributeValues=_values(values),
        )
    except client.exceptions.ConditionalCheckFailedException:
        raise Conflict("the secret was rotated concurrently; retry") from None
    return SigningSecrets(
        current=new_secret,
        previous=old["current"] if overlap_seconds > 0 else None,
        previous_expires_at=int(expires) if overlap_seconds > 0 else None,
        rotated_at=iso(now),
    )


# -- messages and deliveries ----------------------------------------------------------------------


@dataclass(frozen=True)
class Message:
    tenant_id: str
    event_id: str
    event_type: str
    event_time: str
    body: str
    received_at: str | None = None

    def to_api(self) -> dict[str, Any]:
        return {
            "eventId": self.event_id,
            "tenantId": self.tenant_id,
            "eventType": self.event_type,
            "eventTime": self.event_time,
            "receivedAt": self.received_at,
            "payload": json.loads(self.body),
        }


def put_message(client: Any, table: str, message: Message, expires_at: int) -> bool:
    """Store the message once (same id = same content by contract); returns whether it was new."""
    item = {
        **schema.message_key(message.tenant_id, message.event_id),
        "tenantId": message.tenant_id,
        "eventId": message.event_id,
        "eventType": message.event_type,
        "eventTime": message.event_time,
        "body": message.body,
        "receivedAt": message.received_at,
        schema.TTL_ATTRIBUTE: expires_at,
    }
    try:
        client.put_item(TableName=table, Item=to_item(item), ConditionExpression="attribute_not_exists(pk)")
        return True
    except client.exceptions.ConditionalCheckFailedException:
        return False


def extend_message(client: Any, table: str, tenant_id: str, event_id: str, expires_at: int) -> None:
    """Keep a resent message at least until ``expires_at``."""
    with contextlib.suppress(client.exceptions.ConditionalCheckFailedException):
        client.update_item(
            TableName=table,
            Key=to_item(schema.message_key(tenant_id, event_id)),
            UpdateExpression="SET #ttl = :ttl",
            ConditionExpression="attribute_exists(pk) AND #ttl < :ttl",
            ExpressionAttributeNames={"#ttl": schema.TTL_ATTRIBUTE},
            ExpressionAttributeValues=_values({":ttl": expires_at}),
        )


def _message(item: Mapping[str, Any] | None) -> Message | None:
    if not item:
        return None
    return Message(
        tenant_id=item["tenantId"],
        event_id=item["eventId"],
        event_type=item["eventType"],
        event_time=item["eventTime"],
        body=item["body"],
        received_at=item.get("receivedAt"),
    )


def get_message(client: Any, table: str, tenant_id: str, event_id: str) -> Message | None:
    response = client.get_item(TableName=table, Key=to_item(schema.message_key(tenant_id, event_id)))
    return _message(from_item(response["Item"]) if "Item" in response else None)


@dataclass(frozen=True)
class DeliveryContext:
    """Everything one attempt needs, read in one round trip."""

    endpoint: Endpoint | None
    secrets: SigningSecrets | None
    message: Message | None


def delivery_context(client: Any, table: str, tenant_id: str, event_id: str, endpoint_id: str) -> DeliveryContext:
    keys = [
        schema.endpoint_key(tenant_id, endpoint_id),
        schema.state_key(tenant_id, endpoint_id),
        schema.secret_key(tenant_id, endpoint_id),
        schema.message_key(tenant_id, event_id),
    ]
    items = _batch_get(client, table, keys)

    def get(key: Mapping[str, str]) -> dict[str, Any] | None:
        return items.get((key[schema.PK], key[schema.SK]))

    definition = get(keys[0])
    return DeliveryContext(
        endpoint=_endpoint(definition, get(keys[1])) if definition else None,
        secrets=_secrets(get(keys[2])),
        message=_message(get(keys[3])),
    )


def deliveries_of(client: Any, table: str, tenant_id: str, event_id: str) -> list[dict[str, Any]]:
    response = client.query(
        TableName=table,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
        ExpressionAttributeValues=_values({":pk": schema.message_pk(tenant_id, event_id), ":prefix": schema.DELIVERY_PREFIX}),
    )
    return [from_item(i) for i in response.get("Items", [])]


def get_delivery(client: Any, table: str, tenant_id: str, event_id: str, endpoint_id: str) -> dict[str, Any] | None:
    response = client.get_item(
        TableName=table, Key=to_item(schema.delivery_key(tenant_id, event_id, endpoint_id)), ConsistentRead=True
    )
    return from_item(response["Item"]) if "Item" in response else None


def record_skipped_delivery(
    client: Any, table: str, endpoint: Endpoint, message: Message, reason: str, now: float, expires_at: int
) -> bool:
    """A delivery that was never attempted (endpoint disabled): failed, replayable, no retries."""
    stamp = iso(now)
    item = {
        **schema.delivery_key(endpoint.tenant_id, message.event_id, endpoint.endpoint_id),
        "tenantId": endpoint.tenant_id,
        "eventId": message.event_id,
        "endpointId": endpoint.endpoint_id,
        "eventType": message.event_type,
        "run": 0,
        "status": FAILED,
        "attempts": 0,
        "failedReason": reason,
        "createdAt": stamp,
        "updatedAt": stamp,
        "finishedAt": stamp,
        "history": [],
        "gsi2pk": schema.failed_pk(endpoint.tenant_id, endpoint.endpoint_id),
        "gsi2sk": f"{stamp}#{message.event_id}",
        schema.TTL_ATTRIBUTE: expires_at,
    }
    try:
        client.put_item(TableName=table, Item=to_item(item), ConditionExpression="attribute_not_exists(pk)")
        return True
    except client.exceptions.ConditionalCheckFailedException:
        return False


def claim_delivery(
    client: Any,
    table: str,
    *,
    tenant_id: str,
    event_id: str,
    endpoint_id: str,
    event_type: str,
    run: int,
    task_message_id: str,
    now: float,
    expires_at: int,
    takeover_first: bool,
) -> dict[str, Any] | None:
    """Make this SQS message the one owner of the delivery's run; ``None`` means a duplicate task.

    A task *takes over* when the delivery does not exist yet or is on an older run (a resend or
    replay starts a new run), and *continues* when it already owns the current, unfinished run
    (the same SQS message comes back for its next attempt, or after a crash). Anything else is a
    duplicate (EventBridge and SQS deliver at least once) or a stale run, and is dropped.
    """
    key = to_item(schema.delivery_key(tenant_id, event_id, endpoint_id))
    names = {"#run": "run", "#status": "status"}
    takeover: dict[str, Any] = {
        "UpdateExpression": (
            "SET #run = :run, #status = :pending, attempts = :zero, taskMessageId = :mid, tenantId = :t, "
            "eventId = :e, endpointId = :ep, eventType = :type, createdAt = if_not_exists(createdAt, :now), "
            "updatedAt = :now, #ttl = :ttl, history = :empty "
            "REMOVE gsi2pk, gsi2sk, nextAttemptAt, failedReason, lastStatusCode, lastError, finishedAt"
        ),
        "ConditionExpression": "attribute_not_exists(pk) OR #run < :run",
        "ExpressionAttributeNames": {**names, "#ttl": schema.TTL_ATTRIBUTE},
        "ExpressionAttributeValues": _values(
            {
                ":run": run, ":pending": PENDING, ":zero": 0, ":mid": task_message_id, ":t": tenant_id,
                ":e": event_id, ":ep": endpoint_id, ":type": event_type, ":now": iso(now), ":ttl": expires_at,
                ":empty": [],
            }
        ),
    }
    cont: dict[str, Any] = {
        "UpdateExpression": "SET updatedAt = :now",
        "ConditionExpression": "#run = :run AND #status = :pending AND taskMessageId = :mid",
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": _values({":run": run, ":pending": PENDING, ":mid": task_message_id, ":now": iso(now)}),
    }
    for request in (takeover, cont) if takeover_first else (cont, takeover):
        try:
            response = client.update_item(TableName=table, Key=key, ReturnValues="ALL_NEW", **request)
            return from_item(response["Attributes"])
        except client.exceptions.ConditionalCheckFailedException:
            continue
    return None


@dataclass(frozen=True)
class AttemptRecord:
    tenant_id: str
    endpoint_id: str
    event_id: str
    event_type: str
    run: int
    attempt: int
    at: float
    url: str
    outcome: str
    """``succeeded``, ``retrying``, ``failed``, ``gone`` (endpoint disabled by a 410)."""
    status_code: int | None = None
    latency_ms: int | None = None
    response: str | None = None
    response_truncated: bool = False
    error: str | None = None
    next_attempt_in_seconds: int | None = None
    """The scheduled (unscaled) delay before the next attempt, when there is one."""
    attempt_id: str = field(default_factory=lambda: f"att_{uuid.uuid4().hex}")

    def summary(self) -> dict[str, Any]:
        """The compact form kept in the delivery's history (and in dead-letter records)."""
        return {
            "attempt": self.attempt,
            "at": iso(self.at),
            "outcome": self.outcome,
            "statusCode": self.status_code,
            "latencyMs": self.latency_ms,
            "error": self.error,
        }


def put_attempt(client: Any, table: str, record: AttemptRecord, expires_at: int) -> None:
    sort_key = f"{iso(record.at)}#{record.attempt_id}"
    item = {
        schema.PK: schema.attempts_pk(record.tenant_id),
        schema.SK: sort_key,
        "gsi1pk": schema.endpoint_attempts_pk(record.tenant_id, record.endpoint_id),
        "gsi1sk": sort_key,
        "attemptId": record.attempt_id,
        "tenantId": record.tenant_id,
        "endpointId": record.endpoint_id,
        "eventId": record.event_id,
        "eventType": record.event_type,
        "run": record.run,
        "attempt": record.attempt,
        "at": iso(record.at),
        "url": record.url,
        "outcome": record.outcome,
        "statusCode": record.status_code,
        "latencyMs": record.latency_ms,
        "response": record.response,
        "responseTruncated": record.response_truncated or None,
        "error": record.error,
        "nextAttemptInSeconds": record.next_attempt_in_seconds,
        schema.TTL_ATTRIBUTE: expires_at,
    }
    client.put_item(TableName=table, Item=to_item(item))


def finish_attempt(
    client: Any,
    table: str,
    *,
    record: AttemptRecord,
    task_message_id: str,
    final_status: str | None,
    next_attempt_at: float | None = None,
    failed_reason: str | None = None,
) -> dict[str, Any] | None:
    """Write an attempt's result on the delivery (still owned by this task); ``None`` if it lost ownership."""
    now = iso(record.at)
    values: dict[str, Any] = {
        ":n": record.attempt,
        ":now": now,
        ":entry": [record.summary()],
        ":empty": [],
        ":run": record.run,
        ":mid": task_message_id,
        ":pending": PENDING,
    }
    sets = ["attempts = :n", "lastAttemptAt = :now", "updatedAt = :now", "history = list_append(if_not_exists(history, :empty), :entry)"]
    removes: list[str] = []
    for attribute, value in (("lastStatusCode", record.status_code), ("lastError", record.error)):
        if value is None:
            removes.append(attribute)
        else:
            values[f":{attribute}"] = value
            sets.append(f"{attribute} = :{attribute}")
    if final_status is None:
        values[":next"] = iso(next_attempt_at if next_attempt_at is not None else record.at)
        sets.append("nextAttemptAt = :next")
    else:
        values[":final"] = final_status
        sets += ["#status = :final", "finishedAt = :now"]
        removes.append("nextAttemptAt")
        if final_status == FAILED:
            values[":reason"] = failed_reason or "failed"
            values[":fpk"] = schema.failed_pk(record.tenant_id, record.endpoint_id)
            values[":fsk"] = f"{now}#{record.event_id}"
            sets += ["failedReason = :reason", "gsi2pk = :fpk", "gsi2sk = :fsk"]
    expression = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
    try:
        response = client.update_item(
            TableName=table,
            Key=to_item(schema.delivery_key(record.tenant_id, record.event_id, record.endpoint_id)),
            UpdateExpression=expression,
            ConditionExpression="#run = :run AND taskMessageId = :mid AND #status = :pending",
            ExpressionAttributeNames={"#run": "run", "#status": "status"},
            ExpressionAttributeValues=_values(values),
            ReturnValues="ALL_NEW",
        )
    except client.exceptions.ConditionalCheckFailedException:
        return None
    item = from_item(response["Attributes"])
    if len(item.get("history") or []) > MAX_HISTORY_ENTRIES:
        item["history"] = item["history"][-MAX_HISTORY_ENTRIES:]
    return item


def finish_without_attempt(
    client: Any, table: str, *, tenant_id: str, event_id: str, endpoint_id: str, run: int, task_message_id: str,
    status: str, reason: str, now: float,
) -> dict[str, Any] | None:
    """End a run that cannot make its next attempt (endpoint disabled or deleted, receive limit)."""
    stamp = iso(now)
    values: dict[str, Any] = {
        ":final": status, ":reason": reason, ":now": stamp, ":run": run, ":mid": task_message_id, ":pending": PENDING,
    }
    sets = ["#status = :final", "failedReason = :reason", "finishedAt = :now", "updatedAt = :now"]
    if status == FAILED:
        values[":fpk"] = schema.failed_pk(tenant_id, endpoint_id)
        values[":fsk"] = f"{stamp}#{event_id}"
        sets += ["gsi2pk = :fpk", "gsi2sk = :fsk"]
    try:
        response = client.update_item(
            TableName=table,
            Key=to_item(schema.delivery_key(tenant_id, event_id, endpoint_id)),
            UpdateExpression="SET " + ", ".join(sets) + " REMOVE nextAttemptAt",
            ConditionExpression="#run = :run AND taskMessageId = :mid AND #status = :pending",
            ExpressionAttributeNames={"#run": "run", "#status": "status"},
            ExpressionAttributeValues=_values(values),
            ReturnValues="ALL_NEW",
        )
    except client.exceptions.ConditionalCheckFailedException:
        return None
    return from_item(response["Attributes"])


# -- listings -------------------------------------------------------------------------------------


def list_attempts(
    client: Any, table: str, tenant_id: str, *, endpoint_id: str | None = None, limit: int = 50, cursor: str | None = None
) -> tuple[list[dict[str, Any]], str | None]:
    """Attempts newest first, for a tenant or one of its endpoints."""
    if endpoint_id is None:
        partition_attribute, partition = schema.PK, schema.attempts_pk(tenant_id)
        request: dict[str, Any] = {"KeyConditionExpression": "pk = :pk"}
    else:
        partition_attribute, partition = "gsi1pk", schema.endpoint_attempts_pk(tenant_id, endpoint_id)
        request = {"IndexName": schema.BY_ENDPOINT_INDEX, "KeyConditionExpression": "gsi1pk = :pk"}
    request.update(
        TableName=table,
        ExpressionAttributeValues=_values({":pk": partition}),
        ScanIndexForward=False,
        Limit=limit,
    )
    start = decode_cursor(cursor, partition_attribute, partition)
    if start:
        request["ExclusiveStartKey"] = start
    response = client.query(**request)
    hidden = set(schema.KEY_ATTRIBUTES) | {schema.TTL_ATTRIBUTE}
    items = [{k: v for k, v in from_item(i).items() if k not in hidden} for i in response.get("Items", [])]
    return items, encode_cursor(response.get("LastEvaluatedKey"))


def failed_deliveries_since(
    client: Any, table: str, tenant_id: str, endpoint_id: str, since: float, *, limit: int, cursor: str | None = None
) -> tuple[list[str], str | None]:
    """Event ids of the endpoint's deliveries that ended failed at or after ``since`` (oldest first)."""
    partition = schema.failed_pk(tenant_id, endpoint_id)
    request: dict[str, Any] = {
        "TableName": table,
        "IndexName": schema.FAILED_INDEX,
        "KeyConditionExpression": "gsi2pk = :pk AND gsi2sk >= :since",
        "ExpressionAttributeValues": _values({":pk": partition, ":since": iso(since)}),
        "Limit": limit,
    }
    start = decode_cursor(cursor, "gsi2pk", partition)
    if start:
        request["ExclusiveStartKey"] = start
    response = client.query(**request)
    event_ids = [from_item(i)["gsi2sk"].split("#", 1)[1] for i in response.get("Items", [])]
    return event_ids, encode_cursor(response.get("LastEvaluatedKey"))


def delivery_to_api(item: Mapping[str, Any]) -> dict[str, Any]:
    keep = (
        "endpointId", "eventId", "eventType", "status", "run", "attempts", "lastAttemptAt", "lastStatusCode",
        "lastError", "nextAttemptAt", "failedReason", "createdAt", "finishedAt", "history",
    )
    return {k: item.get(k) for k in keep if item.get(k) is not None}


def ttl(now: float, days: float) -> int:
    return int(now + days * 86_400)


def unique(values: Iterable[str]) -> list[str]:
    seen: list[str] = []
    for value in values:
        if value not in seen:
            seen.append(value)
    return seen


# -- endpoints declared in the stack config (written by Pulumi as TableItems) ---------------------------


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
            "managedBy": MANAGED_BY_CONFIG,
        }
    )


def config_secret_item(tenant_id: str, name: str, secret: str, previous: str | None = None) -> dict[str, Any]:
    """The secrets item of a config-declared destination; ``previous`` signs too until it is removed."""
    return to_item(
        {**schema.secret_key(tenant_id, config_endpoint_id(name)), "current": secret, "previous": previous}
    )
