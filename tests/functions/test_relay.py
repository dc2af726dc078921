"""The relay and sweeper handlers: payload validation, what each claim status leads to, events on
a moto EventBridge bus, and import cost. The database side is a scripted fake here; the same
handlers run against PostgreSQL in tests/sql/test_delivery.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from functions import outbox as outbox_module
from functions import relay, sweeper
from functions.outbox import Claim, DatabaseSettings, OutboxRow
from functions.relay import EventTarget

ROOT = Path(__file__).resolve().parents[2]
# What hookstack.dispatch() sends (sql/002_outbox.sql), as recorded from the aws_lambda double.
PAYLOAD = json.loads((ROOT / "tests" / "events" / "aurora" / "relay_invocation.json").read_text())
EVENT_ID = PAYLOAD["eventId"]


def row(event_id: str = EVENT_ID, **detail: Any) -> OutboxRow:
    return OutboxRow(event_id, "1", "widget.created", detail or {"widgetName": "w"}, None, 1)


class FakeOutbox:
    """Answers claims from a script and records what the handler marks and releases."""

    def __init__(self, claims: list[Claim] | None = None, due: list[list[OutboxRow]] | None = None) -> None:
        self.claims = list(claims or [])
        self.due = list(due or [])
        self.published: list[str] = []
        self.released: list[tuple[list[str], str]] = []
        self.purged = 0

    def claim(self, event_id: str, txid: int, lease_seconds: int) -> Claim:
        return self.claims.pop(0)

    def claim_due(self, grace_seconds: int, lease_seconds: int, limit: int) -> list[OutboxRow]:
        return self.due.pop(0) if self.due else []

    def mark_published(self, event_ids: list[str]) -> int:
        self.published.extend(event_ids)
        return len(event_ids)

    def release(self, event_ids: list[str], error: str) -> int:
        self.released.append((list(event_ids), error))
        return len(event_ids)

    def purge(self, retention_days: int, limit: int = 10_000) -> int:
        self.purged += 1
        return 0

    def backlog(self) -> outbox_module.Backlog:
        return outbox_module.Backlog(0, 0.0, 0)


class Recorder:
    def __init__(self, fail_code: str | None = None) -> None:
        self.entries: list[dict[str, Any]] = []
        self.fail_code = fail_code

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.entries.extend(Entries)
        if self.fail_code:
            return {
                "FailedEntryCount": len(Entries),
                "Entries": [{"ErrorCode": self.fail_code, "ErrorMessage": "no"} for _ in Entries],
            }
        return {"FailedEntryCount": 0, "Entries": [{"EventId": "e"} for _ in Entries]}


def run_relay(fake: FakeOutbox, client: Any = None, **kwargs: Any) -> dict[str, Any]:
    return relay.relay(
        relay.parse_notification(PAYLOAD),
        outbox=fake,
        client=client or Recorder(),
        bus_name="bus",  # type: ignore[arg-type]
        source="hookstack.aurora",
        sleep=lambda _: None,
        **kwargs,
    )


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ([], "must be a JSON object"),
        ({"txid": 1}, "eventId must look like evt_"),
        ({"eventId": "evt_x", "txid": 1}, "eventId must look like evt_"),
        ({"eventId": EVENT_ID}, "txid must be a positive transaction id"),
        ({"eventId": EVENT_ID, "txid": True}, "txid must be a positive"),
        ({"eventId": EVENT_ID, "txid": -3}, "txid must be a positive"),
        ({"eventId": EVENT_ID, "txid": 2**63}, "txid must be a positive"),  # past PostgreSQL's bigint
        ({"eventId": EVENT_ID, "txid": str(2**63)}, "txid must be a positive"),
        ({"eventId": EVENT_ID, "txid": "\u00b2"}, "txid must be a positive"),  # str.isdigit, not int()
        ({"eventId": EVENT_ID, "txid": "\u0661\u0662"}, "txid must be a positive"),  # not ASCII digits
    ],
)
def test_bad_payloads_are_refused_naming_the_field(payload, message):
    with pytest.raises(ValueError, match=message):
        relay.parse_notification(payload)


def test_txid_may_arrive_as_a_string():
    assert relay.parse_notification({"eventId": EVENT_ID, "txid": "775"}).txid == 775


def test_a_claimed_row_is_published_with_the_contract_and_marked():
    fake = FakeOutbox([Claim("claimed", row(widgetName="fooWidget", widgetId=1))])
    client = Recorder()

    assert run_relay(fake, client) == {"status": "published", "eventId": EVENT_ID}

    [entry] = client.entries
    assert entry["Source"] == "hookstack.aurora"
    assert entry["DetailType"] == "widget.created"
    assert json.loads(entry["Detail"]) == {
        "widgetName": "fooWidget",
        "widgetId": 1,
        "tenantId": "1",
        "eventId": EVENT_ID,
    }
    assert fake.published == [EVENT_ID]


@pytest.mark.parametrize("status", ["published", "leased", "missing", "rolled_back"])
def test_rows_someone_else_handles_or_that_never_committed_publish_nothing(status):
    fake = FakeOutbox([Claim(status)])
    client = Recorder()
    assert run_relay(fake, client)["status"] == status
    assert client.entries == []
    assert fake.published == []


def test_a_pending_row_is_polled_until_it_commits():
    fake = FakeOutbox([Claim("pending"), Claim("pending"), Claim("claimed", row())])
    assert run_relay(fake)["status"] == "published"


def test_a_row_still_pending_after_the_wait_raises_for_a_lambda_retry():
    fake = FakeOutbox([Claim("pending")] * 50)
    with pytest.raises(relay.NotPublished, match="still in progress"):
        run_relay(fake, commit_wait_seconds=0.5)


def test_failed_entries_are_released_with_the_reason_and_raise():
    fake = FakeOutbox([Claim("claimed", row())])
    with pytest.raises(relay.NotPublished):
        run_relay(fake, Recorder(fail_code="AccessDeniedException"))
    assert fake.published == []
    assert fake.released == [([EVENT_ID], "PutEvents AccessDeniedException: no")]


def test_an_exception_from_put_events_releases_the_row():
    class Broken:
        def put_events(self, Entries):
            raise ConnectionError("network down")

    fake = FakeOutbox([Claim("claimed", row())])
    with pytest.raises(relay.NotPublished):
        run_relay(fake, Broken())
    assert fake.released == [([EVENT_ID], "PutEvents failed: ConnectionError: network down")]


@pytest.fixture
def handler_state(monkeypatch):
    """Fresh per-process state; the database is not connected (the outbox is a fake)."""
    monkeypatch.setenv("AURORA_DATABASE_DSN", "postgresql://unused")
    monkeypatch.setattr(DatabaseSettings, "connect", lambda self, clients: None)
    relay.reset()
    sweeper.reset()
    yield
    relay.reset()
    sweeper.reset()


def test_the_handler_publishes_to_the_configured_bus_under_moto(aws, monkeypatch, handler_state):
    import boto3

    events = boto3.client("events", region_name="us-east-1")
    events.create_event_bus(Name="entry")
    fake = FakeOutbox([Claim("claimed", row())])
    monkeypatch.setenv("EVENT_BUS_NAME", "entry")
    monkeypatch.setenv("AURORA_EVENT_SOURCE", "acme.aurora")
    monkeypatch.setattr(relay, "Outbox", lambda _database: fake)

    assert relay.handler(PAYLOAD) == {"status": "published", "eventId": EVENT_ID}
    assert fake.published == [EVENT_ID]


def test_the_handler_needs_the_bus_name(monkeypatch, handler_state):
    monkeypatch.delenv("EVENT_BUS_NAME", raising=False)
    with pytest.raises(RuntimeError, match="EVENT_BUS_NAME is required"):
        relay.handler(PAYLOAD)


def test_the_default_event_source_is_the_providers_plus_aurora(monkeypatch):
    monkeypatch.delenv("AURORA_EVENT_SOURCE", raising=False)
    assert EventTarget.from_environ({"EVENT_BUS_NAME": "bus"}).source == "hookstack.aurora"


# -- sweeper ------------------------------------------------------------------------------------


def test_the_sweeper_handler_takes_the_schedules_input(monkeypatch, handler_state):
    fake = FakeOutbox(due=[[row()]])
    monkeypatch.setenv("EVENT_BUS_NAME", "bus")
    settings = sweeper.SweeperSettings.from_environ(os.environ)
    sweeper._state.set(relay.Runtime(settings, fake, Recorder()))  # type: ignore[arg-type]
    scheduled = json.loads((ROOT / "tests" / "events" / "aurora" / "sweeper_schedule.json").read_text())

    assert sweeper.handler(scheduled)["published"] == 1


def test_the_sweeper_publishes_batches_until_none_is_due():
    batches = [[row("evt_" + "1" * 32), row("evt_" + "2" * 32)], [row("evt_" + "3" * 32)]]
    fake = FakeOutbox(due=batches)
    client = Recorder()

    summary = sweeper.sweep(fake, client=client, bus_name="bus", source="s")  # type: ignore[arg-type]

    assert summary["published"] == 3
    assert summary["batches"] == 2
    assert len(fake.published) == 3
    assert fake.purged == 1


def test_the_sweeper_stops_when_a_whole_batch_fails_and_raises():
    fake = FakeOutbox(due=[[row("evt_" + "1" * 32)], [row("evt_" + "2" * 32)]])
    with pytest.raises(sweeper.SweepFailed, match="1 outbox event"):
        sweeper.sweep(fake, client=Recorder(fail_code="AccessDeniedException"), bus_name="bus", source="s")  # type: ignore[arg-type]
    assert len(fake.due) == 1, "did not churn through the rest of the backlog"


def test_the_sweeper_stops_claiming_when_time_runs_out():
    fake = FakeOutbox(due=[[row()]])
    summary = sweeper.sweep(fake, client=Recorder(), bus_name="bus", source="s", remaining_seconds=lambda: 10.0)  # type: ignore[arg-type]
    assert summary["batches"] == 0
    assert len(fake.due) == 1


# -- cold start ---------------------------------------------------------------------------------


@pytest.mark.parametrize("module", ["functions.relay", "functions.sweeper", "functions.migrate"])
def test_handlers_import_neither_boto3_nor_psycopg_at_import_time(module):
    code = f"import sys, {module}; print(sorted(m for m in ('boto3', 'botocore', 'psycopg') if m in sys.modules))"
    output = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert output.strip() == "[]"
