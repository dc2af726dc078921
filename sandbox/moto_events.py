"""EventBridge ``TestEventPattern`` for moto, which answers it with an empty body (moto 5.x).

``python -m ops redrive`` asks ``TestEventPattern`` whether a dead letter's rule still matches the
event before publishing it. AWS answers ``{"Result": true|false}``; moto's handler is a stub. This
answers it with ``moto.events.models.EventPattern``, the matcher moto's ``PutEvents`` routes with,
so the answer is what moto then delivers (AWS's own engine decides on AWS). Like AWS it refuses an
invalid pattern (``InvalidEventPatternException``) and an event without the envelope fields the API
reference makes mandatory (``ValidationException``).

Installed by the sandbox's moto server and by the tests that run ``ops`` on moto in-process.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, cast

# The fields API_TestEventPattern says the event must have.
MANDATORY_EVENT_FIELDS = frozenset({"id", "account", "source", "time", "region", "resources", "detail-type"})


def _test_event_pattern(handler: Any) -> tuple[str, dict[str, Any]]:
    from moto.events.models import EventPattern
    from moto.events.utils import EventMessageType

    event: Any
    try:
        event = json.loads(handler._get_param("Event") or "")
    except ValueError:
        event = None
    if not isinstance(event, dict) or not event.keys() >= MANDATORY_EVENT_FIELDS:
        refused: tuple[str, dict[str, Any]] = handler.error("ValidationException", "Parameter Event is not valid.")
        return refused
    # EventPattern.load raises InvalidEventPatternException (a 400 moto renders) for a bad pattern.
    matched = EventPattern.load(handler._get_param("EventPattern")).matches_event(cast(EventMessageType, event))
    return json.dumps({"Result": matched}), handler.response_headers


def install_test_event_pattern(set_attribute: Callable[[Any, str, Any], None] = setattr) -> None:
    """Make moto's EventBridge answer ``TestEventPattern`` (``set_attribute``: e.g. a test's
    ``monkeypatch.setattr``, which undoes it after the test)."""
    from moto.events.responses import EventsHandler

    set_attribute(EventsHandler, "test_event_pattern", _test_event_pattern)
