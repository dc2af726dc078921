"""Signed deliveries through the sandbox, checked with the official standardwebhooks library."""

from __future__ import annotations

import http.client
import json
import time
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from standardwebhooks.webhooks import Webhook

from functions.events import make_event, publish
from sandbox.receiver import Receiver
from tests.e2e.conftest import state_client

pytestmark = pytest.mark.e2e


def verify(secret: str, request: dict[str, Any]) -> dict[str, Any]:
    headers = {k: v for k, v in request["headers"].items() if k.startswith("webhook-")}
    return Webhook(secret).verify(request["body"], headers)


def test_config_declared_signed_destination_receives_verifiable_deliveries(
    sandbox_state: dict[str, Any], receiver: Receiver
) -> None:
    secret = sandbox_state["local_secrets"]["tenants[0].destinations[1].auth.secret"]
    publish(
        state_client(sandbox_state, "events"),
        [make_event("e2e", "widget.created", {"widgetName": "S1"}, tenant_id="1", event_id="evt_signed_1")],
        sandbox_state["bus_names"][0],
    )
    (request,) = receiver.wait_for("/t1/audit", 1, timeout=30, containing="evt_signed_1")
    assert request["headers"]["webhook-id"] == "evt_signed_1"
    payload = verify(secret, request)
    assert payload["type"] == "widget.created"
    assert payload["data"]["widgetName"] == "S1"
    with pytest.raises(Exception, match=r"(?i)signature"):
        Webhook(secret).verify(
            request["body"].replace("S1", "S2"),
            {k: v for k, v in request["headers"].items() if k.startswith("webhook-")},
        )


def test_endpoint_created_through_the_api_retries_and_records_history(
    sandbox_state: dict[str, Any], receiver: Receiver
) -> None:
    api = sandbox_state["subscriptions_api"]
    created = requests.post(
        f"{api}/tenants/2/endpoints",
        json={"url": f"{receiver.url}/flaky/2/t2/signed", "eventTypes": ["order.paid"], "description": "e2e"},
        timeout=15,
    )
    assert created.status_code == 201, created.text
    endpoint = created.json()
    secret = endpoint["secret"]
    assert secret.startswith("whsec_")
    # No wait: the sandbox's fan-out has no endpoint cache (the deployed one caches a tenant's list 10 s).
    publish(
        state_client(sandbox_state, "events"),
        [make_event("e2e", "order.paid", {"total": 42}, tenant_id="2", event_id="evt_signed_2")],
        sandbox_state["bus_names"][0],
    )
    deliveries = receiver.wait_for("/flaky/2/t2/signed", 3, timeout=60, containing="evt_signed_2")
    assert [r["status"] for r in deliveries][:3] == [503, 503, 200]
    assert verify(secret, deliveries[2])["data"]["total"] == 42
    endpoint_id = endpoint.get("endpointId") or endpoint.get("id")
    deadline = time.monotonic() + 20
    attempts: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        attempts = requests.get(f"{api}/tenants/2/endpoints/{endpoint_id}/attempts", timeout=15).json()["data"]
        if len(attempts) >= 3:
            break
        time.sleep(0.5)
    statuses = [a.get("statusCode") for a in attempts]
    assert statuses[:3] == [200, 503, 503]  # newest first


def test_private_addresses_are_refused_by_the_api(sandbox_state: dict[str, Any]) -> None:
    response = requests.post(
        f"{sandbox_state['subscriptions_api']}/tenants/2/endpoints",
        json={"url": "https://169.254.169.254/latest"},
        timeout=15,
    )
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "url"


def test_the_sandbox_api_refuses_ipv6_metadata_forms_and_encoded_ids_over_real_http(
    sandbox_state: dict[str, Any],
) -> None:
    api = sandbox_state["subscriptions_api"]
    for url in ("https://[::ffff:0:a9fe:a9fe]/latest", "https://[::FFFF:0:169.254.169.254]/", "https://[3fff::1]/"):
        response = requests.post(f"{api}/tenants/2/endpoints", json={"url": url}, timeout=15)
        assert response.status_code == 400 and response.json()["error"]["field"] == "url", url
    # The path reaches the handler as sent (http.client: requests would normalise %32 to "2"): an
    # encoded id is refused, never decoded.
    parts = urlsplit(api)
    for path in ("/tenants/%32/endpoints", "/tenants/1%2F..%2F2/endpoints", "/tenants/2/messages/x%2F..%2F..%2F1"):
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=15)
        connection.request("GET", path)
        response = connection.getresponse()
        body = json.loads(response.read())
        connection.close()
        assert response.status == 400 and "percent-encoded" in body["error"]["message"], path
    deep = requests.post(
        f"{api}/tenants/2/endpoints", data="[" * 60_000, headers={"content-type": "application/json"}, timeout=15
    )
    assert deep.status_code == 400 and "deeper than" in deep.json()["error"]["message"]
