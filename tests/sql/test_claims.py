"""The relay's and the sweeper's claims on outbox rows (hookstack.claim_event / claim_due / ...),
through :class:`functions.outbox.Outbox` on psycopg: the same statements the Data API runs."""

from __future__ import annotations

import pytest

from functions.outbox import Outbox, PsycopgDatabase


@pytest.fixture
def outbox(aurora_dsn):
    database = PsycopgDatabase(aurora_dsn)
    yield Outbox(database)
    database.close()


def publish(connection, event_type: str = "t.x", tenant: str = "1", detail: str = "{}") -> tuple[str, int]:
    event_id = connection.execute(
        "SELECT hookstack.publish(%s, %s, %s::jsonb) AS id", (event_type, tenant, detail)
    ).fetchone()["id"]
    row = connection.execute("SELECT txid FROM hookstack.outbox WHERE event_id = %s", (event_id,)).fetchone()
    return event_id, row["txid"]


def age_rows(connection, seconds: int) -> None:
    connection.execute("UPDATE hookstack.outbox SET created_at = created_at - make_interval(secs => %s)", (seconds,))


def test_claim_hands_out_a_committed_row_once_then_reports_it(connect, outbox):
    writer = connect(autocommit=True)
    event_id, txid = publish(writer, "invoice.paid", "acme", '{"amount": 5}')

    first = outbox.claim(event_id, txid, 60)
    second = outbox.claim(event_id, txid, 60)
    outbox.mark_published([event_id])
    third = outbox.claim(event_id, txid, 60)

    assert first.status == "claimed"
    assert first.row is not None
    assert (first.row.event_id, first.row.tenant_id, first.row.event_type) == (event_id, "acme", "invoice.paid")
    assert first.row.detail == {"amount": 5}
    assert first.row.created_at is not None and first.row.created_at.tzinfo is not None
    assert first.row.attempts == 1
    assert second.status == "leased"
    assert third.status == "published"


def test_claim_reports_pending_while_the_writer_is_still_in_its_transaction(connect, outbox):
    writer = connect()
    event_id, txid = publish(writer)

    assert outbox.claim(event_id, txid, 60).status == "pending"
    writer.commit()
    assert outbox.claim(event_id, txid, 60).status == "claimed"


def test_claim_reports_rolled_back_for_an_aborted_writer(connect, outbox):
    writer = connect()
    event_id, txid = publish(writer)
    writer.rollback()

    assert outbox.claim(event_id, txid, 60).status == "rolled_back"


def test_claim_reports_missing_for_rows_that_are_gone(connect, outbox):
    writer = connect(autocommit=True)
    event_id, txid = publish(writer)
    writer.execute("DELETE FROM hookstack.outbox")

    assert outbox.claim(event_id, txid, 60).status == "missing"
    assert outbox.claim("evt_" + "0" * 32, 2**40, 60).status == "missing", "a txid PostgreSQL never issued"


def test_claim_due_waits_for_the_grace_period(connect, outbox):
    writer = connect(autocommit=True)
    publish(writer)

    assert outbox.claim_due(grace_seconds=60, lease_seconds=300, limit=10) == []
    age_rows(writer, 61)
    assert len(outbox.claim_due(grace_seconds=60, lease_seconds=300, limit=10)) == 1


def test_claim_due_skips_rows_another_worker_holds(connect, outbox):
    writer = connect(autocommit=True)
    ids = [publish(writer)[0] for _ in range(5)]
    age_rows(writer, 120)

    first = outbox.claim_due(60, 300, limit=3)
    second = outbox.claim_due(60, 300, limit=10)
    third = outbox.claim_due(60, 300, limit=10)

    assert len(first) == 3
    assert len(second) == 2
    assert third == []
    assert sorted(r.event_id for r in first + second) == sorted(ids)


def test_claim_due_skips_rows_locked_by_a_concurrent_claim(connect, outbox):
    writer = connect(autocommit=True)
    ids = [publish(writer)[0] for _ in range(2)]
    age_rows(writer, 120)
    holder = connect()
    holder.execute("SELECT 1 FROM hookstack.outbox WHERE event_id = %s FOR UPDATE", (ids[0],))

    claimed = outbox.claim_due(60, 300, limit=10)

    assert [r.event_id for r in claimed] == [ids[1]], "SKIP LOCKED: no waiting, no double claim"
    holder.rollback()


def test_release_backs_off_and_keeps_the_reason(connect, outbox):
    writer = connect(autocommit=True)
    event_id, txid = publish(writer)
    age_rows(writer, 120)
    [row] = outbox.claim_due(60, 300, 10)

    assert outbox.release([row.event_id], "PutEvents ThrottlingException: slow down") == 1
    state = writer.execute(
        "SELECT last_error, not_before - now() AS wait, published_at FROM hookstack.outbox"
    ).fetchone()
    assert state["last_error"] == "PutEvents ThrottlingException: slow down"
    assert 25 <= state["wait"].total_seconds() <= 30
    assert state["published_at"] is None
    assert outbox.claim_due(60, 300, 10) == [], "backing off"
    assert outbox.claim(event_id, txid, 60).status == "leased"
    writer.execute("UPDATE hookstack.outbox SET not_before = now() - interval '1 second'")
    [again] = outbox.claim_due(60, 300, 10)
    assert again.attempts == 2


def test_retry_delay_doubles_up_to_fifteen_minutes(connect):
    connection = connect(autocommit=True)
    delays = [
        connection.execute("SELECT extract(epoch FROM hookstack.retry_delay(%s)) AS s", (n,)).fetchone()["s"]
        for n in (1, 2, 3, 5, 6, 50, 10_000)
    ]
    assert [float(d) for d in delays] == [30, 60, 120, 480, 900, 900, 900]


def test_mark_published_only_counts_rows_not_yet_published(connect, outbox):
    writer = connect(autocommit=True)
    event_id, _ = publish(writer)

    assert outbox.mark_published([event_id, "evt_" + "f" * 32]) == 1
    assert outbox.mark_published([event_id]) == 0
    assert outbox.release([event_id], "late failure") == 0, "a published row is never re-opened"


def test_purge_deletes_only_old_published_rows(connect, outbox):
    writer = connect(autocommit=True)
    old_published, _ = publish(writer)
    recent_published, _ = publish(writer)
    old_unpublished, _ = publish(writer)
    outbox.mark_published([old_published, recent_published])
    writer.execute(
        "UPDATE hookstack.outbox SET published_at = now() - interval '8 days', created_at = now() - interval '8 days'"
        " WHERE event_id = %s",
        (old_published,),
    )
    writer.execute(
        "UPDATE hookstack.outbox SET created_at = now() - interval '30 days' WHERE event_id = %s", (old_unpublished,)
    )

    assert outbox.purge(retention_days=7) == 1
    left = {r["event_id"] for r in writer.execute("SELECT event_id FROM hookstack.outbox").fetchall()}
    assert left == {recent_published, old_unpublished}


def test_backlog_counts_unpublished_and_failing_rows(connect, outbox):
    writer = connect(autocommit=True)
    first, _ = publish(writer)
    publish(writer)
    age_rows(writer, 100)
    outbox.release([first], "boom")

    backlog = outbox.backlog()

    assert backlog.unpublished == 2
    assert backlog.failing == 1
    assert 100 <= backlog.oldest_seconds < 200
