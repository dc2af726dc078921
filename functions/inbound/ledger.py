"""The delivery ledger: one DynamoDB item per accepted delivery, so a provider's retry is not enqueued twice.

A delivery is *claimed* with a conditional put (status ``pending``, a lease and a random token)
before anything is stored, and marked ``enqueued`` only after the FIFO queue accepted the message.
So:

- a retry of an ``enqueued`` delivery is a duplicate (200, nothing enqueued);
- a retry that arrives while another request holds an unexpired ``pending`` lease is told to come
  back later (409), because that other request may still fail;
- if storing or enqueueing fails, the claim is released (deleted, conditional on our token), so the
  provider's next retry is processed, not taken for a duplicate; if even the release fails, the
  lease expires (it outlives the function's timeout) and the retry re-claims the delivery.

Items expire through DynamoDB TTL on ``expiresAt`` (epoch seconds). TTL deletion lags, so an
expired item is treated as absent by the claim condition.

A delivery may hold a second, *content* claim (:meth:`DeliveryLedger.claim_content`): the signed
content of kinds that sign no timestamp, so that the same request re-posted with a fresh (unsigned)
delivery id is a duplicate too. That record has no status of its own; it names the delivery claim
that owns it (``ownerKey``, ``ownerToken``) and shares its fate: a duplicate while the owner is
``enqueued``, in progress while the owner's lease runs, and free to take over as soon as the owner
is gone (released, expired, or taken over after its lease ran out). Completing the owner therefore
completes both, and the second claim costs one conditional write on the normal path.

Table: partition key ``pk`` (string) only; ``expiresAt`` is the TTL attribute.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class DeliveryStatus(StrEnum):
    """The ``status`` of a delivery record (content records have none: they follow their owner)."""

    PENDING = "pending"
    """Claimed by a request that has not enqueued it yet (until ``leaseUntil``)."""
    ENQUEUED = "enqueued"
    """On the FIFO queue: a retry is a duplicate."""


class ClaimOutcome(StrEnum):
    CLAIMED = "claimed"
    """Ours to process."""
    DUPLICATE = "duplicate"
    """Already enqueued (200, nothing enqueued again)."""
    IN_PROGRESS = "in_progress"
    """Held by another request right now (409, retry later)."""


@dataclass(frozen=True)
class Claim:
    outcome: ClaimOutcome
    token: str = ""


class DeliveryLedger:
    def __init__(self, client: Any, table_name: str, *, clock: Callable[[], float] = time.time) -> None:
        self._client = client
        self._table = table_name
        self._clock = clock

    def claim(self, key: str, *, lease_seconds: int, ttl_seconds: int, attributes: dict[str, str]) -> Claim:
        """Claim ``key``; ``attributes`` (strings) are stored for operators (source, delivery id)."""
        for _ in range(2):
            now = int(self._clock())
            token = secrets.token_hex(16)
            item: dict[str, Any] = {
                "pk": {"S": key},
                "status": {"S": DeliveryStatus.PENDING},
                "claimToken": {"S": token},
                "leaseUntil": {"N": str(now + lease_seconds)},
                "expiresAt": {"N": str(now + ttl_seconds)},
            }
            item.update({name: {"S": value} for name, value in attributes.items()})
            if self._put_if(
                item,
                "attribute_not_exists(pk) OR expiresAt < :now OR (#status = :pending AND leaseUntil < :now)",
                {":now": {"N": str(now)}, ":pending": {"S": DeliveryStatus.PENDING}},
                names={"#status": "status"},
            ):
                return Claim(ClaimOutcome.CLAIMED, token)
            record = self._get(key)
            if record is None:
                continue  # released or expired between the two calls: claim again
            status = record.get("status", {}).get("S")
            return Claim(ClaimOutcome.DUPLICATE if status == DeliveryStatus.ENQUEUED else ClaimOutcome.IN_PROGRESS)
        return Claim(ClaimOutcome.IN_PROGRESS)

    def complete(self, key: str, token: str, message_id: str) -> bool:
        """Mark our claim ``enqueued``; ``False`` if the claim was lost (the message is enqueued anyway)."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"pk": {"S": key}},
                UpdateExpression="SET #status = :enqueued, messageId = :message REMOVE leaseUntil",
                ConditionExpression="claimToken = :token",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={
                    ":enqueued": {"S": DeliveryStatus.ENQUEUED},
                    ":message": {"S": message_id},
                    ":token": {"S": token},
                },
            )
            return True
        except self._client.exceptions.ConditionalCheckFailedException:
            return False

    def claim_content(
        self, key: str, *, owner_key: str, owner_token: str, ttl_seconds: int, attributes: dict[str, str]
    ) -> Claim:
        """Claim ``key`` for the delivery claimed as ``owner_key`` with ``owner_token``.

        ``claimed`` (the token is ``owner_token``), or ``duplicate`` / ``in_progress`` as the claim
        that already owns the content stands.
        """
        for _ in range(3):
            now = int(self._clock())
            item: dict[str, Any] = {
                "pk": {"S": key},
                "ownerKey": {"S": owner_key},
                "ownerToken": {"S": owner_token},
                "expiresAt": {"N": str(now + ttl_seconds)},
            }
            item.update({name: {"S": value} for name, value in attributes.items()})
            if self._put_if(item, "attribute_not_exists(pk) OR expiresAt < :now", {":now": {"N": str(now)}}):
                return Claim(ClaimOutcome.CLAIMED, owner_token)
            record = self._get(key)
            if record is None:
                continue  # released or expired between the two calls: claim again
            seen_owner = record.get("ownerToken", {}).get("S", "")
            outcome = self._owner_outcome(record.get("ownerKey", {}).get("S", ""), seen_owner, now)
            if outcome is not None:
                return Claim(outcome)
            # The owning claim is gone: take the record over, unless someone else just did.
            if self._put_if(item, "ownerToken = :seen", {":seen": {"S": seen_owner}}):
                return Claim(ClaimOutcome.CLAIMED, owner_token)
        return Claim(ClaimOutcome.IN_PROGRESS)

    def release_content(self, key: str, owner_token: str) -> None:
        """Give a content claim back (only if our delivery claim still owns it)."""
        self._delete_if_token(key, "ownerToken", owner_token)

    def _owner_outcome(self, owner_key: str, owner_token: str, now: int) -> ClaimOutcome | None:
        """``duplicate`` / ``in_progress`` while the owning claim stands; ``None`` when it is gone."""
        owner = self._get(owner_key) if owner_key else None
        if owner is None or owner.get("claimToken", {}).get("S") != owner_token:
            return None  # released, or taken over by a later request after its lease ran out
        if int(owner.get("expiresAt", {}).get("N", "0")) < now:
            return None
        if owner.get("status", {}).get("S") == DeliveryStatus.ENQUEUED:
            return ClaimOutcome.DUPLICATE
        if int(owner.get("leaseUntil", {}).get("N", "0")) < now:
            return None  # the owner died without releasing
        return ClaimOutcome.IN_PROGRESS

    def _get(self, key: str) -> dict[str, Any] | None:
        item = self._client.get_item(TableName=self._table, Key={"pk": {"S": key}}, ConsistentRead=True).get("Item")
        return dict(item) if item is not None else None

    def release(self, key: str, token: str) -> None:
        """Give the delivery back so the provider's retry is processed (only if still ours)."""
        self._delete_if_token(key, "claimToken", token)

    def _put_if(
        self,
        item: dict[str, Any],
        condition: str,
        values: dict[str, Any],
        *,
        names: dict[str, str] | None = None,
    ) -> bool:
        """Put ``item`` if ``condition`` holds; returns whether it was written."""
        request: dict[str, Any] = {"ConditionExpression": condition, "ExpressionAttributeValues": values}
        if names:
            request["ExpressionAttributeNames"] = names
        try:
            self._client.put_item(TableName=self._table, Item=item, **request)
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def _delete_if_token(self, key: str, attribute: str, token: str) -> None:
        """Delete ``key`` only while its ``attribute`` still holds ``token`` (a claim we own)."""
        with contextlib.suppress(self._client.exceptions.ConditionalCheckFailedException):
            self._client.delete_item(
                TableName=self._table,
                Key={"pk": {"S": key}},
                ConditionExpression=f"{attribute} = :token",
                ExpressionAttributeValues={":token": {"S": token}},
            )
