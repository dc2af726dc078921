"""Many concurrent identical requests: every one is answered 200 and exactly one message is enqueued.

The ingest looks a delivery up, sends, then records it (docs/consumer.md, "Idempotency"). Requests
that all look up before any of them recorded all send, with one deduplication id: SQS FIFO keeps one
message. moto runs here with AWS's documented FIFO deduplication (sandbox/moto_sqs.py); the worst
case is forced by holding every request after its lookup until all of them have looked up.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from functions.inbound import ingest
from functions.inbound.envelope import parse_envelope
from functions.inbound.verify import SignedRequest
from sandbox.moto_sqs import install_fifo_deduplication
from tests.functions.inbound import signers
from tests.functions.inbound.conftest import InboundStack, body_of, status
from tests.functions.inbound.test_ingest import github_request, send

COPIES = 12


@pytest.fixture
def stack(inbound_stack: InboundStack, monkeypatch: pytest.MonkeyPatch) -> InboundStack:
    install_fifo_deduplication(monkeypatch.setattr)
    return inbound_stack


def hold_after_lookup(copies: int) -> None:
    """Every request waits after its ledger lookup until all ``copies`` have looked up: none has
    recorded yet, so every one of them sends (the window SQS's deduplication must cover)."""
    rt = ingest.runtime()
    real = rt.dynamodb.get_item
    everyone_looked_up = threading.Barrier(copies, timeout=20)
    held = iter(range(copies))  # only the racing requests wait; a later one looks up freely

    def get_item(**kwargs: Any) -> Any:
        answer = real(**kwargs)
        if next(held, None) is not None:
            everyone_looked_up.wait()
        return answer

    rt.dynamodb.get_item = get_item


def concurrently(requests: list[Callable[[], dict[str, Any]]]) -> list[dict[str, Any]]:
    with ThreadPoolExecutor(max_workers=len(requests)) as pool:
        return list(pool.map(lambda call: call(), requests))


def stripe_request() -> SignedRequest:
    body = json.dumps({"id": "evt_same", "type": "invoice.paid", "data": {"object": {"customer": "cus_1"}}})
    return signers.stripe_request(body.encode(), "whsec_stripe", timestamp=int(time.time()))


@pytest.mark.parametrize("forced", [True, False], ids=["all-look-up-first", "free-running"])
def test_identical_concurrent_requests_enqueue_exactly_once(stack: InboundStack, forced: bool) -> None:
    if forced:
        hold_after_lookup(COPIES)
    request = github_request()
    answers = concurrently([lambda: send("/github", request)] * COPIES)
    assert [status(a) for a in answers] == [200] * COPIES
    assert {body_of(a)["status"] for a in answers} <= {"accepted", "duplicate"}
    assert len({body_of(a)["eventId"] for a in answers}) == 1
    if forced:  # nobody saw a record: each one sent, SQS kept one
        assert {body_of(a)["status"] for a in answers} == {"accepted"}
    assert len(stack.messages()) == 1
    assert len(stack.client("dynamodb").scan(TableName=stack.table)["Items"]) == 1
    assert body_of(send("/github", request))["status"] == "duplicate"  # and afterwards, from the ledger


def test_concurrent_replays_under_fresh_ids_enqueue_exactly_once(stack: InboundStack) -> None:
    """GitHub signs no delivery id: copies of one signed request under many ids are one delivery."""
    hold_after_lookup(COPIES)
    original = github_request()

    def replay(index: int) -> Callable[[], dict[str, Any]]:
        relabelled = SignedRequest(headers={**original.headers, "x-github-delivery": f"id-{index}"}, body=original.body)
        return lambda: send("/github", relabelled)

    answers = concurrently([replay(i) for i in range(COPIES)])
    assert [status(a) for a in answers] == [200] * COPIES
    [message] = stack.messages()
    assert parse_envelope(message["Body"]).delivery_id in {f"id-{i}" for i in range(COPIES)}
    assert body_of(send("/github", original))["status"] == "duplicate"


def test_concurrent_retries_of_a_timestamped_kind_enqueue_exactly_once(stack: InboundStack) -> None:
    hold_after_lookup(COPIES)
    request = stripe_request()
    answers = concurrently([lambda: send("/stripe", request)] * COPIES)
    assert [status(a) for a in answers] == [200] * COPIES
    [message] = stack.messages()
    assert message["Attributes"]["MessageGroupId"] == "stripe:cus_1"
    assert body_of(send("/stripe", request))["status"] == "duplicate"
