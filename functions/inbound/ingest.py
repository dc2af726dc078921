"""Ingest handler (``functions.inbound.ingest.handler``): one public function URL for every source.

Takes the Lambda function URL event (payload format 2.0, which HTTP APIs send too), routed by path
``/<source name>``, and answers:

=====  ============================================================================================
200    verified and durably enqueued (or a duplicate of a delivery already enqueued)
400    the body is malformed (invalid base64, or not what its content type declares), or the unsigned
       event-type header is not a provider's token (``Push``, a zero-width character)
401    the signature did not verify (missing, malformed, stale or wrong)
404    no source of that name
405    a method the source's kind does not use (POST; GET too for Twilio, which can be configured so)
413    the body exceeds the function URL limit (6 MB)
500    unexpected error (nothing acknowledged)
503    a store failed (Secrets Manager, DynamoDB, S3, SQS): nothing acknowledged, the provider retries
=====  ============================================================================================

:func:`handle` is the pipeline, one step per module: read the request (:mod:`.request`) ->
verify it on the raw body (:mod:`.authenticate`) -> parse the body -> answer a handshake (the
kind's, :mod:`.kinds`; Slack's ``url_verification``) -> look the delivery's record key up in the
ledger (:mod:`.claims`: its signed content for kinds that sign no timestamp, so a replay re-posted
with a fresh, unsigned delivery id is a duplicate too) -> claim-check a large payload to S3 and send
to the FIFO queue (:mod:`.enqueue`) -> record the delivery as enqueued -> 200. A step that answers
early raises :class:`~functions.inbound.answers.Answer`. Nothing is written before the send: a store
failure up to it returns 503 and the provider's retry is processed; concurrent duplicates all send
with one deduplication id and SQS keeps one message. A source with ``dedupe: off``
(:mod:`functions.inbound.dedupe`) skips the look-up and the record: each request gets a record key of
its own and becomes its own event.

Environment: :class:`functions.inbound.settings.IngestSettings` (``CONSUMER_*``), read at the first
request, not at import. AWS clients honour ``AWS_ENDPOINT_URL`` (boto3 does natively), so the local
sandbox can point them at a moto server.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import Any

from botocore.config import Config

from functions import logs, metrics, telemetry
from functions.inbound.answers import Answer, response
from functions.inbound.authenticate import authenticate
from functions.inbound.claims import check, record
from functions.inbound.enqueue import enqueue
from functions.inbound.envelope import (
    Envelope,
    UnsignedEventTypeError,
    content_key,
    delivery_key,
    event_type,
    kept_headers,
    now_iso,
    request_key,
)
from functions.inbound.ledger import DeliveryLedger
from functions.inbound.payload import Payload
from functions.inbound.request import InboundRequest, read_payload, read_request
from functions.inbound.settings import IngestSettings
from functions.inbound.source_secrets import SecretCache
from functions.inbound.verify import signed_content
from functions.runtime import Clients, ProcessState

# Short timeouts and few retries: the provider (GitHub: 10 s) must get an answer in time.
CLIENT_CONFIG = Config(connect_timeout=2, read_timeout=5, retries={"max_attempts": 3, "mode": "standard"})


class Runtime:
    """Settings, clients and caches of one process, created at the first request.

    Clients are created on first use (an S3 client only when a payload is claim-checked), from
    ``session`` (tests share one; the default is a new boto3 session).
    """

    def __init__(self, settings: IngestSettings, session: Any = None) -> None:
        self.settings = settings
        self.clients = Clients(CLIENT_CONFIG, session)
        self._ledger: DeliveryLedger | None = None
        self.secrets = SecretCache(self._fetch_secret, ttl_seconds=settings.secret_ttl_seconds)

    @property
    def secretsmanager(self) -> Any:
        return self.clients("secretsmanager")

    @property
    def dynamodb(self) -> Any:
        return self.clients("dynamodb")

    @property
    def s3(self) -> Any:
        return self.clients("s3")

    @property
    def sqs(self) -> Any:
        return self.clients("sqs")

    @property
    def ledger(self) -> DeliveryLedger:
        if self._ledger is None:
            self._ledger = DeliveryLedger(self.dynamodb, self.settings.table_name)
        return self._ledger

    def _fetch_secret(self, secret_id: str) -> str:
        return str(self.secretsmanager.get_secret_value(SecretId=secret_id)["SecretString"])


_state: ProcessState[Runtime] = ProcessState(lambda: Runtime(IngestSettings.from_environ(os.environ)))


def runtime() -> Runtime:
    return _state.get()


def reset() -> None:
    """Forget settings, clients and cached secrets (tests, and the sandbox after a config change)."""
    _state.reset()


def handler(event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
    try:
        return handle(event, runtime())
    except Exception as error:  # answer 500 rather than a bare Lambda error; nothing was acknowledged
        logs.error("inbound request failed", error=type(error).__name__, detail=str(error)[:300])
        return response(500, {"error": "internal error; nothing was accepted, retry later"})


def handle(event: Mapping[str, Any], rt: Runtime, *, now: float | None = None) -> dict[str, Any]:
    received = time.time() if now is None else now
    started = time.monotonic()
    request: InboundRequest | None = None
    try:
        request = read_request(event, rt.settings.sources)
        log = request.log_fields()
        if (challenge := request.kind.challenge) and (reply := challenge(request.method, request.signed)):
            return reply.to_response()  # an unsigned endpoint check (Dropbox, Graph): echoed, nothing enqueued
        secret = authenticate(request, rt.secrets, received, log)
        payload = read_payload(request, log)
        if request.kind.handshake is not None and (reply := request.kind.handshake(payload, secret)) is not None:
            return reply.to_response()  # the provider's signed endpoint check: nothing to enqueue
        try:
            envelope = _envelope(request, payload, received)
        except UnsignedEventTypeError as error:  # verified, but relabelled: no provider sends this
            logs.warning("unusable event type", **log, detail=str(error))
            raise Answer(400, {"error": str(error)}) from None
        log.update(deliveryId=envelope.delivery_id, eventId=envelope.event_id, eventType=envelope.event_type)
        deduplicated = request.source.deduplicated  # dedupe: off: the ledger is neither read nor written
        if deduplicated:
            check(rt.ledger, envelope, log)
        enqueued = enqueue(rt.clients, rt.settings, request.source, envelope, payload, log)
        if deduplicated:
            record(rt.ledger, envelope, enqueued.message_id, ttl_seconds=rt.settings.dedupe_ttl_seconds, log=log)
    except Answer as answer:
        metrics.inbound_rejected(*_source_of(request), answer.response["statusCode"])
        return answer.response
    metrics.inbound_accepted(
        *_source_of(request), (time.monotonic() - started) * 1000, enqueued.envelope.claim_check is not None
    )
    logs.info(
        "webhook accepted", **log, claimChecked=enqueued.envelope.claim_check is not None, size=len(request.signed.body)
    )
    return response(200, {"status": "accepted", "eventId": envelope.event_id})


def _source_of(request: InboundRequest | None) -> tuple[str, str]:
    """(kind, name) of the request's source; ``unknown`` before a source was found (404)."""
    return (request.source.kind, request.source.name) if request is not None else (metrics.UNKNOWN_SOURCE,) * 2


def _envelope(request: InboundRequest, payload: Payload, received: float) -> Envelope:
    """What the FIFO queue carries for a verified request (identities derived per its kind)."""
    source, signed = request.source, request.signed
    kind_event_type = event_type(request.kind, signed.headers, payload, source.event_type_path)
    if source.deduplicated:
        # Kinds that sign no timestamp sign no delivery id either: they are deduplicated on what is signed.
        content = signed_content(request.kind, signed)
        keyed_type = kind_event_type if request.kind.event_type_in_content_key else None
        record_key = content_key(keyed_type, content) if content is not None else ""
    else:  # dedupe: off: a key of its own, so neither SQS nor consumers (eventId) merge two notifications
        record_key = request_key()
    return Envelope(
        source=source.name,
        kind=source.kind,
        delivery_key=delivery_key(request.kind, signed.headers, payload, signed.body, request.kept_query),
        record_key=record_key,
        event_type=kind_event_type,
        received_at=now_iso(received),
        content_type=request.content_type,
        headers=_with_traceparent(kept_headers(signed.headers), signed.headers),
        body=signed.body,
        query=request.kept_query,
    )


def _with_traceparent(kept: dict[str, str], headers: Mapping[str, str]) -> dict[str, str]:
    """The kept headers, plus the caller's ``traceparent`` when the stack propagates traces and it is
    well formed (the enrichment makes it the event's ``detail.traceparent``)."""
    traceparent = telemetry.traceparent_to_forward(headers.get(telemetry.TRACEPARENT_HEADER))
    return {**kept, telemetry.TRACEPARENT_HEADER: traceparent} if traceparent else kept
