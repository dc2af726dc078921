"""Endpoint protection: full jitter, the shared GCRA rate limit, the circuit breaker and the
concurrency cap. Pure rules with injected clocks and random sources, the shared state on moto
(every write conditional, so workers share it), and the worker's behaviour through the pipeline."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest

from functions.delivery import guard, protection, schema, store
from functions.delivery.store.dynamo import from_item, to_item
from functions.delivery.store.protection import rate_key
from tests.functions.delivery.conftest import TABLE, DeliveryStack, bus_event
from tests.functions.delivery.receiver import Receiver, Reply


def fixed(*values: float) -> protection.Random:
    cycle = itertools.cycle(values)
    return lambda: next(cycle)


# -- full jitter ---------------------------------------------------------------------------------


def test_full_jitter_spans_one_second_to_the_scheduled_delay() -> None:
    assert protection.full_jitter(300, fixed(0.0)) == 1
    assert protection.full_jitter(300, fixed(0.999999)) == 300
    assert protection.full_jitter(300, fixed(0.5)) == 151
    assert protection.full_jitter(1, fixed(0.9)) == 1
    assert protection.full_jitter(0, fixed(0.9)) == 1
    draws = {protection.full_jitter(10, fixed(i / 100)) for i in range(100)}
    assert draws == set(range(1, 11))  # every second of the range is reachable, nothing outside it


def test_retry_delay_jitters_the_schedule_but_keeps_retry_after() -> None:
    schedule = (5, 300, 1800)
    assert protection.retry_delay(2, schedule, 500, None, fixed(0.0)) == 1
    assert protection.retry_delay(2, schedule, 500, None, fixed(0.999)) == 300
    # The receiver asked for 120 s: never sooner.
    assert protection.retry_delay(2, schedule, 429, 120, fixed(0.0)) == 120
    # Retry-After on a status that does not carry it: the schedule, jittered.
    assert protection.retry_delay(2, schedule, 500, 120, fixed(0.0)) == 1
    assert protection.retry_delay(4, schedule, 500, None, fixed(0.5)) is None


# -- GCRA ------------------------------------------------------------------------------------------


def test_gcra_slots_follow_the_rate_after_a_burst_of_one_second() -> None:
    rate, now = 10, 1_000_000
    tat = None
    slots = []
    for _ in range(35):
        slot = protection.slot_for(tat, now, rate)
        tat = max(tat or now, now) + protection.interval_ms(rate)
        slots.append(slot - now)
    assert slots[:10] == [0] * 10  # the bucket's ten tokens
    assert slots[10:13] == [100, 200, 300]  # then one every 100 ms
    # Over any window of one second after the burst, at most `rate` slots.
    assert sum(1 for s in slots if 1000 <= s < 2000) == 10


def test_gcra_refills_while_idle() -> None:
    rate, interval = 5, protection.interval_ms(5)
    assert protection.slot_for(1_000_000 + 4 * interval, 1_000_000, rate) == 1_000_000
    assert protection.slot_for(1_000_000 + 5 * interval, 1_000_000, rate) == 1_000_000 + interval
    assert protection.slot_for(999_000, 1_000_000, rate) == 1_000_000  # bucket full again


# -- breaker ---------------------------------------------------------------------------------------


def test_breaker_states_over_time() -> None:
    closed = protection.breaker_from({"breakerFailures": 3})
    assert closed.state(0) == protection.BreakerState.CLOSED and closed.needs_reset()
    assert not protection.breaker_from({}).needs_reset()
    opened = protection.breaker_from({"breakerFailures": 5, "breakerOpenUntil": 60_000})
    assert opened.state(59_999) == protection.BreakerState.OPEN
    assert opened.state(60_000) == protection.BreakerState.HALF_OPEN
    probing = protection.breaker_from({"breakerFailures": 5, "breakerOpenUntil": 60_000, "breakerProbeUntil": 150_000})
    assert probing.probe_in_flight(100_000) and not probing.probe_in_flight(150_000)
    document = opened.to_api(1000, store.iso)
    assert document == {"state": "open", "consecutiveFailedAttempts": 5, "openUntil": "1970-01-01T00:01:00.000Z"}


@pytest.mark.parametrize(
    ("status", "kind", "counts"),
    [
        (None, "timeout", True),
        (None, "connection", True),
        (None, "tls", True),
        (500, None, True),
        (503, None, True),
        (408, None, True),
        (429, None, False),
        (400, None, False),
        (410, None, False),
        (None, "blocked", False),
        (None, "request", False),
        (None, guard.CIRCUIT_ERROR_KIND, False),
        (200, None, False),
    ],
)
def test_what_counts_against_the_breaker(status: int | None, kind: str | None, counts: bool) -> None:
    assert protection.counts_against_breaker(status, kind) is counts


def test_free_leases_and_slow_marks() -> None:
    state = {"lease0": 5_000, "lease1": 999, "slowUntil": 2_000}
    assert protection.free_leases(state, 1_000) == [1, 2, 3]
    assert protection.free_leases({}, 0) == list(range(protection.ENDPOINT_MAX_IN_FLIGHT))
    assert protection.is_slow(state, 1_999) and not protection.is_slow(state, 2_000)
    assert not protection.is_slow(None, 0)


# -- shared state on moto ----------------------------------------------------------------------------


@pytest.fixture
def table(aws: None) -> Iterator[store.DeliveryTable]:
    import boto3

    client = boto3.client("dynamodb")
    client.create_table(**schema.create_table_request(TABLE))
    yield store.DeliveryTable(client, TABLE)


def _state(table: store.DeliveryTable) -> dict[str, Any]:
    item = table.client.get_item(TableName=TABLE, Key=to_item(schema.state_key("t", "ep")))
    return from_item(item.get("Item") or {})


def test_the_bucket_is_shared_by_every_worker(table: store.DeliveryTable) -> None:
    now = 1_700_000_000_000
    # Three "workers" (separate table objects on the same item), guessing busy or idle.
    workers = [store.DeliveryTable(table.client, TABLE) for _ in range(3)]
    slots = [workers[i % 3].take_rate_slot("t", "ep", 4, now, busy_first=i % 2 == 1) for i in range(10)]
    assert slots == [now] * 4 + [now + 250, now + 500, now + 750, now + 1000, now + 1250, now + 1500]
    # Time passes: the bucket refills at the rate.
    later = now + 10_000
    assert table.take_rate_slot("t", "ep", 4, later) == later


def test_the_bucket_refuses_beyond_the_horizon(table: store.DeliveryTable) -> None:
    now = 1_700_000_000_000
    far = protection.busy_limit_ms(now, 1) + 1
    table.client.put_item(TableName=TABLE, Item=to_item({**rate_key("t", "ep"), "tat": far}))
    assert table.take_rate_slot("t", "ep", 1, now) is None
    assert table.take_rate_slot("t", "ep", 1, now, busy_first=True) is None


def test_the_breaker_opens_at_the_threshold_and_closes(table: store.DeliveryTable) -> None:
    now = 1_700_000_000_000
    for n in range(1, 3):
        breaker = table.record_breaker_failure("t", "ep", now, threshold=3, cooldown_ms=60_000)
        assert breaker.failures == n and breaker.state(now) == protection.BreakerState.CLOSED
    breaker = table.record_breaker_failure("t", "ep", now, threshold=3, cooldown_ms=60_000)
    assert breaker.state(now) == protection.BreakerState.OPEN and breaker.open_until_ms == now + 60_000
    # A late failure while open does not extend it.
    assert table.record_breaker_failure("t", "ep", now + 1_000, 3, 60_000).open_until_ms == now + 60_000
    # Half-open: one probe only, until its lease expires.
    after = now + 60_000
    assert table.claim_probe("t", "ep", after, 90_000)
    assert not table.claim_probe("t", "ep", after + 1, 90_000)
    assert table.claim_probe("t", "ep", after + 90_000, 90_000)
    # The probe fails: open again for a new cool-down.
    reopened = table.record_breaker_failure("t", "ep", after + 100_000, 3, 60_000)
    assert reopened.open_until_ms == after + 160_000 and reopened.probe_until_ms is None
    table.close_breaker("t", "ep")
    assert protection.breaker_from(_state(table)) == protection.Breaker()


def test_leases_cap_in_flight_attempts_and_expire(table: store.DeliveryTable) -> None:
    now = 1_700_000_000_000
    assert table.take_lease("t", "ep", 0, now, now + 30_000)
    assert not table.take_lease("t", "ep", 0, now + 1, now + 30_001)
    assert table.take_lease("t", "ep", 0, now + 30_000, now + 60_000)  # the first holder died
    table.release_lease("t", "ep", 0, now + 30_000)  # the dead holder's late release changes nothing
    assert _state(table)["lease0"] == now + 60_000
    table.release_lease("t", "ep", 0, now + 60_000)
    assert "lease0" not in _state(table)


# -- the worker -------------------------------------------------------------------------------------


def _attempts(stack: DeliveryStack, tenant_id: str, endpoint_id: str) -> list[dict[str, Any]]:
    status, page = stack.api("GET", f"/tenants/{tenant_id}/endpoints/{endpoint_id}/attempts", query={"limit": "100"})
    assert status == 200
    return list(reversed(page["data"]))


def test_the_breaker_stops_calls_and_shows_in_the_api(stack: DeliveryStack, receiver: Receiver) -> None:
    receiver.script("/down", Reply(500))
    endpoint = stack.create_endpoint("1", receiver.url("/down"))
    stack.publish(*(bus_event("1", "widget.created", event_id=f"evt_{n}") for n in range(protection.BREAKER_FAILURES)))
    stack.run_worker(stack.receive_tasks())
    assert len(receiver.to("/down")) == protection.BREAKER_FAILURES
    status, document = stack.api("GET", f"/tenants/1/endpoints/{endpoint['id']}")
    assert status == 200 and document["circuitBreaker"]["state"] == "open"
    assert document["circuitBreaker"]["consecutiveFailedAttempts"] == protection.BREAKER_FAILURES

    stack.publish(bus_event("1", "widget.created", event_id="evt_while_open"))
    stack.drain()  # the retries (due at once here) and the new event
    assert len(receiver.to("/down")) == protection.BREAKER_FAILURES  # not called
    skipped = [a for a in _attempts(stack, "1", endpoint["id"]) if a["eventId"] == "evt_while_open"]
    assert len(skipped) == 1 and "circuit breaker open" in skipped[0]["error"]
    # Retried no sooner than the cool-down's end, with the delay recorded.
    assert skipped[0]["nextAttemptInSeconds"] >= protection.BREAKER_COOLDOWN_SECONDS - 1


def test_after_the_cool_down_one_probe_closes_the_breaker(stack: DeliveryStack, receiver: Receiver) -> None:
    receiver.script("/back", Reply(200))
    endpoint = stack.create_endpoint("1", receiver.url("/back"))
    # Opened long ago: the cool-down is over.
    stack.dynamodb.put_item(
        TableName=TABLE,
        Item=to_item({**schema.state_key("1", endpoint["id"]), "breakerFailures": 7, "breakerOpenUntil": 1000}),
    )
    _, document = stack.api("GET", f"/tenants/1/endpoints/{endpoint['id']}")
    assert document["circuitBreaker"]["state"] == "halfOpen"
    stack.publish(bus_event("1", "widget.created", event_id="evt_probe"))
    stack.drain()
    assert len(receiver.to("/back")) == 1
    _, document = stack.api("GET", f"/tenants/1/endpoints/{endpoint['id']}")
    assert document["circuitBreaker"] == {"state": "closed", "consecutiveFailedAttempts": 0}


class Recorder:
    """Records the names of the DynamoDB operations called through it."""

    def __init__(self, client: Any) -> None:
        self._client, self.calls = client, list[str]()
        self.exceptions = client.exceptions

    def __getattr__(self, name: str) -> Any:
        self.calls.append(name)
        return getattr(self._client, name)


def _deliveries(stack: DeliveryStack) -> list[dict[str, Any]]:
    items = [from_item(i) for i in stack.dynamodb.scan(TableName=TABLE)["Items"]]
    return [i for i in items if i["sk"].startswith(schema.DELIVERY_PREFIX)]


def test_a_rate_limited_endpoint_defers_beyond_its_bucket(
    stack: DeliveryStack, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(protection, "MAX_IN_THREAD_WAIT_SECONDS", 0.2)  # no waiting in the test's threads
    receiver.script("/limited", Reply(200))
    endpoint = stack.create_endpoint("1", receiver.url("/limited"), rateLimitPerSecond=1)
    stack.publish(*(bus_event("1", "widget.created", event_id=f"evt_rl{n}") for n in range(6)))
    records = stack.receive_tasks()
    assert len(records) == 6
    kept = stack.run_worker(records)
    # One slot per second: the first is sent, the others hold a slot each and wait (never dropped);
    # a thread that the machine held up for a second may find its slot due and send it too.
    sent = len(receiver.to("/limited"))
    assert 1 <= sent < 6 and sent + len(kept) == 6
    held = [d for d in _deliveries(stack) if "rateSlot" in d]
    assert len(held) == len(kept) and all(d["rateSlot"] == "1:1" and d["status"] == "pending" for d in held)
    (bucket,) = [
        from_item(i) for i in stack.dynamodb.scan(TableName=TABLE)["Items"] if from_item(i)["sk"].startswith("RL#")
    ]

    # Their slots come (made due here): each is sent once, without reserving another slot.
    for delivery in held:
        stack.dynamodb.update_item(
            TableName=TABLE,
            Key=to_item(schema.delivery_key("1", delivery["eventId"], endpoint["id"])),
            UpdateExpression="SET nextAttemptAt = :past",
            ExpressionAttributeValues={":past": {"S": "2000-01-01T00:00:00.000Z"}},
        )
    for record in records:
        if record["messageId"] in kept:
            stack.sqs.change_message_visibility(
                QueueUrl=stack.tasks_url, ReceiptHandle=record["receiptHandle"], VisibilityTimeout=0
            )
    stack.drain()
    assert len(receiver.to("/limited")) == 6
    assert all(d["status"] == "succeeded" for d in _deliveries(stack))
    (after,) = [
        from_item(i) for i in stack.dynamodb.scan(TableName=TABLE)["Items"] if from_item(i)["sk"].startswith("RL#")
    ]
    assert after["tat"] == bucket["tat"]
    assert stack.dead_letters() == []


def test_an_endpoint_without_protection_makes_no_extra_request(stack: DeliveryStack, receiver: Receiver) -> None:
    receiver.script("/plain", Reply(200))
    stack.create_endpoint("1", receiver.url("/plain"))
    stack.publish(bus_event("1", "widget.created", event_id="evt_plain"))
    recorder = Recorder(stack.dynamodb._client)
    stack.dynamodb._client = recorder
    stack.drain()
    assert len(receiver.to("/plain")) == 1
    # The one read, the check that the run is not done yet, the attempt record (which is the result).
    assert recorder.calls == ["batch_get_item", "query", "put_item"]


def _worker_calls(stack: DeliveryStack) -> list[str]:
    """The DynamoDB operations the worker makes while the tasks queue drains."""
    recorder = Recorder(stack.dynamodb._client)
    stack.dynamodb._client = recorder
    try:
        stack.drain()
    finally:
        stack.dynamodb._client = recorder._client
    return recorder.calls


def test_what_each_protection_adds_per_delivery(
    stack: DeliveryStack, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The figures docs/delivery.md states (endpoint protection, what it costs); a plain delivery makes
    # one read, one query and the attempt record (test above). A rate-limited one is claimed before its
    # slot is taken (the slot is remembered on the delivery item), so it stores the message the task
    # brought (the fan-out stored none), claims, takes the slot, records the attempt and the result.
    plain = ["batch_get_item", "query", "put_item"]
    receiver.script("/limited", Reply(200))
    stack.create_endpoint("1", receiver.url("/limited"), rateLimitPerSecond=10)
    stack.publish(bus_event("1", "widget.created", event_id="evt_cost_rl"))
    assert _worker_calls(stack) == [
        "batch_get_item",
        "put_item",
        "update_item",
        "update_item",
        "put_item",
        "update_item",
    ]

    # A failed attempt adds one write to the endpoint's state; the success after it one more.
    monkeypatch.setenv("DELIVERY_RETRY_SCHEDULE", "5")
    from functions.delivery import worker

    worker.reset()
    receiver.script("/once", Reply(500), Reply(200))
    stack.create_endpoint("2", receiver.url("/once"))
    stack.publish(bus_event("2", "widget.created", event_id="evt_cost_fail"))
    calls = _worker_calls(stack)
    # The failed first attempt: read, query, the breaker's count, then the message, the claim, the
    # attempt and the result (the run needs its delivery item for the retry); the retry: read, claim,
    # the breaker's reset, the attempt and the result.
    failed_first = ["batch_get_item", "query", "update_item", "put_item", "update_item", "put_item", "update_item"]
    retried = ["batch_get_item", "update_item", "update_item", "put_item", "update_item"]
    assert calls == failed_first + retried
    assert plain == ["batch_get_item", "query", "put_item"]


def test_a_half_open_probe_that_must_wait_for_its_slot_does_not_hold_the_probe(table: store.DeliveryTable) -> None:
    now = 1_700_000_000.0
    endpoint = store.Endpoint(
        tenant_id="t",
        endpoint_id="ep",
        url="https://hooks.example.com/x",
        options=store.EndpointOptions(rate_limit_per_second=1),
        state={"breakerFailures": 5, "breakerOpenUntil": 1},
    )
    table.client.put_item(TableName=TABLE, Item=to_item({**rate_key("t", "ep"), "tat": int(now * 1000) + 5_000}))
    table.client.put_item(TableName=TABLE, Item=to_item({**schema.state_key("t", "ep"), **endpoint.state}))
    slept: list[float] = []
    gate = guard.before_attempt(
        table, {"eventId": "e"}, endpoint, 1, 1, "m", guard.Limits(), now=lambda: now, sleep=slept.append
    )
    assert isinstance(gate, guard.Defer) and gate.seconds == 5 and not slept
    assert "breakerProbeUntil" not in _state(table)
    # Its slot come, it probes.
    later = now + 5
    gate = guard.before_attempt(
        table, {"eventId": "e", "rateSlot": "1:1"}, endpoint, 1, 1, "m", guard.Limits(), now=lambda: later
    )
    assert isinstance(gate, guard.Proceed) and gate.probe
    assert _state(table)["breakerProbeUntil"] == int(later * 1000) + protection.PROBE_LEASE_SECONDS * 1000


def test_an_open_breaker_skips_v1a_and_oauth_endpoints_without_failing_them(
    stack: DeliveryStack, receiver: Receiver
) -> None:
    receiver.script("/token", Reply(200, body=b'{"access_token":"t","expires_in":60}'))
    created = [
        stack.create_endpoint("1", receiver.url("/signed-a"), signing={"scheme": "v1a"}),
        stack.create_endpoint(
            "1",
            receiver.url("/oauth-a"),
            auth={"type": "oauth", "tokenUrl": receiver.url("/token"), "clientId": "c", "clientSecret": "s"},
        ),
    ]
    for endpoint in created:
        stack.dynamodb.put_item(
            TableName=TABLE,
            Item=to_item({**schema.state_key("1", endpoint["id"]), "breakerFailures": 5, "breakerOpenUntil": 10**13}),
        )
    stack.publish(bus_event("1", "widget.created", event_id="evt_resting"))
    stack.drain()
    assert receiver.requests == []  # neither the endpoints nor the token endpoint were called
    for endpoint in created:
        (attempt,) = _attempts(stack, "1", endpoint["id"])
        assert attempt["outcome"] == "retrying" and "circuit breaker open" in attempt["error"]
