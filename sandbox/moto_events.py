"""What moto's EventBridge does not do as AWS does, made to, for the sandbox (moto 5.x, in this process).

The sandbox's moto server runs in this process, so its models can be corrected where the runbook
depends on them (each checked in moto's source; docs/sandbox.md lists what is left):

- ``TestEventPattern`` answers with an empty body: answered with ``moto.events.models.EventPattern``,
  the matcher moto's ``PutEvents`` routes with (``ops redrive`` asks it before publishing). Like AWS
  it refuses an invalid pattern (``InvalidEventPatternException``) and an event without the
  envelope fields the API reference makes mandatory (``ValidationException``).
- A ``DISABLED`` rule still delivers (moto's ``PutEvents`` ignores the state): it matches nothing,
  as in AWS, so a destination with ``enabled: false`` neither delivers nor dead-letters.
- ``StartReplay`` sends EVERY archived event to EVERY rule of the bus: replays honour
  ``EventStartTime``/``EventEndTime`` (the ``time`` in the event, as AWS replays) and
  ``Destination.FilterArns``; each replayed event gets a new ``id`` and a ``replay-name``.
- Connections: ``ListConnections`` hard-codes ``AUTHORIZED``; ``DescribeConnection`` returns the
  secret values AWS never returns; ``UpdateConnection`` replaces the auth parameters wholesale
  (AWS merges: ``ops reauthorize`` sends only the credential half) and never re-authorizes. Here
  the real state (and ``StateReason``) is listed, secrets are left out of descriptions, and an
  update merges and re-authorizes: ``AUTHORIZED``, its API destinations ``ACTIVE`` again.
  :class:`ConnectionHandle` lets the API destination emulator read the current credential and
  de-authorize a connection after a 401/407, as EventBridge does.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, cast

from sandbox.aws import ACCOUNT, REGION

# The fields API_TestEventPattern says the event must have.
MANDATORY_EVENT_FIELDS = frozenset({"id", "account", "source", "time", "region", "resources", "detail-type"})
AUTHORIZED, DEAUTHORIZED = "AUTHORIZED", "DEAUTHORIZED"
# Secret halves of a connection's auth parameters: AWS keeps them in Secrets Manager, never returns them.
_SECRET_KEYS = frozenset({"ApiKeyValue", "Password", "ClientSecret"})
SetAttribute = Callable[[Any, str, Any], None]


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


def install_test_event_pattern(set_attribute: SetAttribute = setattr) -> None:
    """Make moto's EventBridge answer ``TestEventPattern`` (``set_attribute``: e.g. a test's
    ``monkeypatch.setattr``, which undoes it after the test)."""
    from moto.events.responses import EventsHandler

    set_attribute(EventsHandler, "test_event_pattern", _test_event_pattern)


def install_eventbridge_fidelity(set_attribute: SetAttribute = setattr) -> None:
    """Everything this module corrects (the sandbox's moto server installs it)."""
    from moto.events.models import EventsBackend, Replay, Rule
    from moto.events.responses import EventsHandler

    install_test_event_pattern(set_attribute)
    if not getattr(Rule.send_to_targets, "honours_rule_state", False):
        set_attribute(Rule, "send_to_targets", _honouring_rule_state(Rule.send_to_targets))
    set_attribute(Replay, "replay_events", _replay_events)
    set_attribute(EventsHandler, "list_connections", _list_connections)
    set_attribute(EventsHandler, "describe_connection", _describe_connection)
    set_attribute(EventsBackend, "update_connection", _update_connection)


def _honouring_rule_state(send_to_targets: Callable[..., None]) -> Callable[..., None]:
    def send(rule: Any, event: Any, transform_input: bool = True) -> None:
        if str(rule.state).startswith("ENABLED"):  # ENABLED, ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS
            send_to_targets(rule, event, transform_input)

    send.honours_rule_state = True  # type: ignore[attr-defined]
    return send


# -- replays -------------------------------------------------------------------------------------


def event_time(value: Any) -> float | None:
    """An event's ``time`` (epoch seconds as moto keeps it, or ISO 8601) in epoch seconds."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None
    return None


def replayed_events(
    archived: list[Mapping[str, Any]], start: Any, end: Any, replay_name: str, new_id: Callable[[], str]
) -> list[dict[str, Any]]:
    """The archived events whose ``time`` lies in ``[start, end]``, as a replay sends them again:
    a new ``id``, ``replay-name`` added, moto's internal ``ingestion-time`` left out."""
    low, high = event_time(start), event_time(end)
    if low is None or high is None:
        return []
    chosen = []
    for event in archived:
        when = event_time(event.get("time"))
        if when is not None and low <= when <= high:
            envelope = {k: copy.deepcopy(v) for k, v in event.items() if k != "ingestion-time"}
            chosen.append({**envelope, "id": new_id(), "replay-name": replay_name})
    return chosen


def _replay_events(replay: Any, archive: Any) -> None:
    from moto.core.utils import unix_time
    from moto.events.models import ReplayState, events_backends
    from moto.moto_api._internal import mock_random

    backend = events_backends[replay.account_id][replay.region]
    bus = backend.describe_event_bus(replay.destination["Arn"].split("/")[-1])
    only = set(replay.destination.get("FilterArns") or [])
    rules = [rule for rule in list(bus.rules.values()) if not only or rule.arn in only]
    events = replayed_events(
        list(archive.events),
        replay.event_start_time,
        replay.event_end_time,
        replay.name,
        lambda: str(mock_random.uuid4()),
    )
    for event in events:
        for rule in rules:  # the archive's own rule refuses events with a replay-name
            rule.send_to_targets(cast(Any, copy.deepcopy(event)), transform_input=False)
    replay.state = ReplayState.COMPLETED
    replay.end_time = unix_time()


# -- connections ----------------------------------------------------------------------------------


def without_secrets(value: Any) -> Any:
    """Auth parameters as DescribeConnection returns them: no secret values."""
    if isinstance(value, Mapping):
        if value.get("IsValueSecret") is True:
            return {k: v for k, v in value.items() if k != "Value"}
        return {k: without_secrets(v) for k, v in value.items() if k not in _SECRET_KEYS}
    if isinstance(value, list):
        return [without_secrets(v) for v in value]
    return value


def merged_auth_parameters(current: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """UpdateConnection's auth parameters applied as AWS applies them: given fields replace, others stay."""
    merged = copy.deepcopy(dict(current))
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merged_auth_parameters(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _list_connections(handler: Any) -> tuple[str, dict[str, Any]]:
    connections = []
    for connection in handler.events_backend.list_connections():
        listed = {
            "ConnectionArn": connection.arn,
            "ConnectionState": connection.state,
            "CreationTime": connection.creation_time,
            "Name": connection.name,
            "LastModifiedTime": getattr(connection, "last_modified_time", connection.creation_time),
            "AuthorizationType": connection.authorization_type,
        }
        if getattr(connection, "state_reason", ""):
            listed["StateReason"] = connection.state_reason
        connections.append(listed)
    return json.dumps({"Connections": connections}), handler.response_headers


def _describe_connection(handler: Any) -> tuple[str, dict[str, Any]]:
    name = handler._get_param("Name")
    described = handler.events_backend.describe_connection(name)  # ResourceNotFoundException if absent
    connection = handler.events_backend.connections[name]
    described["AuthParameters"] = without_secrets(described.get("AuthParameters") or {})
    if getattr(connection, "state_reason", ""):
        described["StateReason"] = connection.state_reason
    return json.dumps(described), handler.response_headers


def _update_connection(backend: Any, name: str, **kwargs: Any) -> dict[str, Any]:
    from moto.core.utils import unix_time
    from moto.events.exceptions import ResourceNotFoundException

    connection = backend.connections.get(name)
    if connection is None:
        raise ResourceNotFoundException(f"Connection '{name}' does not exist.")
    if kwargs.get("description") is not None:
        connection.description = kwargs["description"]
    if kwargs.get("authorization_type"):
        connection.authorization_type = kwargs["authorization_type"]
    if kwargs.get("auth_parameters"):
        # A new dict, not an update in place: the emulator reads it from other threads.
        connection.auth_parameters = merged_auth_parameters(connection.auth_parameters, kwargs["auth_parameters"])
        # A public endpoint's connection is authorized again by the update (docs/runbook.md §4).
        _set_state(backend, connection, AUTHORIZED, "")
    connection.last_modified_time = unix_time()
    connection.sandbox_revision = getattr(connection, "sandbox_revision", 0) + 1
    return connection.describe_short()


def _set_state(backend: Any, connection: Any, state: str, reason: str) -> None:
    connection.state = state
    connection.state_reason = reason
    for destination in list(backend.destinations.values()):
        if destination.connection_arn == connection.arn:
            destination.state = "ACTIVE" if state == AUTHORIZED else "INACTIVE"


class ConnectionHandle:
    """One connection as moto holds it in this process: the API destination emulator's view.

    It reads the connection's current credential (``UpdateConnection`` may have changed it) and
    state, and de-authorizes it as EventBridge does (its API destinations become ``INACTIVE``).
    """

    def __init__(self, name: str, *, account: str = ACCOUNT, region: str = REGION) -> None:
        self.name = name
        self.account = account
        self.region = region

    def _backend(self) -> Any:
        from moto.events.models import events_backends

        return events_backends[self.account][self.region]

    def _connection(self) -> Any:
        return self._backend().connections[self.name]

    @property
    def state(self) -> str:
        return str(self._connection().state)

    @property
    def revision(self) -> int:
        """Changes with every update (a cached OAuth token is then fetched again)."""
        return int(getattr(self._connection(), "sandbox_revision", 0))

    def auth_parameters(self) -> dict[str, Any]:
        return copy.deepcopy(dict(self._connection().auth_parameters))

    def deauthorize(self, reason: str) -> bool:
        """Set ``DEAUTHORIZED`` with ``reason``; ``False`` if it already was not authorized."""
        backend, connection = self._backend(), self._connection()
        if connection.state != AUTHORIZED:
            return False
        _set_state(backend, connection, DEAUTHORIZED, reason)
        return True
