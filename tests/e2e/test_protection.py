"""Phase 2 of the endpoint model through the sandbox (the real handlers on moto): a v1a signature
verified with libsodium and the served public key, one OAuth token for many deliveries, a rate limit
observed at the receiver, and a circuit breaker that opens and recovers."""

from __future__ import annotations

import base64
import time
from typing import Any

import pytest
import requests
from nacl.signing import VerifyKey

from functions.delivery import v1a
from sandbox.receiver import Receiver
from tests.e2e.conftest import BREAKER_EVENT_IDS, publish_to_tenant_8

pytestmark = pytest.mark.e2e


_publish = publish_to_tenant_8


def test_a_v1a_delivery_verifies_with_the_served_public_key(sandbox_state: dict[str, Any], receiver: Receiver) -> None:
    public = sandbox_state["signing_public_keys"]["8"]["ledger"]
    served = requests.get(f"{sandbox_state['subscriptions_api']}/tenants/8/endpoints/cfg_ledger/public-key", timeout=15)
    assert served.status_code == 200 and served.json()["publicKey"] == public
    _publish(sandbox_state, "ledger.entry", "evt_ledger_1")
    (request,) = receiver.wait_for("/t8/ledger", 1, timeout=30, containing="evt_ledger_1")
    headers = request["headers"]
    version, _, signature = headers["webhook-signature"].partition(",")
    assert version == "v1a"
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.{request['body']}".encode()
    VerifyKey(v1a.public_key_bytes(public)).verify(signed, base64.b64decode(signature))  # raises if forged


def test_one_oauth_token_serves_many_deliveries(sandbox_state: dict[str, Any], receiver: Receiver) -> None:
    ids = [f"evt_token_{n}" for n in range(6)]
    _publish(sandbox_state, "token.use", *ids)
    deliveries = receiver.wait_for("/t8/tokens", len(ids), timeout=30)
    assert len(deliveries) == len(ids)
    assert len({d["headers"]["authorization"] for d in deliveries}) == 1
    worker_tokens = [t for t in receiver.tokens if t["form"].get("scope") == "e2e-worker"]
    assert len(worker_tokens) == 1 and worker_tokens[0]["granted"]


def test_the_rate_limit_paces_deliveries_at_the_receiver(sandbox_state: dict[str, Any], receiver: Receiver) -> None:
    ids = [f"evt_paced_{n}" for n in range(8)]
    _publish(sandbox_state, "paced.tick", *ids)
    deliveries = receiver.wait_for("/t8/paced", len(ids), timeout=60)
    assert len(deliveries) == len(ids)  # delayed, none dropped
    times = sorted(d["time"] for d in deliveries)
    # 2 per second after a bucket of 2: the eighth slot is 3 s after the first.
    assert times[-1] - times[0] >= 2.5
    # SQS hides a delayed task for whole seconds, so arrivals bunch at second boundaries; no window of
    # one second holds more than the bucket plus one second's rate.
    assert max(sum(1 for t in times if start <= t < start + 1) for start in times) <= 4


def test_the_breaker_opens_and_recovers(sandbox_state: dict[str, Any], receiver: Receiver) -> None:
    ids = BREAKER_EVENT_IDS  # published when the sandbox started (conftest.start_slow_scenarios)
    # 5 failures: the 4 first attempts open the breaker (3 in a row), the first probe fails and opens it again.
    # Usually ~15 s; but a delivery the breaker skips uses up an attempt, and the schedule (scaled 0.01:
    # 0.05, 3, 18, 72 s, fully jittered) can put a twice-skipped one 90 s out: wait for that, not less.
    delivered = receiver.wait_for("/flaky/5/t8/fragile", len(ids), timeout=150, status=200)
    assert {next(i for i in ids if i in d["body"]) for d in delivered} == set(ids)
    api = sandbox_state["subscriptions_api"]
    attempts = requests.get(f"{api}/tenants/8/endpoints/cfg_fragile/attempts", params={"limit": "100"}, timeout=15)
    errors = [a.get("error") or "" for a in attempts.json()["data"]]
    assert any(e.startswith("circuit breaker") for e in errors), errors  # the endpoint rested (open or probing)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        endpoint = requests.get(f"{api}/tenants/8/endpoints/cfg_fragile", timeout=15).json()
        if endpoint["circuitBreaker"]["state"] == "closed":
            break
        time.sleep(0.2)
    assert endpoint["circuitBreaker"] == {"state": "closed", "consecutiveFailedAttempts": 0}
