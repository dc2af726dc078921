"""Events to signed requests, end to end in one process: fan-out and worker against moto, a local
receiver that misbehaves on purpose, and the history/replay API. Waits are scaled to zero
(``DELIVERY_TIME_SCALE=0``), so a day of retries takes milliseconds while the recorded schedule
keeps its real values."""

from __future__ import annotations

import json
import threading
import time

import pytest
from standardwebhooks.webhooks import Webhook

from functions import whsec
from functions.delivery import protection, store
from functions.delivery.store import DeliveryTable
from tests.functions.delivery.conftest import TABLE, DeliveryStack, bus_event, configure
from tests.functions.delivery.receiver import Receiver, Reply


def _attempts(stack: DeliveryStack, tenant: str, endpoint_id: str) -> list[dict]:
    status, page = stack.api("GET", f"/tenants/{tenant}/endpoints/{endpoint_id}/attempts", query={"limit": "100"})
    assert status == 200
    return list(reversed(page["data"]))  # oldest first


def _delivery(stack: DeliveryStack, tenant: str, event_id: str, endpoint_id: str) -> dict:
    status, message = stack.api("GET", f"/tenants/{tenant}/messages/{event_id}")
    assert status == 200, message
    return next(d for d in message["deliveries"] if d["endpointId"] == endpoint_id)


def test_an_event_is_delivered_signed_and_recorded(stack: DeliveryStack, receiver: Receiver) -> None:
    endpoint = stack.create_endpoint("1", receiver.url("/ok"))
    event = bus_event("1", "widget.created", {"widgetName": "W1"}, event_id="evt_happy")

    assert stack.publish(event) == {"batchItemFailures": []}
    stack.drain()

    (request,) = receiver.to("/ok")
    payload = Webhook(endpoint["secret"]).verify(request.body, request.headers)
    assert payload == {
        "type": "widget.created",
        "timestamp": "2026-01-01T00:00:00Z",
        "data": {"widgetName": "W1", "tenantId": "1", "eventId": "evt_happy"},
    }
    assert request.headers["webhook-id"] == "evt_happy"
    assert abs(int(request.headers["webhook-timestamp"]) - time.time()) < 60
    delivery = _delivery(stack, "1", "evt_happy", endpoint["id"])
    assert (delivery["status"], delivery["attempts"], delivery["run"]) == ("succeeded", 1, 1)
    (attempt,) = _attempts(stack, "1", endpoint["id"])
    assert attempt["outcome"] == "succeeded" and attempt["statusCode"] == 200 and attempt["response"] == "ok"
    assert attempt["latencyMs"] >= 0 and attempt["eventId"] == "evt_happy"
    tenant_attempts = stack.api("GET", "/tenants/1/attempts")[1]["data"]
    assert [a["attemptId"] for a in tenant_attempts] == [attempt["attemptId"]]
    assert stack.dead_letters() == []


def test_only_subscribed_event_types_are_delivered(stack: DeliveryStack, receiver: Receiver) -> None:
    stack.create_endpoint("1", receiver.url("/created"), eventTypes=["widget.created"])
    stack.create_endpoint("1", receiver.url("/all"))

    stack.publish(bus_event("1", "widget.deleted", event_id="evt_del"), bus_event("2", "widget.created"))
    stack.drain()

    assert receiver.to("/created") == []
    assert len(receiver.to("/all")) == 1


def test_retries_follow_the_schedule_and_honour_retry_after(stack: DeliveryStack, receiver: Receiver) -> None:
    receiver.script(
        "/flaky",
        Reply(503),
        Reply(200, delay=1.5),  # slower than the 1 s timeout: a timeout, retried
        Reply(429, headers={"Retry-After": "120"}),
        Reply(500),
        Reply(408),
        Reply(200),
    )
    endpoint = stack.create_endpoint("1", receiver.url("/flaky"))

    stack.publish(bus_event("1", "widget.created", event_id="evt_flaky"))
    stack.drain()

    attempts = _attempts(stack, "1", endpoint["id"])
    assert [a["outcome"] for a in attempts] == ["retrying"] * 5 + ["succeeded"]
    assert [a.get("statusCode") for a in attempts] == [503, None, 429, 500, 408, 200]
    assert "timed out" in attempts[1]["error"]
    delays = [a.get("nextAttemptInSeconds") for a in attempts]
    # Full jitter: a draw between 1 s and the schedule's entry; a Retry-After is kept as given.
    assert delays[2] == 120 and delays[5] is None
    for delay, ceiling in zip([delays[0], delays[1], delays[3], delays[4]], (5, 300, 7200, 18000), strict=True):
        assert 1 <= delay <= ceiling
    assert len(receiver.to("/flaky")) == 6
    assert len({r.headers["webhook-id"] for r in receiver.to("/flaky")}) == 1
    delivery = _delivery(stack, "1", "evt_flaky", endpoint["id"])
    assert delivery["status"] == "succeeded" and delivery["attempts"] == 6 and len(delivery["history"]) == 6
    assert stack.dead_letters() == []


def test_after_the_last_attempt_the_event_is_dead_lettered_and_history_says_failed(
    stack: DeliveryStack, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure(monkeypatch, RETRY_SCHEDULE="5,300,1800")
    receiver.script("/down", Reply(500, body=b"database is down"))
    endpoint = stack.create_endpoint("1", receiver.url("/down"))

    stack.publish(bus_event("1", "widget.created", {"n": 1}, event_id="evt_dead"))
    stack.drain()

    assert len(receiver.to("/down")) == 4
    (letter,) = stack.dead_letters()
    assert letter["eventId"] == "evt_dead" and letter["endpointId"] == endpoint["id"]
    assert "retries exhausted after 4 attempts" in letter["reason"]
    assert [h["statusCode"] for h in letter["history"]] == [500, 500, 500, 500]
    assert letter["payload"]["data"]["n"] == 1
    delivery = _delivery(stack, "1", "evt_dead", endpoint["id"])
    assert delivery["status"] == "failed" and "retries exhausted" in delivery["failedReason"]
    attempts = _attempts(stack, "1", endpoint["id"])
    assert attempts[-1]["outcome"] == "failed" and attempts[-1]["response"] == "database is down"
    assert stack.api("GET", f"/tenants/1/endpoints/{endpoint['id']}")[1]["consecutiveFailures"] == 1
    assert stack.queued_tasks() == 0


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422, 302])
def test_client_errors_fail_fast_without_retry(stack: DeliveryStack, receiver: Receiver, status: int) -> None:
    receiver.script(
        "/reject", Reply(status, headers={"Location": "https://hooks.example.com/"} if status == 302 else {})
    )
    endpoint = stack.create_endpoint("1", receiver.url("/reject"))

    stack.publish(bus_event("1", "widget.created", event_id="evt_reject"))
    stack.drain()

    assert len(receiver.to("/reject")) == 1
    (letter,) = stack.dead_letters()
    assert "failed without retry" in letter["reason"]
    assert _delivery(stack, "1", "evt_reject", endpoint["id"])["status"] == "failed"


def test_410_disables_the_endpoint_visibly_and_later_events_are_kept_for_replay(
    stack: DeliveryStack, receiver: Receiver
) -> None:
    receiver.script("/gone", Reply(410), Reply(200))
    endpoint = stack.create_endpoint("1", receiver.url("/gone"))
    path = f"/tenants/1/endpoints/{endpoint['id']}"

    stack.publish(bus_event("1", "widget.created", event_id="evt_gone"))
    stack.drain()

    fetched = stack.api("GET", path)[1]
    assert fetched["enabled"] is False and fetched["disabledReason"] == "gone"
    (letter,) = stack.dead_letters()
    assert "410" in letter["reason"]

    stack.publish(bus_event("1", "widget.created", event_id="evt_while_disabled"))
    stack.drain()
    assert len(receiver.to("/gone")) == 1
    skipped = _delivery(stack, "1", "evt_while_disabled", endpoint["id"])
    assert skipped["status"] == "failed" and skipped["failedReason"] == "endpoint disabled (gone)"

    assert stack.api("PATCH", path, {"enabled": True})[0] == 200
    status, replay = stack.api("POST", f"{path}/replay", {"since": "2020-01-01T00:00:00Z"})
    assert status == 202 and sorted(replay["eventIds"]) == ["evt_gone", "evt_while_disabled"]
    stack.drain()
    assert sorted(json.loads(r.body)["data"]["eventId"] for r in receiver.to("/gone")[1:]) == [
        "evt_gone",
        "evt_while_disabled",
    ]
    assert _delivery(stack, "1", "evt_while_disabled", endpoint["id"])["status"] == "succeeded"


def test_consecutive_failed_messages_disable_the_endpoint_and_a_success_resets_the_count(
    stack: DeliveryStack, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure(monkeypatch, DISABLE_AFTER_FAILURES="3", RETRY_SCHEDULE="5")
    receiver.script("/sick", Reply(500), Reply(500), Reply(500), Reply(500), Reply(200), Reply(500))
    endpoint = stack.create_endpoint("1", receiver.url("/sick"))
    path = f"/tenants/1/endpoints/{endpoint['id']}"

    for index in range(2):  # two messages fail for good (2 attempts each)
        stack.publish(bus_event("1", "widget.created", event_id=f"evt_fail_{index}"))
        stack.drain()
    assert stack.api("GET", path)[1]["consecutiveFailures"] == 2
    stack.publish(bus_event("1", "widget.created", event_id="evt_ok"))
    stack.drain()
    assert stack.api("GET", path)[1]["consecutiveFailures"] == 0

    for index in range(3):
        stack.publish(bus_event("1", "widget.created", event_id=f"evt_fail_again_{index}"))
        stack.drain()
    fetched = stack.api("GET", path)[1]
    assert (
        fetched["enabled"] is False and fetched["disabledReason"] == "failures" and fetched["consecutiveFailures"] == 3
    )


def test_a_slow_endpoint_does_not_hold_up_the_others(stack: DeliveryStack) -> None:
    slow, fast = Receiver(), Receiver()
    try:
        slow.script("/slow", Reply(200, delay=3))
        for _ in range(3):
            stack.create_endpoint("1", slow.url("/slow"))
        fast_endpoint = stack.create_endpoint("1", fast.url("/fast"))
        stack.publish(bus_event("1", "widget.created", event_id="evt_mixed"))
        records = stack.receive_tasks()
        assert len(records) == 4

        started = time.monotonic()
        stack.run_worker(records)
        elapsed = time.monotonic() - started

        (fast_request,) = fast.to("/fast")
        assert fast_request.at - started < 0.8  # sent right away, not after the slow ones
        assert elapsed < 2.5  # three 1 s timeouts in parallel, not 3 s in a row
        assert _delivery(stack, "1", "evt_mixed", fast_endpoint["id"])["status"] == "succeeded"
    finally:
        slow.close()
        fast.close()


def test_every_event_ends_delivered_or_dead_lettered_with_history(
    stack: DeliveryStack, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The breaker would rest /dead for a real minute (its cool-down is not scaled): not this test's subject.
    configure(monkeypatch, RETRY_SCHEDULE="5,300", BREAKER_FAILURES="1000")
    receiver.script("/flaky", Reply(502), Reply(200))
    receiver.script("/dead", Reply(503))
    receiver.script("/gone", Reply(410))
    receiver.script("/bad", Reply(400))
    endpoints = {
        path: stack.create_endpoint("1", receiver.url(path))["id"]
        for path in ("/ok", "/flaky", "/dead", "/gone", "/bad")
    }
    events = [bus_event("1", "widget.created", {"i": i}, event_id=f"evt_{i}") for i in range(3)]

    stack.publish(*events)
    stack.drain()

    letters = {(d["eventId"], d["endpointId"]) for d in stack.dead_letters()}
    for event in events:
        event_id = event["detail"]["eventId"]
        for endpoint_id in endpoints.values():
            delivery = _delivery(stack, "1", event_id, endpoint_id)
            assert delivery["status"] in ("succeeded", "failed"), delivery
            assert (delivery["status"] == "failed") == ((event_id, endpoint_id) in letters), delivery
            assert delivery["attempts"] == len(delivery.get("history", [])), delivery
    assert stack.queued_tasks() == 0
    assert all(
        d["status"] == "succeeded"
        for d in (_delivery(stack, "1", e["detail"]["eventId"], endpoints["/ok"]) for e in events)
    )


def test_a_duplicated_event_is_sent_once(stack: DeliveryStack, receiver: Receiver) -> None:
    stack.create_endpoint("1", receiver.url("/once"))
    event = bus_event("1", "widget.created", event_id="evt_twice")

    stack.publish(event, event)  # EventBridge and SQS deliver at least once
    stack.drain()
    stack.publish(event)
    stack.drain()

    assert len(receiver.to("/once")) == 1


def test_resend_delivers_the_same_bytes_and_id_again(stack: DeliveryStack, receiver: Receiver) -> None:
    endpoint = stack.create_endpoint("1", receiver.url("/again"))
    stack.publish(bus_event("1", "widget.created", {"a": 1}, event_id="evt_resend"))
    stack.drain()

    status, resent = stack.api("POST", "/tenants/1/messages/evt_resend/resend", {"endpointId": endpoint["id"]})
    assert status == 202 and resent["queued"] == [{"endpointId": endpoint["id"], "run": 2}]
    stack.drain()

    first, second = receiver.to("/again")
    assert first.body == second.body and first.headers["webhook-id"] == second.headers["webhook-id"] == "evt_resend"
    Webhook(endpoint["secret"]).verify(second.body, second.headers)
    assert _delivery(stack, "1", "evt_resend", endpoint["id"])["run"] == 2
    # An id with a trailing newline is no endpoint id (re.match with "$" took it, then a 404).
    status, refused = stack.api("POST", "/tenants/1/messages/evt_resend/resend", {"endpointId": endpoint["id"] + "\n"})
    assert status == 400 and refused["error"]["field"] == "endpointId"


def test_resend_refuses_a_delivery_in_progress(stack: DeliveryStack, receiver: Receiver) -> None:
    receiver.script("/busy", Reply(500))
    endpoint = stack.create_endpoint("1", receiver.url("/busy"))
    stack.publish(bus_event("1", "widget.created", event_id="evt_busy"))
    stack.run_worker(stack.receive_tasks())  # first attempt failed, a retry is pending

    status, document = stack.api("POST", "/tenants/1/messages/evt_busy/resend", {"endpointId": endpoint["id"]})
    assert status == 409 and document["error"]["code"] == "delivery_in_progress"


def test_replay_resends_every_failed_message_since_a_time(stack: DeliveryStack, receiver: Receiver) -> None:
    receiver.script("/broken", Reply(400))
    endpoint = stack.create_endpoint("1", receiver.url("/broken"))
    stack.publish(*[bus_event("1", "widget.created", event_id=f"evt_r{i}") for i in range(3)])
    stack.drain()
    assert len(stack.dead_letters()) == 3

    receiver.script("/broken", Reply(200))
    path = f"/tenants/1/endpoints/{endpoint['id']}/replay"
    assert stack.api("POST", path, {"since": "2999-01-01T00:00:00Z"})[1]["queued"] == 0
    status, replay = stack.api("POST", path, {"since": "2020-01-01T00:00:00Z"})
    assert status == 202 and replay["queued"] == 3
    stack.drain()

    for index in range(3):
        assert _delivery(stack, "1", f"evt_r{index}", endpoint["id"])["status"] == "succeeded"
    assert stack.api("POST", path, {"since": "2020-01-01T00:00:00Z"})[1]["queued"] == 0


def test_replay_pages_through_many_failures(stack: DeliveryStack, receiver: Receiver) -> None:
    receiver.script("/broken", Reply(400))
    endpoint = stack.create_endpoint("1", receiver.url("/broken"))
    stack.publish(*[bus_event("1", "widget.created", event_id=f"evt_p{i}") for i in range(5)])
    stack.drain()
    receiver.script("/broken", Reply(200))
    path = f"/tenants/1/endpoints/{endpoint['id']}/replay"

    queued, cursor = [], None
    while True:
        body = {"since": "2020-01-01T00:00:00Z", "limit": 2, **({"cursor": cursor} if cursor else {})}
        page = stack.api("POST", path, body)[1]
        queued += page["eventIds"]
        cursor = page["nextCursor"]
        if not cursor:
            break
    assert sorted(queued) == [f"evt_p{i}" for i in range(5)]


def test_deliveries_during_a_rotation_carry_both_signatures(stack: DeliveryStack, receiver: Receiver) -> None:
    endpoint = stack.create_endpoint("1", receiver.url("/rotating"))
    rotated = stack.api("POST", f"/tenants/1/endpoints/{endpoint['id']}/rotate-secret")[1]

    stack.publish(bus_event("1", "widget.created", event_id="evt_rot"))
    stack.drain()

    (request,) = receiver.to("/rotating")
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    Webhook(endpoint["secret"]).verify(request.body, request.headers)
    Webhook(rotated["secret"]).verify(request.body, request.headers)


def test_config_declared_endpoint_with_previous_secret_signs_with_both(
    stack: DeliveryStack, receiver: Receiver
) -> None:

    current, previous = whsec.generate(), whsec.generate()
    stack.dynamodb.put_item(
        TableName=TABLE, Item=store.config_endpoint_item("1", "audit", receiver.url("/audit"), [], True)
    )
    stack.dynamodb.put_item(TableName=TABLE, Item=store.config_secret_item("1", "audit", current, previous))

    stack.publish(bus_event("1", "widget.created", event_id="evt_cfg"))
    stack.drain()

    (request,) = receiver.to("/audit")
    Webhook(current).verify(request.body, request.headers)
    Webhook(previous).verify(request.body, request.headers)


def test_deleting_an_endpoint_cancels_its_pending_retries(stack: DeliveryStack, receiver: Receiver) -> None:
    receiver.script("/temp", Reply(500))
    endpoint = stack.create_endpoint("1", receiver.url("/temp"))
    stack.publish(bus_event("1", "widget.created", event_id="evt_cancel"))
    stack.run_worker(stack.receive_tasks())

    assert stack.api("DELETE", f"/tenants/1/endpoints/{endpoint['id']}")[0] == 204
    stack.drain()

    assert len(receiver.to("/temp")) == 1
    assert _delivery(stack, "1", "evt_cancel", endpoint["id"])["status"] == "cancelled"
    assert stack.dead_letters() == []


def test_a_task_received_too_often_is_dead_lettered_before_sqs_would_redrive_it(
    stack: DeliveryStack, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure(monkeypatch, MAX_RECEIVES="3")
    endpoint = stack.create_endpoint("1", receiver.url("/never"))
    stack.publish(bus_event("1", "widget.created", event_id="evt_loop"))
    (record,) = stack.receive_tasks()
    record["attributes"]["ApproximateReceiveCount"] = "3"

    stack.run_worker([record])

    assert receiver.to("/never") == []
    (letter,) = stack.dead_letters()
    assert "3 receives" in letter["reason"]
    assert _delivery(stack, "1", "evt_loop", endpoint["id"])["status"] == "failed"


def test_an_early_return_waits_for_the_scheduled_time_without_an_attempt(
    stack: DeliveryStack, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure(monkeypatch, TIME_SCALE="1")
    monkeypatch.setattr(protection, "full_jitter", lambda ceiling, random: ceiling)  # the 5 s step exactly
    receiver.script("/later", Reply(503))
    endpoint = stack.create_endpoint("1", receiver.url("/later"))
    stack.publish(bus_event("1", "widget.created", event_id="evt_early"))
    (record,) = stack.receive_tasks()
    stack.run_worker([record])  # attempt 1 fails; the message hides for 5 s

    # The same message comes back at once (as after a crash before the visibility change).
    stack.sqs.change_message_visibility(
        QueueUrl=stack.tasks_url, ReceiptHandle=record["receiptHandle"], VisibilityTimeout=0
    )
    (again,) = stack.receive_tasks()
    assert again["messageId"] == record["messageId"]
    assert stack.run_worker([again]) == {record["messageId"]}

    assert len(receiver.to("/later")) == 1
    assert _delivery(stack, "1", "evt_early", endpoint["id"])["attempts"] == 1
    assert stack.receive_tasks() == []  # hidden again until the attempt is due


def test_a_twelve_hour_wait_hides_the_task_within_what_sqs_allows_since_its_receive(
    stack: DeliveryStack, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    from components.config.delivery import DeliverySettings
    from components.specs.delivery import delivery_spec
    from functions.delivery import policy, worker

    # SQS refuses a visibility that takes the message past 12 h since it was received (the error would
    # leave the task to come back after the queue's visibility timeout, every time for a full bucket).
    configure(monkeypatch, TIME_SCALE="1")
    receiver.script("/busy", Reply(429, headers={"Retry-After": str(policy.MAX_DELAY_SECONDS)}))
    endpoint = stack.create_endpoint("1", receiver.url("/busy"))
    stack.publish(bus_event("1", "widget.created", event_id="evt_12h"))
    sqs = worker._state.get().sqs
    hidden: list[int] = []
    change = sqs.change_message_visibility
    monkeypatch.setattr(
        sqs,
        "change_message_visibility",
        lambda **kwargs: hidden.append(kwargs["VisibilityTimeout"]) or change(**kwargs),
    )
    (record,) = stack.receive_tasks()
    assert stack.run_worker([record]) == {record["messageId"]}

    # The longest a task can have been received before it is hidden is the tasks queue's visibility.
    in_flight = delivery_spec(DeliverySettings()).tasks_queue.visibility_timeout_seconds
    assert hidden and 0 < max(hidden) <= policy.MAX_DELAY_SECONDS - in_flight
    # The attempt's wait is kept: a task back before it is hidden again (the early return).
    due = store.parse_time(_delivery(stack, "1", "evt_12h", endpoint["id"])["nextAttemptAt"])
    assert due - time.time() > policy.MAX_DELAY_SECONDS - 60


def test_a_dead_letter_fits_the_queue_whatever_the_payload_s_characters(
    stack: DeliveryStack, receiver: Receiver
) -> None:
    # 190,000 UTF-8 bytes of CJK text are 380,000 once JSON escapes them: past the 256 KiB a queue
    # takes by default, the dead letter was refused, and the task crashed and re-sent until redriven.
    stack.sqs.set_queue_attributes(QueueUrl=stack.dead_letter_url, Attributes={"MaximumMessageSize": "262144"})
    receiver.script("/refuses", Reply(400))
    stack.create_endpoint("1", receiver.url("/refuses"))
    stack.create_endpoint("1", receiver.url("/refuses"))
    stack.publish(bus_event("1", "widget.created", {"text": "\u65e5" * 63_000}, event_id="evt_cjk"))
    stack.drain()
    letters = stack.dead_letters()
    assert [letter["eventId"] for letter in letters] == ["evt_cjk", "evt_cjk"]
    assert all("payloadOmitted" in letter for letter in letters)
    assert len(receiver.to("/refuses")) == 2
    deliveries = stack.api("GET", "/tenants/1/messages/evt_cjk")[1]["deliveries"]
    assert [d["status"] for d in deliveries] == ["failed", "failed"]


def test_copies_of_a_task_in_one_batch_send_one_request(stack: DeliveryStack, receiver: Receiver) -> None:
    receiver.script("/batch", Reply(200, delay=0.3))
    stack.create_endpoint("1", receiver.url("/batch"))
    event = bus_event("1", "widget.created", event_id="evt_batch")
    stack.publish(event, event)
    records = stack.receive_tasks()
    assert len(records) == 2
    assert not stack.run_worker(records)  # nothing kept for a retry
    assert len(receiver.to("/batch")) == 1


def test_concurrent_copies_of_a_task_send_at_least_once_with_one_id_and_are_recorded_once(
    stack: DeliveryStack, receiver: Receiver
) -> None:
    # The trade-off of the one-write delivery (docs/delivery.md, "Cost"): copies of one task running at
    # the same moment in two invocations are not claimed apart, so both may send; always the same
    # webhook-id and bytes (the receiver deduplicates on webhook-id), and one succeeded delivery.
    receiver.script("/race", Reply(200, delay=0.3))
    endpoint = stack.create_endpoint("1", receiver.url("/race"))
    event = bus_event("1", "widget.created", event_id="evt_race")
    stack.publish(event, event)
    records = stack.receive_tasks()
    assert len(records) == 2

    threads = [threading.Thread(target=stack.run_worker, args=([r],)) for r in records]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    sent = receiver.to("/race")
    assert 1 <= len(sent) <= 2
    assert {r.headers["webhook-id"] for r in sent} == {"evt_race"} and len({r.body for r in sent}) == 1
    delivery = _delivery(stack, "1", "evt_race", endpoint["id"])
    assert delivery["status"] == "succeeded" and delivery["run"] == 1
    # A copy that comes later sends nothing.
    stack.publish(event)
    stack.drain()
    assert len(receiver.to("/race")) == len(sent)


def test_a_stored_endpoint_url_in_an_ipv6_form_of_the_metadata_address_fails_at_delivery(stack: DeliveryStack) -> None:
    # Written directly (as an endpoint stored before the guard knew this form): the worker's own check refuses it.
    endpoint = DeliveryTable(stack.dynamodb, TABLE).create_endpoint(
        "1",
        url="https://[::ffff:0:a9fe:a9fe]/latest/meta-data",
        event_types=(),
        description="",
        secret=whsec.generate(),
        now=time.time(),
    )

    stack.publish(bus_event("1", "widget.created", event_id="evt_ssrf"))
    stack.drain()

    (attempt,) = _attempts(stack, "1", endpoint.endpoint_id)
    assert attempt["outcome"] == "failed" and "SSRF" in attempt["error"] and "metadata" in attempt["error"]
    (letter,) = stack.dead_letters()
    assert letter["eventId"] == "evt_ssrf" and "failed without retry" in letter["reason"]


def test_a_stored_endpoint_url_that_is_not_ascii_fails_once_with_a_record_and_counts_towards_disabling(
    stack: DeliveryStack, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Written directly (as an endpoint stored before the API refused such URLs): the worker must end
    # each message at its first receive, with an attempt record, instead of raising on every receive.
    configure(monkeypatch, DISABLE_AFTER_FAILURES="2")
    endpoint = DeliveryTable(stack.dynamodb, TABLE).create_endpoint(
        "1",
        url=receiver.url("/caf\u00e9"),
        event_types=(),
        description="",
        secret=whsec.generate(),
        now=time.time(),
    )

    for index in range(2):
        stack.publish(bus_event("1", "widget.created", event_id=f"evt_cafe_{index}"))
        (record,) = stack.receive_tasks()
        assert stack.run_worker([record]) == set()  # not left in the queue for another receive

    attempts = _attempts(stack, "1", endpoint.endpoint_id)
    assert [a["outcome"] for a in attempts] == ["failed", "failed"]
    assert all(a["error"].startswith("request cannot be sent: url must be ASCII") for a in attempts)
    letters = stack.dead_letters()
    assert sorted(letter["eventId"] for letter in letters) == ["evt_cafe_0", "evt_cafe_1"]
    assert all("failed without retry" in letter["reason"] and "caf%C3%A9" in letter["lastError"] for letter in letters)
    fetched = stack.api("GET", f"/tenants/1/endpoints/{endpoint.endpoint_id}")[1]
    assert fetched["enabled"] is False and fetched["disabledReason"] == "failures"
    assert receiver.requests == [] and stack.queued_tasks() == 0


def test_an_event_breaking_the_contract_is_left_for_the_dead_letter_queue(stack: DeliveryStack) -> None:
    stack.create_endpoint("1", "https://hooks.example.com/webhooks")
    bad_id = bus_event("1", "widget.created", event_id="a.b")  # cannot be a webhook-id
    no_id_at_all = bus_event("1", "widget.created")
    del no_id_at_all["detail"]["eventId"], no_id_at_all["id"]
    result = stack.publish(bad_id, no_id_at_all)
    assert len(result["batchItemFailures"]) == 2 and stack.queued_tasks() == 0


def test_bus_rule_to_queue_to_delivery(stack: DeliveryStack, receiver: Receiver) -> None:
    """The real pattern on a moto bus routes tenant events (and only those) to the events queue."""
    import boto3

    from components.config import to_json
    from components.plan import delivery_rule_pattern
    from functions import events as contract

    events = boto3.client("events")
    events.create_event_bus(Name="entry")
    events.put_rule(Name="delivery", EventBusName="entry", EventPattern=to_json(delivery_rule_pattern()))
    queue_arn = stack.sqs.get_queue_attributes(QueueUrl=stack.events_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events.put_targets(Rule="delivery", EventBusName="entry", Targets=[{"Id": "queue", "Arn": queue_arn}])
    endpoint = stack.create_endpoint("1", receiver.url("/bus"))

    contract.publish(
        events,
        [
            contract.make_event("hookstack", "widget.created", {"widgetName": "W1"}, tenant_id="1", event_id="evt_bus"),
            contract.make_event("hookstack", "system.tick", {}, tenant_id=None),
        ],
        "entry",
    )
    messages = stack.sqs.receive_message(QueueUrl=stack.events_url, MaxNumberOfMessages=10)["Messages"]
    assert len(messages) == 1
    records = [{"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"]} for m in messages]
    from functions.delivery import fanout

    assert fanout.handler({"Records": records}) == {"batchItemFailures": []}
    stack.drain()

    (request,) = receiver.to("/bus")
    assert Webhook(endpoint["secret"]).verify(request.body, request.headers)["data"]["widgetName"] == "W1"


def test_tasks_of_a_batch_share_send_requests_and_an_unqueued_task_fails_only_its_event(
    stack: DeliveryStack, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    from functions.delivery import runtime

    stack.create_endpoint("1", receiver.url("/batch"))
    sqs = runtime.clients.get()("sqs")
    calls: list[int] = []
    real = sqs.send_message_batch

    def flaky_batch(QueueUrl: str, Entries: list[dict]) -> dict:
        calls.append(len(Entries))
        refused = [e for e in Entries if "evt_refused" in e["MessageBody"]]
        accepted = [e for e in Entries if e not in refused]
        response = real(QueueUrl=QueueUrl, Entries=accepted) if accepted else {"Successful": []}
        response["Failed"] = [
            {"Id": e["Id"], "Code": "InternalError", "SenderFault": False, "Message": "try again"} for e in refused
        ]
        return response

    monkeypatch.setattr(sqs, "send_message_batch", flaky_batch)
    monkeypatch.setattr("time.sleep", lambda seconds: None)
    events = [bus_event("1", "widget.created", event_id=f"evt_b{i}") for i in range(9)] + [
        bus_event("1", "widget.created", event_id="evt_refused")
    ]
    records = [{"messageId": f"m{i}", "receiptHandle": "rh", "body": json.dumps(e)} for i, e in enumerate(events)]

    from functions.delivery import fanout

    result = fanout.handler({"Records": records})

    assert result == {"batchItemFailures": [{"itemIdentifier": "m9"}]}
    assert calls[0] == 10 and all(n == 1 for n in calls[1:])  # one request for the batch, retries for the refused one
    stack.drain()
    assert sorted(json.loads(r.body)["data"]["eventId"] for r in receiver.to("/batch")) == [
        f"evt_b{i}" for i in range(9)
    ]
