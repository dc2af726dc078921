"""The ingest's storing step: claim-check a large body to S3, then send the envelope to the FIFO queue.

A body goes to S3 (``payloads/<source>/<record key digest>``) when it is above the configured
threshold, when its envelope would not fit one SQS message, or when the event it becomes would not
fit the Pipe's target; only the pointer then travels. The FIFO message group is the source's
ordering key, the deduplication id the record key's digest (a concurrent duplicate's send is
dropped by SQS). A store failing here answers 503: nothing was recorded yet, so the provider's
retry is processed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from functions import logs
from functions.inbound.answers import STORE_ERRORS, unavailable
from functions.inbound.envelope import (
    ClaimCheck,
    Envelope,
    body_hash,
    message_group_id,
    needs_claim_check,
    payload_key,
)
from functions.inbound.payload import Payload
from functions.inbound.settings import IngestSettings, SourceConfig
from functions.inbound.target import item_size_bound
from functions.records import record
from functions.runtime import Clients


@record
class Enqueued:
    envelope: Envelope
    """What was sent (the body replaced by its pointer when claim-checked)."""
    message_id: str


def enqueue(
    clients: Clients,
    settings: IngestSettings,
    source: SourceConfig,
    envelope: Envelope,
    payload: Payload,
    log: Mapping[str, Any],
) -> Enqueued:
    """Store and send ``envelope``; on a store failure raise a 503 answer."""
    digest = envelope.digest
    try:
        if must_claim_check(envelope, payload, settings):
            envelope = _store_payload(clients("s3"), settings.bucket_name, envelope, digest)
        result = clients("sqs").send_message(
            QueueUrl=settings.queue_url,
            MessageBody=envelope.serialize(),
            MessageGroupId=message_group_id(source.name, source.ordering_key, payload),
            MessageDeduplicationId=digest,
        )
    except STORE_ERRORS as error:
        logs.error(
            "enqueue failed; nothing recorded, the provider's retry is processed", **log, error=type(error).__name__
        )
        raise unavailable("the webhook could not be stored") from None
    return Enqueued(envelope, str(result.get("MessageId", "")))


def must_claim_check(envelope: Envelope, payload: Payload, settings: IngestSettings) -> bool:
    if needs_claim_check(envelope, settings.claim_check_threshold_bytes):
        return True
    return item_size_bound(envelope, payload) > settings.max_target_item_bytes


def _store_payload(s3: Any, bucket: str, envelope: Envelope, digest: str) -> Envelope:
    body = envelope.body or b""
    sha256 = body_hash(body)
    key = payload_key(envelope.source, digest, sha256)
    s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType=envelope.content_type or "application/octet-stream")
    pointer = ClaimCheck(bucket=bucket, key=key, size=len(body), sha256=sha256)
    return dataclasses.replace(envelope, body=None, claim_check=pointer)
