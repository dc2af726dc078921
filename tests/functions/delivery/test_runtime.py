"""The delivery handlers' runtime idiom (functions/delivery/runtime.py): settings read at the first
invocation from the environment of that moment, one set of clients per process, one reset for all."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from functions.delivery import api, fanout, runtime, worker
from functions.delivery.settings import SettingsError
from functions.runtime import Clients

ENVIRONMENT = {
    "DELIVERY_TABLE_NAME": "table-a",
    "DELIVERY_TASKS_QUEUE_URL": "https://sqs.example/1/tasks-a",
    "DELIVERY_DEAD_LETTER_QUEUE_URL": "https://sqs.example/1/dlq-a",
}


class NoSession:
    """Clients are built lazily: building a runtime creates only the DynamoDB client, here a stub."""

    def __init__(self) -> None:
        self.created: list[str] = []

    def client(self, service: str, config: object = None) -> object:
        self.created.append(service)
        return object()


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    for name, value in ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    runtime.reset()
    yield monkeypatch
    runtime.reset()


def test_handlers_read_their_settings_once_and_reset_forgets_them_all(environment: pytest.MonkeyPatch) -> None:
    session = NoSession()
    runtime.clients.set(Clients(session=session))
    states = {module.__name__: module._state for module in (api, fanout, worker)}
    assert {name: state.get().settings.table_name for name, state in states.items()} == dict.fromkeys(states, "table-a")
    assert session.created == ["dynamodb"]  # one client for the three handlers; SQS only when used

    environment.setenv("DELIVERY_TABLE_NAME", "table-b")
    assert all(state.get().settings.table_name == "table-a" for state in states.values())  # read once per process
    runtime.reset()
    runtime.clients.set(Clients(session=session))
    assert all(state.get().settings.table_name == "table-b" for state in states.values())
    assert worker._state.get().tasks.url == "https://sqs.example/1/tasks-a"


def test_a_missing_variable_is_named_at_the_first_invocation(environment: pytest.MonkeyPatch) -> None:
    runtime.clients.set(Clients(session=NoSession()))
    environment.delenv("DELIVERY_DEAD_LETTER_QUEUE_URL")
    api._state.get()  # the API does not read it
    with pytest.raises(SettingsError, match="DELIVERY_DEAD_LETTER_QUEUE_URL is required"):
        worker.handler({"Records": [{"messageId": "m", "receiptHandle": "r", "body": "{}"}]})
