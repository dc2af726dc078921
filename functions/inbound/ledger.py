"""The delivery ledger: one DynamoDB item per enqueued delivery, so a retry or a replay is not enqueued twice.

The ingest *looks up* a delivery's record key before enqueueing it and *records* it only after the
FIFO queue accepted the message (docs/consumer.md, "Idempotency"). A record therefore always means
"enqueued": there is no pending state, no lease and nothing to release when a store fails. The
window between the send and the record becoming readable (one ingest timeout plus DynamoDB's
replication lag, seconds) is covered by SQS FIFO deduplication, which drops a second message with the
same deduplication id for :data:`FIFO_DEDUPLICATION_SECONDS`; lookups may therefore read eventually
consistently (half the price of a strongly consistent read).

Items expire through DynamoDB TTL on ``expiresAt`` (epoch seconds). TTL deletion lags, so an
expired item is treated as absent.

Records written by the previous (claim / complete) version are read for their TTL: an ``enqueued``
delivery record is a duplicate, a ``pending`` one is not (its request may never have sent), and a
content record (``ownerKey``, ``ownerToken``, no status) is a duplicate while the delivery record it
names is ``enqueued`` under that token.

Table: partition key ``pk`` (string) only; ``expiresAt`` is the TTL attribute.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import Any

from functions.records import record

# SQS FIFO drops a message whose deduplication id it accepted within this many seconds (AWS SQS
# developer guide). The ingest's lookup-send-record protocol relies on it; the component keeps the
# ingest timeout far below it (components/specs/consumer.py).
FIFO_DEDUPLICATION_SECONDS = 300


class DeliveryStatus(StrEnum):
    """The ``status`` of a ledger record."""

    ENQUEUED = "enqueued"
    """On the FIFO queue: a retry or a replay is a duplicate."""
    PENDING = "pending"
    """Only in records of the previous version: claimed, maybe never sent (not a duplicate)."""


class DuplicateOf(StrEnum):
    """What an enqueued record matched (the ``matched`` of the ``Duplicates`` metric)."""

    DELIVERY_ID = "delivery_id"
    """The same delivery key: the provider's retry."""
    SIGNED_CONTENT = "signed_content"
    """The same signed content under another delivery id: a replay, or two hooks posting one event."""


@record
class Duplicate:
    """A live record of the delivery's record key: answer 200, enqueue nothing."""

    matched: DuplicateOf
    legacy: bool = False
    """Found in a previous version's records (whose event ids derived from the delivery key)."""


class DeliveryLedger:
    def __init__(self, client: Any, table_name: str, *, clock: Callable[[], float] = time.time) -> None:
        self._client = client
        self._table = table_name
        self._clock = clock

    def lookup(self, key: str, delivery_key: str) -> Duplicate | None:
        """What the live record under ``key`` says about a request with ``delivery_key``; ``None`` if free.

        ``delivery_key`` is the ledger form of the request's delivery key (``<source>#id:...``).
        """
        now = int(self._clock())
        record = self._get(key)
        if record is None or _number(record, "expiresAt") < now:
            return None
        status = _text(record, "status")
        if status == DeliveryStatus.ENQUEUED:
            # No deliveryKey where the record key is the delivery key (timestamped kinds, whose event
            # ids the previous version derived the same way: its enqueued records read alike).
            recorded = _text(record, "deliveryKey")
            return Duplicate(DuplicateOf.DELIVERY_ID if recorded in ("", delivery_key) else DuplicateOf.SIGNED_CONTENT)
        if status or not _text(record, "ownerKey"):
            return None  # a previous version's pending claim: its request may never have sent
        return self._legacy_content(record, delivery_key, now)

    def record(self, key: str, *, ttl_seconds: int, attributes: Mapping[str, str]) -> bool:
        """Record ``key`` as enqueued (``attributes``: strings for operators and :meth:`lookup`).

        ``False`` when a live enqueued record was already there (a concurrent duplicate recorded
        first; its attributes are kept).
        """
        now = int(self._clock())
        item: dict[str, Any] = {
            "pk": {"S": key},
            "status": {"S": DeliveryStatus.ENQUEUED},
            "expiresAt": {"N": str(now + ttl_seconds)},
        }
        item.update({name: {"S": value} for name, value in attributes.items()})
        try:
            self._client.put_item(
                TableName=self._table,
                Item=item,
                # Over a previous version's pending claim or content record (no status) too.
                ConditionExpression=(
                    "attribute_not_exists(pk) OR expiresAt < :now OR attribute_not_exists(#status) "
                    "OR #status <> :enqueued"
                ),
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={":now": {"N": str(now)}, ":enqueued": {"S": DeliveryStatus.ENQUEUED}},
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def _legacy_content(self, record: Mapping[str, Any], delivery_key: str, now: int) -> Duplicate | None:
        """A previous version's content record: a duplicate while its owner is enqueued under its token."""
        owner_key = _text(record, "ownerKey")
        owner = self._get(owner_key)
        if (
            owner is None
            or _number(owner, "expiresAt") < now
            or _text(owner, "status") != DeliveryStatus.ENQUEUED
            or _text(owner, "claimToken") != _text(record, "ownerToken")
        ):
            return None  # released, expired, never completed or taken over: the content is free
        return Duplicate(
            DuplicateOf.DELIVERY_ID if owner_key == delivery_key else DuplicateOf.SIGNED_CONTENT, legacy=True
        )

    def _get(self, key: str) -> dict[str, Any] | None:
        # Eventually consistent: a record not yet readable is covered by FIFO deduplication (above).
        item = self._client.get_item(TableName=self._table, Key={"pk": {"S": key}}, ConsistentRead=False).get("Item")
        return dict(item) if item is not None else None


def _text(item: Mapping[str, Any], name: str) -> str:
    return str(item.get(name, {}).get("S", ""))


def _number(item: Mapping[str, Any], name: str) -> int:
    try:
        return int(item.get(name, {}).get("N", "0"))
    except ValueError:
        return 0
