"""Test events end to end in the running sandbox (docs/endpoints.md, "Test events"): a tenant's token
on the self-service API sends one to a config-declared worker endpoint, which receives it through the
worker with its auth, static header, transform and v1 signature; the API answers the attempt. The
event-type catalog and the OpenAPI document are served on both APIs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import requests
from standardwebhooks.webhooks import Webhook

from sandbox.receiver import Receiver
from tests.e2e.conftest import ROOT, WORKER_SIGNING_SECRET

pytestmark = pytest.mark.e2e


def _token(state: dict[str, Any], tenant: str, scopes: list[str]) -> str:
    response = requests.post(
        f"{state['subscriptions_api']}/tenants/{tenant}/tokens",
        json={"scopes": scopes, "expiresInSeconds": 600},
        timeout=15,
    )
    assert response.status_code == 201, response.text
    return str(response.json()["token"])


def test_a_test_event_reaches_the_endpoint_through_the_worker_and_answers_the_attempt(
    sandbox_state: dict[str, Any], receiver: Receiver
) -> None:
    base = sandbox_state["self_service_api_url"]
    bearer = {"Authorization": f"Bearer {_token(sandbox_state, '7', ['endpoints:write'])}"}
    response = requests.post(f"{base}/tenants/7/endpoints/cfg_crm/test", json={}, headers=bearer, timeout=30)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["eventType"] == "hookstack.test" and result["status"] == "succeeded"
    assert result["attempt"]["outcome"] == "succeeded" and result["attempt"]["statusCode"] == 200
    (request,) = receiver.wait_for("/t7/crm", 1, timeout=10, containing=result["eventId"])
    headers = request["headers"]
    assert headers["x-api-key"] == "e2e-worker-key" and headers["x-team"] == "billing"
    payload = Webhook(WORKER_SIGNING_SECRET).verify(
        request["body"], {k: v for k, v in headers.items() if k.startswith("webhook-")}
    )
    assert payload["eventId"] == result["eventId"] and payload["type"] == "hookstack.test"  # the transform's
    # Another tenant's endpoint, or a token without endpoints:write: refused before anything is sent.
    assert requests.post(f"{base}/tenants/8/endpoints/cfg_ledger/test", headers=bearer, timeout=15).status_code == 403
    reader = {"Authorization": f"Bearer {_token(sandbox_state, '7', ['endpoints:read'])}"}
    assert requests.post(f"{base}/tenants/7/endpoints/cfg_crm/test", headers=reader, timeout=15).status_code == 403
    # Any token reads the catalog (none configured in this stack: every type may be subscribed to).
    catalog = requests.get(f"{base}/event-types", headers=reader, timeout=15)
    assert catalog.status_code == 200 and catalog.json() == {"data": [], "enforced": False}


def test_both_apis_serve_the_committed_openapi_document(sandbox_state: dict[str, Any]) -> None:
    committed = json.loads((Path(ROOT) / "docs" / "openapi.json").read_text())
    for base in (sandbox_state["subscriptions_api"], sandbox_state["self_service_api_url"]):
        response = requests.get(f"{base}/openapi.json", timeout=15)  # no credentials
        assert response.status_code == 200 and response.json() == committed, base
