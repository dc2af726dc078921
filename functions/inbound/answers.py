"""The ingest function's HTTP answers, and the one way a step of the pipeline answers early.

Each step of :func:`functions.inbound.ingest.handle` either returns what the next step needs or
raises :class:`Answer` with the response the provider gets (an error, a duplicate, a handshake), so
the handler reads as the pipeline and every early answer is explicit where it is decided.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

# A store (Secrets Manager, DynamoDB, S3, SQS) failed or timed out: answered 503, nothing acknowledged.
STORE_ERRORS = (ClientError, BotoCoreError)
RETRY_AFTER_SECONDS = "5"


class Answer(Exception):
    """The request is answered now with ``response`` (nothing further is done for it)."""

    def __init__(self, status: int, body: Mapping[str, Any], *, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(status)
        self.response = response(status, body, headers=headers)


def unavailable(message: str) -> Answer:
    """A store failed before anything was acknowledged: the provider's retry will be processed."""
    return Answer(
        503, {"error": f"{message}; nothing was accepted, retry later"}, headers={"retry-after": RETRY_AFTER_SECONDS}
    )


def response(status: int, body: Mapping[str, Any], *, headers: Mapping[str, str] | None = None) -> dict[str, Any]:
    """A function URL response (payload format 2.0) with a compact JSON body."""
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json", **(headers or {})},
        "body": json.dumps(body, separators=(",", ":")),
        "isBase64Encoded": False,
    }
