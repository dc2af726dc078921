"""What an accepted inbound webhook becomes on the FIFO queue: pure functions, no AWS.

The ingest function turns a verified request into one FIFO message, the *envelope*::

    {
      "v": 1,
      "source": "github",                      # configured source name
      "kind": "github",                        # signature scheme / provider
      "deliveryId": "72d3162e-...",            # the provider's id (or body:<hash> when it sends none)
      "deliveryKey": "id:72d3162e-...",        # the provider's delivery, namespaced
      "recordKey": "sig:9b1c...",              # what it is deduplicated on, when not deliveryKey
      "eventId": "in_5f0c...",                 # stable id derived from source + recordKey
      "eventType": "push",                     # becomes the EventBridge detail-type
      "receivedAt": "2026-01-01T00:00:00.000Z",
      "contentType": "application/json",
      "headers": {"x-github-event": "push"},   # selected, non-secret headers only
      "query": "AccountSid=AC1&...",           # raw query string; Twilio only (it signs it), when present
      "body": {"encoding": "text", "data": "{...}"}                         # inline, or
      "claimCheck": {"bucket": "...", "key": "...", "size": 1, "sha256": "..."}  # a pointer
    }

Identities live in namespaces so that a value chosen by the provider (or by whoever posts) can
never equal one hookstack derives: ``id:<provider's delivery id>``, ``body:<sha256>`` (no id sent:
the body, and for Twilio the query string it signs) and, in the ledger only, ``sig:<sha256>`` (the
signed content of kinds that sign no timestamp; see :func:`content_key`). A delivery is deduplicated
on its *record key*: the signed content's key for kinds that sign no timestamp (their delivery id is
unsigned: a retry and a replay under a fresh id carry the same signed content), else the delivery key.
A source with ``dedupe: off`` (:mod:`functions.inbound.dedupe`) is not deduplicated: each request's
record key is ``req:<random uuid4>`` (:func:`request_key`), so each becomes its own event.
The event id, the FIFO deduplication id, the S3 key and the ledger key all derive from the record key.

Small bodies travel inline (an S3 PUT costs $5 per million, SQS carries 256 KiB); bodies above the
configured threshold, or whose envelope would not fit in an SQS message, are stored in S3 and only
the pointer travels (claim-check).

The FIFO ``MessageGroupId`` comes from the source's ``orderingKey`` (a dotted path into the payload,
prefixed with the source name so two sources never share a group; the source name alone when the
key is absent), the ``MessageDeduplicationId`` from the record key.

Where each kind puts its delivery id and event type, and which of its headers travel, is the
kind's (:mod:`functions.inbound.kinds`); how a body is parsed is :mod:`functions.inbound.payload`'s.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from functions.inbound.kinds import EVENT_TYPE_TOKEN_RE, SOURCE_KINDS, SourceKind, source_kind
from functions.inbound.payload import Payload
from functions.records import record

ENVELOPE_VERSION = 1
# SQS accepts 256 KiB per message (an EventBridge entry has the same limit, functions.events owns it).
MAX_MESSAGE_BYTES = 256 * 1024
# EventBridge detail-type: 1-128 characters.
MAX_EVENT_TYPE_CHARS = 128
DEFAULT_EVENT_TYPE = "webhook"
# FIFO MessageGroupId / MessageDeduplicationId: 1-128 of a-z A-Z 0-9 and ASCII punctuation.
_FIFO_ID_RE = re.compile(r"^[\x21-\x7e]{1,128}$")
# A delivery key kept readable in the dedupe table when it is short printable ASCII.
_READABLE_ID_RE = re.compile(r"^[\x21-\x7e]{1,200}$")
# Namespaces of delivery keys (see the module docstring); HASHED is the ledger's form of a long key.
PROVIDER_ID = "id:"
BODY_HASH = "body:"
SIGNED_CONTENT = "sig:"
PER_REQUEST = "req:"
HASHED = "hash:"
# What envelopes written before namespaces carried as a derived delivery id.
_LEGACY_BODY_HASH = "sha256:"

# Headers kept with the event whatever the kind, besides each kind's own (``SourceKind.kept_headers``).
# A header of another kind is kept too (a request may carry it): none is a signature or a credential.
KEPT_HEADERS = frozenset({"content-type", "user-agent"}).union(*(kind.kept_headers for kind in SOURCE_KINDS.values()))
# Claim-checked bodies live under this prefix of the payload bucket, which expires it (the component
# scopes the functions' S3 permissions and the lifecycle rule to it).
PAYLOAD_PREFIX = "payloads/"


@record
class ClaimCheck:
    bucket: str
    key: str
    size: int
    sha256: str

    def to_json(self) -> dict[str, Any]:
        return {"bucket": self.bucket, "key": self.key, "size": self.size, "sha256": self.sha256}


@record
class Envelope:
    source: str
    kind: str
    delivery_key: str
    """Namespaced identity: ``id:<provider id>`` or ``body:<sha256>``."""
    event_type: str
    received_at: str
    content_type: str
    headers: Mapping[str, str]
    body: bytes | None = None
    """The raw body when it travels inline."""
    claim_check: ClaimCheck | None = None
    query: str = ""
    """The raw query string, for kinds that sign it (Twilio GET webhooks carry their data there)."""
    record_key: str = ""
    """``sig:<sha256>`` of the signed content for kinds that sign no timestamp, which the delivery is
    deduplicated on; ``req:<uuid4>`` for a source with ``dedupe: off`` (each request its own event);
    empty when that is the delivery key (see :attr:`identity`)."""

    @property
    def delivery_id(self) -> str:
        """What consumers see: the provider's own id, or ``body:<sha256>`` when it sent none."""
        return display_delivery_id(self.delivery_key)

    @property
    def identity(self) -> str:
        """The record key: what the delivery is deduplicated on and every id derives from."""
        return self.record_key or self.delivery_key

    @property
    def digest(self) -> str:
        """The FIFO deduplication id and the claim-checked payload's name."""
        return delivery_digest(self.source, self.identity)

    @property
    def event_id(self) -> str:
        return event_id(self.source, self.identity)

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "v": ENVELOPE_VERSION,
            "source": self.source,
            "kind": self.kind,
            "deliveryId": self.delivery_id,
            "deliveryKey": self.delivery_key,
            "eventId": self.event_id,
            "eventType": self.event_type,
            "receivedAt": self.received_at,
            "contentType": self.content_type,
            "headers": dict(self.headers),
        }
        if self.record_key:
            document["recordKey"] = self.record_key
        if self.query:
            document["query"] = self.query
        if self.claim_check is not None:
            document["claimCheck"] = self.claim_check.to_json()
        else:
            document["body"] = encode_body(self.body or b"")
        return document

    def serialize(self) -> str:
        return json.dumps(self.to_json(), separators=(",", ":"), ensure_ascii=False)


# --------------------------------------------------------------------------------------------
# Identities
# --------------------------------------------------------------------------------------------


def body_hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def delivery_digest(source: str, record_key: str) -> str:
    """sha256 hex of the source and record key: FIFO deduplication id and S3 key."""
    return hashlib.sha256(f"{source}\n{record_key}".encode()).hexdigest()


def event_id(source: str, record_key: str) -> str:
    """The ``eventId`` consumers deduplicate on: the same for every retry of one delivery."""
    return f"in_{delivery_digest(source, record_key)[:32]}"


def dedupe_key(source: str, key: str) -> str:
    """The ledger key of a namespaced key: readable when short printable ASCII, else its digest."""
    if _READABLE_ID_RE.fullmatch(key):
        return f"{source}#{key}"
    return f"{source}#{HASHED}{hashlib.sha256(key.encode()).hexdigest()}"


def delivery_key(
    kind: str | SourceKind, headers: Mapping[str, str], payload: Payload, body: bytes, query: str = ""
) -> str:
    """``id:<the provider's delivery id>``, or ``body:<sha256>`` when it sends none.

    The derived key hashes the body and, for kinds that sign it (Twilio), the raw query string:
    Twilio GET webhooks have no body, their data is in the query, and two of them must not share a
    key. An unsigned query is left out, or anyone could mint new keys for one signed body.
    """
    conventions = source_kind(kind)
    for name in conventions.delivery_id_headers:
        value = headers.get(name, "").strip()
        if value:
            return PROVIDER_ID + value
    for path in conventions.delivery_id_paths:
        value = lookup(payload.value, path)
        if isinstance(value, str) and value.strip():
            return PROVIDER_ID + value.strip()
    digest = hashlib.sha256()
    if conventions.signs_query:
        encoded = query.encode()
        digest.update(f"{len(encoded)}:".encode() + encoded)
    digest.update(body)
    return BODY_HASH + digest.hexdigest()


def content_key(event_type: str | None, content: bytes) -> str:
    """``sig:<sha256>`` of the signed content and, when the kind keys on it, the event type.

    ``event_type`` is ``None`` for kinds whose body is specific to its event type (GitHub,
    ``SourceKind.event_type_in_content_key``): a replay relabelled with another event type is then a
    duplicate. Shopify sends one body under several topics, so there the event type is part of the
    key (dropping one would lose a genuine delivery), and a replay under another valid topic is not
    caught (docs/consumer.md). Either way the unsigned header must be a provider's token
    (:data:`functions.inbound.kinds.EVENT_TYPE_TOKEN_RE`), so spellings like ``Push`` are refused.
    """
    encoded = (event_type or "").encode()  # event types are never empty: "" cannot be a real one
    return SIGNED_CONTENT + hashlib.sha256(f"{len(encoded)}:".encode() + encoded + content).hexdigest()


def request_key() -> str:
    """``req:<random uuid4 hex>``: the record key of one request of a ``dedupe: off`` source.

    Random rather than the function URL's ``requestContext.requestId``: a caller or an emulator that
    repeats a request id (the stored sample event has one) would merge two notifications again, and
    the ingest's log line already pairs the request id with the event id.
    """
    return PER_REQUEST + uuid.uuid4().hex


def display_delivery_id(key: str) -> str:
    return key[len(PROVIDER_ID) :] if key.startswith(PROVIDER_ID) else key


def _legacy_delivery_key(delivery_id: str) -> str:
    """The key of an envelope written before namespaces (still in flight during an upgrade)."""
    if delivery_id.startswith(_LEGACY_BODY_HASH):
        return BODY_HASH + delivery_id[len(_LEGACY_BODY_HASH) :]
    return PROVIDER_ID + delivery_id


class UnsignedEventTypeError(ValueError):
    """An event-type header that is no provider's token (the header is not signed)."""

    def __init__(self, header: str, value: str) -> None:
        super().__init__(
            f"the {header} header must be the provider's event type: 1-{MAX_EVENT_TYPE_CHARS} of lower-case "
            f"a-z, 0-9, '_', '.', '/', '-'; got {value[:64]!r}"
        )
        self.header = header


def event_type(
    kind: str | SourceKind, headers: Mapping[str, str], payload: Payload, event_type_path: str | None
) -> str:
    """The detail-type: the configured path, else the provider's header or field, else ``webhook``.

    A value from the payload is signed and used as it is (at most 128 characters); a header is not,
    so one that is not a provider's token raises :class:`UnsignedEventTypeError` (the ingest
    answers 400) rather than making a new event type of a replay.
    """
    conventions = source_kind(kind)
    if event_type_path and (text := _nonblank(lookup(payload.value, event_type_path))):
        return text[:MAX_EVENT_TYPE_CHARS]
    for name in conventions.event_type_headers:
        text = headers.get(name, "").strip(" \t")  # HTTP's optional whitespace; any other is the value's
        if text:
            if len(text) > MAX_EVENT_TYPE_CHARS or not EVENT_TYPE_TOKEN_RE.fullmatch(text):
                raise UnsignedEventTypeError(name, text)
            return text
    for path in conventions.event_type_paths:
        if text := _nonblank(lookup(payload.value, path)):
            return text[:MAX_EVENT_TYPE_CHARS]
    return DEFAULT_EVENT_TYPE


def _nonblank(value: Any) -> str | None:
    text = _scalar_text(value)
    return text.strip() if text and text.strip() else None


def message_group_id(source: str, ordering_key: str | None, payload: Payload) -> str:
    """FIFO group: ``<source>:<value at ordering_key>``, or ``<source>`` when there is none."""
    value = _scalar_text(lookup(payload.value, ordering_key)) if ordering_key else None
    if not value:
        return source
    group = f"{source}:{value}"
    if _FIFO_ID_RE.fullmatch(group):
        return group
    # Too long or not FIFO-safe: a digest keeps one group per value.
    return f"{source}:sha256:{hashlib.sha256(value.encode()).hexdigest()[:48]}"


def lookup(document: Any, dotted_path: str | None) -> Any:
    """The value at ``a.b.0.c`` in parsed JSON (list indexes allowed), or ``None``."""
    if not dotted_path:
        return None
    current = document
    for part in dotted_path.split("."):
        if isinstance(current, Mapping):
            current = current.get(part)
        elif isinstance(current, list) and part.isascii() and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return None
    return current


def _scalar_text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, int, float)):
        return json.dumps(value)
    return None


# --------------------------------------------------------------------------------------------
# Inline bodies, kept headers, times
# --------------------------------------------------------------------------------------------


def encode_body(body: bytes) -> dict[str, str]:
    """An inline body: UTF-8 text as is, anything else base64."""
    try:
        return {"encoding": "text", "data": body.decode("utf-8")}
    except UnicodeDecodeError:
        return {"encoding": "base64", "data": base64.b64encode(body).decode("ascii")}


def decode_body(document: Mapping[str, Any]) -> bytes:
    encoding, data = document.get("encoding"), document.get("data")
    if not isinstance(data, str):
        raise ValueError("envelope body.data must be a string")
    if encoding == "text":
        return data.encode("utf-8")
    if encoding == "base64":
        try:
            return base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError) as error:
            raise ValueError(f"envelope body.data is not base64 ({error})") from None
    raise ValueError(f"envelope body.encoding must be text or base64, got {encoding!r}")


def kept_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {name: value for name, value in sorted(headers.items()) if name in KEPT_HEADERS}


def now_iso(now: float) -> str:
    return datetime.fromtimestamp(now, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(now * 1000) % 1000:03d}Z"


# --------------------------------------------------------------------------------------------
# Envelopes
# --------------------------------------------------------------------------------------------


def needs_claim_check(envelope: Envelope, threshold_bytes: int) -> bool:
    """Whether the body must go to S3: above the threshold, or too big for one SQS message."""
    body = envelope.body or b""
    if len(body) > threshold_bytes:
        return True
    return len(envelope.serialize().encode("utf-8")) > MAX_MESSAGE_BYTES


def payload_key(source: str, digest: str, sha256: str) -> str:
    """Where a claim-checked body is stored: ``payloads/<source>/<record key digest>/<body sha256>``.
    A retry of the delivery with the same body overwrites the same object; another body under the same
    delivery (a Mailgun signature, which does not cover the body, moved onto a forged one) lands beside
    it and cannot replace the body a queued pointer names, whose hash enrichment checks."""
    return f"{PAYLOAD_PREFIX}{source}/{digest}/{sha256}"


def parse_envelope(text: str) -> Envelope:
    """An envelope from a FIFO message body; raises ``ValueError`` naming what is wrong."""
    try:
        document = json.loads(text)
    except ValueError as error:
        raise ValueError(f"message body is not JSON ({error})") from None
    if not isinstance(document, Mapping) or document.get("v") != ENVELOPE_VERSION:
        raise ValueError(f"message body is not a version {ENVELOPE_VERSION} inbound envelope")
    required = ("source", "kind", "deliveryId", "eventType", "receivedAt")
    missing = [key for key in required if not isinstance(document.get(key), str) or not document[key]]
    if missing:
        raise ValueError(f"envelope lacks {', '.join(missing)}")
    claim = document.get("claimCheck")
    body = None
    pointer = None
    if isinstance(claim, Mapping):
        pointer = ClaimCheck(
            bucket=str(claim["bucket"]), key=str(claim["key"]), size=int(claim["size"]), sha256=str(claim["sha256"])
        )
    elif isinstance(document.get("body"), Mapping):
        body = decode_body(document["body"])
    else:
        raise ValueError("envelope has neither body nor claimCheck")
    headers = document.get("headers") or {}
    key = document.get("deliveryKey")
    if key is None:
        key = _legacy_delivery_key(document["deliveryId"])
    elif not isinstance(key, str) or not key.startswith((PROVIDER_ID, BODY_HASH)):
        raise ValueError(f"envelope deliveryKey must start with {PROVIDER_ID} or {BODY_HASH}")
    record_key = document.get("recordKey", "")  # absent: written before record keys, or a timestamped kind
    if not isinstance(record_key, str) or (record_key and not record_key.startswith((SIGNED_CONTENT, PER_REQUEST))):
        raise ValueError(f"envelope recordKey must start with {SIGNED_CONTENT} or {PER_REQUEST}")
    query = document.get("query")
    return Envelope(
        source=document["source"],
        kind=document["kind"],
        delivery_key=key,
        event_type=document["eventType"],
        received_at=document["receivedAt"],
        content_type=str(document.get("contentType") or ""),
        headers={str(k): str(v) for k, v in headers.items()} if isinstance(headers, Mapping) else {},
        body=body,
        claim_check=pointer,
        query=query if isinstance(query, str) else "",
        record_key=record_key,
    )
