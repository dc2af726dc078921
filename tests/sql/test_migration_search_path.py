"""The migrations run as the master user: nothing an application role defines may run with its rights.

The attacker is an application role that may ``CREATE`` in ``public`` (every role's default on
PostgreSQL 13/14). It plants ``=`` operators whose argument types match the migrations' catalog
comparisons exactly (``oid = regprocedure``, ``oid = integer``, ``oid = regclass``: pg_catalog has
no exact operator for these, only ``oid = oid`` through a cast, so an exact match anywhere on the
search_path wins). Their function records ``current_user`` and tries to make the attacker superuser.
The migrator pins ``search_path`` to ``pg_catalog, pg_temp`` in every transaction it opens
(functions/migrate.py), so the planted operators are never even looked up.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from functions.migrate import Migration, MigrationError, apply_migrations, read_migrations
from functions.outbox import PsycopgDatabase
from tests.sql.conftest import REGION, RELAY_ARN, SQL_DIR, install_double

RELAY = {"functionArn": RELAY_ARN, "region": REGION}

# A catalog comparison as 002's DO block, 002's emit_events and 004's last DO block write it, with
# the operator's argument types in the name of the probe.
PLANTED = {
    "oid=regprocedure": ("oid", "regprocedure"),
    "oid=integer": ("oid", "integer"),
    "oid=regclass": ("oid", "regclass"),
}


@dataclass
class Attacker:
    name: str
    dsn: str
    admin: Any

    def connect(self) -> Any:
        return psycopg.connect(self.dsn, autocommit=True)

    def plant_operators(self) -> None:
        with self.connect() as app:
            app.execute("CREATE TABLE public.pwn_log (ran_as name NOT NULL, probe text NOT NULL)")
            app.execute("GRANT INSERT ON public.pwn_log TO PUBLIC")
            for probe, (left, right) in PLANTED.items():
                function = "public.pwn_" + probe.replace("=", "_")
                app.execute(
                    f"CREATE FUNCTION {function}(a {left}, b {right}) RETURNS boolean LANGUAGE plpgsql AS $$ "
                    f"BEGIN INSERT INTO public.pwn_log VALUES (current_user, '{probe}'); "
                    f"BEGIN EXECUTE 'ALTER ROLE {self.name} SUPERUSER'; EXCEPTION WHEN insufficient_privilege THEN NULL; END; "
                    "RETURN a::oid OPERATOR(pg_catalog.=) b::oid; END $$"
                )
                app.execute(f"CREATE OPERATOR public.= (LEFTARG = {left}, RIGHTARG = {right}, FUNCTION = {function})")

    def prove_operators_are_live(self) -> None:
        """The attacker's own queries (default search_path) pick every planted operator: a test
        that never reached them would prove nothing."""
        with self.connect() as app:
            app.execute("SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid = 'pg_catalog.pg_class'::regclass")
            app.execute("SELECT 1 FROM pg_catalog.pg_proc p WHERE p.oid = 'pg_catalog.now()'::regprocedure")
            app.execute("SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid = 0")
        assert {probe for ran_as, probe in self.probes() if ran_as == self.name} == set(PLANTED)

    def probes(self) -> list[tuple[str, str]]:
        return [
            (str(r[0]), str(r[1])) for r in self.admin.execute("SELECT ran_as, probe FROM public.pwn_log").fetchall()
        ]

    def is_superuser(self) -> bool:
        return bool(self.admin.execute("SELECT rolsuper FROM pg_roles WHERE rolname = %s", (self.name,)).fetchone()[0])


@pytest.fixture
def attacker(postgres_dsn: str) -> Iterator[Attacker]:
    install_double(postgres_dsn)
    admin = psycopg.connect(postgres_dsn, autocommit=True)
    name = f"app_{uuid.uuid4().hex[:10]}"
    admin.execute(f"CREATE ROLE {name} LOGIN NOSUPERUSER")
    admin.execute(f"GRANT CREATE, USAGE ON SCHEMA public TO {name}")  # PostgreSQL 13/14's default for PUBLIC
    try:
        yield Attacker(name, make_conninfo(postgres_dsn, user=name), admin)
    finally:
        admin.execute(f"ALTER ROLE {name} NOSUPERUSER")
        admin.execute(f"DROP OWNED BY {name}")
        admin.execute(f"DROP ROLE {name}")
        admin.close()


def migrate(dsn: str, upto: str | None = None) -> dict[str, list[str]]:
    migrations = [m for m in read_migrations(SQL_DIR) if upto is None or m.version <= upto]
    database = PsycopgDatabase(dsn)
    try:
        return apply_migrations(database, migrations, RELAY)
    finally:
        database.close()


def test_an_upgrade_never_runs_operators_an_application_planted_in_public(attacker, postgres_dsn):
    """The review's upgrade scenario: a database at 003, an application role with USAGE on
    hookstack (publish was PUBLIC then) and INSERT on widget; 004's catalog queries compare
    ``tgfoid = '...'::regprocedure`` and ``grantee = 0``."""
    migrate(postgres_dsn, upto="003")
    attacker.admin.execute(f"GRANT USAGE ON SCHEMA hookstack TO {attacker.name}")
    attacker.admin.execute(f"GRANT INSERT ON public.widget TO {attacker.name}")
    attacker.plant_operators()

    result = migrate(postgres_dsn)

    assert result["applied"] == [m.version for m in read_migrations(SQL_DIR) if m.version > "003"]
    assert attacker.probes() == [], "a planted operator ran during the migration"
    assert not attacker.is_superuser()
    attacker.prove_operators_are_live()
    assert not attacker.is_superuser()
    # 004 still did its job: the writer of widget became a publisher.
    assert attacker.admin.execute(
        "SELECT pg_has_role(%s, 'hookstack_publisher', 'MEMBER')", (attacker.name,)
    ).fetchone() == (True,)


def test_a_first_install_never_runs_operators_an_application_planted_in_public(attacker, postgres_dsn):
    """The review's fresh-install scenario: the database already serves an application whose role
    planted ``public.=(oid, regclass)``, reached by 002's DO block and by emit_events (run by 003)."""
    attacker.plant_operators()

    result = migrate(postgres_dsn)

    assert result["applied"] == [m.version for m in read_migrations(SQL_DIR)]
    assert attacker.probes() == [], "a planted operator ran during the migration"
    assert not attacker.is_superuser()
    attacker.prove_operators_are_live()
    with psycopg.connect(postgres_dsn, autocommit=True) as connection:
        connection.execute("CALL public.create_widget(1, 'after install')")
        assert connection.execute("SELECT event_type FROM hookstack.outbox").fetchall() == [("widget.created",)]


def test_the_migrations_run_with_the_pinned_search_path_whatever_the_masters_own(postgres_dsn):
    """The master's own search_path (ALTER ROLE ... SET search_path, or the "$user", public
    default) does not reach the migrations: each one sees pg_catalog, pg_temp."""
    install_double(postgres_dsn)
    probe = Migration(
        "999", "probe", "CREATE TABLE hookstack.probe_path AS SELECT pg_catalog.current_setting('search_path') AS path"
    )
    database = PsycopgDatabase(postgres_dsn)
    try:
        database.execute('SET search_path = public, "$user"')
        apply_migrations(database, [*read_migrations(SQL_DIR), probe], RELAY)
        assert database.query("SELECT path FROM hookstack.probe_path") == [{"path": "pg_catalog, pg_temp"}]
        assert database.query("SHOW search_path") == [{"search_path": 'public, "$user"'}], (
            "SET LOCAL: gone after commit"
        )
    finally:
        database.close()


def test_a_hookstack_schema_owned_by_another_role_is_refused(postgres_dsn):
    """Only the owner may create in hookstack: that is what makes its objects trustworthy to the
    migrations. A schema someone else created first (or may create in) is refused before any file runs."""
    install_double(postgres_dsn)
    admin = psycopg.connect(postgres_dsn, autocommit=True)
    name = f"squatter_{uuid.uuid4().hex[:8]}"
    admin.execute(f"CREATE ROLE {name} NOLOGIN")
    try:
        admin.execute(f"CREATE SCHEMA hookstack AUTHORIZATION {name}")
        with pytest.raises(MigrationError, match=rf"schema hookstack is owned by {name}"):
            migrate(postgres_dsn)
        assert admin.execute("SELECT to_regclass('public.widget')").fetchone() == (None,), "no file ran"

        admin.execute(f"ALTER SCHEMA hookstack OWNER TO {admin.info.user}")
        admin.execute(f"GRANT CREATE ON SCHEMA hookstack TO {name}")
        with pytest.raises(MigrationError, match=rf"{name} may create objects in schema hookstack"):
            migrate(postgres_dsn)

        admin.execute(f"REVOKE CREATE ON SCHEMA hookstack FROM {name}")
        assert migrate(postgres_dsn)["applied"] == [m.version for m in read_migrations(SQL_DIR)]
    finally:
        admin.execute(f"DROP OWNED BY {name}")
        admin.execute(f"DROP ROLE {name}")
        admin.close()
