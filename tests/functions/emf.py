"""Checking EMF records: the JSON schema AWS publishes (tests/events/metrics/emf_schema.json, its
source named in it) as the oracle, plus the specification's rules a schema cannot state."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import jsonschema

SCHEMA = json.loads((Path(__file__).resolve().parent.parent / "events" / "metrics" / "emf_schema.json").read_text())
MAX_METRICS_PER_DIRECTIVE = 100
MAX_VALUES_PER_METRIC = 100
MAX_EVENT_BYTES = 256 * 1024


def check(document: dict[str, Any]) -> dict[str, Any]:
    """Raise if ``document`` is not a valid EMF document; return it."""
    jsonschema.Draft7Validator(SCHEMA).validate(document)
    for directive in document["_aws"]["CloudWatchMetrics"]:
        assert len(directive["Metrics"]) <= MAX_METRICS_PER_DIRECTIVE
        for dimension_set in directive["Dimensions"]:
            for key in dimension_set:  # a dimension target: a root member with a string value
                assert isinstance(document.get(key), str), f"dimension {key} is not a string member"
        for metric in directive["Metrics"]:  # a metric target: a number, or an array of at most 100
            value = document.get(metric["Name"])
            values = value if isinstance(value, list) else [value]
            assert len(values) <= MAX_VALUES_PER_METRIC
            assert all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values), metric["Name"]
    assert len(json.dumps(document).encode()) <= MAX_EVENT_BYTES
    return document


def records(lines: str | Iterable[str], namespace: str = "hookstack") -> list[dict[str, Any]]:
    """The EMF documents of ``namespace`` among log lines (each checked)."""
    text = lines.splitlines() if isinstance(lines, str) else lines
    found = []
    for line in text:
        if '"_aws"' not in line:
            continue
        document = check(json.loads(line))
        if document["_aws"]["CloudWatchMetrics"][0]["Namespace"] == namespace:
            found.append(document)
    return found
