"""``hookstack:tracing``: W3C trace-context propagation and AWS X-Ray active tracing (both off by default)."""

from __future__ import annotations

from typing import Any

from components.config.model import TracingSettings
from components.config.reader import Reader

TRACING_KEYS = ("propagate", "xray")


def parse_tracing(reader: Reader, value: Any) -> TracingSettings:
    raw, path = reader.section(value, "tracing", TRACING_KEYS)
    defaults = TracingSettings()
    return TracingSettings(
        propagate=reader.get(raw, "propagate", path, bool, default=defaults.propagate),
        xray=reader.get(raw, "xray", path, bool, default=defaults.xray),
    )
