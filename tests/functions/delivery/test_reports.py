"""``GET /tenants/{t}/deliveries`` and ``/stats`` (functions/delivery/api/reports.py): exactly the
deliveries in the status asked for, paged, per tenant, with clear 400s; ``since`` parsing."""

from __future__ import annotations

import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from functions.delivery import since
from functions.delivery.store import DeliveryTable
from tests.functions.delivery.conftest import TABLE, DeliveryStack, bus_event
from tests.functions.delivery.receiver import Receiver, Reply


@pytest.fixture
def three_outcomes(stack: DeliveryStack, receiver: Receiver) -> dict[str, str]:
    """One delivered, one failed (400: not retried), one pending (500: a retry is scheduled)."""
    receiver.script("/ok", Reply(200), Reply(200))
    receiver.script("/bad", Reply(400), Reply(400))
    receiver.script("/busy", Reply(500), Reply(500))
    ids = {name: stack.create_endpoint("acme", receiver.url(f"/{name}"))["id"] for name in ("ok", "bad", "busy")}
    stack.create_endpoint("other", receiver.url("/bad"))  # another tenant's failure is never listed
    stack.publish(bus_event("acme", "order.created", event_id="evt_a"), bus_event("other", "x.y", event_id="evt_o"))
    stack.run_worker(stack.receive_tasks())  # one pass: the 500 leaves its delivery pending
    return ids


def _all_pages(stack: DeliveryStack, query: dict[str, str]) -> list[dict]:
    items, cursor = [], None
    for _ in range(20):
        status, page = stack.api(
            "GET", "/tenants/acme/deliveries", query={**query, **({"cursor": cursor} if cursor else {})}
        )
        assert status == 200, page
        items += page["data"]
        cursor = page["nextCursor"]
        if not cursor:
            return items
    raise AssertionError("paging did not end")


def test_each_status_lists_exactly_its_deliveries_across_pages(
    stack: DeliveryStack, three_outcomes: dict[str, str]
) -> None:
    for status, name in (("failed", "bad"), ("succeeded", "ok"), ("pending", "busy")):
        for limit in ("1", "50"):
            (item,) = _all_pages(stack, {"status": status, "since": "1h", "limit": limit})
            assert item["endpointId"] == three_outcomes[name] and item["status"] == status
            assert item["eventId"] == "evt_a" and item["eventType"] == "order.created"
    failed = _all_pages(stack, {"status": "failed"})[0]
    assert "400" in failed["failedReason"] and failed["finishedAt"]
    assert {i["endpointId"] for i in _all_pages(stack, {"since": "2020-01-01T00:00:00Z"})} == set(
        three_outcomes.values()
    )
    assert _all_pages(stack, {"status": "cancelled"}) == []


class BoundaryCheckingDynamoDB:
    """DynamoDB's check that moto leaves out: a Query's ExclusiveStartKey must satisfy its key condition
    (else a ValidationException, "The provided starting key is outside query boundaries")."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def query(self, **request: Any) -> Any:
        start = request.get("ExclusiveStartKey")
        since = request["ExpressionAttributeValues"].get(":since", {}).get("S", "")
        if start and "gsi4sk >= :since" in request["KeyConditionExpression"] and start["gsi4sk"]["S"] < since:
            error = {
                "Code": "ValidationException",
                "Message": "The provided starting key is outside query boundaries",
            }
            raise ClientError({"Error": error}, "Query")
        return self.client.query(**request)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)


def test_a_cursor_older_than_a_later_since_continues_the_listing(
    stack: DeliveryStack, three_outcomes: dict[str, str]
) -> None:
    """``since=24h`` is recomputed on every page: the next page's since may be later than the cursor
    (oldest first, the first page ends near the window's start). The listing continues after the cursor."""
    table = DeliveryTable(BoundaryCheckingDynamoDB(stack.dynamodb), TABLE)
    first, cursor = table.deliveries_since("acme", time.time() - 3600, limit=1)
    assert cursor is not None
    rest, end = table.deliveries_since("acme", time.time() + 60, limit=50, cursor=cursor)
    assert end is None
    listed = [(i["endpointId"], i["eventId"]) for i in first + rest]
    assert sorted(listed) == sorted((endpoint_id, "evt_a") for endpoint_id in three_outcomes.values())


def test_stats_count_per_endpoint(stack: DeliveryStack, three_outcomes: dict[str, str]) -> None:
    status, stats = stack.api("GET", "/tenants/acme/stats", query={"since": "24h"})
    assert status == 200 and stats["complete"] is True
    rows = {row["endpointId"]: row for row in stats["endpoints"]}
    zero = {"published": 1, "delivered": 0, "failed": 0, "pending": 0, "cancelled": 0}
    assert rows[three_outcomes["ok"]] == {"endpointId": three_outcomes["ok"], **zero, "delivered": 1}
    assert rows[three_outcomes["bad"]] == {"endpointId": three_outcomes["bad"], **zero, "failed": 1}
    assert rows[three_outcomes["busy"]] == {"endpointId": three_outcomes["busy"], **zero, "pending": 1}
    assert stats["totals"] == {"published": 3, "delivered": 1, "failed": 1, "pending": 1, "cancelled": 0}


BAD_QUERIES = [
    ("deliveries", {"status": "lost"}, "status"),
    ("deliveries", {"since": "yesterday"}, "since"),
    ("deliveries", {"since": "2026-01-01T00:00:00"}, "since"),  # no zone
    ("deliveries", {"since": "3651d"}, "since"),
    ("deliveries", {"since": "2999-01-01T00:00:00Z"}, "since"),
    ("deliveries", {"limit": "0"}, "limit"),
    ("deliveries", {"cursor": "bm90IG91cnM"}, "cursor"),
    ("deliveries", {"state": "failed"}, "state"),
    ("stats", {"since": "-1h"}, "since"),
    ("stats", {"status": "failed"}, "status"),
]


def test_bad_queries_get_a_400_naming_the_parameter(stack: DeliveryStack) -> None:
    for path, query, field in BAD_QUERIES:
        status, document = stack.api("GET", f"/tenants/acme/{path}", query=query)
        assert status == 400 and document["error"]["field"] == field, (path, query, document)
        assert field in document["error"]["message"] or field == "cursor", document


def test_since_accepts_iso_8601_and_durations_back_from_now() -> None:
    now = 1_800_000_000.0
    assert since.parse_since("24h", now) == now - 86_400
    assert since.parse_since("30m", now) == now - 1800
    assert since.parse_since("7d", now) == now - 7 * 86_400
    assert since.parse_since("2027-01-15T08:00:00+01:00", now) == since.parse_since("2027-01-15T07:00:00Z", now)
    for bad in ("0h", "24", "h", "1w", "24 h", "", "1e3h"):
        with pytest.raises(since.InvalidSince, match="since"):
            since.parse_since(bad, now)
