"""Pipe enrichment handler (``functions.inbound.enrich.handler``): FIFO messages -> target items.

Input: the batch EventBridge Pipes sends for an SQS source, a JSON array of records
``{"messageId", "receiptHandle", "body", "attributes", "messageAttributes", "md5OfBody",
"eventSource", "eventSourceARN", "awsRegion"}`` whose ``body`` is an inbound envelope
(:mod:`functions.inbound.envelope`). A ``{"Records": [...]}`` event (Lambda's SQS shape) is accepted
too.

Output: a JSON array with one item per record, in order (:mod:`functions.inbound.target`). A
claim-checked payload is read back from S3 (its size and SHA-256 checked) when the resulting event
fits ``CONSUMER_MAX_TARGET_ITEM_BYTES``; otherwise the event carries the pointer (and S3 is not read).

Failure: Pipes does not support partial batch failures for enrichments, so any error fails the
whole batch, which returns to the queue and is retried until the queue's ``maxReceiveCount`` moves
it to the dead-letter queue. The component uses batches of one message so that a failing message
only ever holds back its own FIFO message group. A claim-checked payload that is gone raises
:class:`PayloadMissingError` (S3 answers 404 ``NoSuchKey``: the component grants ``s3:ListBucket``
so that a missing object is told apart from a denied read); a read S3 denies raises
:class:`PayloadAccessDeniedError`; any other S3 error is re-raised as it is.

Environment (read at the first call): ``CONSUMER_MAX_TARGET_ITEM_BYTES`` (default 262144) and
``CONSUMER_EVENT_SOURCE``, the stack's ``provider.eventSource`` (default ``hookstack``): events are
published as ``<CONSUMER_EVENT_SOURCE>.<source name>``.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from functions import logs
from functions.inbound.envelope import ClaimCheck, Envelope, parse_envelope
from functions.inbound.target import (
    DEFAULT_EVENT_SOURCE,
    MAX_BUS_ENTRY_BYTES,
    item_size,
    item_with_pointer,
    target_item,
)

CLIENT_CONFIG = Config(connect_timeout=2, read_timeout=10, retries={"max_attempts": 3, "mode": "standard"})
# S3's answers to a GET of an object that is not there: 404 with s3:ListBucket, 403 without it.
_MISSING_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
_DENIED_CODES = frozenset({"AccessDenied", "403", "Forbidden"})

_s3: Any = None
_max_item_bytes: int | None = None


class PayloadIntegrityError(RuntimeError):
    """The stored payload is not the one the pointer describes."""


class PayloadMissingError(RuntimeError):
    """The claim-checked payload is gone: expired after ``payloadRetentionDays``, or deleted."""


class PayloadAccessDeniedError(RuntimeError):
    """S3 refused to read the payload (the role or bucket policy, or a missing object read without
    ``s3:ListBucket``)."""


def s3(session: Any = None) -> Any:
    """The S3 client, created at first use (from ``session`` when given: tests share one)."""
    global _s3
    if _s3 is None:
        _s3 = (session if session is not None else boto3).client("s3", config=CLIENT_CONFIG)
    return _s3


def max_item_bytes() -> int:
    global _max_item_bytes
    if _max_item_bytes is None:
        raw = os.environ.get("CONSUMER_MAX_TARGET_ITEM_BYTES", "")
        try:
            _max_item_bytes = int(raw) if raw else MAX_BUS_ENTRY_BYTES
        except ValueError:
            raise ValueError(f"CONSUMER_MAX_TARGET_ITEM_BYTES must be an integer, got {raw!r}") from None
    return _max_item_bytes


def event_source_prefix() -> str:
    return os.environ.get("CONSUMER_EVENT_SOURCE") or DEFAULT_EVENT_SOURCE


def reset() -> None:
    """Forget the client and settings (tests, and the sandbox after a config change)."""
    global _s3, _max_item_bytes
    _s3 = None
    _max_item_bytes = None


def handler(event: Sequence[Mapping[str, Any]] | Mapping[str, Any], context: Any = None) -> list[dict[str, Any]]:
    records = event.get("Records", []) if isinstance(event, Mapping) else event
    limit = max_item_bytes()
    prefix = event_source_prefix()
    items = []
    for record in records:
        message_id = str(record.get("messageId", ""))
        try:
            envelope = parse_envelope(str(record.get("body", "")))
        except ValueError as error:
            logs.error("not an inbound envelope; failing the batch", messageId=message_id, detail=str(error))
            raise
        items.append(enrich(envelope, limit, prefix))
        logs.info(
            "enriched",
            messageId=message_id,
            source=envelope.source,
            eventId=envelope.event_id,
            claimChecked=envelope.claim_check is not None,
        )
    return items


def enrich(envelope: Envelope, limit: int, source_prefix: str) -> dict[str, Any]:
    if envelope.claim_check is None:
        return target_item(envelope, envelope.body, limit, source_prefix)
    pointer = envelope.claim_check
    # Without reading anything: would the payload fit at all? (Saves a GET for large payloads.)
    if item_size(item_with_pointer(envelope, source_prefix)) + pointer.size > limit:
        return item_with_pointer(envelope, source_prefix)
    return target_item(envelope, read_payload(pointer), limit, source_prefix)


def read_payload(pointer: ClaimCheck) -> bytes:
    location = f"s3://{pointer.bucket}/{pointer.key}"
    try:
        response = s3().get_object(Bucket=pointer.bucket, Key=pointer.key)
    except ClientError as error:
        code = str(error.response.get("Error", {}).get("Code", ""))
        if code in _MISSING_CODES:
            logs.error("claim-checked payload is missing", bucket=pointer.bucket, key=pointer.key, code=code)
            raise PayloadMissingError(
                f"{location} is gone (expired after payloadRetentionDays, or deleted); this message cannot "
                "be delivered and will reach the dead-letter queue"
            ) from error
        if code in _DENIED_CODES:
            logs.error("claim-checked payload could not be read: access denied", bucket=pointer.bucket,
                       key=pointer.key, code=code)
            raise PayloadAccessDeniedError(
                f"reading {location} was denied ({code}): check the enrichment role's s3:GetObject and "
                "s3:ListBucket and the bucket policy (without s3:ListBucket S3 also answers 403 for a "
                "missing object)"
            ) from error
        raise
    body = response["Body"].read()
    if not isinstance(body, bytes):
        raise PayloadIntegrityError(f"s3://{pointer.bucket}/{pointer.key} did not return bytes")
    if len(body) != pointer.size or hashlib.sha256(body).hexdigest() != pointer.sha256:
        raise PayloadIntegrityError(
            f"s3://{pointer.bucket}/{pointer.key} does not match its pointer (size {len(body)} vs {pointer.size})"
        )
    return body
