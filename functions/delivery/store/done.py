"""Runs delivered at their first try, recorded by their attempt alone (the ``byEvent`` index).

The worker's cheapest path (``functions/delivery/worker.py``, docs/delivery.md "Cost"): a run whose
first attempt succeeds, and that has no delivery item yet, is recorded with one write, its attempt
item, which then also stands for the delivery (status ``succeeded``) and, when the task brought the
message (a single-endpoint event: the fan-out stored nothing), for the message. Such an attempt
carries ``gsi3pk``/``gsi3sk`` (:func:`functions.delivery.schema.run_done_sk`); this module reads
them back: the worker asks whether a run is done (a duplicate task sends nothing twice), the API
builds the delivery and the message from them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from functions.delivery import schema
from functions.delivery.store.dynamo import TableBase, expression_values, from_item
from functions.delivery.vocab import DeliveryStatus

# The attribute of a done attempt that holds the message the task brought (never listed as an attempt field).
MESSAGE_ATTRIBUTE = "message"


def packed(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The message fields as the attempt item keeps them: the body zlib-compressed (``bodyZ``, binary),
    so a 1 KB event's attempt stays within one write unit (and so does its ``byEndpoint`` entry)."""
    import zlib  # a built-in module: imported when the first such attempt is written

    kept = {k: v for k, v in fields.items() if k != "body"}
    kept["bodyZ"] = zlib.compress(str(fields["body"]).encode("utf-8"), 9)
    return kept


def unpacked(fields: Mapping[str, Any]) -> dict[str, Any]:
    """:func:`packed` undone: the fields :func:`~.messages.message_of` reads."""
    import zlib

    plain = {k: v for k, v in fields.items() if k != "bodyZ"}
    if "bodyZ" in fields:
        raw = fields["bodyZ"]
        plain["body"] = zlib.decompress(bytes(getattr(raw, "value", raw))).decode("utf-8")
    return plain


# What DynamoDB answers while the index does not exist yet or is being built (the first `pulumi up`
# with it adds the index to a table that may already hold items).
_INDEX_NOT_READY = ("ValidationException", "ResourceNotFoundException")


def run_is_done(table: TableBase, tenant_id: str, event_id: str, endpoint_id: str, run: int) -> bool | None:
    """Whether ``run`` of the delivery was delivered by an attempt recorded alone (eventually
    consistent); ``None`` while the index cannot answer (the caller then claims, as before it existed)."""
    from botocore.exceptions import ClientError  # loaded with boto3 already

    try:
        response = table.client.query(
            TableName=table.name,
            IndexName=schema.BY_EVENT_INDEX,
            KeyConditionExpression="gsi3pk = :pk AND gsi3sk = :sk",
            ExpressionAttributeValues=expression_values(
                {":pk": schema.message_pk(tenant_id, event_id), ":sk": schema.run_done_sk(endpoint_id, run)}
            ),
            Limit=1,
        )
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in _INDEX_NOT_READY:
            return None
        raise
    return bool(response.get("Items"))


def done_attempts(table: TableBase, tenant_id: str, event_id: str) -> list[dict[str, Any]]:
    """The event's attempt items that ended a run alone, oldest run first."""
    keys: list[dict[str, str]] = []
    request: dict[str, Any] = {
        "TableName": table.name,
        "IndexName": schema.BY_EVENT_INDEX,
        "KeyConditionExpression": "gsi3pk = :pk",
        "ExpressionAttributeValues": expression_values({":pk": schema.message_pk(tenant_id, event_id)}),
    }
    from botocore.exceptions import ClientError

    while True:
        try:
            response = table.client.query(**request)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in _INDEX_NOT_READY:
                return []  # the worker records every delivery in delivery items until the index answers
            raise
        keys += [{k: v for k, v in from_item(i).items() if k in (schema.PK, schema.SK)} for i in response["Items"]]
        if not response.get("LastEvaluatedKey"):
            break
        request["ExclusiveStartKey"] = response["LastEvaluatedKey"]
    items = table.batch_get(keys)
    return sorted(items.values(), key=lambda item: (int(item.get("run") or 0), str(item.get("at") or "")))


def delivery_of(attempt: Mapping[str, Any], created_at: str | None = None) -> dict[str, Any]:
    """The delivery item an attempt recorded alone stands for (the fields the deliveries API shows)."""
    summary = {
        "attempt": attempt.get("attempt"),
        "at": attempt.get("at"),
        "outcome": attempt.get("outcome"),
        "statusCode": attempt.get("statusCode"),
        "latencyMs": attempt.get("latencyMs"),
        "error": attempt.get("error"),
    }
    return {
        "tenantId": attempt.get("tenantId"),
        "endpointId": attempt.get("endpointId"),
        "eventId": attempt.get("eventId"),
        "eventType": attempt.get("eventType"),
        "status": DeliveryStatus.SUCCEEDED,
        "run": attempt.get("run"),
        "attempts": attempt.get("attempt"),
        "lastAttemptAt": attempt.get("at"),
        "lastStatusCode": attempt.get("statusCode"),
        "createdAt": created_at or attempt.get("at"),
        "updatedAt": attempt.get("at"),
        "finishedAt": attempt.get("at"),
        "history": [summary],
    }


def merged(items: Mapping[str, Mapping[str, Any]], attempts: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Deliveries by endpoint id: each delivery item (``items``, by endpoint id), unless an attempt
    recorded alone ended the same or a later run (it is then the newer truth)."""
    result = {endpoint_id: dict(item) for endpoint_id, item in items.items()}
    for attempt in attempts:  # oldest run first: the latest wins
        endpoint_id = str(attempt.get("endpointId"))
        current = result.get(endpoint_id)
        if current is None or int(current.get("run") or 0) <= int(attempt.get("run") or 0):
            created = (items.get(endpoint_id) or {}).get("createdAt")
            result[endpoint_id] = delivery_of(attempt, created)
    return result
