"""Structured JSON logs: one line per record, correlation ids as fields, never secrets or payloads."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

_REDACTED_KEYS = frozenset({"secret", "signature", "password", "authorization", "token", "body", "payload"})


def log(level: str, message: str, **fields: Any) -> None:
    """Write one JSON log line to stdout (CloudWatch Logs keeps one event per line)."""
    record: dict[str, Any] = {"level": level, "message": message, "timestamp": round(time.time(), 3)}
    for key, value in fields.items():
        record[key] = "[redacted]" if key.lower() in _REDACTED_KEYS else value
    sys.stdout.write(json.dumps(record, default=str, separators=(",", ":")) + "\n")


def info(message: str, **fields: Any) -> None:
    log("INFO", message, **fields)


def warning(message: str, **fields: Any) -> None:
    log("WARNING", message, **fields)


def error(message: str, **fields: Any) -> None:
    log("ERROR", message, **fields)
