"""DynamoDB plumbing shared by every resource of the delivery table: item encoding, time stamps and
TTLs, pagination cursors, batched reads, and the table bound once to its client and name.

Conditional-write failures are mapped to meaningful results by the resource modules (``None``,
``False``, :class:`Conflict`); every other error propagates so the platform retries.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from functions import bounded_json
from functions.delivery import schema

BATCH_GET_LIMIT = 100  # BatchGetItem's most keys per request

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


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


def ttl(now: float, days: float) -> int:
    """The TTL attribute's value (epoch seconds) for an item kept ``days`` from ``now``."""
    return int(now + days * 86_400)


def unique(values: Iterable[str]) -> list[str]:
    """``values`` without repeats, in first-seen order."""
    seen: list[str] = []
    for value in values:
        if value not in seen:
            seen.append(value)
    return seen


# -- marshalling ----------------------------------------------------------------------------------


def to_item(values: Mapping[str, Any]) -> dict[str, Any]:
    """Python values to DynamoDB attribute values (``None`` values are left out)."""
    return {k: _serializer.serialize(_plain(v)) for k, v in values.items() if v is not None}


def from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _python(_deserializer.deserialize(v)) for k, v in item.items()}


def expression_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """``ExpressionAttributeValues`` (unlike :func:`to_item`, ``None`` is not dropped)."""
    return {k: _serializer.serialize(_plain(v)) for k, v in values.items()}


def _plain(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if v is not None}
    return value


def _python(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, list):
        return [_python(v) for v in value]
    if isinstance(value, dict):
        return {k: _python(v) for k, v in value.items()}
    if isinstance(value, set):
        return sorted(_python(v) for v in value)
    return value


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
    # Exactly the key DynamoDB returned as LastEvaluatedKey: the table's key, plus the index's key for
    # an index listing (gsi<n>pk with its gsi<n>sk). DynamoDB refuses any other set, or an empty value,
    # as ExclusiveStartKey with a ValidationException (a 500 if it got that far).
    key = {schema.PK, schema.SK}
    if partition_attribute != schema.PK:
        key |= {partition_attribute, partition_attribute[: -len("pk")] + "sk"}
    if (
        not isinstance(plain, dict)
        or set(plain) != key
        or not all(isinstance(v, str) and v for v in plain.values())
        or plain.get(partition_attribute) != partition_value
    ):
        raise InvalidCursor("cursor does not belong to this listing")
    return {k: {"S": v} for k, v in plain.items()}


def query_from(client: Any, request: dict[str, Any], start: dict[str, Any] | None) -> dict[str, Any]:
    """``client.query(**request)`` from ``start`` (a decoded cursor, or ``None``).

    DynamoDB refuses a start key outside the query's key condition (a cursor of a listing with another
    ``since``) with a ValidationException: that is the caller's cursor, not a failure of the table.
    """
    if not start:
        return dict(client.query(**request))
    from botocore.exceptions import ClientError  # loaded with boto3 already

    try:
        return dict(client.query(**request, ExclusiveStartKey=start))
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ValidationException":
            raise InvalidCursor(
                "cursor does not belong to this listing (it was returned for other parameters)"
            ) from None
        raise


# -- the table ------------------------------------------------------------------------------------


class TableBase:
    """The delivery table bound once: the low-level DynamoDB client and the table name.

    Each resource module adds its reads and writes to a subclass; :class:`~functions.delivery.store.
    DeliveryTable` combines them. Tests pass a moto client; the handlers pass their lazily created one.
    """

    def __init__(self, client: Any, name: str) -> None:
        self.client = client
        self.name = name

    def put_new(self, item: Mapping[str, Any]) -> bool:
        """Write ``item`` unless an item with its key exists; returns whether it was written."""
        try:
            self.client.put_item(
                TableName=self.name, Item=to_item(item), ConditionExpression="attribute_not_exists(pk)"
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def batch_get(self, keys: Sequence[Mapping[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
        """Items by (pk, sk); retries unprocessed keys."""
        found: dict[tuple[str, str], dict[str, Any]] = {}
        pending = [to_item(k) for k in keys]
        attempts = 0
        while pending:
            chunk, pending = pending[:BATCH_GET_LIMIT], pending[BATCH_GET_LIMIT:]
            request: dict[str, Any] = {self.name: {"Keys": chunk}}
            while request:
                response = self.client.batch_get_item(RequestItems=request)
                for raw in response.get("Responses", {}).get(self.name, []):
                    item = from_item(raw)
                    found[(item[schema.PK], item[schema.SK])] = item
                request = response.get("UnprocessedKeys") or {}
                if request:
                    attempts += 1
                    time.sleep(min(1.0, 0.05 * 2**attempts))
        return found
