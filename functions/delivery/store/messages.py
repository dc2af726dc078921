"""Messages in the delivery table (``M#<tenant>#<eventId>`` / ``MSG``): the exact Standard Webhooks
body, stored once at fan-out so every attempt, resend and replay sends the same bytes.

When an endpoint the event is fanned out to has a ``transform``, the EventBridge envelope (the event
without ``detail``, which the body already holds) is stored too, as JSON text: the worker rebuilds
the whole event from both and fills the template from it (:meth:`Message.event`)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from typing import Any

from functions.delivery import schema
from functions.delivery.store import done
from functions.delivery.store.dynamo import TableBase, expression_values, from_item, to_item
from functions.records import record


@record
class Message:
    tenant_id: str
    event_id: str
    event_type: str
    event_time: str
    body: str
    received_at: str | None = None
    envelope: str | None = None
    """The EventBridge event without ``detail`` (JSON text); stored only for endpoints with a transform."""

    def event(self) -> dict[str, Any]:
        """The EventBridge event as the delivery rule received it: the stored envelope and the body's
        ``data``; without an envelope (a message fanned out before the endpoint had a transform) only
        ``detail-type``, ``time`` and ``detail`` are known."""
        data = json.loads(self.body).get("data")
        if self.envelope:
            return {**json.loads(self.envelope), "detail": data}
        return {"detail-type": self.event_type, "time": self.event_time, "detail": data}

    def to_api(self) -> dict[str, Any]:
        return {
            "eventId": self.event_id,
            "tenantId": self.tenant_id,
            "eventType": self.event_type,
            "eventTime": self.event_time,
            "receivedAt": self.received_at,
            "payload": json.loads(self.body),
        }


def message_from(item: Mapping[str, Any] | None) -> Message | None:
    if not item:
        return None
    return Message(
        tenant_id=item["tenantId"],
        event_id=item["eventId"],
        event_type=item["eventType"],
        event_time=item["eventTime"],
        body=item["body"],
        received_at=item.get("receivedAt"),
        envelope=item.get("envelope"),
    )


def message_fields(message: Message) -> dict[str, Any]:
    """What a task carries of its message beside its ids and type (the fan-out then stores none)."""
    fields = {"eventTime": message.event_time, "body": message.body, "receivedAt": message.received_at}
    if message.envelope:
        fields["envelope"] = message.envelope
    return fields


def message_of(tenant_id: str, event_id: str, event_type: str, fields: Mapping[str, Any]) -> Message:
    """The message from :func:`message_fields`; ``ValueError`` names what is wrong."""
    for name in ("eventTime", "body"):
        if not isinstance(fields.get(name), str):
            raise ValueError(f"message.{name} must be a string")
    for name in ("receivedAt", "envelope"):
        if fields.get(name) is not None and not isinstance(fields.get(name), str):
            raise ValueError(f"message.{name} must be a string")
    return Message(
        tenant_id=tenant_id,
        event_id=event_id,
        event_type=event_type,
        event_time=fields["eventTime"],
        body=fields["body"],
        received_at=fields.get("receivedAt"),
        envelope=fields.get("envelope"),
    )


class MessagesTable(TableBase):
    def put_message(self, message: Message, expires_at: int) -> bool:
        """Store the message once (same id = same content by contract); returns whether it was new."""
        item = {
            **schema.message_key(message.tenant_id, message.event_id),
            "tenantId": message.tenant_id,
            "eventId": message.event_id,
            "eventType": message.event_type,
            "eventTime": message.event_time,
            "body": message.body,
            "receivedAt": message.received_at,
            "envelope": message.envelope,
            schema.TTL_ATTRIBUTE: expires_at,
        }
        return self.put_new(item)

    def extend_message(self, tenant_id: str, event_id: str, expires_at: int) -> None:
        """Keep a resent message at least until ``expires_at``."""
        with contextlib.suppress(self.client.exceptions.ConditionalCheckFailedException):
            self.client.update_item(
                TableName=self.name,
                Key=to_item(schema.message_key(tenant_id, event_id)),
                UpdateExpression="SET #ttl = :ttl",
                ConditionExpression="attribute_exists(pk) AND #ttl < :ttl",
                ExpressionAttributeNames={"#ttl": schema.TTL_ATTRIBUTE},
                ExpressionAttributeValues=expression_values({":ttl": expires_at}),
            )

    def get_message(self, tenant_id: str, event_id: str) -> Message | None:
        """The stored message: its item, or else the one a task brought to an attempt that ended its
        run alone (:mod:`~.done`: a single-endpoint event delivered at the first try)."""
        response = self.client.get_item(TableName=self.name, Key=to_item(schema.message_key(tenant_id, event_id)))
        if "Item" in response:
            return message_from(from_item(response["Item"]))
        for attempt in done.done_attempts(self, tenant_id, event_id):
            fields = attempt.get(done.MESSAGE_ATTRIBUTE)
            if isinstance(fields, Mapping):
                return message_of(tenant_id, event_id, str(attempt.get("eventType")), done.unpacked(fields))
        return None

    def tenant_covered(self, tenant_id: str) -> bool:
        """Whether the delivery rule covers the tenant (its marker item exists: ``apiTenants: listed``)."""
        key = to_item(schema.covered_tenant_key(tenant_id))
        return "Item" in self.client.get_item(TableName=self.name, Key=key, ConsistentRead=True)
