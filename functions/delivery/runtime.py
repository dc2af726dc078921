"""The delivery handlers' runtime (the idiom of :mod:`functions.runtime`): each handler's frozen
settings, read at its first invocation, and one set of boto3 clients per process.

Each handler module keeps::

    _state = runtime.process_state(lambda clients: Runtime(XSettings.from_environ(os.environ), clients))
    reset = _state.reset

The clients are shared by the area's handlers (the sandbox runs all three in one process), and
:func:`reset` forgets every handler's settings and the clients at once (tests and the sandbox change
the environment between runs; tests inject clients with ``clients.set``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

from functions.delivery.store import DeliveryTable
from functions.delivery.tasks import TaskQueue
from functions.runtime import Clients, ProcessState


class _Resources(Protocol):
    @property
    def table_name(self) -> str: ...

    @property
    def tasks_queue_url(self) -> str: ...


class _Publishing(Protocol):
    @property
    def event_bus_name(self) -> str: ...

    @property
    def operational_source(self) -> str: ...


S = TypeVar("S", bound=_Resources)
R = TypeVar("R")


def _client_config() -> Any:
    from botocore.config import Config

    # Standard mode retries throttling and 5xx with backoff; timeouts stay well under the Lambdas'.
    return Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=10)


clients: ProcessState[Clients] = ProcessState(lambda: Clients(_client_config()))
_handler_states: list[ProcessState[Any]] = []


class Runtime(Generic[S]):
    """One handler's settings and the process's clients, with the table and the tasks queue bound."""

    def __init__(self, settings: S, clients: Clients) -> None:
        self.settings = settings
        self.clients = clients
        self.table = DeliveryTable(clients("dynamodb"), settings.table_name)

    @property
    def sqs(self) -> Any:
        """Created at first use: the API only needs it to resend."""
        return self.clients("sqs")

    @property
    def tasks(self) -> TaskQueue:
        return TaskQueue(self.sqs, self.settings.tasks_queue_url)


def process_state(build: Callable[[Clients], R]) -> ProcessState[R]:
    """A handler's state, built at its first invocation from the process's clients."""
    state = ProcessState(lambda: build(clients.get()))
    _handler_states.append(state)
    return state


def reset() -> None:
    """Forget every delivery handler's settings and the process's clients."""
    for state in _handler_states:
        state.reset()
    clients.reset()


def publish_operational(clients: Clients, settings: _Publishing, kind: str, **fields: Any) -> None:
    """Publish the operational event ``kind`` (an ``OperationalEventType`` name) with ``fields``
    (:meth:`functions.delivery.operational.Publisher.publish`; never raises). Without an entry bus
    publishing is off and no client is made; the module is imported at the first transition only."""
    if not settings.event_bus_name:
        return
    from functions.delivery import operational

    publisher = operational.Publisher(clients("events"), settings.event_bus_name, settings.operational_source)
    publisher.publish(operational.OperationalEventType[kind], **fields)
