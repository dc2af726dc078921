"""A tenant's recent deliveries, from the ``recent`` index (``R#<tenant>`` / ``<changedAt>#...``):
the reporting routes (``GET /tenants/{t}/deliveries``, ``/stats``) and ``python -m ops deliveries``.

Every read is one ``Query`` on the tenant's partition from ``since`` on: no scan, and a page reads at
most ``limit`` items (a status filter applies after the read, so a page may hold fewer and still
have a ``nextCursor``). The counts read at most :data:`MAX_COUNTED` items and say when they stopped.
"""

from __future__ import annotations

from typing import Any

from functions.delivery import schema
from functions.delivery.store.dynamo import (
    TableBase,
    decode_cursor,
    encode_cursor,
    expression_values,
    from_item,
    iso,
    query_from,
)
from functions.delivery.vocab import DeliveryStatus

MAX_COUNTED = 20_000
# The name each status is counted under in the stats (a delivered run is "succeeded" in the history).
STAT_NAMES: dict[str, str] = {
    DeliveryStatus.SUCCEEDED: "delivered",
    DeliveryStatus.FAILED: "failed",
    DeliveryStatus.PENDING: "pending",
    DeliveryStatus.CANCELLED: "cancelled",
}
PUBLISHED = "published"


class RecentTable(TableBase):
    def _recent_query(self, tenant_id: str, since: float) -> dict[str, Any]:
        return {
            "TableName": self.name,
            "IndexName": schema.RECENT_INDEX,
            "KeyConditionExpression": "gsi4pk = :pk AND gsi4sk >= :since",
            "ExpressionAttributeValues": {":pk": schema.recent_pk(tenant_id), ":since": iso(since)},
        }

    def deliveries_since(
        self,
        tenant_id: str,
        since: float,
        *,
        status: DeliveryStatus | None = None,
        limit: int,
        cursor: str | None = None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """The tenant's deliveries whose status last changed at or after ``since`` (a failed one: when
        it failed), oldest first, only those in ``status`` when given."""
        request = self._recent_query(tenant_id, since)
        request["Limit"] = limit
        if status is not None:
            request["FilterExpression"] = "#status = :status"
            request["ExpressionAttributeNames"] = {"#status": "status"}
            request["ExpressionAttributeValues"][":status"] = str(status)
        request["ExpressionAttributeValues"] = expression_values(request["ExpressionAttributeValues"])
        start = decode_cursor(cursor, "gsi4pk", schema.recent_pk(tenant_id))
        if start and start["gsi4sk"]["S"] < request["ExpressionAttributeValues"][":since"]["S"]:
            # A relative since (24h) moved past the cursor since the last page: continue after the
            # cursor (DynamoDB refuses a start key outside the key condition).
            request["ExpressionAttributeValues"][":since"] = start["gsi4sk"]
        response = query_from(self.client, request, start)
        items = []
        for raw in response.get("Items", []):
            item = from_item(raw)
            items.append({k: item[k] for k in schema.RECENT_ATTRIBUTES if item.get(k) is not None})
        return items, encode_cursor(response.get("LastEvaluatedKey"))

    def delivery_counts_since(
        self, tenant_id: str, since: float, *, max_items: int = MAX_COUNTED
    ) -> tuple[dict[str, dict[str, int]], bool]:
        """Per endpoint, how many deliveries changed status since ``since``, by status (``published``:
        all of them); and whether every one was counted (``False``: stopped after ``max_items``)."""
        request = self._recent_query(tenant_id, since)
        request["ExpressionAttributeValues"] = expression_values(request["ExpressionAttributeValues"])
        request["ProjectionExpression"] = "endpointId, #status"
        request["ExpressionAttributeNames"] = {"#status": "status"}
        counts: dict[str, dict[str, int]] = {}
        read = 0
        while True:
            request["Limit"] = max(1, min(1000, max_items - read))
            response = self.client.query(**request)
            for raw in response.get("Items", []):
                item = from_item(raw)
                row = counts.setdefault(
                    str(item.get("endpointId")), {PUBLISHED: 0, **dict.fromkeys(STAT_NAMES.values(), 0)}
                )
                row[PUBLISHED] += 1
                name = STAT_NAMES.get(str(item.get("status")))  # StrEnum keys: plain strings find them
                if name is not None:
                    row[name] += 1
            read += len(response.get("Items", []))
            last = response.get("LastEvaluatedKey")
            if not last:
                return counts, True
            if read >= max_items:
                return counts, False
            request["ExclusiveStartKey"] = last
