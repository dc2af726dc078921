"""The delivery ledger's claim / complete / release protocol against DynamoDB (moto)."""

from __future__ import annotations

import boto3
import pytest

from functions.inbound.ledger import CLAIMED, DUPLICATE, IN_PROGRESS, DeliveryLedger


@pytest.fixture
def ledger_parts(aws: None):  # type: ignore[no-untyped-def]
    client = boto3.client("dynamodb")
    client.create_table(
        TableName="ledger",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    clock = [1_000_000.0]
    return client, DeliveryLedger(client, "ledger", clock=lambda: clock[0]), clock


def claim(ledger: DeliveryLedger, key: str = "github#d-1"):  # type: ignore[no-untyped-def]
    return ledger.claim(key, lease_seconds=15, ttl_seconds=3600, attributes={"source": "github"})


def test_claim_then_complete_makes_retries_duplicates(ledger_parts) -> None:  # type: ignore[no-untyped-def]
    _, ledger, _ = ledger_parts
    first = claim(ledger)
    assert first.outcome == CLAIMED and first.token
    assert ledger.complete("github#d-1", first.token, "m-1")
    assert claim(ledger).outcome == DUPLICATE


def test_pending_claim_blocks_only_until_its_lease_expires(ledger_parts) -> None:  # type: ignore[no-untyped-def]
    _, ledger, clock = ledger_parts
    first = claim(ledger)
    assert claim(ledger).outcome == IN_PROGRESS
    clock[0] += 16  # the first request died without releasing (timeout, crash)
    second = claim(ledger)
    assert second.outcome == CLAIMED and second.token != first.token
    # The first request can no longer complete or release a claim it lost.
    assert not ledger.complete("github#d-1", first.token, "m-old")
    ledger.release("github#d-1", first.token)
    assert ledger.complete("github#d-1", second.token, "m-2")
    assert claim(ledger).outcome == DUPLICATE


def test_release_lets_the_retry_claim_immediately(ledger_parts) -> None:  # type: ignore[no-untyped-def]
    client, ledger, _ = ledger_parts
    first = claim(ledger)
    ledger.release("github#d-1", first.token)
    assert client.get_item(TableName="ledger", Key={"pk": {"S": "github#d-1"}}).get("Item") is None
    assert claim(ledger).outcome == CLAIMED


def test_an_expired_record_is_not_a_duplicate_even_before_ttl_deletes_it(ledger_parts) -> None:  # type: ignore[no-untyped-def]
    _, ledger, clock = ledger_parts
    first = claim(ledger)
    ledger.complete("github#d-1", first.token, "m-1")
    clock[0] += 3601  # past expiresAt; DynamoDB TTL deletion may lag by days
    assert claim(ledger).outcome == CLAIMED


def test_records_carry_ttl_status_and_operator_attributes(ledger_parts) -> None:  # type: ignore[no-untyped-def]
    client, ledger, clock = ledger_parts
    first = claim(ledger)
    item = client.get_item(TableName="ledger", Key={"pk": {"S": "github#d-1"}})["Item"]
    assert item["status"] == {"S": "pending"} and item["source"] == {"S": "github"}
    assert int(item["expiresAt"]["N"]) == int(clock[0]) + 3600
    assert int(item["leaseUntil"]["N"]) == int(clock[0]) + 15
    ledger.complete("github#d-1", first.token, "m-1")
    item = client.get_item(TableName="ledger", Key={"pk": {"S": "github#d-1"}})["Item"]
    assert item["status"] == {"S": "enqueued"} and item["messageId"] == {"S": "m-1"} and "leaseUntil" not in item
