"""The operator view's routes: every tenant's endpoints with their health, the dead-letter queue
depths, open to IAM callers and operator tokens only (docs/portal.md#the-operator-view)."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest

from components.config import DeliverySettings
from components.specs.delivery import delivery_spec
from functions.delivery import api, routes, store
from functions.delivery.api import operator as operator_api
from functions.delivery.api.operator import HEALTH_WINDOW, endpoint_health
from tests.functions.delivery.conftest import DeliveryStack, configure

URL = "https://hooks.example.com/webhooks"
TENANT_SCOPES = " ".join(routes.TENANT_SCOPES)


def call_with_token(claims: dict[str, Any], method: str, path: str) -> tuple[int, Any]:
    """A request as the self-service API's JWT authorizer passes it on (verified claims)."""
    event = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {},
        "requestContext": {
            "http": {"method": method, "path": path},
            "requestId": f"req-{uuid.uuid4().hex[:8]}",
            "authorizer": {"jwt": {"claims": claims, "scopes": None}},
        },
        "body": None,
        "isBase64Encoded": False,
    }
    response = api.handler(event, None)
    return response["statusCode"], json.loads(response["body"])


def attempt(tenant: str, endpoint_id: str, outcome: str, at: float) -> store.AttemptRecord:
    return store.AttemptRecord(tenant, endpoint_id, f"evt_{uuid.uuid4().hex[:8]}", "t", 1, 1, at, URL, outcome)


def test_health_is_the_success_rate_of_the_newest_window() -> None:
    assert endpoint_health([]) == {"attempts": 0, "succeeded": 0, "successRate": None}
    newest_first = [{"outcome": "failed"}] * 10 + [{"outcome": "succeeded"}] * (HEALTH_WINDOW + 5)
    assert endpoint_health(newest_first) == {
        "attempts": HEALTH_WINDOW,
        "succeeded": HEALTH_WINDOW - 10,
        "successRate": round((HEALTH_WINDOW - 10) / HEALTH_WINDOW, 4),
    }


def test_operators_see_every_tenant_with_health_and_the_dead_letter_depths(
    stack: DeliveryStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure(monkeypatch, DEAD_LETTER_QUEUE_URLS=stack.dead_letter_url)
    healthy = stack.create_endpoint("acme", URL)
    failing = stack.create_endpoint("globex", URL)
    table = store.DeliveryTable(stack.dynamodb, "hookstack-delivery-test")
    now = time.time()
    for index in range(4):
        table.put_attempt(attempt("acme", healthy["id"], "succeeded", now - index), int(now) + 600)
        table.put_attempt(
            attempt("globex", failing["id"], "failed" if index else "succeeded", now - index), int(now) + 600
        )
    for _ in range(3):
        stack.sqs.send_message(QueueUrl=stack.dead_letter_url, MessageBody="{}")

    status, tenants = stack.api("GET", "/operator/tenants")
    assert status == 200, tenants
    assert [t["tenantId"] for t in tenants["data"]] == ["acme", "globex"] and tenants["truncated"] is False
    by_tenant = {t["tenantId"]: t["endpoints"] for t in tenants["data"]}
    assert by_tenant["acme"][0]["id"] == healthy["id"]
    assert by_tenant["acme"][0]["health"] == {"attempts": 4, "succeeded": 4, "successRate": 1.0}
    assert by_tenant["globex"][0]["health"]["successRate"] == 0.25
    assert by_tenant["globex"][0]["circuitBreaker"]["state"] == "closed"
    assert "secret" not in json.dumps(tenants).lower().replace("signing", "")  # no secret in the view

    # Past MAX_ENDPOINTS the later tenants are left out whole (one health query per endpoint listed:
    # 200 tenants of 100 endpoints would run past the API's timeout and Lambda's 6 MB answer).
    stack.create_endpoint("globex", URL)
    monkeypatch.setattr(operator_api, "MAX_ENDPOINTS", 2)
    status, capped = stack.api("GET", "/operator/tenants")
    assert status == 200 and capped["truncated"] is True
    assert [t["tenantId"] for t in capped["data"]] == ["acme"]
    assert capped["data"][0]["endpoints"][0]["health"]["successRate"] == 1.0
    monkeypatch.setattr(operator_api, "MAX_ENDPOINTS", 3)
    assert [t["tenantId"] for t in stack.api("GET", "/operator/tenants")[1]["data"]] == ["acme", "globex"]

    status, queues = stack.api("GET", "/operator/dead-letter-queues")
    assert status == 200
    assert queues["data"] == [{"name": "delivery-dlq", "url": stack.dead_letter_url, "depth": 3, "inFlight": 0}]

    # An operator token reaches them; a tenant token (even with every tenant scope) does not.
    operator = {"sub": "operator", "scope": routes.OPERATOR_SCOPE}
    assert call_with_token(operator, "GET", "/operator/tenants")[0] == 200
    assert call_with_token(operator, "GET", "/operator/dead-letter-queues")[0] == 200
    for path in ("/operator/tenants", "/operator/dead-letter-queues"):
        status, document = call_with_token({"sub": "acme", "scope": TENANT_SCOPES}, "GET", path)
        assert status == 403, document


def test_the_routes_need_the_operator_scope_and_belong_to_no_tenant() -> None:
    operator_routes = [r for r in routes.ROUTES if r.path.startswith("/operator/") and r.method == "GET"]
    assert {r.path for r in operator_routes} == {"/operator/tenants", "/operator/dead-letter-queues"}
    assert all(r.scope == routes.OPERATOR_SCOPE for r in operator_routes)
    assert not set(operator_routes) & set(routes.TENANT_ROUTES)  # never in a tenant's IAM policy


def test_the_api_role_may_scan_its_table_and_read_only_the_dead_letter_queues_depths() -> None:
    spec = delivery_spec(DeliverySettings())
    statements = spec.api_statements(
        table_arn="arn:table",
        indexes_arn="arn:table/index/*",
        tasks_queue_arn="arn:tasks",
        endpoint_secrets_arn="arn:secrets",
        dead_letter_queue_arns=["arn:dlq", "arn:events-dlq"],
    )
    by_sid = {s["Sid"]: s for s in statements}
    assert by_sid["ListTenantsForOperators"]["Action"] == ["dynamodb:Scan"]
    assert by_sid["ListTenantsForOperators"]["Resource"] == ["arn:table"]  # not the indexes
    assert by_sid["ReadDeadLetterDepths"] == {
        "Sid": "ReadDeadLetterDepths",
        "Effect": "Allow",
        "Action": ["sqs:GetQueueAttributes"],
        "Resource": ["arn:dlq", "arn:events-dlq"],
    }
