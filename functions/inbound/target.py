"""The Pipe's target mapping, in one place (the component, the enrichment and the sandbox follow it).

The enrichment function returns one *item* per FIFO message::

    {
      "source": "hookstack.github",        # EventBridge source: <provider.eventSource>.<source name>
      "detailType": "push",                # EventBridge detail-type: the provider's event type
      "time": "2026-01-01T00:00:00.000Z",  # when hookstack received the webhook
      "detail": {
        "eventId": "in_5f0c...",           # stable across provider retries: deduplicate on it
        "sourceName": "github", "kind": "github", "deliveryId": "...", "eventType": "push",
        "receivedAt": "...", "contentType": "application/json", "headers": {...},
        "query": "...",                    # Twilio only, when the request had a query string
        "payload": {...}, "payloadEncoding": "json"       # json | form | text | base64, or
        "payloadRef": {"bucket": "...", "key": "...", "size": 1, "sha256": "..."}
      }
    }

The source prefix is the stack's ``provider.eventSource`` (``hookstack`` by default), the same prefix
every hookstack publisher uses (the Aurora relay publishes ``<prefix>.aurora``); the enrichment
reads it from ``CONSUMER_EVENT_SOURCE``.

With the default **bus** target the Pipe maps each item to a ``PutEvents`` entry with dynamic
paths: ``Source = $.source``, ``DetailType = $.detailType``, ``Time = $.time`` and the input template
``<$.detail>`` (the detail object, unquoted so it stays JSON). :func:`bus_entry` is exactly that
mapping, for the local sandbox. **Lambda** and **Step Functions** targets receive the items as
they are (a JSON array per batch).

``detail`` never holds a ``tenantId``: inbound events are not routed to tenants' destinations.
A payload travels inside the event only when the whole entry fits ``max_item_bytes`` (256 KiB for
a bus entry or a Step Functions input); otherwise the event carries ``payloadRef`` and consumers
read the object from the payload bucket.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from functions.events import MAX_REQUEST_BYTES, TRACEPARENT_KEY, traceparent_problem
from functions.inbound.envelope import Envelope
from functions.inbound.payload import MalformedPayload, Payload, parse_payload

# The stack's provider.eventSource default; the enrichment falls back to it when CONSUMER_EVENT_SOURCE
# is unset (a function updated before its configuration, mid-deploy). tests check it is the config's.
DEFAULT_EVENT_SOURCE = "hookstack"
PIPE_SOURCE_PATH = "$.source"
PIPE_DETAIL_TYPE_PATH = "$.detailType"
PIPE_TIME_PATH = "$.time"
PIPE_BUS_INPUT_TEMPLATE = "<$.detail>"
# One PutEvents entry (functions.events owns the limit); a Step Functions input is 256 KiB too.
MAX_BUS_ENTRY_BYTES = MAX_REQUEST_BYTES
# The longest EventBridge source (Pipes' target Source parameter: 1-256 characters).
MAX_EVENT_SOURCE_CHARS = 256


def event_source(prefix: str, source_name: str) -> str:
    """The ``source`` of a source's events: ``<provider.eventSource>.<source name>``."""
    return f"{prefix}.{source_name}"


def base_detail(envelope: Envelope) -> dict[str, Any]:
    detail: dict[str, Any] = {
        "eventId": envelope.event_id,
        "sourceName": envelope.source,
        "kind": envelope.kind,
        "deliveryId": envelope.delivery_id,
        "eventType": envelope.event_type,
        "receivedAt": envelope.received_at,
        "contentType": envelope.content_type,
        "headers": dict(envelope.headers),
    }
    if envelope.query:
        detail["query"] = envelope.query
    traceparent = envelope.headers.get(TRACEPARENT_KEY)  # kept by the ingest when the stack propagates traces
    if traceparent is not None and traceparent_problem(traceparent) is None:
        detail[TRACEPARENT_KEY] = traceparent
    return detail


def item_with_payload(envelope: Envelope, payload: Payload, source_prefix: str) -> dict[str, Any]:
    detail = base_detail(envelope)
    detail["payload"] = payload.value
    detail["payloadEncoding"] = payload.encoding
    return _item(envelope, detail, source_prefix)


def item_with_pointer(envelope: Envelope, source_prefix: str) -> dict[str, Any]:
    if envelope.claim_check is None:
        raise ValueError("an envelope without claim-check has no pointer to send")
    detail = base_detail(envelope)
    detail["payloadRef"] = envelope.claim_check.to_json()
    return _item(envelope, detail, source_prefix)


def item_size_bound(envelope: Envelope, payload: Payload) -> int:
    """The size of the event ``payload`` becomes, whatever the source prefix (the ingest's test).

    The ingest does not know the prefix the enrichment will use (it may change between the two),
    so it counts the longest source EventBridge accepts; an inline payload then always fits.
    """
    item = item_with_payload(envelope, payload, "")
    return item_size(item) - len(str(item["source"]).encode()) + MAX_EVENT_SOURCE_CHARS


def payload_of(body: bytes, content_type: str) -> Payload:
    """The payload as the event carries it (a body that was accepted always maps to one)."""
    try:
        return parse_payload(body, content_type)
    except MalformedPayload:
        return parse_payload(body, "application/octet-stream")


def target_item(envelope: Envelope, body: bytes | None, max_item_bytes: int, source_prefix: str) -> dict[str, Any]:
    """The item for one message: the payload inline when it fits, else the claim-check pointer."""
    if body is not None:
        item = item_with_payload(envelope, payload_of(body, envelope.content_type), source_prefix)
        if item_size(item) <= max_item_bytes:
            return item
    if envelope.claim_check is not None:
        return item_with_pointer(envelope, source_prefix)
    raise ValueError(
        f"delivery {envelope.delivery_id!r} travelled inline but its event exceeds {max_item_bytes} bytes "
        "(the ingest function claim-checks such payloads; was the message written by something else?)"
    )


def item_size(item: Mapping[str, Any]) -> int:
    """Bytes EventBridge counts for the entry: source, detail-type, detail (and 14 for a time)."""
    detail = json.dumps(item["detail"], separators=(",", ":"), ensure_ascii=False)
    size = len(str(item["source"]).encode()) + len(str(item["detailType"]).encode()) + len(detail.encode())
    return size + (14 if item.get("time") else 0)


def bus_entry(item: Mapping[str, Any], bus_name: str) -> dict[str, Any]:
    """The ``PutEvents`` entry the Pipe's bus target makes of ``item`` (for the local sandbox)."""
    return {
        "EventBusName": bus_name,
        "Source": item["source"],
        "DetailType": item["detailType"],
        "Time": item["time"],
        "Detail": json.dumps(item["detail"], separators=(",", ":"), ensure_ascii=False),
    }


def _item(envelope: Envelope, detail: dict[str, Any], source_prefix: str) -> dict[str, Any]:
    return {
        "source": event_source(source_prefix, envelope.source),
        "detailType": envelope.event_type,
        "time": envelope.received_at,
        "detail": detail,
    }
