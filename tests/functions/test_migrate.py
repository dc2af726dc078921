"""The migration function's pure parts: the statement splitter (on every sql/ file), the
migration files, the invocation input it accepts."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from functions import migrate
from functions.migrate import Migration, read_migrations, split_statements
from functions.outbox import DataApiDatabase

SQL_DIR = Path(__file__).resolve().parents[2] / "sql"


def test_split_keeps_semicolons_inside_quotes_bodies_and_comments():
    script = """
    -- leading comment; with a semicolon
    CREATE TABLE a (x text DEFAULT 'semi;colon', "odd;name" int);
    /* block; /* nested; */ still comment; */
    CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$ BEGIN RETURN 1; END $$;
    CREATE FUNCTION g() RETURNS text LANGUAGE sql AS $body$ SELECT 'a;b' $body$;
    SELECT E'it\\'s; fine', 'it''s; fine';
    SELECT $1;
    DO $x$ BEGIN PERFORM 1; END $x$
    """
    statements = split_statements(script)
    assert [s.split()[0] + " " + s.split()[1] for s in statements] == [
        "CREATE TABLE",
        "CREATE FUNCTION",
        "CREATE FUNCTION",
        "SELECT E'it\\'s;",
        "SELECT $1",
        "DO $x$",
    ]
    assert statements[0] == "CREATE TABLE a (x text DEFAULT 'semi;colon', \"odd;name\" int)"
    assert statements[1].endswith("END $$")


def test_split_skips_empty_and_comment_only_statements():
    assert split_statements(";;\n-- nothing\n;/* still nothing */;") == []


@pytest.mark.parametrize(
    ("script", "message"),
    [
        ("SELECT 'open", "unterminated string starting on line 1"),
        ("SELECT 1;\nSELECT $$ open", r"unterminated \$\$ body starting on line 2"),
        ("/* open", "unterminated /\\* comment"),
        ('SELECT "open', "unterminated quoted identifier"),
    ],
)
def test_split_reports_unterminated_input(script, message):
    with pytest.raises(ValueError, match=message):
        split_statements(script)


def test_dollar_signs_inside_identifiers_are_not_quotes():
    assert split_statements("SELECT 1 AS a$b; SELECT 2") == ["SELECT 1 AS a$b", "SELECT 2"]


def expected_statement_count(sql: str) -> int:
    """Top-level statements counted independently: a line ending in ';' outside any $$ body."""
    count, in_body = 0, False
    for line in sql.splitlines():
        stripped = line.split("--", 1)[0].rstrip()
        in_body ^= stripped.count("$$") % 2 == 1
        if not in_body and stripped.endswith(";"):
            count += 1
    return count


@pytest.mark.parametrize(
    "path", sorted(SQL_DIR.glob("*.sql")) + sorted((SQL_DIR / "local").glob("*.sql")), ids=lambda p: p.name
)
def test_every_sql_file_splits_into_its_statements(path):
    sql = path.read_text()
    statements = split_statements(sql)

    assert len(statements) == expected_statement_count(sql)
    for statement in statements:
        assert not statement.endswith(";")
        assert statement.count("$$") % 2 == 0, statement[:120]
        assert re.match(r"^(CREATE|DO|SELECT|INSERT|ALTER|GRANT|REVOKE)\b", statement), statement[:120]


def test_read_migrations_orders_by_version_and_ignores_other_files(tmp_path):
    (tmp_path / "002_second.sql").write_text("SELECT 2")
    (tmp_path / "001_first.sql").write_text("SELECT 1")
    (tmp_path / "notes.sql").write_text("SELECT 0")
    (tmp_path / "local").mkdir()
    (tmp_path / "local" / "003_double.sql").write_text("SELECT 3")

    assert [(m.version, m.name) for m in read_migrations(tmp_path)] == [("001", "first"), ("002", "second")]


@pytest.mark.parametrize("name", ["7_fix.sql", "0007_fix.sql", "007-fix.sql", "007_Fix.sql", "007_fix.SQL", "007_.sql"])
def test_read_migrations_refuses_a_misnamed_migration_instead_of_skipping_it(tmp_path, name):
    # A file that looks like a migration (starts with a digit) but misses the rule would never run,
    # and the deploy would report success.
    (tmp_path / "001_first.sql").write_text("SELECT 1")
    (tmp_path / name).write_text("SELECT 2")
    with pytest.raises(migrate.MigrationError, match=rf"{re.escape(name)}.*NNN_name\.sql"):
        read_migrations(tmp_path)


def test_read_migrations_takes_only_ascii_digits_as_a_version(tmp_path):
    (tmp_path / "\u0660\u0660\u0661_first.sql").write_text("SELECT 1")  # Arabic-Indic 001
    with pytest.raises(migrate.MigrationError, match="NNN_name"):
        read_migrations(tmp_path)


def test_read_migrations_refuses_two_files_with_one_version(tmp_path):
    (tmp_path / "001_a.sql").write_text("SELECT 1")
    (tmp_path / "001_b.sql").write_text("SELECT 1")
    with pytest.raises(migrate.MigrationError, match="two migrations have version 001"):
        read_migrations(tmp_path)


def test_the_digest_changes_with_any_file():
    migrations = read_migrations(SQL_DIR)
    edited = [*migrations[:-1], Migration(migrations[-1].version, migrations[-1].name, migrations[-1].sql + " ")]
    assert migrate.migrations_digest(migrations) != migrate.migrations_digest(edited)
    assert migrate.migrations_digest(migrations) == migrate.migrations_digest(read_migrations(SQL_DIR))


def test_parse_event_accepts_what_the_program_sends():
    migrations = read_migrations(SQL_DIR)
    event = {
        "migrations": [m.payload() for m in migrations],
        "relay": {"functionArn": "arn:aws:lambda:us-east-1:123456789012:function:r", "region": "us-east-1"},
    }
    parsed, relay = migrate.parse_event(event)
    assert parsed == migrations
    assert relay == event["relay"]


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({}, "'migrations' list"),
        ({"migrations": [{"version": "001"}]}, r"migrations\[0\] must have string version"),
        (
            {"migrations": [{"version": "1", "name": "a", "sql": "x", "checksum": Migration("1", "a", "x").checksum}]},
            "three digits",
        ),
        ({"migrations": [Migration("001\n", "a", "x").payload()]}, "three digits"),  # "$" takes a newline
        ({"migrations": [Migration("\u0660\u0660\u0661", "a", "x").payload()]}, "three digits"),  # not 0-9
        ({"migrations": [Migration("001", "A b", "x").payload()]}, r"name must be"),
        (
            {"migrations": [{"version": "001", "name": "a", "sql": "SELECT", "checksum": "0" * 64}]},
            "does not match its checksum",
        ),
        (
            {"migrations": [Migration("002", "b", "x").payload(), Migration("001", "a", "x").payload()]},
            "unique and in order",
        ),
        ({"migrations": [], "relay": {"functionArn": 1}}, "relay must be an object"),
    ],
)
def test_parse_event_rejects_bad_input(event, message):
    with pytest.raises(ValueError, match=message):
        migrate.parse_event(event)


class FakeDataApi:
    """The RDS Data API as the migrator uses it: a transaction is one server session, so a
    ``SET LOCAL`` holds for the calls that carry its ``transactionId`` and ends with it; a call
    without one runs on any pooled connection (``honours_set_local=False``: a server where the
    setting does not hold, which the migrator must notice)."""

    def __init__(self, honours_set_local: bool = True) -> None:
        self.honours_set_local = honours_set_local
        self.calls: list[tuple[str | None, str]] = []
        self.path: dict[str, str] = {}
        self.ended: list[tuple[str, str]] = []

    def begin_transaction(self, **_: object) -> dict[str, str]:
        transaction_id = f"tx{len(self.ended) + len(self.path) + 1}"
        self.path[transaction_id] = '"$user", public'
        return {"transactionId": transaction_id}

    def execute_statement(self, *, sql: str, transactionId: str | None = None, **_: object) -> dict[str, object]:
        self.calls.append((transactionId, sql))
        match = re.fullmatch(r"SET LOCAL search_path = (.+)", sql)
        if match and transactionId and self.honours_set_local:
            self.path[transactionId] = match.group(1)
        if "current_setting('search_path')" in sql:
            current = self.path[transactionId] if transactionId else '"$user", public'
            return {"formattedRecords": json.dumps([{"search_path": current}])}
        if "pg_namespace" in sql:
            return {"formattedRecords": json.dumps([{"owner": "master", "migrator": "master", "creators": ""}])}
        if "RETURNING version" in sql or "locked" in sql or "configured" in sql:
            return {"formattedRecords": json.dumps([{"x": True}])}
        return {}

    def commit_transaction(self, *, transactionId: str, **_: object) -> None:
        self.ended.append((transactionId, "commit"))
        del self.path[transactionId]

    def rollback_transaction(self, *, transactionId: str, **_: object) -> None:
        self.ended.append((transactionId, "rollback"))
        del self.path[transactionId]


def test_over_the_data_api_every_statement_runs_in_a_transaction_that_first_pins_search_path():
    client = FakeDataApi()
    database = DataApiDatabase(client, "arn:cluster", "arn:secret", "hookstack")
    migrations = [Migration("001", "a", "CREATE TABLE public.a (x int);\nSELECT 1"), Migration("002", "b", "SELECT 2")]

    result = migrate.apply_migrations(database, migrations, {"functionArn": "arn:relay", "region": "us-east-1"})

    assert result == {"applied": ["001", "002"], "skipped": []}
    transactions: dict[str | None, list[str]] = {}
    for transaction_id, sql in client.calls:
        transactions.setdefault(transaction_id, []).append(sql)
    assert None not in transactions, "a statement ran outside a transaction (on any pooled connection)"
    assert len(transactions) == 4  # bootstrap, 001, 002, configure_relay
    for statements in transactions.values():
        assert statements[0] == f"SET LOCAL search_path = {migrate.PINNED_SEARCH_PATH}"
        assert "current_setting('search_path')" in statements[1]
    assert [
        sql
        for sql in transactions["tx2"][2:]
        if not sql.startswith(("SELECT true AS locked", "SELECT checksum", "INSERT INTO"))
    ] == [
        "CREATE TABLE public.a (x int)",
        "SELECT 1",
    ]
    assert "hookstack.configure_relay" in transactions["tx4"][2]
    assert [outcome for _, outcome in client.ended] == ["commit"] * 4


def test_a_search_path_that_does_not_hold_stops_the_migrations_before_any_statement():
    client = FakeDataApi(honours_set_local=False)
    database = DataApiDatabase(client, "arn:cluster", "arn:secret", "hookstack")

    with pytest.raises(migrate.MigrationError, match=r"could not pin search_path to 'pg_catalog, pg_temp'"):
        migrate.apply_migrations(database, [Migration("001", "a", "CREATE TABLE public.a (x int)")])

    assert [sql.split()[0] for _, sql in client.calls] == ["SET", "SELECT"]
    assert client.ended == [("tx1", "rollback")]
