"""Deliveries in the delivery table (``M#<tenant>#<eventId>`` / ``D#<endpointId>``): one item per
event and endpoint holding the current run's status, attempt count, next attempt time and a compact
history; the ``failed`` index lists those that ended failed, for replay.

The delivery item is the source of truth for the worker: a task *claims* the run (conditional
write), and every later write is conditional on still owning it, so duplicate SQS messages and
superseded runs can only be dropped, never race. A run delivered at its first try without a
delivery item is recorded by its attempt alone (:mod:`~.done`); the reads here merge those in.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from functions.delivery import schema
from functions.delivery.store import done
from functions.delivery.store.attempts import AttemptRecord
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
from functions.delivery.store.endpoints import Endpoint, endpoint_from
from functions.delivery.store.messages import Message, message_from
from functions.delivery.store.secrets import SigningSecrets, secrets_from
from functions.delivery.vocab import DeliveryStatus
from functions.records import record

MAX_HISTORY_ENTRIES = 25
# Every write after the claim holds only while this task still owns the run.
_OWNED = "#run = :run AND taskMessageId = :mid AND #status = :pending"
_API_FIELDS = (
    "endpointId",
    "eventId",
    "eventType",
    "status",
    "run",
    "attempts",
    "lastAttemptAt",
    "lastStatusCode",
    "lastError",
    "nextAttemptAt",
    "failedReason",
    "createdAt",
    "finishedAt",
    "history",
)


@record
class DeliveryContext:
    """Everything one attempt needs, read in one round trip."""

    endpoint: Endpoint | None
    secrets: SigningSecrets | None
    message: Message | None
    delivery: dict[str, Any] | None = None
    """The delivery item as read (eventually consistent); ``None`` when the run has none yet."""


def delivery_to_api(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: item.get(k) for k in _API_FIELDS if item.get(k) is not None}


class DeliveriesTable(TableBase):
    def delivery_context(
        self, tenant_id: str, event_id: str, endpoint_id: str, *, message: Message | None = None
    ) -> DeliveryContext:
        """The endpoint, its state and secrets, the delivery item and (unless the task brought it as
        ``message``) the stored message, in one ``BatchGetItem``."""
        keys = [
            schema.endpoint_key(tenant_id, endpoint_id),
            schema.state_key(tenant_id, endpoint_id),
            schema.secret_key(tenant_id, endpoint_id),
            schema.delivery_key(tenant_id, event_id, endpoint_id),
        ]
        if message is None:
            keys.append(schema.message_key(tenant_id, event_id))
        items = self.batch_get(keys)

        def get(key: Mapping[str, str]) -> dict[str, Any] | None:
            return items.get((key[schema.PK], key[schema.SK]))

        definition = get(keys[0])
        return DeliveryContext(
            endpoint=endpoint_from(definition, get(keys[1])) if definition else None,
            secrets=secrets_from(get(keys[2])),
            message=message or message_from(get(keys[4])),
            delivery=get(keys[3]),
        )

    def deliveries_of(self, tenant_id: str, event_id: str) -> list[dict[str, Any]]:
        """The event's deliveries, one per endpoint: the delivery items, and the runs an attempt
        ended alone (:mod:`~.done`), ordered by endpoint id."""
        response = self.client.query(
            TableName=self.name,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues=expression_values(
                {":pk": schema.message_pk(tenant_id, event_id), ":prefix": schema.DELIVERY_PREFIX}
            ),
        )
        items = {str(item["endpointId"]): item for item in (from_item(i) for i in response.get("Items", []))}
        deliveries = done.merged(items, done.done_attempts(self, tenant_id, event_id))
        return [deliveries[endpoint_id] for endpoint_id in sorted(deliveries)]

    def get_delivery(self, tenant_id: str, event_id: str, endpoint_id: str) -> dict[str, Any] | None:
        response = self.client.get_item(
            TableName=self.name, Key=to_item(schema.delivery_key(tenant_id, event_id, endpoint_id)), ConsistentRead=True
        )
        items = {endpoint_id: from_item(response["Item"])} if "Item" in response else {}
        attempts = [a for a in done.done_attempts(self, tenant_id, event_id) if a.get("endpointId") == endpoint_id]
        return done.merged(items, attempts).get(endpoint_id)

    def run_is_done(self, tenant_id: str, event_id: str, endpoint_id: str, run: int) -> bool | None:
        """Whether an attempt delivered ``run`` and ended it alone (a later copy of its task sends
        nothing); ``None`` while the ``byEvent`` index cannot answer."""
        return done.run_is_done(self, tenant_id, event_id, endpoint_id, run)

    def record_skipped_delivery(
        self, endpoint: Endpoint, message: Message, reason: str, now: float, expires_at: int
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
            "status": DeliveryStatus.FAILED,
            "attempts": 0,
            "failedReason": reason,
            "createdAt": stamp,
            "updatedAt": stamp,
            "finishedAt": stamp,
            "history": [],
            "gsi2pk": schema.failed_pk(endpoint.tenant_id, endpoint.endpoint_id),
            "gsi2sk": schema.failed_sk(stamp, message.event_id),
            "gsi4pk": schema.recent_pk(endpoint.tenant_id),
            "gsi4sk": schema.recent_sk(stamp, endpoint.endpoint_id, message.event_id),
            schema.TTL_ATTRIBUTE: expires_at,
        }
        return self.put_new(item)

    def claim_delivery(
        self,
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
                "updatedAt = :now, #ttl = :ttl, history = :empty, gsi4pk = :rpk, gsi4sk = :rsk "
                "REMOVE gsi2pk, gsi2sk, nextAttemptAt, failedReason, lastStatusCode, lastError, finishedAt"
            ),
            "ConditionExpression": "attribute_not_exists(pk) OR #run < :run",
            "ExpressionAttributeNames": {**names, "#ttl": schema.TTL_ATTRIBUTE},
            "ExpressionAttributeValues": expression_values(
                {
                    ":run": run,
                    ":pending": DeliveryStatus.PENDING,
                    ":zero": 0,
                    ":mid": task_message_id,
                    ":t": tenant_id,
                    ":e": event_id,
                    ":ep": endpoint_id,
                    ":type": event_type,
                    ":now": iso(now),
                    ":ttl": expires_at,
                    ":empty": [],
                    ":rpk": schema.recent_pk(tenant_id),
                    ":rsk": schema.recent_sk(iso(now), endpoint_id, event_id),
                }
            ),
        }
        cont: dict[str, Any] = {
            "UpdateExpression": "SET updatedAt = :now",
            "ConditionExpression": "#run = :run AND #status = :pending AND taskMessageId = :mid",
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": expression_values(
                {":run": run, ":pending": DeliveryStatus.PENDING, ":mid": task_message_id, ":now": iso(now)}
            ),
        }
        for request in (takeover, cont) if takeover_first else (cont, takeover):
            try:
                response = self.client.update_item(TableName=self.name, Key=key, ReturnValues="ALL_NEW", **request)
                return from_item(response["Attributes"])
            except self.client.exceptions.ConditionalCheckFailedException:
                continue
        return None

    def finish_attempt(
        self,
        *,
        record: AttemptRecord,
        task_message_id: str,
        final_status: DeliveryStatus | None,
        next_attempt_at: float | None = None,
        failed_reason: str | None = None,
    ) -> dict[str, Any] | None:
        """Write an attempt's result on the delivery (still owned by this task); ``None`` if it lost ownership."""
        now = iso(record.at)
        values: dict[str, Any] = {":n": record.attempt, ":now": now, ":entry": [record.summary()], ":empty": []}
        sets = [
            "attempts = :n",
            "lastAttemptAt = :now",
            "updatedAt = :now",
            "history = list_append(if_not_exists(history, :empty), :entry)",
        ]
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
            sets += ["#status = :final", "finishedAt = :now", "gsi4pk = :rpk", "gsi4sk = :rsk"]
            values[":rpk"] = schema.recent_pk(record.tenant_id)
            values[":rsk"] = schema.recent_sk(now, record.endpoint_id, record.event_id)
            removes.append("nextAttemptAt")
            if final_status == DeliveryStatus.FAILED:
                values[":reason"] = failed_reason or "failed"
                values[":fpk"] = schema.failed_pk(record.tenant_id, record.endpoint_id)
                values[":fsk"] = schema.failed_sk(now, record.event_id)
                sets += ["failedReason = :reason", "gsi2pk = :fpk", "gsi2sk = :fsk"]
        expression = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
        key = schema.delivery_key(record.tenant_id, record.event_id, record.endpoint_id)
        item = self._update_owned(key, record.run, task_message_id, expression, values)
        if item is None:
            return None
        if len(item.get("history") or []) > MAX_HISTORY_ENTRIES:
            item["history"] = item["history"][-MAX_HISTORY_ENTRIES:]
        return item

    def finish_without_attempt(
        self,
        *,
        tenant_id: str,
        event_id: str,
        endpoint_id: str,
        run: int,
        task_message_id: str,
        status: DeliveryStatus,
        reason: str,
        now: float,
    ) -> dict[str, Any] | None:
        """End a run that cannot make its next attempt (endpoint disabled or deleted, receive limit)."""
        stamp = iso(now)
        values: dict[str, Any] = {
            ":final": status,
            ":reason": reason,
            ":now": stamp,
            ":rpk": schema.recent_pk(tenant_id),
            ":rsk": schema.recent_sk(stamp, endpoint_id, event_id),
        }
        sets = [
            "#status = :final",
            "failedReason = :reason",
            "finishedAt = :now",
            "updatedAt = :now",
            "gsi4pk = :rpk",
            "gsi4sk = :rsk",
        ]
        if status == DeliveryStatus.FAILED:
            values[":fpk"] = schema.failed_pk(tenant_id, endpoint_id)
            values[":fsk"] = schema.failed_sk(stamp, event_id)
            sets += ["gsi2pk = :fpk", "gsi2sk = :fsk"]
        key = schema.delivery_key(tenant_id, event_id, endpoint_id)
        return self._update_owned(key, run, task_message_id, "SET " + ", ".join(sets) + " REMOVE nextAttemptAt", values)

    def _update_owned(
        self, key: Mapping[str, str], run: int, task_message_id: str, expression: str, values: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        """Apply ``expression`` while the task ``task_message_id`` still owns ``run`` of the delivery
        (``#run`` and ``#status`` name those attributes); the item after it, or ``None`` if the task
        lost ownership."""
        try:
            response = self.client.update_item(
                TableName=self.name,
                Key=to_item(key),
                UpdateExpression=expression,
                ConditionExpression=_OWNED,
                ExpressionAttributeNames={"#run": "run", "#status": "status"},
                ExpressionAttributeValues=expression_values(
                    {**values, ":run": run, ":mid": task_message_id, ":pending": DeliveryStatus.PENDING}
                ),
                ReturnValues="ALL_NEW",
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return None
        return from_item(response["Attributes"])

    def failed_deliveries_since(
        self, tenant_id: str, endpoint_id: str, since: float, *, limit: int, cursor: str | None = None
    ) -> tuple[list[str], str | None]:
        """Event ids of the endpoint's deliveries that ended failed at or after ``since`` (oldest first)."""
        partition = schema.failed_pk(tenant_id, endpoint_id)
        request: dict[str, Any] = {
            "TableName": self.name,
            "IndexName": schema.FAILED_INDEX,
            "KeyConditionExpression": "gsi2pk = :pk AND gsi2sk >= :since",
            "ExpressionAttributeValues": expression_values({":pk": partition, ":since": iso(since)}),
            "Limit": limit,
        }
        start = decode_cursor(cursor, "gsi2pk", partition)
        response = query_from(self.client, request, start)
        event_ids = [schema.failed_event_id(from_item(i)["gsi2sk"]) for i in response.get("Items", [])]
        return event_ids, encode_cursor(response.get("LastEvaluatedKey"))
