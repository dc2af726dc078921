"""Database writes become webhooks through the sandbox: CALL create_widget(...) via postgres_dsn."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import psycopg
import pytest
from standardwebhooks.webhooks import Webhook

from sandbox.receiver import Receiver

pytestmark = pytest.mark.e2e


def test_seed_procedure_call_arrives_as_a_webhook(sandbox_state: dict[str, Any], receiver: Receiver) -> None:
    name = f"dbWidget-{uuid.uuid4().hex[:8]}"
    with psycopg.connect(sandbox_state["postgres_dsn"], autocommit=True) as connection:
        connection.execute("CALL create_widget(1, %s)", (name,))
    (crm,) = receiver.wait_for("/t1/crm", 1, timeout=30, containing=name)
    body = json.loads(crm["body"])
    assert body["text"] == f"Widget {name} created"
    assert body["eventId"].startswith("evt_")
    (audit,) = receiver.wait_for("/t1/audit", 1, timeout=30, containing=name)
    secret = sandbox_state["local_secrets"]["tenants[0].destinations[1].auth.secret"]
    payload = Webhook(secret).verify(
        audit["body"], {k: v for k, v in audit["headers"].items() if k.startswith("webhook-")}
    )
    assert payload["type"] == "widget.created"
    assert payload["data"]["widgetName"] == name
    assert audit["headers"]["webhook-id"] == body["eventId"]  # one stable id across both deliveries


def test_rolled_back_write_sends_nothing(sandbox_state: dict[str, Any], receiver: Receiver) -> None:
    name = f"rolledBack-{uuid.uuid4().hex[:8]}"
    with psycopg.connect(sandbox_state["postgres_dsn"]) as connection:
        connection.execute("CALL create_widget(1, %s)", (name,))
        connection.rollback()
    committed = f"committed-{uuid.uuid4().hex[:8]}"
    with psycopg.connect(sandbox_state["postgres_dsn"], autocommit=True) as connection:
        connection.execute("CALL create_widget(1, %s)", (committed,))
    receiver.wait_for("/t1/crm", 1, timeout=30, containing=committed)  # later work went through...
    receiver.wait_for("/t1/audit", 1, timeout=30, containing=committed)
    assert not [r for r in receiver.received("/t1") if name in r["body"]]  # ...the rolled-back write never did


def test_failed_invoke_still_commits_and_the_sweeper_delivers(
    sandbox_state: dict[str, Any], receiver: Receiver
) -> None:
    name = f"swept-{uuid.uuid4().hex[:8]}"
    with psycopg.connect(sandbox_state["postgres_dsn"], autocommit=True) as connection:
        connection.execute("UPDATE aws_lambda_double.behaviour SET fail_next = 1")
        connection.execute("CALL create_widget(1, %s)", (name,))
        assert connection.execute("SELECT count(*) FROM widget WHERE widget_name = %s", (name,)).fetchone() == (1,)
        failed = connection.execute(
            "SELECT count(*) FROM aws_lambda_double.invocations WHERE NOT succeeded AND payload::text LIKE '%%evt_%%'"
        ).fetchone()
        assert failed is not None and failed[0] >= 1
    started = time.monotonic()
    (crm,) = receiver.wait_for("/t1/crm", 1, timeout=60, containing=name)
    assert json.loads(crm["body"])["text"] == f"Widget {name} created"
    assert time.monotonic() - started < 60
