"""Ingest handler (``functions.inbound.ingest.handler``): one public function URL for every source.

Takes the Lambda function URL event (payload format 2.0, which HTTP APIs send too), routed by path
``/<source name>``, and answers:

=====  ============================================================================================
200    verified and durably enqueued (or a duplicate of a delivery already enqueued)
400    the body is malformed (invalid base64, or not what its content type declares)
401    the signature did not verify (missing, malformed, stale or wrong)
404    no source of that name
405    method other than POST (GET too for Twilio, which can be configured to use it)
409    the same delivery is being processed by another request right now: retry later
413    the body exceeds the function URL limit (6 MB)
500    unexpected error (nothing acknowledged)
503    a store failed (Secrets Manager, DynamoDB, S3, SQS): nothing acknowledged, the provider retries
=====  ============================================================================================

Order of work: verify on the raw body -> parse -> claim the delivery in the ledger -> for kinds
that sign no timestamp (GitHub, Shopify, Twilio), claim its signed content too -> claim-check large
payloads to S3 -> send to the FIFO queue -> mark the delivery enqueued -> 200. The content claim
makes a replay re-posted with a fresh, unsigned delivery id a duplicate (200, nothing enqueued)
within the dedupe TTL. Any store failure before the message is enqueued releases both claims and
returns 503, so the provider's retry is processed. Slack's ``url_verification`` handshake is
answered (after verification) and not enqueued.

Environment (read at the first request, not at import):

``CONSUMER_SOURCES``                     JSON ``{name: {"kind", "secretId", "orderingKey", "eventTypePath"}}``
``CONSUMER_TABLE_NAME``                  dedupe ledger table
``CONSUMER_QUEUE_URL``                   the FIFO queue
``CONSUMER_BUCKET_NAME``                 the payload (claim-check) bucket
``CONSUMER_CLAIM_CHECK_THRESHOLD_BYTES`` bodies above this go to S3 (default 200000)
``CONSUMER_DEDUPE_TTL_SECONDS``          how long a delivery id is remembered (default 259200)
``CONSUMER_CLAIM_LEASE_SECONDS``         how long a pending claim blocks a concurrent retry (default 30;
                                         the component sets the function timeout + 5)
``CONSUMER_SECRET_TTL_SECONDS``          secret cache time-to-live (default 300)
``CONSUMER_MAX_TARGET_ITEM_BYTES``       largest event the Pipe target takes (default 262144); a
                                         payload whose event would be larger is claim-checked

AWS clients honour ``AWS_ENDPOINT_URL`` (boto3 does natively), so the local sandbox can point them at
a moto server.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from functions import logs
from functions.inbound import metrics
from functions.inbound.envelope import (
    ClaimCheck,
    Envelope,
    MalformedPayload,
    body_hash,
    content_key,
    dedupe_key,
    delivery_digest,
    delivery_key,
    event_type,
    kept_headers,
    message_group_id,
    needs_claim_check,
    now_iso,
    parse_payload,
)
from functions.inbound.ledger import CLAIMED, DUPLICATE, Claim, DeliveryLedger
from functions.inbound.source_secrets import SecretCache, SecretFormatError, SourceSecrets
from functions.inbound.target import MAX_BUS_ENTRY_BYTES, item_size_bound
from functions.inbound.verify import KINDS, QUERY_SIGNED_KINDS, SignedRequest, VerificationError, signed_content, verify

FUNCTION_URL_MAX_BYTES = 6 * 1024 * 1024
DEFAULT_THRESHOLD_BYTES = 200_000
DEFAULT_DEDUPE_TTL_SECONDS = 72 * 3600
DEFAULT_LEASE_SECONDS = 30
DEFAULT_SECRET_TTL_SECONDS = 300
# Short timeouts and few retries: the provider (GitHub: 10 s) must get an answer in time.
CLIENT_CONFIG = Config(connect_timeout=2, read_timeout=5, retries={"max_attempts": 3, "mode": "standard"})
STORE_ERRORS = (ClientError, BotoCoreError)


@dataclass(frozen=True)
class SourceConfig:
    name: str
    kind: str
    secret_id: str
    ordering_key: str | None = None
    event_type_path: str | None = None


@dataclass(frozen=True)
class Settings:
    sources: Mapping[str, SourceConfig]
    table_name: str
    queue_url: str
    bucket_name: str
    claim_check_threshold_bytes: int = DEFAULT_THRESHOLD_BYTES
    dedupe_ttl_seconds: int = DEFAULT_DEDUPE_TTL_SECONDS
    claim_lease_seconds: int = DEFAULT_LEASE_SECONDS
    secret_ttl_seconds: int = DEFAULT_SECRET_TTL_SECONDS
    max_target_item_bytes: int = MAX_BUS_ENTRY_BYTES

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Settings:
        """Parse the ``CONSUMER_*`` variables; raises ``ValueError`` naming the bad one."""
        raw = _required(environ, "CONSUMER_SOURCES")
        try:
            document = json.loads(raw)
        except ValueError:
            raise ValueError("CONSUMER_SOURCES must be a JSON object of source name -> settings") from None
        if not isinstance(document, dict):
            raise ValueError("CONSUMER_SOURCES must be a JSON object of source name -> settings")
        sources = {}
        for name, item in document.items():
            if not isinstance(item, dict) or item.get("kind") not in KINDS or not item.get("secretId"):
                raise ValueError(
                    f"CONSUMER_SOURCES[{name!r}] needs kind (one of {', '.join(KINDS)}) and secretId"
                )
            sources[name] = SourceConfig(
                name=name,
                kind=item["kind"],
                secret_id=item["secretId"],
                ordering_key=item.get("orderingKey") or None,
                event_type_path=item.get("eventTypePath") or None,
            )
        return cls(
            sources=sources,
            table_name=_required(environ, "CONSUMER_TABLE_NAME"),
            queue_url=_required(environ, "CONSUMER_QUEUE_URL"),
            bucket_name=_required(environ, "CONSUMER_BUCKET_NAME"),
            claim_check_threshold_bytes=_int(environ, "CONSUMER_CLAIM_CHECK_THRESHOLD_BYTES", DEFAULT_THRESHOLD_BYTES),
            dedupe_ttl_seconds=_int(environ, "CONSUMER_DEDUPE_TTL_SECONDS", DEFAULT_DEDUPE_TTL_SECONDS),
            claim_lease_seconds=_int(environ, "CONSUMER_CLAIM_LEASE_SECONDS", DEFAULT_LEASE_SECONDS),
            secret_ttl_seconds=_int(environ, "CONSUMER_SECRET_TTL_SECONDS", DEFAULT_SECRET_TTL_SECONDS),
            max_target_item_bytes=_int(environ, "CONSUMER_MAX_TARGET_ITEM_BYTES", MAX_BUS_ENTRY_BYTES),
        )


def _required(environ: Mapping[str, str], name: str) -> str:
    value = environ.get(name, "")
    if not value:
        raise ValueError(f"environment variable {name} is required")
    return value


def _int(environ: Mapping[str, str], name: str, default: int) -> int:
    value = environ.get(name)
    if value in (None, ""):
        return default
    try:
        number = int(value)
    except ValueError:
        raise ValueError(f"environment variable {name} must be an integer, got {value!r}") from None
    if number < 0:
        raise ValueError(f"environment variable {name} must not be negative, got {number}")
    return number


class Runtime:
    """Settings, clients and caches of one process, created at the first request.

    Clients are created on first use (an S3 client only when a payload is claim-checked), from
    ``session`` (tests share one; the default is boto3's default session).
    """

    def __init__(self, settings: Settings, session: Any = None) -> None:
        self.settings = settings
        self._session = session if session is not None else boto3
        self._clients: dict[str, Any] = {}
        self._ledger: DeliveryLedger | None = None
        self.secrets = SecretCache(self._fetch_secret, ttl_seconds=settings.secret_ttl_seconds)

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self._session.client(service, config=CLIENT_CONFIG)
        return self._clients[service]

    @property
    def secretsmanager(self) -> Any:
        return self.client("secretsmanager")

    @property
    def dynamodb(self) -> Any:
        return self.client("dynamodb")

    @property
    def s3(self) -> Any:
        return self.client("s3")

    @property
    def sqs(self) -> Any:
        return self.client("sqs")

    @property
    def ledger(self) -> DeliveryLedger:
        if self._ledger is None:
            self._ledger = DeliveryLedger(self.dynamodb, self.settings.table_name)
        return self._ledger

    def _fetch_secret(self, secret_id: str) -> str:
        return str(self.secretsmanager.get_secret_value(SecretId=secret_id)["SecretString"])


_runtime: Runtime | None = None


def runtime() -> Runtime:
    global _runtime
    if _runtime is None:
        _runtime = Runtime(Settings.from_environ(os.environ))
    return _runtime


def reset() -> None:
    """Forget settings, clients and cached secrets (tests, and the sandbox after a config change)."""
    global _runtime
    _runtime = None


def handler(event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
    try:
        return handle(event, runtime())
    except Exception as error:  # answer 500 rather than a bare Lambda error; nothing was acknowledged
        logs.error("inbound request failed", error=type(error).__name__, detail=str(error)[:300])
        return response(500, {"error": "internal error; nothing was accepted, retry later"})


# --------------------------------------------------------------------------------------------
# The request
# --------------------------------------------------------------------------------------------


def handle(event: Mapping[str, Any], rt: Runtime, *, now: float | None = None) -> dict[str, Any]:
    settings = rt.settings
    received = time.time() if now is None else now
    http = (event.get("requestContext") or {}).get("http") or {}
    path = str(event.get("rawPath") or http.get("path") or "/")
    name = path.strip("/")
    source = settings.sources.get(name)
    if source is None:
        return response(404, {"error": "unknown webhook source; POST to /<source name>"})
    method = str(http.get("method") or "").upper()
    allowed = ("POST", "GET") if source.kind == "twilio" else ("POST",)
    if method not in allowed:
        return response(405, {"error": f"method {method or '?'} not allowed; use {' or '.join(allowed)}"},
                        headers={"allow": ", ".join(allowed)})

    raw_body = event.get("body") or ""
    if not isinstance(raw_body, str):
        return response(400, {"error": "body must be a string in the event"})
    if len(raw_body) > (FUNCTION_URL_MAX_BYTES * 4 // 3 + 4 if event.get("isBase64Encoded") else FUNCTION_URL_MAX_BYTES):
        return response(413, {"error": f"body exceeds {FUNCTION_URL_MAX_BYTES} bytes"})
    if event.get("isBase64Encoded"):
        try:
            body = base64.b64decode(raw_body, validate=True)
        except (binascii.Error, ValueError):
            return response(400, {"error": "body is flagged isBase64Encoded but is not valid base64"})
    else:
        body = raw_body.encode("utf-8")
    if len(body) > FUNCTION_URL_MAX_BYTES:
        return response(413, {"error": f"body exceeds {FUNCTION_URL_MAX_BYTES} bytes"})

    headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
    request = SignedRequest(headers=headers, body=body, query=str(event.get("rawQueryString") or ""))
    log = {"source": source.name, "requestId": (event.get("requestContext") or {}).get("requestId")}

    try:
        used = _authenticate(source, request, rt, received)
    except VerificationError as error:
        metrics.emit(metrics.SIGNATURE_FAILURES, source.name, reason=error.reason)
        logs.warning("signature rejected", **log, reason=error.reason, detail=error.detail)
        return response(401, {"error": f"signature verification failed ({error.reason})"})
    except STORE_ERRORS as error:
        logs.error("source secret unavailable", **log, error=type(error).__name__)
        return _unavailable("the source secret could not be read")
    except SecretFormatError as error:
        logs.error("source secret is malformed", **log, detail=str(error))
        return response(500, {"error": "source is misconfigured; nothing was accepted"})
    if used > 0:
        metrics.emit(metrics.PREVIOUS_SECRET_ACCEPTED, source.name)

    content_type = headers.get("content-type", "")
    try:
        payload = parse_payload(body, content_type)
    except MalformedPayload as error:
        logs.warning("malformed body", **log, detail=str(error))
        return response(400, {"error": str(error)})

    if source.kind == "slack" and payload.encoding == "json" and isinstance(payload.value, dict) \
            and payload.value.get("type") == "url_verification":
        # Slack's endpoint handshake: answer the challenge, nothing to enqueue.
        return response(200, {"challenge": str(payload.value.get("challenge", ""))})

    query = request.query if source.kind in QUERY_SIGNED_KINDS else ""  # an unsigned query is not kept
    envelope = Envelope(
        source=source.name,
        kind=source.kind,
        delivery_key=delivery_key(source.kind, headers, payload, body, query),
        event_type=event_type(source.kind, headers, payload, source.event_type_path),
        received_at=now_iso(received),
        content_type=content_type,
        headers=kept_headers(headers),
        body=body,
        query=query,
    )
    delivery = envelope.delivery_id
    log.update(deliveryId=delivery, eventId=envelope.event_id, eventType=envelope.event_type)
    key = dedupe_key(source.name, envelope.delivery_key)
    attributes = {"source": source.name, "deliveryId": delivery[:1024], "receivedAt": envelope.received_at}
    try:
        claim = rt.ledger.claim(
            key, lease_seconds=settings.claim_lease_seconds, ttl_seconds=settings.dedupe_ttl_seconds, attributes=attributes
        )
    except STORE_ERRORS as error:
        logs.error("dedupe ledger unavailable", **log, error=type(error).__name__)
        return _unavailable("the delivery could not be recorded")
    if claim.outcome != CLAIMED:
        return _refused(claim, source.name, log, {"status": "duplicate", "eventId": envelope.event_id}, "delivery_id")

    content = signed_content(source.kind, request)
    claims: list[tuple[str, str, Callable[[str, str], None]]] = [(key, claim.token, rt.ledger.release)]
    if content is not None:
        # The delivery id of these kinds is not signed: the same signed request under a fresh id is a replay.
        signed_key = dedupe_key(source.name, content_key(envelope.event_type, content))
        try:
            content_claim = rt.ledger.claim_content(
                signed_key, owner_key=key, owner_token=claim.token, ttl_seconds=settings.dedupe_ttl_seconds,
                attributes=attributes,
            )
        except STORE_ERRORS as error:
            logs.error("dedupe ledger unavailable", **log, error=type(error).__name__)
            _release(claims, log)
            return _unavailable("the delivery could not be recorded")
        if content_claim.outcome != CLAIMED:
            _release(claims, log)  # this id was never processed: give it back
            return _refused(content_claim, source.name, log, {"status": "duplicate"}, "signed_content")
        claims.append((signed_key, claim.token, rt.ledger.release_content))

    digest = delivery_digest(source.name, envelope.delivery_key)
    try:
        if _must_claim_check(envelope, payload, settings):
            envelope = _store_payload(rt, envelope, digest)
            metrics.emit(metrics.CLAIM_CHECKED, source.name)
        result = rt.sqs.send_message(
            QueueUrl=settings.queue_url,
            MessageBody=envelope.serialize(),
            MessageGroupId=message_group_id(source.name, source.ordering_key, payload),
            MessageDeduplicationId=digest,
        )
    except STORE_ERRORS as error:
        logs.error("enqueue failed; claims released so the provider's retry is processed", **log,
                   error=type(error).__name__)
        _release(claims, log)
        return _unavailable("the webhook could not be stored")

    try:
        # Completing the delivery claim completes its content claim too (the latter points at it).
        if not rt.ledger.complete(key, claim.token, str(result.get("MessageId", ""))):
            logs.warning("claim lost before completion; the message is enqueued (at-least-once)", **log)
    except STORE_ERRORS as error:
        # The message is durably enqueued: acknowledge. A retry after the lease may enqueue it again,
        # which the FIFO deduplication window (5 min) and consumers' eventId dedupe absorb.
        logs.warning("could not mark the delivery enqueued", **log, error=type(error).__name__)
    logs.info("webhook accepted", **log, claimChecked=envelope.claim_check is not None, size=len(body))
    return response(200, {"status": "accepted", "eventId": envelope.event_id})


def _refused(claim: Claim, source: str, log: Mapping[str, Any], duplicate_body: Mapping[str, Any], key: str) -> dict[str, Any]:
    """The answer to a claim that is not ours: a duplicate (200) or still being processed (409).

    ``key`` says which claim was refused: ``delivery_id`` (a provider's retry) or ``signed_content``
    (the same signed request under another id: a replay, or two hooks posting one event).
    """
    if claim.outcome == DUPLICATE:
        metrics.emit(metrics.DUPLICATES, source, matched=key)
        logs.info("duplicate delivery ignored", **log, matched=key)
        return response(200, duplicate_body)
    logs.info("delivery is being processed by another request", **log, matched=key)
    return response(409, {"error": "this delivery is being processed; retry later"}, headers={"retry-after": "5"})


def _authenticate(source: SourceConfig, request: SignedRequest, rt: Runtime, now: float) -> int:
    """Index of the secret (0 current, 1 previous) that signed the request."""
    secrets = rt.secrets.get(source.secret_id)
    try:
        return _verify_with(source, request, secrets, now)
    except VerificationError:
        # The secret may have been rotated since it was cached: re-read once (rate limited) and retry.
        fresh = rt.secrets.refresh(source.secret_id)
        if fresh is None or fresh == secrets:
            raise
        return _verify_with(source, request, fresh, now)


def _verify_with(source: SourceConfig, request: SignedRequest, secrets: SourceSecrets, now: float) -> int:
    if source.kind == "twilio" and not secrets.public_url:
        raise SecretFormatError("a twilio source secret needs publicUrl (the URL Twilio signs)")
    return verify(source.kind, request, secrets.candidates, public_url=secrets.public_url or "", now=now)


def _must_claim_check(envelope: Envelope, payload: Any, settings: Settings) -> bool:
    if needs_claim_check(envelope, settings.claim_check_threshold_bytes):
        return True
    return item_size_bound(envelope, payload) > settings.max_target_item_bytes


def _store_payload(rt: Runtime, envelope: Envelope, digest: str) -> Envelope:
    body = envelope.body or b""
    key = f"payloads/{envelope.source}/{digest}"
    rt.s3.put_object(
        Bucket=rt.settings.bucket_name,
        Key=key,
        Body=body,
        ContentType=envelope.content_type or "application/octet-stream",
    )
    pointer = ClaimCheck(bucket=rt.settings.bucket_name, key=key, size=len(body), sha256=body_hash(body))
    return dataclasses.replace(envelope, body=None, claim_check=pointer)


def _release(claims: list[tuple[str, str, Callable[[str, str], None]]], log: Mapping[str, Any]) -> None:
    """Release every claim (each on its own: one failing must not keep the others)."""
    for key, token, release in reversed(claims):
        try:
            release(key, token)
        except STORE_ERRORS as error:
            logs.error("claim release failed; the lease expiry frees the delivery", **log, error=type(error).__name__)


def _unavailable(message: str) -> dict[str, Any]:
    return response(503, {"error": f"{message}; nothing was accepted, retry later"}, headers={"retry-after": "5"})


def response(status: int, body: Mapping[str, Any], *, headers: Mapping[str, str] | None = None) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json", **(headers or {})},
        "body": json.dumps(body, separators=(",", ":")),
        "isBase64Encoded": False,
    }
