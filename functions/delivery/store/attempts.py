"""Attempts in the delivery table (``A#<tenant>`` / ``<time>#<attemptId>``, and the ``byEndpoint``
index): one item per HTTP attempt, newest first in listings, kept for the history TTL."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import field
from typing import Any

from functions.delivery import schema
from functions.delivery.store.done import MESSAGE_ATTRIBUTE, packed
from functions.delivery.store.dynamo import (
    TableBase,
    decode_cursor,
    encode_cursor,
    expression_values,
    from_item,
    iso,
    query_from,
    to_item,
)
from functions.delivery.vocab import DeliveryStatus
from functions.records import record


@record
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


class AttemptsTable(TableBase):
    def put_attempt(
        self,
        record: AttemptRecord,
        expires_at: int,
        *,
        ends_run: bool = False,
        message: Mapping[str, Any] | None = None,
    ) -> None:
        """Write one attempt. ``ends_run``: it delivered its run, which has no delivery item, so it also
        stands for the delivery (indexed in ``byEvent``: :mod:`~.done`), and for the message when
        ``message`` (:func:`~.messages.message_fields`, brought by the task) is given."""
        sort_key = f"{iso(record.at)}#{record.attempt_id}"
        item: dict[str, Any] = {
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
        if ends_run:
            item["gsi3pk"] = schema.message_pk(record.tenant_id, record.event_id)
            item["gsi3sk"] = schema.run_done_sk(record.endpoint_id, record.run)
            item[MESSAGE_ATTRIBUTE] = packed(message) if message is not None else None
            # It also stands for the delivery in the recent index (GET /deliveries, /stats), as a
            # delivery item that ended succeeded would: one more index write unit, no more requests.
            item.update(_recent_delivery(record))
        self.client.put_item(TableName=self.name, Item=to_item(item))

    def list_attempts(
        self, tenant_id: str, *, endpoint_id: str | None = None, limit: int = 50, cursor: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Attempts newest first, for a tenant or one of its endpoints."""
        if endpoint_id is None:
            partition_attribute, partition = schema.PK, schema.attempts_pk(tenant_id)
            request: dict[str, Any] = {"KeyConditionExpression": "pk = :pk"}
        else:
            partition_attribute, partition = "gsi1pk", schema.endpoint_attempts_pk(tenant_id, endpoint_id)
            request = {"IndexName": schema.BY_ENDPOINT_INDEX, "KeyConditionExpression": "gsi1pk = :pk"}
        request.update(
            TableName=self.name,
            ExpressionAttributeValues=expression_values({":pk": partition}),
            ScanIndexForward=False,
            Limit=limit,
        )
        start = decode_cursor(cursor, partition_attribute, partition)
        response = query_from(self.client, request, start)
        hidden = set(schema.KEY_ATTRIBUTES) | {schema.TTL_ATTRIBUTE, MESSAGE_ATTRIBUTE, *RECENT_ONLY_ATTRIBUTES}
        items = [{k: v for k, v in from_item(i).items() if k not in hidden} for i in response.get("Items", [])]
        return items, encode_cursor(response.get("LastEvaluatedKey"))


# What a run-ending attempt carries for the recent index beyond an attempt's own attributes (hidden
# from the attempt listings).
RECENT_ONLY_ATTRIBUTES = ("status", "createdAt", "finishedAt")


def _recent_delivery(record: AttemptRecord) -> dict[str, Any]:
    at = iso(record.at)
    return {
        "gsi4pk": schema.recent_pk(record.tenant_id),
        "gsi4sk": schema.recent_sk(at, record.endpoint_id, record.event_id),
        "status": DeliveryStatus.SUCCEEDED,
        "createdAt": at,
        "finishedAt": at,
    }
