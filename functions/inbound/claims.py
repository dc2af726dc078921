"""The ingest's deduplication steps around the enqueue: look the delivery up, then record it.

:func:`check` reads the ledger record of the delivery's record key (its signed content for kinds
that sign no timestamp, else its delivery key): a live record means it was enqueued already, and
the request is answered 200 duplicate. :func:`record` writes that record once the FIFO queue has
accepted the message. Nothing is written before the send, so a failure in between leaves nothing to
release; the window until the record is readable is covered by SQS FIFO deduplication
(:mod:`functions.inbound.ledger` and docs/consumer.md, "Idempotency", explain why that is enough).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from functions import logs, metrics
from functions.inbound.answers import STORE_ERRORS, Answer, unavailable
from functions.inbound.envelope import Envelope, dedupe_key
from functions.inbound.ledger import DeliveryLedger


def check(ledger: DeliveryLedger, envelope: Envelope, log: Mapping[str, Any]) -> None:
    """Raise :class:`Answer` 200 when ``envelope``'s delivery is already enqueued (503 if unreadable)."""
    source = envelope.source
    try:
        duplicate = ledger.lookup(dedupe_key(source, envelope.identity), dedupe_key(source, envelope.delivery_key))
    except STORE_ERRORS as error:
        logs.error("dedupe ledger unavailable", **log, error=type(error).__name__)
        raise unavailable("the delivery could not be checked") from None
    if duplicate is None:
        return
    metrics.inbound_duplicate(envelope.kind, source, matched=duplicate.matched)
    logs.info("duplicate delivery ignored", **log, matched=duplicate.matched)
    body: dict[str, Any] = {"status": "duplicate"}
    if not duplicate.legacy:  # a previous version's record: its event id derived from another key
        body["eventId"] = envelope.event_id
    raise Answer(200, body)


def record(
    ledger: DeliveryLedger, envelope: Envelope, message_id: str, *, ttl_seconds: int, log: Mapping[str, Any]
) -> None:
    """Record ``envelope``'s delivery as enqueued; a failure is logged, never raised (the message is durable)."""
    source = envelope.source
    attributes = {"source": source, "receivedAt": envelope.received_at, "messageId": message_id}
    if envelope.record_key:  # which delivery the signed content came with: a retry or a replay later
        attributes["deliveryKey"] = dedupe_key(source, envelope.delivery_key)
    try:
        if not ledger.record(dedupe_key(source, envelope.identity), ttl_seconds=ttl_seconds, attributes=attributes):
            logs.info("a concurrent duplicate recorded the delivery first; SQS deduplicated the send", **log)
    except STORE_ERRORS as error:
        # Acknowledge: the message is durably enqueued. A retry within SQS's 5-minute deduplication is
        # still dropped; a later one is enqueued again with the same eventId (docs/consumer.md).
        logs.warning("could not record the delivery as enqueued", **log, error=type(error).__name__)
