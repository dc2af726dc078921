"""The delivery ledger's lookup / record protocol against DynamoDB (moto), and the previous version's records."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from components.config.reader import RESOURCE_NAME_RE
from functions.inbound.envelope import content_key, dedupe_key
from functions.inbound.ledger import DeliveryLedger, Duplicate, DuplicateOf

RETRY = Duplicate(DuplicateOf.DELIVERY_ID)
REPLAY = Duplicate(DuplicateOf.SIGNED_CONTENT)
KEY, OWN = "github#sig:abc", "github#id:d-1"


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


def record(ledger: DeliveryLedger, key: str = KEY, delivery: str = OWN) -> bool:
    return ledger.record(key, ttl_seconds=3600, attributes={"source": "github", "deliveryKey": delivery})


def test_nothing_recorded_is_free_and_a_record_makes_retries_and_replays_duplicates(ledger_parts) -> None:  # type: ignore[no-untyped-def]
    _, ledger, _ = ledger_parts
    assert ledger.lookup(KEY, OWN) is None
    assert record(ledger)
    assert ledger.lookup(KEY, OWN) == RETRY  # the provider's retry: the same delivery key
    assert ledger.lookup(KEY, "github#id:fresh") == REPLAY  # the same signed content under another id


def test_a_record_without_delivery_key_is_the_delivery_itself(ledger_parts) -> None:  # type: ignore[no-untyped-def]
    _, ledger, _ = ledger_parts
    ledger.record("stripe#id:evt_1", ttl_seconds=3600, attributes={"source": "stripe"})
    assert ledger.lookup("stripe#id:evt_1", "stripe#id:evt_1") == RETRY


def test_an_expired_record_is_free_even_before_ttl_deletes_it(ledger_parts) -> None:  # type: ignore[no-untyped-def]
    _, ledger, clock = ledger_parts
    record(ledger)
    clock[0] += 3601  # past expiresAt; DynamoDB TTL deletion may lag by days
    assert ledger.lookup(KEY, OWN) is None
    assert record(ledger, delivery="github#id:late")  # and it is recorded anew
    assert ledger.lookup(KEY, "github#id:late") == RETRY


def test_the_first_of_two_concurrent_records_keeps_its_attributes(ledger_parts) -> None:  # type: ignore[no-untyped-def]
    client, ledger, clock = ledger_parts
    assert record(ledger)
    clock[0] += 5
    assert not record(ledger, delivery="github#id:replay")  # refused: costs the same write unit, ignored
    item = client.get_item(TableName="ledger", Key={"pk": {"S": KEY}})["Item"]
    assert item["deliveryKey"] == {"S": OWN} and int(item["expiresAt"]["N"]) == 1_000_000 + 3600


def test_records_carry_status_ttl_and_operator_attributes_and_no_claim_state(ledger_parts) -> None:  # type: ignore[no-untyped-def]
    client, ledger, clock = ledger_parts
    ledger.record(KEY, ttl_seconds=3600, attributes={"source": "github", "messageId": "m-1"})
    item = client.get_item(TableName="ledger", Key={"pk": {"S": KEY}})["Item"]
    assert item == {
        "pk": {"S": KEY},
        "status": {"S": "enqueued"},
        "expiresAt": {"N": str(int(clock[0]) + 3600)},
        "source": {"S": "github"},
        "messageId": {"S": "m-1"},
    }


def test_lookups_read_eventually_consistent(ledger_parts) -> None:  # type: ignore[no-untyped-def]
    """Half a read unit: the FIFO deduplication window covers the replication lag (docs/consumer.md)."""
    client, ledger, _ = ledger_parts
    reads: list[dict[str, Any]] = []
    real = client.get_item
    client.get_item = lambda **kwargs: reads.append(kwargs) or real(**kwargs)
    record(ledger)
    ledger.lookup(KEY, OWN)
    assert [r["ConsistentRead"] for r in reads] == [False]


def dynamodb_item_bytes(item: dict[str, dict[str, str]]) -> int:
    """DynamoDB's item size: attribute names plus values (UTF-8 strings; numbers at most 21 bytes)."""
    size = 0
    for name, value in item.items():
        size += len(name.encode())
        size += len(value["S"].encode()) if "S" in value else 21
    return size


def test_the_largest_record_costs_one_write_unit(ledger_parts) -> None:  # type: ignore[no-untyped-def]
    """A write unit covers 1 KB: the longest source name and the longest readable keys stay below it."""
    client, ledger, _ = ledger_parts
    source = "s" * 32
    assert RESOURCE_NAME_RE.match(source)  # the longest source name the configuration allows
    key = dedupe_key(source, content_key("e" * 128, b"body"))
    delivery = dedupe_key(source, "id:" + "x" * 197)  # 200 characters: still kept readable
    assert "hash:" not in delivery
    ledger.record(
        key,
        ttl_seconds=3600,
        attributes={
            "source": source,
            "receivedAt": "2026-01-01T00:00:00.000Z",
            "messageId": "8f4c2a1e-5b6d-4e7f-9a0b-1c2d3e4f5a6b",
            "deliveryKey": delivery,
        },
    )
    item = client.get_item(TableName="ledger", Key={"pk": {"S": key}})["Item"]
    assert dynamodb_item_bytes(item) <= 1024, dynamodb_item_bytes(item)


# --- records of the previous (claim / complete) version, read for dedupeTtlHours after the upgrade ---


def put(client: Any, **attributes: str) -> None:
    item = {
        name: ({"N": value} if name in ("expiresAt", "leaseUntil") else {"S": value})
        for name, value in attributes.items()
    }
    client.put_item(TableName="ledger", Item=item)


def test_a_previous_enqueued_delivery_record_is_a_duplicate_and_a_pending_one_is_not(ledger_parts) -> None:  # type: ignore[no-untyped-def]
    client, ledger, clock = ledger_parts
    live = str(int(clock[0]) + 100)
    put(client, pk="stripe#id:evt_1", status="enqueued", claimToken="t", messageId="m", expiresAt=live)
    put(client, pk="stripe#id:evt_2", status="pending", claimToken="t", leaseUntil=live, expiresAt=live)
    assert ledger.lookup("stripe#id:evt_1", "stripe#id:evt_1") == RETRY
    # A request in flight during the deploy, or one that died: it may never have sent.
    assert ledger.lookup("stripe#id:evt_2", "stripe#id:evt_2") is None
    assert ledger.record("stripe#id:evt_2", ttl_seconds=3600, attributes={})
    assert ledger.lookup("stripe#id:evt_2", "stripe#id:evt_2") == RETRY


def test_a_previous_content_record_follows_its_owner(ledger_parts) -> None:  # type: ignore[no-untyped-def]
    client, ledger, clock = ledger_parts
    live = str(int(clock[0]) + 100)
    put(client, pk=KEY, ownerKey=OWN, ownerToken="tok", expiresAt=live)
    put(client, pk=OWN, status="enqueued", claimToken="tok", expiresAt=live)
    assert ledger.lookup(KEY, OWN) == Duplicate(DuplicateOf.DELIVERY_ID, legacy=True)
    assert ledger.lookup(KEY, "github#id:fresh") == Duplicate(DuplicateOf.SIGNED_CONTENT, legacy=True)
    for owner in (
        {"status": "pending", "claimToken": "tok", "expiresAt": live},  # never completed
        {"status": "enqueued", "claimToken": "other", "expiresAt": live},  # taken over by a later request
        {"status": "enqueued", "claimToken": "tok", "expiresAt": str(int(clock[0]) - 1)},  # expired
    ):
        put(client, pk=OWN, **owner)
        assert ledger.lookup(KEY, "github#id:fresh") is None, owner
    client.delete_item(TableName="ledger", Key={"pk": {"S": OWN}})  # released
    assert ledger.lookup(KEY, "github#id:fresh") is None
    # The delivery that then enqueues the content replaces the old record with its own.
    assert record(ledger, delivery="github#id:fresh")
    assert ledger.lookup(KEY, "github#id:fresh") == RETRY
