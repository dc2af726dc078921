"""Which modules a delivery handler's cold start loads (issue 12 item 4: within 1.15x of ``import boto3``).

Each handler is imported in a fresh interpreter and serves its first request on stub clients, as
``benchmarks/delivery_cold_start.py`` measures it (a ``v1`` endpoint subscribed to ``order.*``): what
only some endpoints or some routes need is imported by the first of them, not by every cold start.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from benchmarks import delivery_cold_start

ROOT = delivery_cold_start.ROOT

# Loaded by no handler at import time, and by none of these first requests.
FEATURES = (
    "cryptography",  # the crypto layer: the first v1a signature
    "functions.delivery.v1a",
    "functions.delivery.oauth",  # the first OAuth endpoint
    "functions.transform",  # the first endpoint with a transform
    "functions.delivery.api.endpoint_body",  # the API's writes
    "functions.delivery.api.oauth_clients",
    "functions.delivery.api.signing_keys",
    "functions.delivery.api.messages",
    "functions.delivery.api.secrets",
    "functions.inbound",
)
# The event-type and filter engine: at the first endpoint with eventTypes or a filter (the fan-out's here).
PATTERNS = "functions.patterns"
# What only the worker does (sending, protection around each attempt).
WORKER_ONLY = (
    "functions.delivery.attempt",
    "functions.delivery.runs",
    "functions.delivery.sender",
    "functions.delivery.guard",
    "functions.delivery.credentials",
    "functions.delivery.ssrf",  # the API's writes check URLs too; settings parse no empty allowedCidrs
    "functions.delivery.addresses",
)


@pytest.fixture(scope="module")
def served() -> Iterator[dict[str, dict[str, Any]]]:
    with delivery_cold_start.receiver() as url:
        yield {name: delivery_cold_start.first_request(name, url) for name in delivery_cold_start.HANDLERS}


def _loaded(modules: list[str], names: tuple[str, ...]) -> list[str]:
    return [m for m in modules if any(m == name or m.startswith(name + ".") for name in names)]


@pytest.mark.parametrize("handler", delivery_cold_start.HANDLERS)
def test_a_handler_imports_no_feature_module_before_its_first_request(
    served: dict[str, dict[str, Any]], handler: str
) -> None:
    imported = served[handler]["imported"]
    assert f"functions.delivery.{handler}" in imported
    assert _loaded(imported, (*FEATURES, PATTERNS)) == []


@pytest.mark.parametrize("handler", delivery_cold_start.HANDLERS)
def test_a_v1_first_request_imports_neither_cryptography_nor_other_features(
    served: dict[str, dict[str, Any]], handler: str
) -> None:
    assert _loaded(served[handler]["served"], FEATURES) == []
    assert served[handler]["crypto"] is False


def test_the_api_and_the_fanout_never_import_the_worker_s_sending(served: dict[str, dict[str, Any]]) -> None:
    assert _loaded(served["api"]["served"], (*WORKER_ONLY, PATTERNS)) == []
    assert _loaded(served["fanout"]["served"], WORKER_ONLY) == []
    assert PATTERNS in served["fanout"]["served"]  # its endpoint subscribes to order.*
    assert _loaded(served["worker"]["served"], (PATTERNS, "functions.delivery.api")) == []


def test_the_first_v1a_signature_imports_v1a_and_cryptography_and_signs() -> None:
    """v1a stays lazy (functions.lazy in signing.SIGNERS): only its first signature loads the crypto layer."""
    script = """
import base64, sys
import functions.delivery.worker
from functions.delivery import signing
assert "cryptography" not in sys.modules and "functions.delivery.v1a" not in sys.modules
private = "whsk_" + base64.b64encode(bytes(range(32))).decode()
headers = signing.delivery_headers([private], "evt_1", 1700000000, b"{}", scheme=signing.V1A)
assert headers["webhook-signature"].startswith("v1a,"), headers
assert "cryptography" in sys.modules and "functions.delivery.v1a" in sys.modules
from cryptography.hazmat.primitives.asymmetric import ed25519
key = ed25519.Ed25519PrivateKey.from_private_bytes(bytes(range(32))).public_key()
key.verify(base64.b64decode(headers["webhook-signature"][4:]), b"evt_1.1700000000.{}")
"""
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0, result.stderr
