"""The detail keys hookstack reserves (functions.events.RESERVED_DETAIL_KEYS) never come from the
database: publish() refuses them, emit_events() refuses a table whose columns would produce them
(sql/005_reserved_detail_keys.sql). Only a redrive sets detail.hookstackRedrive."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from functions.events import REDRIVE_MARKER_KEY, RESERVED_DETAIL_KEYS
from functions.migrate import apply_migrations, read_migrations
from tests.sql.conftest import REGION, RELAY_ARN, SQL_DIR, install_double
from tests.sql.test_migrations import NoticedDatabase


def test_the_sql_side_reserves_the_same_keys_as_the_python_side(connect):
    connection = connect(autocommit=True)
    [row] = connection.execute("SELECT hookstack.reserved_detail_keys() AS keys").fetchall()
    assert tuple(row["keys"]) == RESERVED_DETAIL_KEYS


@pytest.mark.parametrize("key", [k for k in RESERVED_DETAIL_KEYS if k != "tenantId"])
def test_publish_refuses_a_reserved_key(connect, key):
    connection = connect(autocommit=True)
    with pytest.raises(
        psycopg.errors.InvalidParameterValue, match=rf'detail must not contain "{key}" \(hookstack reserves'
    ):
        connection.execute(
            "SELECT hookstack.publish('order.created', 'acme', jsonb_build_object(%s::text, 'crm'))", (key,)
        )
    with pytest.raises(psycopg.errors.InvalidParameterValue, match=rf'must not contain "{key}"'):
        connection.execute("SELECT hookstack.publish('order.created', 7, jsonb_build_object(%s::text, 'crm'))", (key,))
    assert connection.execute("SELECT count(*) AS n FROM hookstack.outbox").fetchone()["n"] == 0


@pytest.mark.parametrize(
    ("columns", "arguments", "clash"),
    [
        ("hookstack_redrive text", "", f"hookstack_redrive (detail.{REDRIVE_MARKER_KEY})"),
        ("event_id text", "", "event_id (detail.eventId)"),
        ("target text", ', \'{"target": "hookstackRedrive"}\'', "target (detail.hookstackRedrive)"),
        ('"tenantId" text', "", '"tenantId" (detail.tenantId)'),
    ],
)
def test_emit_events_refuses_columns_that_would_become_a_reserved_key(connect, columns, arguments, clash):
    connection = connect(autocommit=True)
    connection.execute(f"CREATE TABLE public.orders (order_id int, tenant_id text NOT NULL, {columns})")
    with pytest.raises(
        psycopg.errors.InvalidParameterValue, match="would become detail keys hookstack reserves"
    ) as refused:
        connection.execute(f"SELECT hookstack.emit_events('public.orders', 'order', 'tenant_id'{arguments})")
    assert str(refused.value).splitlines()[0].endswith(f": {clash}")
    assert refused.value.diag.message_hint == "Leave them out with exclude_columns or rename them with key_map."
    assert (
        connection.execute("SELECT count(*) AS n FROM pg_trigger WHERE tgrelid = 'public.orders'::regclass").fetchone()[
            "n"
        ]
        == 0
    )


def test_excluded_or_renamed_columns_are_accepted_and_never_carry_the_key(connect):
    connection = connect(autocommit=True)
    connection.execute(
        "CREATE TABLE public.orders (order_id int, tenant_id text NOT NULL, hookstack_redrive text, event_id text)"
    )
    connection.execute(
        "SELECT hookstack.emit_events('public.orders', 'order', 'tenant_id', '{\"event_id\": \"sourceEventId\"}', ARRAY['hookstack_redrive'])"
    )
    connection.execute("INSERT INTO public.orders VALUES (1, 'acme', 'crm', 'e-1')")
    connection.execute("UPDATE public.orders SET hookstack_redrive = 'audit', event_id = 'e-2'")
    details = [
        r["detail"] for r in connection.execute("SELECT detail FROM hookstack.outbox ORDER BY created_at, event_id")
    ]
    assert details == [
        {"orderId": 1, "sourceEventId": "e-1"},
        {
            "orderId": 1,
            "sourceEventId": "e-2",
            "changedFields": ["sourceEventId"],
            "previous": {"sourceEventId": "e-1"},
        },
    ]


def test_a_reserved_column_added_later_fails_the_write_instead_of_publishing_it(connect, lambda_double):
    connection = connect(autocommit=True)
    connection.execute("CREATE TABLE public.orders (order_id int, tenant_id text NOT NULL)")
    connection.execute("SELECT hookstack.emit_events('public.orders', 'order')")
    connection.execute("ALTER TABLE public.orders ADD COLUMN hookstack_redrive text")

    with pytest.raises(psycopg.errors.InvalidParameterValue, match='must not contain "hookstackRedrive"'):
        connection.execute("INSERT INTO public.orders VALUES (1, 'acme', 'crm')")

    assert connection.execute("SELECT count(*) AS n FROM public.orders").fetchone()["n"] == 0
    assert connection.execute("SELECT count(*) AS n FROM hookstack.outbox").fetchone()["n"] == 0
    assert lambda_double.invocations(succeeded=None) == []


def test_upgrading_to_005_names_emitting_tables_with_a_reserved_column_and_keeps_direct_grantees_working(postgres_dsn):
    """A database at 004: one emitting table has a hookstack_redrive column (its events carried the
    marker), one role holds EXECUTE on emit_events directly instead of through hookstack_publisher."""
    install_double(postgres_dsn)
    migrations = read_migrations(SQL_DIR)
    relay = {"functionArn": RELAY_ARN, "region": REGION}
    database = NoticedDatabase(postgres_dsn)
    admin = psycopg.connect(postgres_dsn, autocommit=True)
    direct = f"direct_{uuid.uuid4().hex[:8]}"
    try:
        apply_migrations(database, [m for m in migrations if m.version <= "004"], relay)
        admin.execute("CREATE TABLE public.marked (id int, tenant_id text NOT NULL, hookstack_redrive text)")
        admin.execute("CREATE TABLE public.clean (id int, tenant_id text NOT NULL, hookstack_redrive text)")
        admin.execute("SELECT hookstack.emit_events('public.marked', 'marked')")
        admin.execute(
            "SELECT hookstack.emit_events('public.clean', 'clean', 'tenant_id', '{}', ARRAY['hookstack_redrive'])"
        )
        admin.execute("INSERT INTO public.marked VALUES (1, 'acme', 'crm')")
        assert admin.execute("SELECT detail FROM hookstack.outbox").fetchall() == [
            ({"id": 1, REDRIVE_MARKER_KEY: "crm"},)
        ], "before 005 a column published the marker"
        admin.execute(f"CREATE ROLE {direct} LOGIN")
        admin.execute(f"GRANT USAGE ON SCHEMA hookstack TO {direct}")
        admin.execute(
            "GRANT EXECUTE ON FUNCTION hookstack.emit_events(regclass, text, text, jsonb, text[]), hookstack.event_key(text, jsonb), hookstack.table_event(),"
            f" hookstack.publish(text, text, jsonb), hookstack.row_detail(jsonb, text, jsonb, text[]) TO {direct}"
        )
        admin.execute("CREATE TABLE public.mine (id int, tenant_id text NOT NULL)")
        admin.execute(f"ALTER TABLE public.mine OWNER TO {direct}")

        result = apply_migrations(database, migrations, relay)

        assert result["applied"] == [m.version for m in migrations if m.version > "004"]
        warnings = [message for severity, message in database.notices if severity == "WARNING"]
        assert warnings == [
            "hookstack: writes to public.marked now fail: its columns hookstack_redrive (detail.hookstackRedrive) would "
            "become detail keys hookstack reserves; run hookstack.emit_events again with these columns in "
            "exclude_columns or renamed in key_map"
        ]
        with pytest.raises(psycopg.errors.InvalidParameterValue, match='must not contain "hookstackRedrive"'):
            admin.execute("INSERT INTO public.marked VALUES (2, 'acme', 'crm')")
        admin.execute("INSERT INTO public.clean VALUES (2, 'acme', 'crm')")
        with psycopg.connect(make_conninfo(postgres_dsn, user=direct), autocommit=True) as app:
            app.execute("SELECT hookstack.emit_events('public.mine', 'mine')")
            app.execute("INSERT INTO public.mine VALUES (1, 'acme')")
        assert [
            r[0] for r in admin.execute("SELECT event_type FROM hookstack.outbox ORDER BY created_at, event_id")
        ] == [
            "marked.created",
            "clean.created",
            "mine.created",
        ]
    finally:
        admin.execute(f"DROP OWNED BY {direct}")
        admin.execute(f"DROP ROLE {direct}")
        admin.close()
        database.close()
