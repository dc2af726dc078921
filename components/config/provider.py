"""``hookstack:provider``: the entry bus, its archive, and how tenants are spread over buses."""

from __future__ import annotations

import re
from typing import Any

from components.config.limits import MAX_SHARDS
from components.config.model import ProviderSettings
from components.config.reader import Reader

PROVIDER_KEYS = ("busName", "eventSource", "archiveRetentionDays", "rulesPerBus", "shards")
BUS_NAME_RE = re.compile(r"^[A-Za-z0-9._-]{1,200}$")
# Leaves room for the ".<source name>" and ".aurora" hookstack appends: a source is at most 256
# characters (functions.inbound.target.MAX_EVENT_SOURCE_CHARS).
EVENT_SOURCE_RE = re.compile(r"^[A-Za-z0-9._-]{1,200}$")


def parse_provider(reader: Reader, value: Any) -> ProviderSettings:
    raw, path = reader.section(value, "provider", PROVIDER_KEYS)
    defaults = ProviderSettings()
    bus_name = reader.get(raw, "busName", path, str)
    if bus_name is not None and (not BUS_NAME_RE.match(bus_name) or bus_name == "default"):
        reader.problem(
            f"{path}.busName", "must be 1-200 characters of A-Z, a-z, 0-9, '.', '_' and '-', not 'default'"
        )
        bus_name = None
    source = reader.get(raw, "eventSource", path, str, default=defaults.event_source)
    if not EVENT_SOURCE_RE.match(source) or source.startswith("aws."):
        reader.problem(f"{path}.eventSource", "must be 1-200 characters of A-Z, a-z, 0-9, '.', '_', '-', not 'aws.'")
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
