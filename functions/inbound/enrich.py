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

Environment: :class:`functions.inbound.settings.EnrichSettings` (``CONSUMER_MAX_TARGET_ITEM_BYTES``
and ``CONSUMER_EVENT_SOURCE``, the stack's ``provider.eventSource``: events are published as
``<CONSUMER_EVENT_SOURCE>.<source name>``), read at the first call, not at import.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from typing import Any

from botocore.config import Config
from botocore.exceptions import ClientError

from functions import logs
from functions.inbound.envelope import ClaimCheck, Envelope, parse_envelope
from functions.inbound.settings import EnrichSettings
from functions.inbound.target import item_size, item_with_pointer, target_item
from functions.runtime import Clients, ProcessState

CLIENT_CONFIG = Config(connect_timeout=2, read_timeout=10, retries={"max_attempts": 3, "mode": "standard"})
# S3's answers to a GET of an object that is not there: 404 with s3:ListBucket, 403 without it.
_MISSING_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
_DENIED_CODES = frozenset({"AccessDenied", "403", "Forbidden"})


class PayloadIntegrityError(RuntimeError):
    """The stored payload is not the one the pointer describes."""


class PayloadMissingError(RuntimeError):
    """The claim-checked payload is gone: expired after ``payloadRetentionDays``, or deleted."""


class PayloadAccessDeniedError(RuntimeError):
    """S3 refused to read the payload (the role or bucket policy, or a missing object read without
    ``s3:ListBucket``)."""


class Runtime:
    """Settings and the S3 client of one process, created at the first call."""

    def __init__(self, settings: EnrichSettings, session: Any = None) -> None:
        self.settings = settings
        self.clients = Clients(CLIENT_CONFIG, session)

    @property
    def s3(self) -> Any:
        return self.clients("s3")


_state: ProcessState[Runtime] = ProcessState(lambda: Runtime(EnrichSettings.from_environ(os.environ)))


def runtime() -> Runtime:
    return _state.get()


def s3() -> Any:
    """The S3 client, created at first use (an inline payload never creates it)."""
    return _state.get().s3


def reset() -> None:
    """Forget the settings and client (tests, and the sandbox after a config change)."""
    _state.reset()


def handler(event: Sequence[Mapping[str, Any]] | Mapping[str, Any], context: Any = None) -> list[dict[str, Any]]:
    records = event.get("Records", []) if isinstance(event, Mapping) else event
    settings = runtime().settings
    limit, prefix = settings.max_target_item_bytes, settings.event_source
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
            logs.error(
                "claim-checked payload could not be read: access denied",
                bucket=pointer.bucket,
                key=pointer.key,
                code=code,
            )
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
