"""Issue #14's cost targets, priced with the benchmark's own prices on the requests the ingest makes.

``benchmarks/requests_per_webhook.py`` measures the same on the sandbox (docs/benchmarks/); this
keeps the targets from regressing in the fast suite: a 1 KB verified, deduplicated, ordered webhook
costs at most $1.45 per million at ingest and $3.00 to an event on the bus.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from benchmarks.requests_per_webhook import EVENTUAL, INBOUND_CHARGES, INGEST_REQUEST, cost
from functions.inbound import ingest
from functions.inbound.verify import SignedRequest
from tests.functions.inbound import signers
from tests.functions.inbound.conftest import InboundStack, body_of
from tests.functions.inbound.test_ingest import github_request, send

AT_INGEST_TARGET = 1.45
TO_THE_BUS_TARGET = 3.00


def record_calls() -> dict[str, int]:
    """The ingest's AWS requests from now on, named as the benchmark prices them."""
    calls: dict[str, int] = {}
    rt = ingest.runtime()

    def seen(model: Any, params: dict[str, Any], **_: Any) -> None:
        service = model.service_model.signing_name
        name = f"{service}:{model.name}"
        if service == "dynamodb" and model.name in ("GetItem", "Query") and not params.get("ConsistentRead"):
            name += EVENTUAL
        calls[name] = calls.get(name, 0) + 1

    for client in (rt.dynamodb, rt.sqs, rt.s3):
        client.meta.events.register("before-call.*.*", seen)
    return calls


def stripe_1kb(event_id: str) -> SignedRequest:
    # About 1 KB, below the fixture's claim-check threshold (1000 bytes): inline, as in the issue.
    document = {"id": event_id, "type": "invoice.paid", "data": {"object": {"customer": "cus_1", "p": "p" * 850}}}
    return signers.stripe_request(json.dumps(document).encode(), "whsec_stripe", timestamp=int(time.time()))


def github_1kb(delivery: str) -> SignedRequest:
    return github_request({"repository": {"id": 1}, "delivery": delivery, "p": "p" * 850}, delivery=delivery)


@pytest.mark.parametrize(
    ("path", "request_of"), [("/stripe", stripe_1kb), ("/github", github_1kb)], ids=["stripe", "github"]
)
def test_a_1kb_webhook_costs_at_most_the_targets(inbound_stack: InboundStack, path: str, request_of: Any) -> None:
    assert body_of(send(path, request_of("warm")))["status"] == "accepted"  # the secret is read once per instance
    calls = record_calls()
    request = request_of("measured")
    assert 900 < len(request.body) <= 1000
    assert body_of(send(path, request))["status"] == "accepted"
    at_ingest = cost(calls, fifo=True) + INGEST_REQUEST[1]
    to_the_bus = at_ingest + sum(amount for _, amount in INBOUND_CHARGES)
    assert at_ingest <= AT_INGEST_TARGET, (calls, at_ingest)
    assert to_the_bus <= TO_THE_BUS_TARGET, (calls, to_the_bus)
    # One ledger write and half a read: the FIFO queue's deduplication carries the rest.
    assert calls == {"dynamodb:GetItem" + EVENTUAL: 1, "sqs:SendMessage": 1, "dynamodb:PutItem": 1}
