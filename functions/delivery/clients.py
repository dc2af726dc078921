"""boto3 clients, created once per process on first use (they honour ``AWS_ENDPOINT_URL``).

Clients (not resources) are thread-safe, which the worker relies on: it sends a batch's deliveries
from several threads at once.
"""

from __future__ import annotations

import threading
from typing import Any

_clients: dict[str, Any] = {}
_lock = threading.Lock()


def client(service: str) -> Any:
    with _lock:
        if service not in _clients:
            import boto3
            from botocore.config import Config

            # Standard mode retries throttling and 5xx with backoff; timeouts stay well under the Lambda's.
            config = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=10)
            _clients[service] = boto3.session.Session().client(service, config=config)
        return _clients[service]


def dynamodb() -> Any:
    return client("dynamodb")


def sqs() -> Any:
    return client("sqs")


def reset() -> None:
    """Drop cached clients (tests start a fresh moto account per test)."""
    with _lock:
        _clients.clear()
