"""The shared environment reads and Lambda's rendering rules (functions/environ.py)."""

from __future__ import annotations

import threading

import pytest

from functions.environ import Environ, SettingsError, render
from functions.runtime import Clients, ProcessState


def test_reads_name_the_variable_at_fault() -> None:
    environ = Environ({"A": "12", "B": "x", "C": "5000", "D": "  ", "E": "[1]"})
    assert environ.integer("A", 1, 0, 100) == 12
    assert environ.integer("D", 7, 0, 100) == 7  # blank means unset: the default
    with pytest.raises(SettingsError, match="B must be a whole number, got 'x'"):
        environ.integer("B", 1, 0, 100)
    with pytest.raises(SettingsError, match="C must be between 0 and 100, got '5000'"):
        environ.number("C", 1.0, 0.0, 100.0)
    with pytest.raises(SettingsError, match="MISSING is required"):
        environ.required("MISSING")
    with pytest.raises(SettingsError, match="E must be a JSON object"):
        environ.json_object("E")


def test_rendering_drops_empty_values_and_round_trips() -> None:
    rendered = render(
        {
            "S": "x",
            "I": 3,
            "F": 0.001,
            "L": ("10.0.0.0/8", "::1/128"),
            "M": {"b": 1, "a": [2]},
            "NONE": None,
            "EMPTY": "",
            "NO_ITEMS": (),
        }
    )
    assert rendered == {"S": "x", "I": "3", "F": "0.001", "L": "10.0.0.0/8,::1/128", "M": '{"a":[2],"b":1}'}
    environ = Environ(rendered)
    assert environ.number("F", 1.0, 0.0, 1.0) == 0.001
    assert environ.items("L") == ("10.0.0.0/8", "::1/128")
    assert environ.items("NO_ITEMS") == ()
    assert environ.json_object("M") == {"a": [2], "b": 1}
    with pytest.raises(TypeError, match="booleans"):
        render({"B": True})


def test_process_state_builds_once_across_threads_and_resets() -> None:
    built: list[int] = []
    state = ProcessState(lambda: built.append(1) or len(built))
    threads = [threading.Thread(target=state.get) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert state.get() == 1 and built == [1]
    state.reset()
    assert state.get() == 2


def test_clients_are_created_once_per_service_from_one_session() -> None:
    made: list[str] = []

    class Session:
        def client(self, service: str, config: object = None) -> str:
            made.append(service)
            return f"{service}-client"

    clients = Clients(session=Session())
    assert clients("sqs") == clients("sqs") == "sqs-client"
    assert clients("s3") == "s3-client"
    assert made == ["sqs", "s3"]
