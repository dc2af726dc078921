"""The handlers against a moto *server* through ``AWS_ENDPOINT_URL`` (how the local sandbox runs them).

Also counts the AWS calls one webhook costs and times the handler.
"""

from __future__ import annotations

import json
import statistics
import time

import pytest

from functions.inbound import enrich, ingest
from functions.inbound.verify import SignedRequest
from tests.functions.inbound import signers
from tests.functions.inbound.conftest import create_stack, function_url_event, status
from tests.functions.inbound.test_enrich import pipes_batch
from tests.functions.inbound.test_ingest import github_request


@pytest.fixture
def server_stack(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    stack = create_stack(monkeypatch, share_session=False)  # clients as the handlers build them
    yield stack
    ingest.reset()
    enrich.reset()


def count_calls(rt: ingest.Runtime) -> list[str]:
    """Every AWS API call the handler's clients make from now on (botocore's before-call hook)."""
    calls: list[str] = []
    for client in (rt.secretsmanager, rt.dynamodb, rt.s3, rt.sqs):
        client.meta.events.register("before-call.*.*", lambda model, **_: calls.append(model.name))
    return calls


def test_ingest_and_enrich_work_through_aws_endpoint_url(server_stack, moto_endpoint: str) -> None:  # type: ignore[no-untyped-def]
    assert ingest.runtime().sqs.meta.endpoint_url == moto_endpoint
    assert status(ingest.handler(function_url_event("/github", github_request()))) == 200
    assert (
        status(
            ingest.handler(
                function_url_event(
                    "/github", github_request({"repository": {"id": 2}, "x": "y" * 5000}, delivery="d-2")
                )
            )
        )
        == 200
    )
    bodies = [m["Body"] for m in server_stack.messages()]
    assert len(bodies) == 2
    items = enrich.handler(pipes_batch(*bodies))
    assert enrich.s3().meta.endpoint_url == moto_endpoint
    assert sorted(i["detail"]["deliveryId"] for i in items) == ["d-1", "d-2"]
    assert all("payload" in i["detail"] for i in items)  # the claim-checked one was read back from S3


def test_aws_calls_per_webhook_and_latency(server_stack, moto_endpoint: str) -> None:  # type: ignore[no-untyped-def]
    ingest.handler(function_url_event("/github", github_request(delivery="warm-up")))  # secret now cached
    calls = count_calls(ingest.runtime())
    timings = []
    for index in range(10):
        started = time.perf_counter()
        assert status(ingest.handler(function_url_event("/github", github_request(delivery=f"d-{index}")))) == 200
        timings.append(time.perf_counter() - started)
    # Per inline GitHub webhook: look the signed content up (GetItem, eventually consistent),
    # SendMessage, record it (1 PutItem). No S3, no secret read, no completion update.
    assert calls.count("GetItem") == 10 and calls.count("SendMessage") == 10 and calls.count("PutItem") == 10
    assert len(calls) == 30, calls
    # A claim-checked webhook adds one S3 PUT; a retry (same id) costs the lookup only.
    calls.clear()
    large = github_request({"repository": {"id": 3}, "blob": "z" * 5000}, delivery="large")
    assert status(ingest.handler(function_url_event("/github", large))) == 200
    assert sorted(calls) == ["GetItem", "PutItem", "PutObject", "SendMessage"]
    calls.clear()
    assert status(ingest.handler(function_url_event("/github", large))) == 200
    assert calls == ["GetItem"]
    # A replay under a fresh id: the same lookup, nothing written.
    calls.clear()
    replay = SignedRequest(headers={**large.headers, "x-github-delivery": "fresh"}, body=large.body)
    assert status(ingest.handler(function_url_event("/github", replay))) == 200
    assert calls == ["GetItem"]
    # Stripe signs a timestamp: the same three calls, on its event id.
    calls.clear()
    stripe_body = json.dumps({"id": "evt_count", "type": "invoice.paid", "data": {"object": {}}}).encode()
    stripe = signers.stripe_request(stripe_body, "whsec_stripe", timestamp=int(time.time()))
    assert status(ingest.handler(function_url_event("/stripe", stripe))) == 200
    calls.remove("GetSecretValue")  # the stripe source's secret is read once, at its first request
    assert calls == ["GetItem", "SendMessage", "PutItem"]
    # Far within GitHub's 10 s even against a local emulator on a loaded machine.
    assert statistics.median(timings) < 1.0 and max(timings) < 5.0
    print(f"ingest median {statistics.median(timings) * 1000:.1f} ms, max {max(timings) * 1000:.1f} ms")
