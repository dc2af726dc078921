"""``hookstack:provider``: the entry bus, its archive, and how tenants are spread over buses."""

from __future__ import annotations

import re
from typing import Any

from components.config.limits import MAX_SHARDS
from components.config.model import ProviderSettings
from components.config.reader import Reader
from functions.inbound.target import MAX_EVENT_SOURCE_CHARS
from functions.inbound.target import event_source as published_event_source

PROVIDER_KEYS = ("busName", "eventSource", "archiveRetentionDays", "rulesPerBus", "shards")
BUS_NAME_RE = re.compile(r"^[A-Za-z0-9._-]{1,200}$")
# hookstack publishes its own events as <eventSource>.aurora (components.specs.aurora), and inbound
# webhooks as <eventSource>.<source name> (functions.inbound.target.event_source builds both).
AURORA_SOURCE_NAME = "aurora"
# An EventBridge event `source` (PutEvents Source): 1-256 characters, the number owned by
# functions.inbound.target; `aws.` starts AWS services' own sources and is refused in any case.
# hookstack allows the characters EventBridge Scheduler's and Pipes' Source patterns allow, but '/'.
EVENT_SOURCE_RE = re.compile(r"^[A-Za-z0-9._-]+$")
RESERVED_SOURCE_PREFIX = "aws."


def event_source_problem(source: str) -> str | None:
    """Why ``source`` cannot be the ``source`` of an event hookstack puts on EventBridge, or None."""
    if not 1 <= len(source) <= MAX_EVENT_SOURCE_CHARS:
        return f"is {len(source)} characters; EventBridge allows 1-{MAX_EVENT_SOURCE_CHARS}"
    if not EVENT_SOURCE_RE.fullmatch(source):
        return "may only contain A-Z, a-z, 0-9, '.', '_' and '-'"
    if source.lower().startswith(RESERVED_SOURCE_PREFIX):
        return f"starts with {RESERVED_SOURCE_PREFIX!r}, which is reserved for AWS services' events"
    return None


def derived_source_problem(event_source: str, name: str) -> str | None:
    """Why ``<event_source>.<name>``, an event source hookstack publishes, is not a valid one, or None."""
    derived = published_event_source(event_source, name)
    problem = event_source_problem(derived)
    return (
        f"makes the event source {derived[:60]!r}{'...' if len(derived) > 60 else ''}, which {problem}"
        if problem
        else None
    )


def parse_provider(reader: Reader, value: Any) -> ProviderSettings:
    raw, path = reader.section(value, "provider", PROVIDER_KEYS)
    defaults = ProviderSettings()
    bus_name = reader.get(raw, "busName", path, str)
    if bus_name is not None and (not BUS_NAME_RE.fullmatch(bus_name) or bus_name == "default"):
        reader.problem(f"{path}.busName", "must be 1-200 characters of A-Z, a-z, 0-9, '.', '_' and '-', not 'default'")
        bus_name = None
    source = reader.get(raw, "eventSource", path, str, default=defaults.event_source)
    # `aws` itself is refused too: every source hookstack derives from it would start with `aws.`.
    if event_source_problem(source) or source.lower() == RESERVED_SOURCE_PREFIX.rstrip("."):
        reader.problem(
            f"{path}.eventSource",
            f"must be 1-{MAX_EVENT_SOURCE_CHARS} characters of A-Z, a-z, 0-9, '.', '_' and '-', neither 'aws' "
            f"nor starting with 'aws.' (AWS services' event sources; hookstack publishes <eventSource>.<name>); "
            f"got {source[:60]!r}",
        )
        source = defaults.event_source
    shards = raw.get("shards")
    # At most MAX_SHARDS: every bus holding rules has 3 Metrics Insights alarms (200 per region).
    shards_value = None if shards in (None, "auto") else reader.int_in(raw, "shards", path, 1, MAX_SHARDS, 1)
    return ProviderSettings(
        bus_name=bus_name,
        event_source=source,
        archive_retention_days=reader.int_in(
            raw, "archiveRetentionDays", path, 0, 36_500, defaults.archive_retention_days
        ),
        rules_per_bus=reader.int_in(raw, "rulesPerBus", path, 20, 2000, defaults.rules_per_bus),
        shards=shards_value,
    )
