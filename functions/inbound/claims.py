"""The ingest's deduplication step: claim the delivery (and its signed content) in the ledger.

The delivery id is claimed first: a provider's retry of an enqueued delivery is a duplicate (200),
one still held by an in-flight request is told to come back (409). For kinds that sign no timestamp
the signed content is claimed too, so the same signed request re-posted under a fresh (unsigned)
delivery id is a duplicate as well (:mod:`functions.inbound.ledger` explains both records). What is
claimed is released if anything fails before the message is enqueued, so the retry is processed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from functions import logs
from functions.inbound import metrics
from functions.inbound.answers import RETRY_AFTER_SECONDS, STORE_ERRORS, Answer, unavailable
from functions.inbound.envelope import Envelope, content_key, dedupe_key
from functions.inbound.ledger import Claim, ClaimOutcome, DeliveryLedger
from functions.inbound.request import InboundRequest
from functions.inbound.settings import IngestSettings
from functions.inbound.verify import signed_content


@dataclass
class Claims:
    """The ledger records one request holds: released together on failure, completed together."""

    ledger: DeliveryLedger
    key: str
    """The delivery claim's ledger key."""
    token: str
    held: list[tuple[str, Callable[[str, str], None]]] = field(default_factory=list)
    """(ledger key, its release) of every record held, in the order they were claimed."""

    def release(self, log: Mapping[str, Any]) -> None:
        """Give every record back (each on its own: one failing must not keep the others)."""
        for key, release in reversed(self.held):
            try:
                release(key, self.token)
            except STORE_ERRORS as error:
                logs.error(
                    "claim release failed; the lease expiry frees the delivery", **log, error=type(error).__name__
                )

    def complete(self, message_id: str, log: Mapping[str, Any]) -> None:
        """Mark the delivery enqueued (its content record points at it, so that completes both)."""
        try:
            if not self.ledger.complete(self.key, self.token, message_id):
                logs.warning("claim lost before completion; the message is enqueued (at-least-once)", **log)
        except STORE_ERRORS as error:
            # The message is durably enqueued: acknowledge. A retry after the lease may enqueue it again,
            # which the FIFO deduplication window (5 min) and consumers' eventId dedupe absorb.
            logs.warning("could not mark the delivery enqueued", **log, error=type(error).__name__)


def claim(
    ledger: DeliveryLedger,
    settings: IngestSettings,
    request: InboundRequest,
    envelope: Envelope,
    log: Mapping[str, Any],
) -> Claims:
    """The claims that make this request the one to enqueue ``envelope``; raises :class:`Answer` otherwise."""
    source = request.source.name
    key = dedupe_key(source, envelope.delivery_key)
    attributes = {"source": source, "deliveryId": envelope.delivery_id[:1024], "receivedAt": envelope.received_at}
    try:
        delivery = ledger.claim(
            key,
            lease_seconds=settings.claim_lease_seconds,
            ttl_seconds=settings.dedupe_ttl_seconds,
            attributes=attributes,
        )
    except STORE_ERRORS as error:
        logs.error("dedupe ledger unavailable", **log, error=type(error).__name__)
        raise unavailable("the delivery could not be recorded") from None
    if delivery.outcome != ClaimOutcome.CLAIMED:
        raise _refused(delivery, source, log, {"status": "duplicate", "eventId": envelope.event_id}, "delivery_id")
    claims = Claims(ledger, key, delivery.token, [(key, ledger.release)])

    content = signed_content(request.kind, request.signed)
    if content is not None:
        # The delivery id of these kinds is not signed: the same signed request under a fresh id is a replay.
        keyed_type = envelope.event_type if request.kind.event_type_in_content_key else None
        signed_key = dedupe_key(source, content_key(keyed_type, content))
        try:
            owned = ledger.claim_content(
                signed_key,
                owner_key=key,
                owner_token=delivery.token,
                ttl_seconds=settings.dedupe_ttl_seconds,
                attributes=attributes,
            )
        except STORE_ERRORS as error:
            logs.error("dedupe ledger unavailable", **log, error=type(error).__name__)
            claims.release(log)
            raise unavailable("the delivery could not be recorded") from None
        if owned.outcome != ClaimOutcome.CLAIMED:
            claims.release(log)  # this id was never processed: give it back
            raise _refused(owned, source, log, {"status": "duplicate"}, "signed_content")
        claims.held.append((signed_key, ledger.release_content))
    return claims


def _refused(claim: Claim, source: str, log: Mapping[str, Any], duplicate_body: Mapping[str, Any], key: str) -> Answer:
    """The answer to a claim that is not ours: a duplicate (200) or still being processed (409).

    ``key`` says which claim was refused: ``delivery_id`` (a provider's retry) or ``signed_content``
    (the same signed request under another id: a replay, or two hooks posting one event).
    """
    if claim.outcome == ClaimOutcome.DUPLICATE:
        metrics.emit(metrics.DUPLICATES, source, matched=key)
        logs.info("duplicate delivery ignored", **log, matched=key)
        return Answer(200, duplicate_body)
    logs.info("delivery is being processed by another request", **log, matched=key)
    return Answer(
        409, {"error": "this delivery is being processed; retry later"}, headers={"retry-after": RETRY_AFTER_SECONDS}
    )
