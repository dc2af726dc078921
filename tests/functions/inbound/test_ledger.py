"""The delivery ledger's claim / complete / release protocol against DynamoDB (moto)."""

from __future__ import annotations

import boto3
import pytest

from functions.inbound.ledger import ClaimOutcome, DeliveryLedger

CLAIMED, DUPLICATE, IN_PROGRESS = ClaimOutcome.CLAIMED, ClaimOutcome.DUPLICATE, ClaimOutcome.IN_PROGRESS


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


# --- content claims: a second key that shares its delivery claim's fate ----------------------------


def content(ledger: DeliveryLedger, owner_key: str, owner_token: str, key: str = "github#sig:abc"):  # type: ignore[no-untyped-def]
    return ledger.claim_content(
        key, owner_key=owner_key, owner_token=owner_token, ttl_seconds=3600, attributes={"source": "github"}
    )


def test_content_follows_its_owner_pending_then_enqueued(ledger_parts) -> None:  # type: ignore[no-untyped-def]
    _, ledger, _ = ledger_parts
    owner = claim(ledger, "github#id:a")
    assert content(ledger, "github#id:a", owner.token).outcome == CLAIMED
    replay = claim(ledger, "github#id:b")  # the same content under another id
    assert content(ledger, "github#id:b", replay.token).outcome == IN_PROGRESS
    assert ledger.complete("github#id:a", owner.token, "m-1")
    assert content(ledger, "github#id:b", replay.token).outcome == DUPLICATE


def test_content_is_free_once_its_owner_released_it_or_died(ledger_parts) -> None:  # type: ignore[no-untyped-def]
    client, ledger, clock = ledger_parts
    first = claim(ledger, "github#id:a")
    content(ledger, "github#id:a", first.token)
    ledger.release("github#id:a", first.token)  # e.g. the release of the content record itself failed
    second = claim(ledger, "github#id:b")
    assert content(ledger, "github#id:b", second.token).outcome == CLAIMED
    record = client.get_item(TableName="ledger", Key={"pk": {"S": "github#sig:abc"}})["Item"]
    assert record["ownerKey"] == {"S": "github#id:b"} and record["ownerToken"] == {"S": second.token}
    # The second request dies (timeout) without releasing: after its lease, a third takes over.
    third = claim(ledger, "github#id:c")
    assert content(ledger, "github#id:c", third.token).outcome == IN_PROGRESS
    clock[0] += 16
    assert content(ledger, "github#id:c", third.token).outcome == CLAIMED
    # The dead owner can no longer give it back.
    ledger.release_content("github#sig:abc", second.token)
    assert client.get_item(TableName="ledger", Key={"pk": {"S": "github#sig:abc"}})["Item"]["ownerToken"] == {
        "S": third.token
    }


def test_the_providers_retry_takes_over_the_content_of_its_own_dead_attempt(ledger_parts) -> None:  # type: ignore[no-untyped-def]
    _, ledger, clock = ledger_parts
    first = claim(ledger, "github#id:a")
    content(ledger, "github#id:a", first.token)
    clock[0] += 16  # the first attempt timed out
    retry = claim(ledger, "github#id:a")
    assert retry.outcome == CLAIMED
    assert content(ledger, "github#id:a", retry.token).outcome == CLAIMED


def test_content_is_forgotten_with_the_ttl(ledger_parts) -> None:  # type: ignore[no-untyped-def]
    _, ledger, clock = ledger_parts
    first = claim(ledger, "github#id:a")
    content(ledger, "github#id:a", first.token)
    ledger.complete("github#id:a", first.token, "m-1")
    clock[0] += 3601  # a replay older than the dedupe TTL is not caught (documented)
    late = claim(ledger, "github#id:late")
    assert content(ledger, "github#id:late", late.token).outcome == CLAIMED


def test_releasing_content_needs_the_owner_token(ledger_parts) -> None:  # type: ignore[no-untyped-def]
    client, ledger, _ = ledger_parts
    owner = claim(ledger, "github#id:a")
    content(ledger, "github#id:a", owner.token)
    ledger.release_content("github#sig:abc", "someone-else")
    assert client.get_item(TableName="ledger", Key={"pk": {"S": "github#sig:abc"}}).get("Item") is not None
    ledger.release_content("github#sig:abc", owner.token)
    assert client.get_item(TableName="ledger", Key={"pk": {"S": "github#sig:abc"}}).get("Item") is None
