"""Privilege escalation through the outbox functions, attacked on a real PostgreSQL.

The attacker is an ordinary application role: LOGIN, its own schema (CREATE), USAGE on
``hookstack`` and EXECUTE on what an application calls (publish, emit_events and the table
trigger's helpers). Its payload, :data:`PROBE`, records ``current_user`` and tries to make the
attacker a superuser; it is wired into casts, operators, functions and domains that the hookstack
functions might evaluate. Whatever the database runs as the function owner (the migrating master
user: ``rds_superuser`` on Aurora, a superuser here) shows up as a probe row whose ``ran_as`` is not
the attacker, and the ``ALTER ROLE`` then succeeds.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import make_conninfo
from psycopg.rows import dict_row

from functions.outbox import Outbox, PsycopgDatabase

# What an application role realistically holds (granted one by one, so the same fixture works
# before migration 004, when EXECUTE was PUBLIC, and after it; drop the last GRANT before 005).
APP_GRANTS = """
GRANT USAGE ON SCHEMA hookstack TO {role};
GRANT EXECUTE ON FUNCTION hookstack.publish(text, text, jsonb), hookstack.publish(text, bigint, jsonb),
    hookstack.emit_events(regclass, text, text, jsonb, text[]), hookstack.stop_events(regclass),
    hookstack.table_event(), hookstack.row_detail(jsonb, text, jsonb, text[]), hookstack.event_key(text, jsonb)
    TO {role};
GRANT EXECUTE ON FUNCTION hookstack.reserved_detail_keys(), hookstack.reserved_key_columns(regclass, text, jsonb, text[])
    TO {role};
"""

# The payload. INSERT on the log is granted to PUBLIC so the probe can record whoever runs it.
PROBE = """
CREATE TABLE {schema}.probe_log (ran_as name NOT NULL, probe text NOT NULL);
GRANT INSERT ON {schema}.probe_log TO PUBLIC;
CREATE FUNCTION {schema}.probe(what text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO {schema}.probe_log VALUES (current_user, what);
    BEGIN
        EXECUTE 'ALTER ROLE {role} SUPERUSER';
    EXCEPTION WHEN insufficient_privilege THEN
        NULL;  -- not running with more rights than the attacker's own
    END;
    RETURN true;
END
$$;
CREATE TYPE {schema}.mood AS ENUM ('evil');
"""


@dataclass
class AppRole:
    name: str
    schema: str
    dsn: str
    admin: Any

    def connect(self) -> Any:
        connection = psycopg.connect(self.dsn, autocommit=True, row_factory=dict_row)
        connection.execute(f"SET search_path = {self.schema}, public")
        return connection

    def is_superuser(self) -> bool:
        row = self.admin.execute("SELECT rolsuper FROM pg_roles WHERE rolname = %s", (self.name,)).fetchone()
        return bool(row["rolsuper"])

    def probes(self) -> list[tuple[str, str]]:
        rows = self.admin.execute(f"SELECT ran_as, probe FROM {self.schema}.probe_log ORDER BY probe").fetchall()
        return [(str(row["ran_as"]), str(row["probe"])) for row in rows]


@pytest.fixture
def app_role(aurora_dsn: str, connect: Any) -> Iterator[AppRole]:
    admin = connect(autocommit=True)
    name = f"app_{uuid.uuid4().hex[:10]}"
    admin.execute(f"CREATE ROLE {name} LOGIN NOSUPERUSER")
    admin.execute(f"CREATE SCHEMA {name} AUTHORIZATION {name}")
    admin.execute(APP_GRANTS.format(role=name))
    role = AppRole(name, name, make_conninfo(aurora_dsn, user=name), admin)
    with role.connect() as app:
        app.execute(PROBE.format(schema=name, role=name))
    try:
        yield role
    finally:
        admin.execute(f"ALTER ROLE {name} NOSUPERUSER")
        admin.execute(f"DROP SCHEMA {name} CASCADE")
        admin.execute(f"REVOKE CREATE ON SCHEMA public FROM {name}")
        admin.execute(f"DROP OWNED BY {name}")
        admin.execute(f"DROP ROLE {name}")


def owner(app_role: AppRole) -> str:
    return str(app_role.admin.execute("SELECT current_user AS u").fetchone()["u"])


def test_a_cast_to_json_on_an_emitting_table_runs_as_the_writer_not_the_owner(app_role):
    """The issue's exploit: to_jsonb(NEW) in the table trigger calls the column type's cast to json."""
    s = app_role.schema
    with app_role.connect() as app:
        for target in ("json", "jsonb"):
            app.execute(
                f"CREATE FUNCTION {s}.mood_{target}(m {s}.mood) RETURNS {target} LANGUAGE plpgsql AS $$ "
                f"BEGIN PERFORM {s}.probe('cast to {target}'); RETURN to_{target}(m::text); END $$"
            )
            app.execute(f"CREATE CAST ({s}.mood AS {target}) WITH FUNCTION {s}.mood_{target}({s}.mood)")
        app.execute(f"CREATE TABLE {s}.notes (note_id serial PRIMARY KEY, tenant_id text NOT NULL, mood {s}.mood)")
        app.execute(f"SELECT hookstack.emit_events('{s}.notes', 'note', 'tenant_id')")

        app.execute(f"INSERT INTO {s}.notes (tenant_id, mood) VALUES ('acme', 'evil')")

    assert not app_role.is_superuser(), "the attacker's cast ran as the function owner and made it superuser"
    probes = app_role.probes()
    assert probes, "the cast never ran: the test would prove nothing"
    assert {ran_as for ran_as, _ in probes} == {app_role.name}
    [event] = app_role.admin.execute("SELECT event_type, tenant_id, detail FROM hookstack.outbox").fetchall()
    assert (event["event_type"], event["tenant_id"]) == ("note.created", "acme")
    assert event["detail"]["noteId"] == 1


def test_the_commit_trigger_cannot_be_attached_to_a_callers_table(app_role):
    """dispatch() is SECURITY DEFINER and reads NEW: on the caller's table NEW holds the caller's types."""
    s = app_role.schema
    with app_role.connect() as app:
        app.execute(
            f"CREATE FUNCTION {s}.mood_json(m {s}.mood) RETURNS json LANGUAGE plpgsql AS $$ "
            f"BEGIN PERFORM {s}.probe('cast to json'); RETURN to_json(m::text); END $$"
        )
        app.execute(f"CREATE CAST ({s}.mood AS json) WITH FUNCTION {s}.mood_json({s}.mood)")
        app.execute(f"CREATE TABLE {s}.fake_outbox (event_id {s}.mood, txid bigint, tenant_id text, event_type text)")
        refused = ""
        try:
            app.execute(
                f"CREATE TRIGGER fake AFTER INSERT ON {s}.fake_outbox FOR EACH ROW EXECUTE FUNCTION hookstack.dispatch()"
            )
            app.execute(f"INSERT INTO {s}.fake_outbox VALUES ('evil', 1, 'acme', 't.x')")
        except psycopg.errors.InsufficientPrivilege as error:
            refused = str(error)

    assert not app_role.is_superuser(), "dispatch() ran the attacker's cast as its owner"
    assert [p for p in app_role.probes() if p[0] != app_role.name] == []
    assert re.search(r"permission denied for function (hookstack\.)?dispatch", refused), refused


def test_the_commit_trigger_refuses_any_table_but_the_outbox_even_when_granted(app_role, lambda_double):
    s = app_role.schema
    app_role.admin.execute(f"GRANT EXECUTE ON FUNCTION hookstack.dispatch() TO {app_role.name}")
    with app_role.connect() as app:
        app.execute(
            f"CREATE FUNCTION {s}.mood_json(m {s}.mood) RETURNS json LANGUAGE plpgsql AS $$ "
            f"BEGIN PERFORM {s}.probe('cast to json'); RETURN to_json(m::text); END $$"
        )
        app.execute(f"CREATE CAST ({s}.mood AS json) WITH FUNCTION {s}.mood_json({s}.mood)")
        app.execute(f"CREATE TABLE {s}.fake_outbox (event_id {s}.mood, txid bigint, tenant_id text, event_type text)")
        app.execute(
            f"CREATE TRIGGER fake AFTER INSERT ON {s}.fake_outbox FOR EACH ROW EXECUTE FUNCTION hookstack.dispatch()"
        )
        with pytest.raises(
            psycopg.errors.InsufficientPrivilege, match=r"only the trigger of hookstack\.outbox.*fake_outbox"
        ):
            app.execute(f"INSERT INTO {s}.fake_outbox VALUES ('evil', 1, 'acme', 't.x')")

    assert not app_role.is_superuser()
    assert app_role.probes() == []
    assert lambda_double.invocations(succeeded=None) == [], "nothing may reach aws_lambda.invoke"


def test_publish_evaluates_none_of_the_callers_operators_functions_casts_or_domains(app_role):
    """publish() is SECURITY DEFINER: its operators (?, ->>, IS DISTINCT FROM), functions
    (octet_length, jsonb_typeof, length, ...) and types must resolve to pg_catalog, whatever the
    caller put in its own schema or in pg_temp, and whatever argument types it passes."""
    s = app_role.schema
    shadows = [
        ("exists_op", "jsonb, text", "boolean", "false"),
        ("eq_op", "text, text", "boolean", "false"),
        ("octet_length", "text", "integer", "0"),
        ("length", "text", "integer", "1"),
        ("jsonb_typeof", "jsonb", "text", "'object'"),
        ("quote_literal", "text", "text", "''"),
        ("left", "text, integer", "text", "''"),
        ("max_detail_bytes", "", "integer", "1000000000"),
    ]
    with app_role.connect() as app:
        for schema in (s, "pg_temp"):
            for name, arguments, returns, value in shadows:
                app.execute(
                    f"CREATE FUNCTION {schema}.{name}({arguments}) RETURNS {returns} LANGUAGE plpgsql AS $$ "
                    f"BEGIN PERFORM {s}.probe('{schema}.{name}'); RETURN {value}; END $$"
                )
            app.execute(f"CREATE OPERATOR {schema}.? (LEFTARG = jsonb, RIGHTARG = text, FUNCTION = {schema}.exists_op)")
            app.execute(f"CREATE OPERATOR {schema}.= (LEFTARG = text, RIGHTARG = text, FUNCTION = {schema}.eq_op)")
        # Caller-side conversions: an implicit cast from the caller's type, domains with checks.
        app.execute(
            f"CREATE FUNCTION {s}.mood_text(m {s}.mood) RETURNS text LANGUAGE plpgsql AS $$ "
            f"BEGIN PERFORM {s}.probe('implicit cast to text'); RETURN 'mood.' || format('%s', m); END $$"
        )
        app.execute(f"CREATE CAST ({s}.mood AS text) WITH FUNCTION {s}.mood_text({s}.mood) AS IMPLICIT")
        app.execute(f"CREATE DOMAIN {s}.doc AS jsonb CHECK ({s}.probe('domain check'))")
        app.execute("CREATE DOMAIN pg_temp.jsonb AS text")  # a pg_temp type named like a built-in
        app.execute("SET search_path = pg_temp, " + s + ", public, pg_catalog")

        event_id = app.execute(
            f"SELECT hookstack.publish('evil'::{s}.mood, 'acme', CAST('{{\"tenantId\": \"acme\"}}' AS {s}.doc)) AS id"
        ).fetchone()["id"]

        with pytest.raises(psycopg.errors.InvalidParameterValue, match="differs from tenant_id"):
            app.execute(f"SELECT hookstack.publish('t.x', 'acme', CAST('{{\"tenantId\": \"other\"}}' AS {s}.doc))")
        with pytest.raises(psycopg.errors.InvalidParameterValue, match='must not contain "eventId"'):
            app.execute(f"SELECT hookstack.publish('t.x', 'acme', CAST('{{\"eventId\": \"x\"}}' AS {s}.doc))")

    assert not app_role.is_superuser()
    probes = app_role.probes()
    assert {ran_as for ran_as, _ in probes} == {app_role.name}
    assert {probe for _, probe in probes} == {"implicit cast to text", "domain check"}, (
        "only the caller-side conversions run, as the caller; none of the shadows inside publish"
    )
    row = app_role.admin.execute(
        "SELECT event_type, detail FROM hookstack.outbox WHERE event_id = %s", (event_id,)
    ).fetchone()
    assert row == {"event_type": "mood.evil", "detail": {"tenantId": "acme"}}


def test_the_relay_and_sweeper_calls_ignore_functions_planted_on_the_masters_search_path(app_role, aurora_dsn):
    """The relay and sweeper call the claim functions as the master user, whose search_path
    includes public. On PostgreSQL 13/14 every role may CREATE in public (granted here to
    reproduce it): a better-matching public.make_interval(secs integer) or
    public.to_jsonb(timestamp) would win over the built-in unless the functions pin search_path."""
    s = app_role.schema
    app_role.admin.execute(f"GRANT CREATE ON SCHEMA public TO {app_role.name}")
    with app_role.connect() as app:
        app.execute(
            "CREATE FUNCTION public.make_interval(secs integer) RETURNS interval LANGUAGE plpgsql AS $$ "
            f"BEGIN PERFORM {s}.probe('public.make_interval'); RETURN pg_catalog.make_interval(secs => secs::float8); END $$"
        )
        app.execute(
            "CREATE FUNCTION public.to_jsonb(ts timestamp) RETURNS jsonb LANGUAGE plpgsql AS $$ "
            f"BEGIN PERFORM {s}.probe('public.to_jsonb'); RETURN pg_catalog.to_jsonb(ts::text); END $$"
        )
        app.execute(
            "CREATE FUNCTION public.power(a integer, b integer) RETURNS double precision LANGUAGE plpgsql AS $$ "
            f"BEGIN PERFORM {s}.probe('public.power'); RETURN pg_catalog.power(a::float8, b::float8); END $$"
        )
    app_role.admin.execute("SELECT hookstack.publish('t.x', 'acme', '{}')")
    app_role.admin.execute("UPDATE hookstack.outbox SET created_at = now() - interval '1 hour'")
    [row] = app_role.admin.execute("SELECT event_id, txid FROM hookstack.outbox").fetchall()
    event_id, txid = row["event_id"], row["txid"]
    database = PsycopgDatabase(aurora_dsn)  # the relay's and sweeper's code, as the owner
    try:
        outbox = Outbox(database)
        assert outbox.claim(event_id, txid, 60).status == "claimed"
        assert outbox.release([event_id], "boom") == 1
        database.execute("UPDATE hookstack.outbox SET not_before = NULL")
        assert [row.event_id for row in outbox.claim_due(0, 60, 10)] == [event_id]
        assert outbox.mark_published([event_id]) == 1
        assert outbox.purge(0) == 1
        assert outbox.backlog().unpublished == 0
    finally:
        database.close()

    assert not app_role.is_superuser(), "a function planted in public ran as the master user"
    assert app_role.probes() == []


# Who may call what (docs/aurora.md, "Privileges"). Everything else: the owner only (the master
# user, which the relay, the sweeper and the migration function connect as).
SECURITY_DEFINER = {
    "hookstack.publish(text,text,jsonb)",
    "hookstack.publish(text,bigint,jsonb)",
    "hookstack.dispatch()",
}
PUBLISHER_MAY_EXECUTE = {
    "hookstack.publish(text,text,jsonb)",
    "hookstack.publish(text,bigint,jsonb)",
    "hookstack.max_detail_bytes()",
    "hookstack.emit_events(regclass,text,text,jsonb,text[])",
    "hookstack.stop_events(regclass)",
    "hookstack.table_event()",
    "hookstack.row_detail(jsonb,text,jsonb,text[])",
    "hookstack.event_key(text,jsonb)",
    "hookstack.reserved_detail_keys()",
    "hookstack.reserved_key_columns(regclass,text,jsonb,text[])",
}


def test_every_hookstack_function_pins_search_path_and_is_executable_only_as_intended(connect):
    connection = connect(autocommit=True)
    functions = connection.execute(
        """
        SELECT p.oid::regprocedure::text AS signature, p.prosecdef AS definer, p.proconfig AS config,
               ARRAY(SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END
                       FROM aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
                      WHERE a.privilege_type = 'EXECUTE' AND a.grantee <> p.proowner ORDER BY 1) AS executors
          FROM pg_proc p WHERE p.pronamespace = 'hookstack'::regnamespace ORDER BY 1
        """
    ).fetchall()
    assert len(functions) == 21
    assert {f["signature"] for f in functions} >= PUBLISHER_MAY_EXECUTE
    assert {f["signature"] for f in functions if f["definer"]} == SECURITY_DEFINER
    assert [f["signature"] for f in functions if f["config"] != ["search_path=pg_catalog, pg_temp"]] == []
    assert {f["signature"]: f["executors"] for f in functions} == {
        f["signature"]: ["hookstack_publisher"] if f["signature"] in PUBLISHER_MAY_EXECUTE else [] for f in functions
    }
    schema_grants = connection.execute(
        """
        SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END AS grantee, a.privilege_type
          FROM pg_namespace n, aclexplode(n.nspacl) a WHERE n.nspname = 'hookstack' AND a.grantee <> n.nspowner
        """
    ).fetchall()
    assert schema_grants == [{"grantee": "hookstack_publisher", "privilege_type": "USAGE"}]
    table_grants = connection.execute(
        """
        SELECT c.relname, a.grantee FROM pg_class c, aclexplode(c.relacl) a
         WHERE c.relnamespace = 'hookstack'::regnamespace AND a.grantee <> c.relowner
        """
    ).fetchall()
    assert table_grants == [], "the outbox, relay target and migration record belong to the owner only"


def test_a_function_a_later_migration_adds_is_executable_by_public_until_that_migration_revokes_it(connect):
    """Why every migration that creates a hookstack function must end with
    ``REVOKE ALL ON ALL FUNCTIONS IN SCHEMA hookstack FROM PUBLIC`` (docs/aurora.md, Privileges):
    per-schema default privileges only add to the global ones, so ``ALTER DEFAULT PRIVILEGES IN
    SCHEMA hookstack REVOKE EXECUTE ... FROM PUBLIC`` changes nothing. (Rolled back.)"""
    connection = connect()
    connection.execute("ALTER DEFAULT PRIVILEGES IN SCHEMA hookstack REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC")
    connection.execute("CREATE FUNCTION hookstack.added_later() RETURNS integer LANGUAGE sql AS 'SELECT 1'")
    public_may = "SELECT has_function_privilege('public', 'hookstack.added_later()', 'EXECUTE') AS public_may"
    assert connection.execute(public_may).fetchone() == {"public_may": True}
    connection.execute("REVOKE ALL ON ALL FUNCTIONS IN SCHEMA hookstack FROM PUBLIC")
    assert connection.execute(public_may).fetchone() == {"public_may": False}
    connection.rollback()
