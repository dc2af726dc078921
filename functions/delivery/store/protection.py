"""Endpoint protection's shared state in the delivery table (the rules: :mod:`functions.delivery.protection`).

=====================  ==============================  ===========================================
item                   pk / sk                         attributes
=====================  ==============================  ===========================================
rate limit (GCRA)      ``T#<tenant>`` / ``RL#<ep>``    ``tat`` (epoch ms), TTL
endpoint state         ``T#<tenant>`` / ``ST#<ep>``    ``breakerFailures``, ``breakerOpenUntil``,
                                                       ``breakerProbeUntil``, ``slowUntil``,
                                                       ``lease0..leaseN`` (epoch ms)
delivery               ``M#...`` / ``D#<ep>``          ``rateSlot`` (``<run>:<attempt>``): the slot
                                                       this attempt already holds
=====================  ==============================  ===========================================

Every write is a single conditional ``UpdateItem`` that needs no read first: DynamoDB applies it
atomically per item, so any number of workers share the bucket, the breaker and the leases.
"""

from __future__ import annotations

import contextlib
from typing import Any

from functions.delivery import protection, schema
from functions.delivery.store.deliveries import DeliveriesTable
from functions.delivery.store.dynamo import expression_values, from_item, iso, to_item

RATE_PREFIX = "RL#"
# An idle bucket's item goes away a day after its last slot.
RATE_ITEM_TTL_SECONDS = 86_400


def rate_key(tenant_id: str, endpoint_id: str) -> dict[str, str]:
    return {schema.PK: schema.tenant_pk(tenant_id), schema.SK: f"{RATE_PREFIX}{endpoint_id}"}


def rate_slot_label(run: int, attempt: int) -> str:
    """Which attempt a reserved slot belongs to: a later attempt or run must reserve its own."""
    return f"{run}:{attempt}"


class ProtectionTable(DeliveriesTable):
    # -- rate limit --------------------------------------------------------------------------------

    def take_rate_slot(
        self, tenant_id: str, endpoint_id: str, rate_per_second: int, now_ms: int, busy_first: bool = False
    ) -> int | None:
        """Reserve the endpoint's next slot: its time (epoch ms; ``now_ms`` when the bucket has a
        token), or ``None`` when every slot within the horizon is taken. One request when the guess
        (``busy_first``: the bucket was busy last time) is right, two when it is not, never more
        than three (a bucket that changes state twice in between counts as full for now)."""
        key = to_item(rate_key(tenant_id, endpoint_id))
        step = protection.interval_ms(rate_per_second)
        expires = now_ms // 1000 + RATE_ITEM_TTL_SECONDS
        idle: dict[str, Any] = {
            "UpdateExpression": "SET tat = :next, #ttl = :ttl",
            "ConditionExpression": "attribute_not_exists(tat) OR tat <= :now",
            "ExpressionAttributeValues": expression_values({":next": now_ms + step, ":now": now_ms, ":ttl": expires}),
        }
        busy: dict[str, Any] = {
            "UpdateExpression": "SET tat = tat + :step, #ttl = :ttl",
            "ConditionExpression": "tat > :now AND tat <= :limit",
            "ExpressionAttributeValues": expression_values(
                {
                    ":step": step,
                    ":now": now_ms,
                    ":limit": protection.busy_limit_ms(now_ms, rate_per_second),
                    ":ttl": expires + RATE_ITEM_TTL_SECONDS,
                }
            ),
            "ReturnValues": "UPDATED_OLD",
        }
        order = [busy, idle, busy] if busy_first else [idle, busy, idle]
        for request in order:
            try:
                response = self.client.update_item(
                    TableName=self.name,
                    Key=key,
                    ExpressionAttributeNames={"#ttl": schema.TTL_ATTRIBUTE},
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                    **request,
                )
            except self.client.exceptions.ConditionalCheckFailedException as error:
                old = from_item(error.response.get("Item") or {}).get("tat")
                if old is not None and int(old) > protection.busy_limit_ms(now_ms, rate_per_second):
                    return None  # full: neither branch can succeed until time passes
                continue
            if request is idle:
                return now_ms
            old_tat = from_item(response.get("Attributes") or {}).get("tat")
            return protection.slot_for(int(old_tat) if old_tat is not None else None, now_ms, rate_per_second)
        return None

    def hold_rate_slot(
        self,
        *,
        tenant_id: str,
        event_id: str,
        endpoint_id: str,
        run: int,
        task_message_id: str,
        label: str,
        send_at: float,
    ) -> bool:
        """Remember on the delivery (still owned by this task) that ``label``'s attempt holds the slot
        at ``send_at``: the task comes back then and sends without reserving again."""
        item = self._update_owned(
            schema.delivery_key(tenant_id, event_id, endpoint_id),
            run,
            task_message_id,
            "SET rateSlot = :label, nextAttemptAt = :at",
            {":label": label, ":at": iso(send_at)},
        )
        return item is not None

    # -- circuit breaker ---------------------------------------------------------------------------

    def record_breaker_failure(
        self,
        tenant_id: str,
        endpoint_id: str,
        now_ms: int,
        threshold: int = protection.BREAKER_FAILURES,
        cooldown_ms: int = protection.BREAKER_COOLDOWN_SECONDS * 1000,
    ) -> protection.Breaker:
        """One more failed attempt; opens the breaker (again, after a failed probe) at ``threshold``."""
        return self.record_breaker_failure_opening(tenant_id, endpoint_id, now_ms, threshold, cooldown_ms)[0]

    def record_breaker_failure_opening(
        self,
        tenant_id: str,
        endpoint_id: str,
        now_ms: int,
        threshold: int = protection.BREAKER_FAILURES,
        cooldown_ms: int = protection.BREAKER_COOLDOWN_SECONDS * 1000,
    ) -> tuple[protection.Breaker, bool]:
        """:meth:`record_breaker_failure`, and whether this call's conditional write opened a closed
        breaker (one transition, one ``endpoint.breaker.opened`` event; re-opening after a failed probe is
        not one: the endpoint never came back)."""
        key = to_item(schema.state_key(tenant_id, endpoint_id))
        response = self.client.update_item(
            TableName=self.name,
            Key=key,
            UpdateExpression="ADD breakerFailures :one REMOVE breakerProbeUntil",
            ExpressionAttributeValues=expression_values({":one": 1}),
            ReturnValues="ALL_NEW",
        )
        breaker = protection.breaker_from(from_item(response["Attributes"]))
        if not protection.should_open(breaker.failures, threshold) or breaker.state(now_ms) == "open":
            return breaker, False
        try:
            response = self.client.update_item(
                TableName=self.name,
                Key=key,
                UpdateExpression="SET breakerOpenUntil = :until",
                # Not while open: a late failure of an attempt sent before it opened does not extend it.
                ConditionExpression="attribute_not_exists(breakerOpenUntil) OR breakerOpenUntil <= :now",
                ExpressionAttributeValues=expression_values({":until": now_ms + cooldown_ms, ":now": now_ms}),
                ReturnValues="ALL_NEW",
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return breaker, False
        # Opened from closed; a failed probe re-opens a half-open breaker, which is no new "opened".
        return protection.breaker_from(from_item(response["Attributes"])), breaker.open_until_ms is None

    def close_breaker(self, tenant_id: str, endpoint_id: str, was_open: bool = False) -> bool:
        """Reset the breaker; returns whether this call closed an opened one (the write that won).

        ``was_open``: the state as read showed it opened; only then is the write conditional (one
        write either way, unless another worker closed it in between)."""
        request: dict[str, Any] = {
            "TableName": self.name,
            "Key": to_item(schema.state_key(tenant_id, endpoint_id)),
            "UpdateExpression": "SET breakerFailures = :zero REMOVE breakerOpenUntil, breakerProbeUntil",
            "ExpressionAttributeValues": expression_values({":zero": 0}),
        }
        if not was_open:
            self.client.update_item(**request)
            return False
        try:
            self.client.update_item(**request, ConditionExpression="attribute_exists(breakerOpenUntil)")
        except self.client.exceptions.ConditionalCheckFailedException:
            self.client.update_item(**request)  # never opened: only the failure count to clear
            return False
        return True

    def claim_probe(self, tenant_id: str, endpoint_id: str, now_ms: int, lease_ms: int) -> bool:
        """Become the one probe of a half-open breaker (until ``now_ms + lease_ms``)."""
        try:
            self.client.update_item(
                TableName=self.name,
                Key=to_item(schema.state_key(tenant_id, endpoint_id)),
                UpdateExpression="SET breakerProbeUntil = :until",
                ConditionExpression=(
                    "breakerOpenUntil <= :now AND (attribute_not_exists(breakerProbeUntil) OR breakerProbeUntil <= :now)"
                ),
                ExpressionAttributeValues=expression_values({":until": now_ms + lease_ms, ":now": now_ms}),
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    # -- concurrency cap ---------------------------------------------------------------------------

    def mark_slow(self, tenant_id: str, endpoint_id: str, until_ms: int) -> None:
        self.client.update_item(
            TableName=self.name,
            Key=to_item(schema.state_key(tenant_id, endpoint_id)),
            UpdateExpression="SET slowUntil = :until",
            ExpressionAttributeValues=expression_values({":until": until_ms}),
        )

    def take_lease(self, tenant_id: str, endpoint_id: str, index: int, now_ms: int, until_ms: int) -> bool:
        """Take lease slot ``index`` (free, or expired: its holder died) until ``until_ms``."""
        try:
            self.client.update_item(
                TableName=self.name,
                Key=to_item(schema.state_key(tenant_id, endpoint_id)),
                UpdateExpression="SET #lease = :until",
                ConditionExpression="attribute_not_exists(#lease) OR #lease <= :now",
                ExpressionAttributeNames={"#lease": protection.lease_attribute(index)},
                ExpressionAttributeValues=expression_values({":until": until_ms, ":now": now_ms}),
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def release_lease(self, tenant_id: str, endpoint_id: str, index: int, until_ms: int) -> None:
        """Give lease ``index`` back, unless it expired and another worker took it since."""
        with contextlib.suppress(self.client.exceptions.ConditionalCheckFailedException):
            self.client.update_item(
                TableName=self.name,
                Key=to_item(schema.state_key(tenant_id, endpoint_id)),
                UpdateExpression="REMOVE #lease",
                ConditionExpression="#lease = :until",
                ExpressionAttributeNames={"#lease": protection.lease_attribute(index)},
                ExpressionAttributeValues=expression_values({":until": until_ms}),
            )
