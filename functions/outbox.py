"""The Aurora outbox as the relay, the sweeper and the migration function see it.

Two layers:

- :class:`Database`: run one SQL statement with ``:name`` parameters and get rows back as dicts,
  optionally inside a transaction. :class:`DataApiDatabase` talks to Aurora through the RDS Data
  API (no VPC, no driver: boto3 is all the Lambda runtime has). :class:`PsycopgDatabase` talks to a
  local PostgreSQL (the test suite and the local sandbox); psycopg is imported only when it is used.
- :class:`Outbox`: the operations on ``hookstack.outbox``. Each is one call of a SQL function from
  ``sql/002_outbox.sql`` (claim_event, claim_due, mark_published, release, purge_published,
  backlog), so both databases run exactly the same logic, and that logic is tested on a real
  PostgreSQL.

Environment: :class:`DatabaseSettings` is the contract of the variables naming the database, shared
by ``functions.relay``, ``functions.sweeper`` and ``functions.migrate`` (each reads it at its first
invocation, through its own settings):

- ``AURORA_DATABASE_DSN``: a libpq connection string. When set, psycopg is used (local only; the
  Lambda runtime has no psycopg) and the three variables below are ignored.
- ``AURORA_CLUSTER_ARN``: the Aurora cluster (Data API ``resourceArn``).
- ``AURORA_SECRET_ARN``: the master user secret Secrets Manager holds for the cluster.
- ``AURORA_DATABASE_NAME``: the database holding the ``hookstack`` schema.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from functions.environ import Environ, SettingsError, render
from functions.runtime import Clients

# Data API errors worth another try: a paused Serverless v2 instance resuming (min capacity 0),
# a writer failing over, throttling.
RETRYABLE_DATA_API_ERRORS = frozenset(
    {
        "DatabaseResumingException",
        "DatabaseUnavailableException",
        "ServiceUnavailableError",
        "InternalServerErrorException",
        "ThrottlingException",
    }
)
_PARAMETER = re.compile(r"(?<![:\w]):([A-Za-z_][A-Za-z0-9_]*)")


class Database(Protocol):
    def query(self, sql: str, parameters: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """Run one statement and return its rows (an empty list for statements without rows)."""
        ...

    def execute(self, sql: str) -> None:
        """Run one statement without parameters and ignore any rows (DDL, migrations)."""
        ...

    def transaction(self) -> Any:
        """A context manager: statements inside it commit together or not at all."""
        ...


# -- RDS Data API -------------------------------------------------------------------------------


def data_api_parameters(parameters: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """``{"name": value}`` as Data API ``SqlParameter`` objects (``:name`` in the SQL)."""
    out: list[dict[str, Any]] = []
    for name, value in (parameters or {}).items():
        if value is None:
            field: dict[str, Any] = {"isNull": True}
        elif isinstance(value, bool):
            field = {"booleanValue": value}
        elif isinstance(value, int):
            field = {"longValue": value}
        elif isinstance(value, float):
            field = {"doubleValue": value}
        elif isinstance(value, str):
            field = {"stringValue": value}
        else:
            raise TypeError(f"parameter {name!r}: {type(value).__name__} is not supported (use str, int, float, bool)")
        out.append({"name": name, "value": field})
    return out


class DataApiDatabase:
    """Aurora through the RDS Data API: one HTTPS call per statement, rows as JSON."""

    def __init__(
        self,
        client: Any,
        cluster_arn: str,
        secret_arn: str,
        database: str,
        *,
        max_attempts: int = 5,
        sleep: Any = time.sleep,
    ) -> None:
        self._client = client
        self._target = {"resourceArn": cluster_arn, "secretArn": secret_arn, "database": database}
        self._transaction_id: str | None = None
        self._max_attempts = max_attempts
        self._sleep = sleep

    def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        from botocore.exceptions import ClientError

        for attempt in range(1, self._max_attempts + 1):
            try:
                return dict(getattr(self._client, operation)(**kwargs))
            except ClientError as error:
                code = error.response.get("Error", {}).get("Code", "")
                # Inside a transaction a retry could run a statement twice: only retry outside one.
                if code not in RETRYABLE_DATA_API_ERRORS or self._transaction_id or attempt == self._max_attempts:
                    raise
                self._sleep(min(2.0 * attempt, 10.0))
        raise AssertionError("unreachable")

    def query(self, sql: str, parameters: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        request: dict[str, Any] = {**self._target, "sql": sql, "formatRecordsAs": "JSON"}
        if parameters:
            request["parameters"] = data_api_parameters(parameters)
        if self._transaction_id:
            request["transactionId"] = self._transaction_id
        response = self._call("execute_statement", **request)
        records = response.get("formattedRecords")
        return list(json.loads(records)) if records else []

    def execute(self, sql: str) -> None:
        request: dict[str, Any] = {**self._target, "sql": sql, "continueAfterTimeout": True}
        if self._transaction_id:
            request["transactionId"] = self._transaction_id
        self._call("execute_statement", **request)

    @contextmanager
    def transaction(self) -> Iterator[DataApiDatabase]:
        if self._transaction_id:
            raise RuntimeError("Data API transactions cannot be nested")
        response = self._call("begin_transaction", **self._target)
        self._transaction_id = str(response["transactionId"])
        try:
            yield self
        except BaseException:
            transaction_id, self._transaction_id = self._transaction_id, None
            self._client.rollback_transaction(
                resourceArn=self._target["resourceArn"],
                secretArn=self._target["secretArn"],
                transactionId=transaction_id,
            )
            raise
        transaction_id, self._transaction_id = self._transaction_id, None
        self._client.commit_transaction(
            resourceArn=self._target["resourceArn"], secretArn=self._target["secretArn"], transactionId=transaction_id
        )


# -- psycopg (local only) -----------------------------------------------------------------------


def psycopg_sql(sql: str) -> str:
    """``:name`` parameters as psycopg's ``%(name)s`` (``::casts`` and literal ``%`` kept)."""
    return _PARAMETER.sub(r"%(\1)s", sql.replace("%", "%%"))


class PsycopgDatabase:
    """A local PostgreSQL through psycopg 3, autocommit unless inside :meth:`transaction`."""

    def __init__(self, dsn: str) -> None:
        import psycopg  # local only: the Lambda runtime has no psycopg
        from psycopg.rows import dict_row

        self._connection = psycopg.connect(dsn, autocommit=True, row_factory=dict_row)

    def query(self, sql: str, parameters: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        with self._connection.cursor() as cursor:
            if parameters:
                cursor.execute(psycopg_sql(sql), dict(parameters))
            else:
                cursor.execute(sql)
            return [dict(row) for row in cursor.fetchall()] if cursor.description else []

    def execute(self, sql: str) -> None:
        with self._connection.cursor() as cursor:
            cursor.execute(sql)

    @contextmanager
    def transaction(self) -> Iterator[PsycopgDatabase]:
        with self._connection.transaction():
            yield self

    def close(self) -> None:
        self._connection.close()


# -- which database: the contract ------------------------------------------------------------

_DATA_API_VARIABLES = ("AURORA_CLUSTER_ARN", "AURORA_SECRET_ARN", "AURORA_DATABASE_NAME")


@dataclass(frozen=True)
class DatabaseSettings:
    """The database a function addresses: a local DSN, or the Data API target (all three of it)."""

    cluster_arn: str | None = None
    secret_arn: str | None = None
    database_name: str | None = None
    dsn: str | None = None
    """libpq connection string (local only); when set, the Data API target must not be."""

    def __post_init__(self) -> None:
        target = (self.cluster_arn, self.secret_arn, self.database_name)
        if self.dsn:
            if any(target):
                raise SettingsError(
                    "give AURORA_DATABASE_DSN or the Data API target (AURORA_CLUSTER_ARN, ...), not both"
                )
            return
        missing = [name for name, value in zip(_DATA_API_VARIABLES, target, strict=True) if not value]
        if missing:
            raise SettingsError(f"set {', '.join(missing)} (or AURORA_DATABASE_DSN for a local database)")

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> DatabaseSettings:
        env = Environ(environ)
        dsn = env.text("AURORA_DATABASE_DSN")
        if dsn:  # a local database: the Data API variables are ignored
            return cls(dsn=dsn)
        cluster_arn, secret_arn, database_name = (env.text(name) for name in _DATA_API_VARIABLES)
        return cls(cluster_arn=cluster_arn, secret_arn=secret_arn, database_name=database_name)

    def to_environ(self) -> dict[str, str]:
        return render(
            {
                "AURORA_DATABASE_DSN": self.dsn,
                "AURORA_CLUSTER_ARN": self.cluster_arn,
                "AURORA_SECRET_ARN": self.secret_arn,
                "AURORA_DATABASE_NAME": self.database_name,
            }
        )

    def connect(self, clients: Clients) -> Database:
        """The database (psycopg connects now; the Data API needs no connection)."""
        if self.dsn:
            return PsycopgDatabase(self.dsn)
        assert self.cluster_arn and self.secret_arn and self.database_name  # __post_init__
        return DataApiDatabase(clients("rds-data"), self.cluster_arn, self.secret_arn, self.database_name)


# -- the outbox ---------------------------------------------------------------------------------


class ClaimStatus(StrEnum):
    """What ``hookstack.claim_event`` (sql/002_outbox.sql) says about one event (the SQL's spelling)."""

    CLAIMED = "claimed"
    """Committed and now leased to the caller: publish it, then mark it published."""
    PUBLISHED = "published"
    """Already published (a duplicate invocation)."""
    LEASED = "leased"
    """Another worker holds it, or it is backing off after a failure: the sweeper owns it."""
    PENDING = "pending"
    """Not visible yet: its transaction is still in progress."""
    ROLLED_BACK = "rolled_back"
    """Its transaction aborted after the trigger ran: never publish."""
    MISSING = "missing"
    """Not there and its transaction is not in progress (purged after publication, or unknown)."""

    @classmethod
    def _missing_(cls, value: object) -> ClaimStatus:
        # The SQL and this enum disagree (a migration ahead of the code?): say so, naming both sides.
        known = ", ".join(status.value for status in cls)
        raise ValueError(f"hookstack.claim_event returned status {value!r}; the relay knows {known}")


@dataclass(frozen=True)
class OutboxRow:
    event_id: str
    tenant_id: str
    event_type: str
    detail: dict[str, Any]
    created_at: datetime | None
    attempts: int

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> OutboxRow:
        detail = record["detail"]
        created = record.get("created_at")
        return cls(
            event_id=str(record["event_id"]),
            tenant_id=str(record["tenant_id"]),
            event_type=str(record["event_type"]),
            detail=json.loads(detail) if isinstance(detail, str) else dict(detail),
            created_at=datetime.fromisoformat(created.replace("Z", "+00:00")) if created else None,
            attempts=int(record.get("attempts") or 0),
        )


@dataclass(frozen=True)
class Claim:
    status: ClaimStatus
    row: OutboxRow | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", ClaimStatus(self.status))  # refuses a status the relay does not know


@dataclass(frozen=True)
class Backlog:
    unpublished: int
    oldest_seconds: float
    failing: int


def _ids(event_ids: Sequence[str]) -> str:
    # The Data API takes no array parameters: the ids travel as one JSON text.
    return json.dumps(list(event_ids))


class Outbox:
    """``hookstack.outbox`` operations; every method is one auto-committed statement."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def claim(self, event_id: str, txid: int, lease_seconds: int) -> Claim:
        rows = self.database.query(
            "SELECT status, event_id, tenant_id, event_type, detail, created_at, attempts "
            "FROM hookstack.claim_event(:event_id, CAST(:txid AS bigint), CAST(:lease AS integer))",
            {"event_id": event_id, "txid": txid, "lease": lease_seconds},
        )
        record = rows[0]
        status = ClaimStatus(record["status"])
        return Claim(status, OutboxRow.from_record(record) if status is ClaimStatus.CLAIMED else None)

    def claim_due(self, grace_seconds: int, lease_seconds: int, limit: int) -> list[OutboxRow]:
        rows = self.database.query(
            "SELECT event_id, tenant_id, event_type, detail, created_at, attempts "
            "FROM hookstack.claim_due(CAST(:grace AS integer), CAST(:lease AS integer), CAST(:limit AS integer))",
            {"grace": grace_seconds, "lease": lease_seconds, "limit": limit},
        )
        return [OutboxRow.from_record(row) for row in rows]

    def mark_published(self, event_ids: Sequence[str]) -> int:
        if not event_ids:
            return 0
        rows = self.database.query(
            "SELECT hookstack.mark_published(ARRAY(SELECT jsonb_array_elements_text(CAST(:ids AS jsonb)))) AS marked",
            {"ids": _ids(event_ids)},
        )
        return int(rows[0]["marked"])

    def release(self, event_ids: Sequence[str], error: str) -> int:
        if not event_ids:
            return 0
        rows = self.database.query(
            "SELECT hookstack.release(ARRAY(SELECT jsonb_array_elements_text(CAST(:ids AS jsonb))), :error) AS released",
            {"ids": _ids(event_ids), "error": error[:1000]},
        )
        return int(rows[0]["released"])

    def purge(self, retention_days: int, limit: int = 10_000) -> int:
        rows = self.database.query(
            "SELECT hookstack.purge_published(CAST(:days AS integer), CAST(:limit AS integer)) AS purged",
            {"days": retention_days, "limit": limit},
        )
        return int(rows[0]["purged"])

    def backlog(self) -> Backlog:
        record = self.database.query("SELECT unpublished, oldest_seconds, failing FROM hookstack.backlog()")[0]
        return Backlog(int(record["unpublished"]), float(record["oldest_seconds"]), int(record["failing"]))
