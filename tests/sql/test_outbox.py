"""The outbox in SQL on a real PostgreSQL: commit-time invocation, no phantom, no loss.

``lambda_double`` observes ``aws_lambda.invoke`` from its own connection: like the real Lambda API,
the double's record of a call is not undone by the caller's rollback, so "no invocation" below
really means the database never called out.
"""

from __future__ import annotations

import json

import psycopg
import pytest

from tests.sql.conftest import RELAY_ARN


def outbox_rows(connection) -> list[dict]:
    return list(connection.execute("SELECT * FROM hookstack.outbox ORDER BY created_at, event_id").fetchall())


def test_seed_call_create_widget_still_works(connect, lambda_double):
    connection = connect(autocommit=True)

    connection.execute("CALL create_widget(1, 'fooWidget')")

    widgets = connection.execute("SELECT tenantid, widget_name FROM widget").fetchall()
    assert widgets == [{"tenantid": 1, "widget_name": "fooWidget"}]
    [row] = outbox_rows(connection)
    assert row["event_type"] == "widget.created"
    assert row["tenant_id"] == "1"
    assert row["detail"]["widgetName"] == "fooWidget"
    assert row["detail"]["widgetId"] == 1
    assert set(row["detail"]) == {"widgetId", "widgetName", "creationDate"}
    [invocation] = lambda_double.invocations()
    assert invocation["function_name"] == RELAY_ARN
    assert invocation["region"] == "us-east-1"
    assert invocation["invocation_type"] == "Event"
    assert invocation["payload"] == {
        "eventId": row["event_id"],
        "txid": row["txid"],
        "tenantId": "1",
        "eventType": "widget.created",
    }


def test_commit_invokes_exactly_once_per_event_and_only_at_commit(connect, lambda_double):
    connection = connect()
    connection.execute("CALL create_widget(1, 'a')")
    connection.execute("SELECT hookstack.publish('invoice.paid', '1', '{\"amount\": 5}')")
    connection.execute("SELECT hookstack.publish('invoice.paid', 7, '{}')")  # integer tenant overload

    assert lambda_double.invocations(succeeded=None) == [], "nothing may be invoked before COMMIT"
    connection.commit()

    event_ids = [row["event_id"] for row in outbox_rows(connection)]
    assert len(event_ids) == 3
    assert sorted(lambda_double.invoked_event_ids()) == sorted(event_ids)


def test_rollback_invokes_nothing(connect, lambda_double):
    connection = connect()
    connection.execute("CALL create_widget(1, 'doomed')")
    connection.execute("SELECT hookstack.publish('invoice.paid', '1', '{}')")

    connection.rollback()

    assert lambda_double.invocations(succeeded=None) == []
    assert outbox_rows(connection) == []


def test_rollback_after_a_failed_statement_invokes_nothing(connect, lambda_double):
    connection = connect()
    connection.execute("CALL create_widget(1, 'first')")
    with pytest.raises(psycopg.errors.ForeignKeyViolation):
        connection.execute("CALL create_widget(999, 'no such tenant')")
    connection.rollback()

    assert lambda_double.invocations(succeeded=None) == []
    assert connection.execute("SELECT count(*) AS n FROM widget").fetchone()["n"] == 0


def test_savepoint_rollback_invokes_only_the_surviving_events(connect, lambda_double):
    connection = connect()
    kept_before = connection.execute("SELECT hookstack.publish('t.kept', '1', '{}') AS id").fetchone()["id"]
    connection.execute("SAVEPOINT inner_work")
    dropped = connection.execute("SELECT hookstack.publish('t.dropped', '1', '{}') AS id").fetchone()["id"]
    connection.execute("CALL create_widget(1, 'dropped too')")
    connection.execute("ROLLBACK TO SAVEPOINT inner_work")
    kept_after = connection.execute("SELECT hookstack.publish('t.kept', '1', '{}') AS id").fetchone()["id"]
    connection.commit()

    assert sorted(lambda_double.invoked_event_ids()) == sorted([kept_before, kept_after])
    assert dropped not in {row["event_id"] for row in outbox_rows(connection)}


def test_released_savepoint_events_are_invoked(connect, lambda_double):
    connection = connect()
    connection.execute("SAVEPOINT s")
    event_id = connection.execute("SELECT hookstack.publish('t.kept', '1', '{}') AS id").fetchone()["id"]
    connection.execute("RELEASE SAVEPOINT s")
    connection.commit()

    assert lambda_double.invoked_event_ids() == [event_id]


def test_a_commit_that_fails_after_the_trigger_ran_leaves_only_an_invisible_row(connect, lambda_double):
    """The invoke cannot be undone; the relay must find the transaction aborted (no phantom)."""
    setup = connect(autocommit=True)
    setup.execute("CREATE TABLE late_check (k int, CONSTRAINT late_unique UNIQUE (k) DEFERRABLE INITIALLY DEFERRED)")
    connection = connect()
    event_id = connection.execute("SELECT hookstack.publish('t.phantom', '1', '{}') AS id").fetchone()["id"]
    connection.execute("INSERT INTO late_check VALUES (1), (1)")  # checked at commit, after the outbox trigger

    with pytest.raises(psycopg.errors.UniqueViolation):
        connection.commit()

    [invocation] = lambda_double.invocations()
    assert invocation["payload"]["eventId"] == event_id
    claim = setup.execute(
        "SELECT status FROM hookstack.claim_event(%s, %s, 60)", (event_id, invocation["payload"]["txid"])
    ).fetchone()
    assert claim["status"] == "rolled_back"
    assert outbox_rows(setup) == []


def test_a_failing_invoke_does_not_fail_the_write(connect, lambda_double):
    lambda_double.fail_all()
    connection = connect(autocommit=True)

    connection.execute("CALL create_widget(1, 'still saved')")

    [row] = outbox_rows(connection)
    assert row["published_at"] is None
    assert "relay invoke failed" in row["last_error"]
    [failed] = lambda_double.invocations(succeeded=False)
    assert failed["payload"]["eventId"] == row["event_id"]
    assert lambda_double.invocations() == []
    assert connection.execute("SELECT count(*) AS n FROM widget").fetchone()["n"] == 1


def test_one_failing_invoke_does_not_stop_the_others_in_the_same_commit(connect, lambda_double):
    lambda_double.fail_next(1)
    connection = connect()
    ids = [connection.execute("SELECT hookstack.publish('t.x', '1', '{}') AS id").fetchone()["id"] for _ in range(3)]
    connection.commit()

    assert len(lambda_double.invocations(succeeded=False)) == 1
    assert len(lambda_double.invocations()) == 2
    assert {r["payload"]["eventId"] for r in lambda_double.invocations(succeeded=None)} == set(ids)


def test_without_a_relay_target_nothing_is_invoked_and_rows_wait(connect, lambda_double):
    connection = connect(autocommit=True)
    connection.execute("DELETE FROM hookstack.relay_target")

    connection.execute("CALL create_widget(1, 'later')")

    assert lambda_double.invocations(succeeded=None) == []
    assert len(outbox_rows(connection)) == 1


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (("", "1", "{}"), "event_type must be 1-128 printable characters"),
        (("x" * 129, "1", "{}"), "event_type must be 1-128 printable characters"),
        (("bad\ntype", "1", "{}"), "event_type must be 1-128 printable characters"),
        (("t.x", None, "{}"), "tenant_id must be 1-64 characters"),
        (("t.x", "has space", "{}"), "tenant_id must be 1-64 characters"),
        (("t.x", "1", "[1, 2]"), "detail must be a JSON object; got array"),
        (("t.x", "1", '{"eventId": "mine"}'), 'must not contain "eventId"'),
        (("t.x", "1", '{"tenantId": "2"}'), "differs from tenant_id"),
    ],
)
def test_publish_rejects_bad_input_naming_it(connect, arguments, message):
    connection = connect(autocommit=True)
    with pytest.raises(psycopg.errors.InvalidParameterValue, match=message):
        connection.execute("SELECT hookstack.publish(%s, %s::text, %s::jsonb)", arguments)


def test_publish_accepts_a_matching_tenant_id_in_detail(connect):
    connection = connect(autocommit=True)
    connection.execute("""SELECT hookstack.publish('t.x', '2', '{"tenantId": "2"}')""")
    assert len(outbox_rows(connection)) == 1


def test_publish_refuses_a_detail_too_large_for_eventbridge(connect):
    connection = connect(autocommit=True)
    limit = connection.execute("SELECT hookstack.max_detail_bytes() AS n").fetchone()["n"]
    assert limit < 256 * 1024
    big = json.dumps({"blob": "x" * limit})
    with pytest.raises(psycopg.errors.ProgramLimitExceeded, match="at most 240000"):
        connection.execute("SELECT hookstack.publish('t.x', '1', %s::jsonb)", (big,))
    ok = json.dumps({"blob": "x" * (limit - 20)})
    connection.execute("SELECT hookstack.publish('t.x', '1', %s::jsonb)", (ok,))


def test_publish_refuses_a_fraction_too_large_for_a_json_number(connect):
    # The relay reads detail with Python's json: a fraction past the double range becomes inf and
    # then "Infinity", which is not JSON: PutEvents would refuse the event on every retry.
    connection = connect(autocommit=True)
    huge = "1" + "0" * 400
    with pytest.raises(psycopg.errors.InvalidParameterValue, match=r"detail has a number .*outside the range"):
        connection.execute(f"""SELECT hookstack.publish('t.x', '1', '{{"a": {{"b": [{huge}.5]}}}}')""")
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="outside the range"):
        connection.execute(f"""SELECT hookstack.publish('t.x', '1', '{{"n": -{huge}.5}}')""")
    # Whole numbers stay exact (Python reads them as int), and ordinary fractions pass.
    connection.execute(f"""SELECT hookstack.publish('t.x', '1', '{{"n": {huge}, "f": 1.5e300, "g": -0.25}}')""")
    [row] = outbox_rows(connection)
    assert json.loads(json.dumps(row["detail"]))["n"] == int(huge)


# -- any table can emit events ----------------------------------------------------------------


@pytest.fixture
def orders(connect):
    connection = connect(autocommit=True)
    connection.execute(
        "CREATE TABLE orders (order_id serial PRIMARY KEY, tenant_id text NOT NULL, total_cents int,"
        " card_number text, note text)"
    )
    connection.execute(
        "SELECT hookstack.emit_events('orders', 'order', 'tenant_id', '{\"note\": \"comment\"}', ARRAY['card_number'])"
    )
    return connection


def test_emit_events_publishes_created_updated_deleted(orders, lambda_double):
    orders.execute("INSERT INTO orders (tenant_id, total_cents, card_number, note) VALUES ('acme', 100, '4111', 'hi')")
    orders.execute("UPDATE orders SET total_cents = 250")
    orders.execute("DELETE FROM orders")

    rows = outbox_rows(orders)
    assert [r["event_type"] for r in rows] == ["order.created", "order.updated", "order.deleted"]
    assert {r["tenant_id"] for r in rows} == {"acme"}
    created, updated, deleted = (r["detail"] for r in rows)
    assert created == {"orderId": 1, "totalCents": 100, "comment": "hi"}
    assert updated == {
        "orderId": 1,
        "totalCents": 250,
        "comment": "hi",
        "changedFields": ["totalCents"],
        "previous": {"totalCents": 100},
    }
    assert deleted == {"orderId": 1, "totalCents": 250, "comment": "hi"}
    assert all("4111" not in json.dumps(r["detail"]) for r in rows), "excluded columns never leave the database"
    assert len(lambda_double.invocations()) == 3


def test_updates_that_change_nothing_visible_publish_nothing(orders):
    orders.execute("INSERT INTO orders (tenant_id, total_cents, card_number) VALUES ('acme', 100, '4111')")
    orders.execute("UPDATE orders SET total_cents = 100")
    orders.execute("UPDATE orders SET card_number = '5500'")

    assert [r["event_type"] for r in outbox_rows(orders)] == ["order.created"]


def test_rows_without_a_tenant_are_refused(orders):
    orders.execute("ALTER TABLE orders ALTER COLUMN tenant_id DROP NOT NULL")
    with pytest.raises(psycopg.errors.NotNullViolation, match="no tenant in column tenant_id"):
        orders.execute("INSERT INTO orders (total_cents) VALUES (1)")


def test_stop_events_detaches_the_trigger(orders):
    orders.execute("SELECT hookstack.stop_events('orders')")
    orders.execute("INSERT INTO orders (tenant_id, total_cents) VALUES ('acme', 1)")
    assert outbox_rows(orders) == []


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (
            "SELECT hookstack.emit_events('orders', 'order', 'tenant')",
            psycopg.errors.UndefinedColumn,
            "no column 'tenant'",
        ),
        (
            "SELECT hookstack.emit_events('orders', 'order', 'tenant_id', '{}', ARRAY['nope'])",
            psycopg.errors.UndefinedColumn,
            "no column 'nope'",
        ),
        (
            "SELECT hookstack.emit_events('orders', 'bad prefix!', 'tenant_id')",
            psycopg.errors.InvalidParameterValue,
            "event_prefix",
        ),
        (
            "SELECT hookstack.emit_events('orders', 'order', 'tenant_id', '[]')",
            psycopg.errors.InvalidParameterValue,
            "key_map",
        ),
    ],
)
def test_emit_events_rejects_bad_arguments(orders, call, error, message):
    with pytest.raises(error, match=message):
        orders.execute(call)


def test_configure_relay_validates_its_input(connect):
    connection = connect(autocommit=True)
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="unqualified Lambda function ARN"):
        connection.execute(
            "SELECT hookstack.configure_relay('arn:aws:lambda:us-east-1:1:function:x:prod', 'us-east-1')"
        )
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="region"):
        connection.execute(f"SELECT hookstack.configure_relay('{RELAY_ARN}', 'nowhere')")


def test_an_application_role_publishes_and_emits_events_through_hookstack_publisher_only(
    aurora_dsn, connect, lambda_double
):
    """The privilege model (migration 004): a role writing to a table that emits events, or calling
    publish, needs the group role hookstack_publisher; never privileges on the outbox, on
    aws_lambda or on the relay's functions."""
    from psycopg.conninfo import make_conninfo

    admin = connect(autocommit=True)
    role = "app_" + aurora_dsn.rsplit("/", 1)[-1][-8:]
    admin.execute(f"CREATE ROLE {role} LOGIN")
    admin.execute(f"GRANT INSERT, SELECT ON widget TO {role}")
    try:
        with psycopg.connect(make_conninfo(aurora_dsn, user=role), autocommit=True) as app:
            with pytest.raises(
                psycopg.errors.InsufficientPrivilege, match=r"writes to public\.widget publish events"
            ) as refused:
                app.execute("CALL create_widget(1, 'not yet')")
            assert refused.value.diag.message_hint == f"GRANT hookstack_publisher TO {role};"
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="schema hookstack"):
                app.execute("SELECT hookstack.publish('t.x', '1', '{}')")

            admin.execute(f"GRANT hookstack_publisher TO {role}")
            app.execute("CALL create_widget(1, 'from the app')")
            app.execute("SELECT hookstack.publish('t.x', '1', '{}')")
            for forbidden in (
                "SELECT count(*) FROM hookstack.outbox",
                "SELECT hookstack.claim_event('evt_x', 1, 60)",
                "SELECT hookstack.configure_relay('arn:aws:lambda:us-east-1:123456789012:function:mine', 'us-east-1')",
                "SELECT aws_lambda.invoke('x', '{}'::json)",
            ):
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    app.execute(forbidden)
        assert sorted(i["payload"]["eventType"] for i in lambda_double.invocations()) == ["t.x", "widget.created"]
        assert len(outbox_rows(admin)) == 2
    finally:
        admin.execute(f"DROP OWNED BY {role}")
        admin.execute(f"DROP ROLE {role}")
