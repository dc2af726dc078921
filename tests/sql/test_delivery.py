"""From a database write to an event on the bus: relay and sweeper handlers against a real
PostgreSQL (psycopg, ``AURORA_DATABASE_DSN``) and EventBridge under moto (a rule on the bus copies
every Aurora event to an SQS queue the test reads).

moto fidelity relied on: PutEvents with FailedEntryCount, rule pattern matching on ``source`` and
delivery to an SQS target (docs/sandbox.md, "Where moto differs from AWS").
"""

from __future__ import annotations

import json
from typing import Any

import psycopg
import pytest

from functions import relay, sweeper
from functions.outbox import Outbox, PsycopgDatabase

BUS = "hookstack-test"
SOURCE = "hookstack.aurora"


class Bus:
    """The entry bus and an SQS queue receiving every event its rule matches."""

    def __init__(self) -> None:
        import boto3

        self.events = boto3.client("events", region_name="us-east-1")
        self.sqs = boto3.client("sqs", region_name="us-east-1")
        self.events.create_event_bus(Name=BUS)
        self.queue_url = self.sqs.create_queue(QueueName="observed")["QueueUrl"]
        queue_arn = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        self.events.put_rule(Name="aurora-events", EventBusName=BUS, EventPattern=json.dumps({"source": [SOURCE]}))
        self.events.put_targets(Rule="aurora-events", EventBusName=BUS, Targets=[{"Id": "observe", "Arn": queue_arn}])

    def received(self) -> list[dict[str, Any]]:
        events = []
        while True:
            response = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10)
            messages = response.get("Messages", [])
            if not messages:
                return events
            for message in messages:
                events.append(json.loads(message["Body"]))
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])


class FailingEvents:
    """An EventBridge client whose PutEvents rejects every entry with ``code``."""

    def __init__(self, code: str = "AccessDeniedException") -> None:
        self.code = code
        self.calls = 0

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.calls += 1
        return {
            "FailedEntryCount": len(Entries),
            "Entries": [{"ErrorCode": self.code, "ErrorMessage": "denied"} for _ in Entries],
        }


@pytest.fixture
def bus(aws, aurora_dsn, monkeypatch) -> Bus:
    monkeypatch.setenv("AURORA_DATABASE_DSN", aurora_dsn)
    monkeypatch.setenv("EVENT_BUS_NAME", BUS)
    monkeypatch.setenv("AURORA_EVENT_SOURCE", SOURCE)
    monkeypatch.setenv("SWEEPER_GRACE_SECONDS", "0")
    relay.reset()
    sweeper.reset()
    yield Bus()
    relay.reset()
    sweeper.reset()


@pytest.fixture
def outbox(aurora_dsn):
    database = PsycopgDatabase(aurora_dsn)
    yield Outbox(database)
    database.close()


def published_at(connection, event_id: str):
    return connection.execute("SELECT published_at FROM hookstack.outbox WHERE event_id = %s", (event_id,)).fetchone()[
        "published_at"
    ]


def test_relay_puts_the_committed_widget_event_on_the_bus_once(bus, connect, lambda_double):
    writer = connect(autocommit=True)
    writer.execute("CALL create_widget(1, 'fooWidget')")
    [invocation] = lambda_double.invocations()

    first = relay.handler(invocation["payload"])
    duplicate = relay.handler(invocation["payload"])  # Lambda may deliver an async event twice

    [event] = bus.received()
    event_id = invocation["payload"]["eventId"]
    assert first == {"status": "published", "eventId": event_id}
    assert duplicate == {"status": "published", "eventId": event_id}
    assert event["source"] == "hookstack.aurora"
    assert event["detail-type"] == "widget.created"
    assert event["detail"]["tenantId"] == "1"
    assert event["detail"]["eventId"] == event_id
    assert event["detail"]["widgetName"] == "fooWidget"
    assert published_at(writer, event_id) is not None


def test_relay_publishes_nothing_for_a_commit_that_failed_after_the_trigger(bus, connect, lambda_double):
    setup = connect(autocommit=True)
    setup.execute("CREATE TABLE late_check (k int, CONSTRAINT late_unique UNIQUE (k) DEFERRABLE INITIALLY DEFERRED)")
    writer = connect()
    writer.execute("CALL create_widget(1, 'phantom')")
    writer.execute("INSERT INTO late_check VALUES (1), (1)")
    with pytest.raises(psycopg.errors.UniqueViolation):
        writer.commit()
    [invocation] = lambda_double.invocations()

    result = relay.handler(invocation["payload"])

    assert result["status"] == "rolled_back"
    assert bus.received() == []


def test_relay_waits_for_a_commit_still_in_progress(bus, connect, lambda_double, outbox):
    writer = connect()
    writer.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the trigger fires before COMMIT: the relay runs first
    writer.execute("CALL create_widget(1, 'racing')")
    [invocation] = lambda_double.invocations()
    notification = relay.parse_notification(invocation["payload"])
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        writer.commit()  # the writer's commit lands while the relay waits

    result = relay.relay(notification, outbox=outbox, client=bus.events, bus_name=BUS, source=SOURCE, sleep=sleep)

    assert result["status"] == "published"
    assert len(waits) == 1
    assert len(bus.received()) == 1


def test_relay_raises_when_the_writer_is_still_in_progress_after_waiting(bus, connect, lambda_double, outbox):
    writer = connect()
    writer.execute("SET CONSTRAINTS ALL IMMEDIATE")
    writer.execute("CALL create_widget(1, 'slow')")
    [invocation] = lambda_double.invocations()
    notification = relay.parse_notification(invocation["payload"])

    with pytest.raises(relay.NotPublished, match="still in progress"):
        relay.relay(
            notification,
            outbox=outbox,
            client=bus.events,
            bus_name=BUS,
            source=SOURCE,
            commit_wait_seconds=0.3,
            sleep=lambda _: None,
        )

    writer.commit()
    assert relay.handler(invocation["payload"])["status"] == "published", "Lambda's retry publishes it"
    assert len(bus.received()) == 1


def test_a_put_events_failure_keeps_the_row_and_the_sweeper_sends_it_later(bus, connect, lambda_double, outbox):
    writer = connect(autocommit=True)
    writer.execute("CALL create_widget(1, 'retry me')")
    [invocation] = lambda_double.invocations()
    notification = relay.parse_notification(invocation["payload"])

    with pytest.raises(relay.NotPublished):
        relay.relay(notification, outbox=outbox, client=FailingEvents(), bus_name=BUS, source=SOURCE)

    row = writer.execute("SELECT published_at, last_error FROM hookstack.outbox").fetchone()
    assert row["published_at"] is None
    assert "AccessDeniedException" in row["last_error"]
    assert sweeper.handler({})["published"] == 0, "backing off: the sweeper leaves it for now"
    writer.execute("UPDATE hookstack.outbox SET not_before = now() - interval '1 second'")

    summary = sweeper.handler({})

    assert summary["published"] == 1
    [event] = bus.received()
    assert event["detail"]["eventId"] == notification.event_id, "the same eventId as the relay would have sent"
    assert published_at(writer, notification.event_id) is not None


def test_the_sweeper_delivers_writes_whose_invoke_failed(bus, connect, lambda_double):
    lambda_double.fail_all()
    writer = connect(autocommit=True)
    writer.execute("CALL create_widget(1, 'a')")
    writer.execute("CALL create_widget(1, 'b')")
    assert lambda_double.invocations() == []

    summary = sweeper.handler({})

    assert summary["published"] == 2
    assert summary["unpublished"] == 0
    assert sorted(e["detail"]["widgetName"] for e in bus.received()) == ["a", "b"]
    assert sweeper.handler({})["published"] == 0, "published rows are not sent again"


def test_the_sweeper_leaves_recent_rows_to_the_relay(bus, connect, lambda_double, monkeypatch):
    monkeypatch.setenv("SWEEPER_GRACE_SECONDS", "60")
    writer = connect(autocommit=True)
    writer.execute("CALL create_widget(1, 'fresh')")

    assert sweeper.handler({})["published"] == 0
    assert bus.received() == []


def test_the_sweeper_raises_and_keeps_rows_it_could_not_publish(bus, connect, lambda_double, outbox):
    lambda_double.fail_all()
    writer = connect(autocommit=True)
    writer.execute("CALL create_widget(1, 'stuck')")

    with pytest.raises(sweeper.SweepFailed, match="1 outbox event"):
        sweeper.sweep(outbox, client=FailingEvents("ValidationException"), bus_name=BUS, source=SOURCE, grace_seconds=0)

    row = writer.execute("SELECT published_at, last_error, attempts FROM hookstack.outbox").fetchone()
    assert row["published_at"] is None
    assert row["attempts"] >= 1
    assert "ValidationException" in row["last_error"]


def test_a_crash_between_put_events_and_marking_resends_with_the_same_event_id(bus, connect, lambda_double):
    writer = connect(autocommit=True)
    writer.execute("CALL create_widget(1, 'twice')")
    [invocation] = lambda_double.invocations()
    relay.handler(invocation["payload"])
    # As if the relay died after PutEvents succeeded and before mark_published, its lease expired.
    writer.execute("UPDATE hookstack.outbox SET published_at = NULL, not_before = NULL")

    sweeper.handler({})

    events = bus.received()
    assert len(events) == 2, "at-least-once: a duplicate is possible..."
    assert {e["detail"]["eventId"] for e in events} == {invocation["payload"]["eventId"]}, "...with the same eventId"


@pytest.mark.parametrize("char", ["é", "中", "😀", "\x7f"], ids=["2-byte", "3-byte", "4-byte", "DEL"])
def test_publish_accepts_only_details_that_fit_once_json_escapes_them(bus, connect, outbox, char):
    # The relay's JSON escapes every non-ASCII character (\uXXXX, twice beyond U+FFFF): a detail
    # within the limit as UTF-8 can be two to three times larger on the bus. publish() measures
    # the escaped form, so what it accepts is published and what cannot be is refused at write time.
    writer = connect(autocommit=True)
    limit = writer.execute("SELECT hookstack.max_detail_bytes() AS n").fetchone()["n"]

    escaped = len(json.dumps(char)) - 2  # \uXXXX (6) or a surrogate pair (12)
    most = (limit - len('{"text": ""}')) // escaped  # as jsonb prints it, non-ASCII escaped
    with pytest.raises(psycopg.errors.ProgramLimitExceeded, match="at most 240000"):
        writer.execute(
            "SELECT hookstack.publish('t.big', '1', jsonb_build_object('text', repeat(%s, %s)))", (char, most + 1)
        )
    writer.execute("SELECT hookstack.publish('t.big', '1', jsonb_build_object('text', repeat(%s, %s)))", (char, most))

    sweeper.sweep(outbox, client=bus.events, bus_name=BUS, source=SOURCE, grace_seconds=0)

    [event] = bus.received()
    assert event["detail"]["text"] == char * most
    assert writer.execute("SELECT count(*) AS n FROM hookstack.outbox WHERE published_at IS NULL").fetchone()["n"] == 0


def test_rows_too_large_for_eventbridge_are_kept_and_reported(bus, connect, outbox):
    writer = connect(autocommit=True)
    # publish() refuses this (see above); a row written around it, as the owner, is kept and reported.
    writer.execute(
        "INSERT INTO hookstack.outbox (event_id, tenant_id, event_type, detail, txid) "
        "VALUES ('evt_' || md5('big'), '1', 't.big', jsonb_build_object('text', repeat('é', 60000)), 1)"
    )

    with pytest.raises(sweeper.SweepFailed):
        sweeper.sweep(outbox, client=bus.events, bus_name=BUS, source=SOURCE, grace_seconds=0)

    row = writer.execute("SELECT published_at, last_error FROM hookstack.outbox").fetchone()
    assert row["published_at"] is None
    assert "not publishable" in row["last_error"]
    assert bus.received() == []
