"""Versioned, idempotent schema migrations for the Aurora database, applied on every deploy.

The Pulumi program reads ``sql/NNN_name.sql`` (:func:`read_migrations`) and invokes this
function once per change of their content (``aws.lambda_.Invocation`` with a content hash in
``triggers``), passing the SQL in the input, since the deployment archive holds only
``functions/``::

    {"migrations": [{"version": "001", "name": "widgets", "sql": "...", "checksum": "<sha256 hex>"}],
     "relay": {"functionArn": "arn:aws:lambda:...", "region": "us-east-1"}}

Each migration not yet recorded in ``hookstack.schema_migrations`` runs in one transaction (under
an advisory lock, so two deploys cannot apply it twice), statement by statement: the Data API runs
one statement per call, so :func:`split_statements` splits the file, respecting quotes, dollar
quotes and comments. A recorded migration whose text changed is an error (add a new file
instead). Then ``hookstack.configure_relay`` points the outbox trigger at the relay.

Every transaction the migrator opens starts with ``SET LOCAL search_path = pg_catalog, pg_temp``
(:data:`PINNED_SEARCH_PATH`), checked before anything else runs. The migrations run as the master
user; with its default path (``"$user", public``) an operator or function another role created in
``public`` that matches a migration's arguments more exactly than the built-in (``=`` on
``(oid, regclass)``, ``(oid, regprocedure)``, ``(oid, integer)``) would run with the master's
rights. ``SET LOCAL`` because the Data API pools its connections: a transaction is one connection,
a plain ``SET`` outside one would apply to whichever connection served that call. The schema
``hookstack`` must belong to the migrating role, and nobody else may create in it
(:func:`check_schema_owner`): the migrations trust every object they find there.

The same code applies the files to a local PostgreSQL (tests, sandbox) through
:class:`functions.outbox.PsycopgDatabase`; by hand, ``psql -1 -f sql/NNN_name.sql`` per file with
``PGOPTIONS='-c search_path=pg_catalog,pg_temp'`` (docs/aurora.md).

Environment: :class:`functions.outbox.DatabaseSettings` is the whole contract (read at the first
invocation). Handler: ``functions.migrate.handler``.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from functions import logs
from functions.outbox import Database, DatabaseSettings
from functions.runtime import Clients, ProcessState

# [0-9], not \d: Python's \d also takes other scripts' digits.
MIGRATION_FILE_RE = re.compile(r"([0-9]{3})_([a-z0-9_]+)\.sql")
MIGRATION_NAME_RE = re.compile(r"[a-z0-9_]+")
MIGRATION_FILE_RULE = "NNN_name.sql (three digits 0-9, '_', then a-z, 0-9 and '_')"
# Any constant works; it only has to be the same for every migrator of this schema.
ADVISORY_LOCK_KEY = 72_440_001
BOOTSTRAP = (
    "CREATE SCHEMA IF NOT EXISTS hookstack",
    "CREATE TABLE IF NOT EXISTS hookstack.schema_migrations ("
    " version text PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,"
    " applied_at timestamptz NOT NULL DEFAULT now())",
)
# pg_catalog first and explicit: the built-ins win over anything else. pg_temp last and explicit:
# left out, PostgreSQL would search it FIRST for tables and types. It is the migrating session's
# own temporary schema, which no other role can create objects in, and it is never searched for
# functions or operators, whatever its position. Nothing else: every migration qualifies the
# objects it creates and uses (hookstack.*, public.widget, ...). Also what every hookstack
# function pins, so a function body is checked at CREATE under the path it runs with.
PINNED_SEARCH_PATH = "pg_catalog, pg_temp"
_DOLLAR_TAG = re.compile(r"\$(?:[A-Za-z_\x80-\uffff][A-Za-z0-9_\x80-\uffff]*)?\$")


class MigrationError(RuntimeError):
    pass


@dataclass(frozen=True)
class Migration:
    version: str
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode("utf-8")).hexdigest()

    def payload(self) -> dict[str, str]:
        return {"version": self.version, "name": self.name, "sql": self.sql, "checksum": self.checksum}


def read_migrations(directory: Path) -> list[Migration]:
    """Every ``NNN_name.sql`` in ``directory`` (not below it), in version order."""
    migrations: dict[str, Migration] = {}
    for path in sorted(directory.iterdir()):
        match = MIGRATION_FILE_RE.fullmatch(path.name)
        if not path.is_file():
            continue
        if not match:
            # A misnamed migration would never run while the deploy reports success: refuse what
            # looks like one (a name starting with a digit); other files (notes) are not migrations.
            if path.name[:1].isdigit():
                raise MigrationError(
                    f"{path.name} in {directory} is not a migration file name: use {MIGRATION_FILE_RULE}"
                )
            continue
        version, name = match.groups()
        if version in migrations:
            raise MigrationError(f"two migrations have version {version}: {migrations[version].name} and {name}")
        migrations[version] = Migration(version, name, path.read_text(encoding="utf-8"))
    return [migrations[v] for v in sorted(migrations)]


def migrations_digest(migrations: Sequence[Migration]) -> str:
    """One hash of every migration's version, name and text (changes whenever any of them does)."""
    digest = hashlib.sha256()
    for migration in migrations:
        digest.update(f"{migration.version}\0{migration.name}\0{migration.checksum}\n".encode())
    return digest.hexdigest()


def split_statements(sql: str) -> list[str]:
    """Split a SQL script into statements at top-level semicolons.

    Semicolons inside single-quoted strings (``''`` and ``E'\\''`` escapes), quoted identifiers,
    dollar-quoted bodies (``$$`` or ``$tag$``), comments (``--`` and nested ``/* */``) and
    parentheses do not split. Leading comments are dropped; statements with nothing but comments
    are skipped. Raises ``ValueError`` for an unterminated string, body or comment.
    """
    statements: list[str] = []
    length = len(sql)
    start = 0
    depth = 0
    i = 0

    def line_of(position: int) -> int:
        return sql.count("\n", 0, position) + 1

    while i < length:
        char = sql[i]
        if char == "-" and sql.startswith("--", i):
            newline = sql.find("\n", i)
            i = length if newline < 0 else newline + 1
            continue
        if char == "/" and sql.startswith("/*", i):
            end = _block_comment_end(sql, i)
            if end is None:
                raise ValueError(f"unterminated /* comment starting on line {line_of(i)}")
            i = end
            continue
        if char == "'":
            escapes = i > 0 and sql[i - 1] in "eE" and (i < 2 or not (sql[i - 2].isalnum() or sql[i - 2] == "_"))
            j = i + 1
            while True:
                if j >= length:
                    raise ValueError(f"unterminated string starting on line {line_of(i)}")
                if escapes and sql[j] == "\\":
                    j += 2
                    continue
                if sql[j] == "'":
                    if sql.startswith("''", j):
                        j += 2
                        continue
                    break
                j += 1
            i = j + 1
            continue
        if char == '"':
            j = i + 1
            while True:
                j = sql.find('"', j)
                if j < 0:
                    raise ValueError(f"unterminated quoted identifier starting on line {line_of(i)}")
                if sql.startswith('""', j):
                    j += 2
                    continue
                break
            i = j + 1
            continue
        if char == "$" and (i == 0 or not (sql[i - 1].isalnum() or sql[i - 1] in "_$")):
            match = _DOLLAR_TAG.match(sql, i)
            if match:
                tag = match.group(0)
                end = sql.find(tag, match.end())
                if end < 0:
                    raise ValueError(f"unterminated {tag} body starting on line {line_of(i)}")
                i = end + len(tag)
                continue
        if char == "(":
            depth += 1
        elif char == ")":
            depth = max(depth - 1, 0)
        elif char == ";" and depth == 0:
            _append_statement(statements, sql[start:i])
            start = i + 1
        i += 1
    _append_statement(statements, sql[start:])
    return statements


def _append_statement(statements: list[str], text: str) -> None:
    body = _strip_leading_comments(text).strip()
    if body:
        statements.append(body)


def _strip_leading_comments(text: str) -> str:
    while True:
        stripped = text.lstrip()
        if stripped.startswith("--"):
            newline = stripped.find("\n")
            text = "" if newline < 0 else stripped[newline + 1 :]
        elif stripped.startswith("/*"):
            end = _block_comment_end(stripped, 0)
            text = "" if end is None else stripped[end:]
        else:
            return stripped


def _block_comment_end(sql: str, start: int) -> int | None:
    """Where the ``/* */`` comment opening at ``start`` ends (comments nest, as in PostgreSQL), or
    ``None`` if it never does."""
    nesting, j = 1, start + 2
    while nesting and j < len(sql):
        if sql.startswith("/*", j):
            nesting, j = nesting + 1, j + 2
        elif sql.startswith("*/", j):
            nesting, j = nesting - 1, j + 2
        else:
            j += 1
    return None if nesting else j


def parse_event(event: Any) -> tuple[list[Migration], dict[str, str] | None]:
    """The migrations and relay target of an invocation, validated (checksums included)."""
    if not isinstance(event, Mapping) or not isinstance(event.get("migrations"), list):
        raise ValueError("migration input must be an object with a 'migrations' list")
    migrations: list[Migration] = []
    for index, item in enumerate(event["migrations"]):
        if not isinstance(item, Mapping) or not all(
            isinstance(item.get(k), str) for k in ("version", "name", "sql", "checksum")
        ):
            raise ValueError(f"migrations[{index}] must have string version, name, sql and checksum")
        migration = Migration(item["version"], item["name"], item["sql"])
        if not re.fullmatch(r"[0-9]{3}", migration.version):
            raise ValueError(f"migrations[{index}].version must be three digits 0-9, got {migration.version!r}")
        if not MIGRATION_NAME_RE.fullmatch(migration.name):
            raise ValueError(f"migrations[{index}].name must be a-z, 0-9 and '_', got {migration.name!r}")
        if migration.checksum != item["checksum"]:
            raise ValueError(
                f"migrations[{index}] ({migration.version}): the SQL does not match its checksum (truncated input?)"
            )
        migrations.append(migration)
    versions = [m.version for m in migrations]
    if versions != sorted(set(versions)):
        raise ValueError(f"migration versions must be unique and in order, got {versions}")
    relay = event.get("relay")
    if relay is not None:
        if not isinstance(relay, Mapping) or not all(isinstance(relay.get(k), str) for k in ("functionArn", "region")):
            raise ValueError("relay must be an object with string functionArn and region")
        return migrations, {"functionArn": relay["functionArn"], "region": relay["region"]}
    return migrations, None


@contextmanager
def pinned_transaction(database: Database) -> Iterator[None]:
    """A transaction whose statements resolve names in pg_catalog (then the session's pg_temp) only."""
    with database.transaction():
        database.execute(f"SET LOCAL search_path = {PINNED_SEARCH_PATH}")
        # Proof that the setting holds for the statements that follow (same connection, same
        # transaction), for any Database implementation.
        rows = database.query("SELECT pg_catalog.current_setting('search_path') AS search_path")
        if rows != [{"search_path": PINNED_SEARCH_PATH}]:
            raise MigrationError(
                f"could not pin search_path to {PINNED_SEARCH_PATH!r} for the migrations (got {rows!r})"
            )
        yield


def check_schema_owner(database: Database) -> None:
    """Refuse a ``hookstack`` schema that belongs to another role or that other roles may create in."""
    # Runs inside pinned_transaction: the operators below are pg_catalog's.
    [row] = database.query(
        "SELECT pg_get_userbyid(n.nspowner) AS owner, current_user AS migrator,"
        " array_to_string(ARRAY("
        "   SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END"
        "     FROM aclexplode(n.nspacl) a"
        "    WHERE a.privilege_type = 'CREATE' AND a.grantee <> n.nspowner ORDER BY 1), ', ') AS creators"
        " FROM pg_namespace n WHERE n.nspname = 'hookstack'"
    )
    if row["owner"] != row["migrator"]:
        raise MigrationError(
            f"schema hookstack is owned by {row['owner']}, not by {row['migrator']}, the role running the migrations: "
            "the migrations trust what they find there; ALTER SCHEMA hookstack OWNER TO the master user "
            "after checking its objects"
        )
    if row["creators"]:
        raise MigrationError(
            f"{row['creators']} may create objects in schema hookstack; only its owner may "
            "(REVOKE CREATE ON SCHEMA hookstack FROM ...)"
        )


def apply_migrations(
    database: Database, migrations: Sequence[Migration], relay: Mapping[str, str] | None = None
) -> dict[str, list[str]]:
    """Apply the migrations not applied yet, each in its own transaction with a pinned search_path;
    then configure the relay."""
    with pinned_transaction(database):
        database.query(
            "SELECT true AS locked FROM pg_advisory_xact_lock(CAST(:key AS bigint))", {"key": ADVISORY_LOCK_KEY}
        )
        for statement in BOOTSTRAP:
            database.execute(statement)
        check_schema_owner(database)
    applied: list[str] = []
    skipped: list[str] = []
    for migration in migrations:
        with pinned_transaction(database):
            database.query(
                "SELECT true AS locked FROM pg_advisory_xact_lock(CAST(:key AS bigint))", {"key": ADVISORY_LOCK_KEY}
            )
            recorded = database.query(
                "SELECT checksum FROM hookstack.schema_migrations WHERE version = :version",
                {"version": migration.version},
            )
            if recorded:
                if recorded[0]["checksum"] != migration.checksum:
                    raise MigrationError(
                        f"migration {migration.version}_{migration.name} changed after it was applied; "
                        "migrations are immutable: add a new file instead"
                    )
                skipped.append(migration.version)
                continue
            for statement in split_statements(migration.sql):
                database.execute(statement)
            database.query(
                "INSERT INTO hookstack.schema_migrations (version, name, checksum) "
                "VALUES (:version, :name, :checksum) RETURNING version",
                {"version": migration.version, "name": migration.name, "checksum": migration.checksum},
            )
        applied.append(migration.version)
        logs.info("migration applied", version=migration.version, name=migration.name)
    if relay is not None:
        with pinned_transaction(database):
            database.query(
                "SELECT true AS configured FROM hookstack.configure_relay(:function_arn, :region)",
                {"function_arn": relay["functionArn"], "region": relay["region"]},
            )
    return {"applied": applied, "skipped": skipped}


_state: ProcessState[Database] = ProcessState(lambda: DatabaseSettings.from_environ(os.environ).connect(Clients()))


def reset() -> None:
    """Forget the settings and the database (tests change the environment)."""
    _state.reset()


def handler(event: Any, context: Any = None) -> dict[str, Any]:
    migrations, relay = parse_event(event)
    result = apply_migrations(_state.get(), migrations, relay)
    logs.info(
        "migrations done", applied=result["applied"], skipped=result["skipped"], relay_configured=relay is not None
    )
    return {**result, "relayConfigured": relay is not None}
