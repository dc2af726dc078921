"""The ``since`` of the reporting routes and commands (``GET /tenants/{t}/deliveries``, ``/stats``,
``python -m ops deliveries``): an ISO 8601 time with a zone, or a duration back from now.

``2026-01-01T00:00:00Z``, ``2026-01-01T01:00:00+01:00``, or ``<n>m``, ``<n>h``, ``<n>d`` (``30m``,
``24h``, ``7d``), at most :data:`MAX_DAYS` back; a time in the future is refused (it selects nothing).
"""

from __future__ import annotations

import re

from functions.delivery.store.dynamo import parse_time

DEFAULT = "24h"
MAX_DAYS = 3650  # the longest history TTL (DELIVERY_HISTORY_TTL_DAYS): nothing older is kept
_RELATIVE = re.compile(r"^([1-9][0-9]{0,6})([mhd])$")
_SECONDS = {"m": 60, "h": 3600, "d": 86_400}
RULE = (
    "an ISO 8601 time with a zone (2026-01-01T00:00:00Z) or a duration back from now: <n>m, <n>h or <n>d (30m, 24h, 7d)"
)
# A caller's clock may run a little ahead of ours.
FUTURE_SLACK_SECONDS = 300


class InvalidSince(ValueError):
    pass


def parse_since(text: str, now: float) -> float:
    """Epoch seconds ``text`` stands for; :class:`InvalidSince` names what is allowed."""
    value = text.strip()
    relative = _RELATIVE.fullmatch(value)
    if relative:
        seconds = int(relative.group(1)) * _SECONDS[relative.group(2)]
        if seconds > MAX_DAYS * 86_400:
            raise InvalidSince(f"since must be at most {MAX_DAYS} days back; got {value!r}")
        return now - seconds
    try:
        moment = parse_time(value)
    except (ValueError, OverflowError):
        raise InvalidSince(f"since must be {RULE}; got {value[:60]!r}") from None
    if moment > now + FUTURE_SLACK_SECONDS:
        raise InvalidSince(f"since must not be in the future; got {value!r}")
    return max(moment, now - MAX_DAYS * 86_400)
