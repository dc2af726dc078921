"""The Data API side of functions.outbox: request shapes (validated against the real rds-data
service model by botocore's Stubber), result parsing, retries and transactions. The SQL these
statements call is tested on PostgreSQL in tests/sql/."""

from __future__ import annotations

import json
import os
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from functions import migrate
from functions.outbox import DataApiDatabase, DatabaseSettings, Outbox, data_api_parameters, psycopg_sql

CLUSTER = "arn:aws:rds:us-east-1:123456789012:cluster:hookstack-aurora"
SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!cluster-abc-AbCdEf"
TARGET = {"resourceArn": CLUSTER, "secretArn": SECRET, "database": "hookstack"}


@pytest.fixture
def rds_data():
    client = boto3.client("rds-data", region_name="us-east-1")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def test_query_sends_named_parameters_and_parses_json_records(rds_data):
    client, stubber = rds_data
    stubber.add_response(
        "execute_statement",
        {"formattedRecords": json.dumps([{"status": "claimed", "attempts": 1}])},
        {
            **TARGET,
            "sql": "SELECT * FROM t WHERE a = :a AND b = :b AND c = :c AND d = :d AND e = :e",
            "parameters": [
                {"name": "a", "value": {"stringValue": "x"}},
                {"name": "b", "value": {"longValue": 7}},
                {"name": "c", "value": {"booleanValue": True}},
                {"name": "d", "value": {"doubleValue": 1.5}},
                {"name": "e", "value": {"isNull": True}},
            ],
            "formatRecordsAs": "JSON",
        },
    )
    database = DataApiDatabase(client, CLUSTER, SECRET, "hookstack")

    rows = database.query(
        "SELECT * FROM t WHERE a = :a AND b = :b AND c = :c AND d = :d AND e = :e",
        {"a": "x", "b": 7, "c": True, "d": 1.5, "e": None},
    )

    assert rows == [{"status": "claimed", "attempts": 1}]


def test_statements_without_rows_return_an_empty_list(rds_data):
    client, stubber = rds_data
    stubber.add_response(
        "execute_statement", {"numberOfRecordsUpdated": 0}, {**TARGET, "sql": "SELECT 1", "formatRecordsAs": "JSON"}
    )
    assert DataApiDatabase(client, CLUSTER, SECRET, "hookstack").query("SELECT 1") == []


def test_a_resuming_database_is_retried_outside_transactions(rds_data):
    client, stubber = rds_data
    stubber.add_client_error("execute_statement", "DatabaseResumingException", "resuming")
    stubber.add_response("execute_statement", {"formattedRecords": "[]"})
    sleeps: list[float] = []

    DataApiDatabase(client, CLUSTER, SECRET, "hookstack", sleep=sleeps.append).query("SELECT 1")

    assert sleeps == [2.0]


def test_other_errors_are_not_retried(rds_data):
    client, stubber = rds_data
    stubber.add_client_error("execute_statement", "BadRequestException", "syntax error")
    with pytest.raises(client.exceptions.BadRequestException):
        DataApiDatabase(client, CLUSTER, SECRET, "hookstack", sleep=lambda _: None).query("SELEC 1")


def test_transactions_commit_with_the_transaction_id(rds_data):
    client, stubber = rds_data
    stubber.add_response("begin_transaction", {"transactionId": "tx-1"}, TARGET)
    stubber.add_response(
        "execute_statement",
        {},
        {**TARGET, "sql": "CREATE TABLE x (a int)", "continueAfterTimeout": True, "transactionId": "tx-1"},
    )
    stubber.add_response(
        "commit_transaction",
        {"transactionStatus": "Transaction Committed"},
        {"resourceArn": CLUSTER, "secretArn": SECRET, "transactionId": "tx-1"},
    )
    database = DataApiDatabase(client, CLUSTER, SECRET, "hookstack")

    with database.transaction():
        database.execute("CREATE TABLE x (a int)")


def test_a_failing_statement_rolls_the_transaction_back_without_retrying(rds_data):
    client, stubber = rds_data
    stubber.add_response("begin_transaction", {"transactionId": "tx-2"}, TARGET)
    stubber.add_client_error("execute_statement", "DatabaseResumingException", "resuming")
    stubber.add_response(
        "rollback_transaction",
        {"transactionStatus": "Rollback Complete"},
        {"resourceArn": CLUSTER, "secretArn": SECRET, "transactionId": "tx-2"},
    )
    database = DataApiDatabase(client, CLUSTER, SECRET, "hookstack", sleep=lambda _: None)

    with pytest.raises(client.exceptions.DatabaseResumingException), database.transaction():
        database.execute("CREATE TABLE x (a int)")


def test_unsupported_parameter_types_are_named():
    with pytest.raises(TypeError, match="parameter 'ids': list is not supported"):
        data_api_parameters({"ids": ["a"]})


def test_psycopg_placeholders_keep_casts_and_percent_signs():
    sql = "SELECT CAST(:ids AS jsonb)::text, 'x%', :event_id, 5::int, '10:30'"
    assert psycopg_sql(sql) == "SELECT CAST(%(ids)s AS jsonb)::text, 'x%%', %(event_id)s, 5::int, '10:30'"


class RecordingDatabase:
    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows
        self.calls: list[tuple[str, dict[str, Any] | None]] = []

    def query(self, sql: str, parameters: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        self.calls.append((sql, parameters))
        return self.rows


def test_outbox_claim_parses_the_claimed_row():
    database = RecordingDatabase(
        [
            {
                "status": "claimed",
                "event_id": "evt_1",
                "tenant_id": "7",
                "event_type": "t.x",
                "detail": '{"a": 1}',
                "created_at": "2026-01-02T03:04:05.678901Z",
                "attempts": 1,
            }
        ]
    )

    claim = Outbox(database).claim("evt_1", 42, 60)  # type: ignore[arg-type]

    assert claim.status == "claimed"
    assert claim.row is not None
    assert claim.row.detail == {"a": 1}
    assert claim.row.created_at is not None and claim.row.created_at.isoformat() == "2026-01-02T03:04:05.678901+00:00"
    assert database.calls[0][1] == {"event_id": "evt_1", "txid": 42, "lease": 60}


def test_outbox_passes_id_lists_as_json_text():
    database = RecordingDatabase([{"marked": 2}])
    assert Outbox(database).mark_published(["evt_a", "evt_b"]) == 2  # type: ignore[arg-type]
    assert database.calls[0][1] == {"ids": '["evt_a", "evt_b"]'}
    assert Outbox(database).mark_published([]) == 0, "no call for nothing"  # type: ignore[arg-type]
    assert len(database.calls) == 1


def test_database_settings_name_the_missing_variables(monkeypatch):
    for name in ("AURORA_DATABASE_DSN", "AURORA_CLUSTER_ARN", "AURORA_SECRET_ARN", "AURORA_DATABASE_NAME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AURORA_CLUSTER_ARN", CLUSTER)
    with pytest.raises(RuntimeError, match="set AURORA_SECRET_ARN, AURORA_DATABASE_NAME"):
        DatabaseSettings.from_environ(os.environ)


def test_lambda_uses_the_data_api_once_per_process(monkeypatch):
    monkeypatch.delenv("AURORA_DATABASE_DSN", raising=False)
    monkeypatch.setenv("AURORA_CLUSTER_ARN", CLUSTER)
    monkeypatch.setenv("AURORA_SECRET_ARN", SECRET)
    monkeypatch.setenv("AURORA_DATABASE_NAME", "hookstack")
    migrate.reset()
    try:
        database = migrate._state.get()
        assert isinstance(database, DataApiDatabase)
        assert migrate._state.get() is database, "one per process"
    finally:
        migrate.reset()
