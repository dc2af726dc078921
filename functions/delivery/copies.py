"""Copies of one delivery task (same tenant, event, endpoint and run) in the worker.

A run's first try is not claimed before it is sent (docs/delivery.md, "Cost"), so the worker keeps
copies of a task from both sending where it can without a write: copies in one batch run one after
the other (:func:`groups`), and a run this process delivered is remembered (:class:`DoneRuns`), since
the ``byEvent`` index the worker also asks is eventually consistent.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from typing import Any

RunKey = tuple[str, str, str, str]


def run_key(tenant_id: str, event_id: str, endpoint_id: str, run: object) -> RunKey:
    return (tenant_id, event_id, endpoint_id, str(run))


def groups(records: Sequence[Mapping[str, Any]]) -> list[list[int]]:
    """Indexes of ``records``, grouped by run (a record that is not a task is a group of its own)."""
    grouped: dict[Any, list[int]] = {}
    for index, record in enumerate(records):
        try:
            body = json.loads(record["body"])
            key: Any = run_key(str(body["tenantId"]), str(body["eventId"]), str(body["endpointId"]), body["run"])
        except (KeyError, TypeError, ValueError):
            key = index
        grouped.setdefault(key, []).append(index)
    return list(grouped.values())


class DoneRuns:
    """The runs this process delivered, the oldest forgotten first beyond ``kept``."""

    def __init__(self, kept: int = 10_000) -> None:
        self._kept = kept
        self._runs: dict[RunKey, None] = {}
        self._lock = threading.Lock()

    def add(self, key: RunKey) -> None:
        with self._lock:
            self._runs[key] = None
            while len(self._runs) > self._kept:
                del self._runs[next(iter(self._runs))]

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._runs
