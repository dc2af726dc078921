"""The delivery functions' runtime contract (functions/delivery/settings.py): what to_environ writes
reads back as the same settings, each function reads exactly what is written for it, and bad values
are refused naming the variable, whether read from the environment or passed by the component."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from functions.delivery.settings import (
    DEFAULT_SCHEDULE,
    ApiSettings,
    FanoutSettings,
    RuntimeContract,
    SettingsError,
    WorkerSettings,
)

NAMES = {"table_name": "hookstack-delivery-table", "tasks_queue_url": "https://sqs.example/123/tasks"}
WORKER_NAMES = {**NAMES, "dead_letter_queue_url": "https://sqs.example/123/dlq"}

REPRESENTATIVE: list[RuntimeContract] = [
    ApiSettings(**NAMES),
    ApiSettings(
        **NAMES,
        history_ttl_days=0.5,
        rotation_overlap_hours=0,
        allowed_cidrs=("10.0.0.0/8", "::1/128"),
        token_issuer="https://abc123.execute-api.us-east-1.amazonaws.com",
    ),
    FanoutSettings(**NAMES),
    FanoutSettings(**NAMES, history_ttl_days=365, endpoint_cache_seconds=0.25),
    WorkerSettings(**WORKER_NAMES),
    WorkerSettings(
        **WORKER_NAMES,
        history_ttl_days=1,
        timeout_seconds=0.5,
        retry_schedule=(1, 43_200),
        disable_after_failures=3,
        allowed_cidrs=("127.0.0.0/8",),
        max_response_bytes=0,
        max_receives=1000,
        time_scale=0.001,
    ),
    WorkerSettings(**WORKER_NAMES, retry_schedule=()),  # one attempt, no retry
]
# Every variable written, sandbox-only knobs included (they are written only when not the default).
EVERY_VARIABLE: list[RuntimeContract] = [REPRESENTATIVE[1], REPRESENTATIVE[3], REPRESENTATIVE[5]]


class Recording(Mapping[str, str]):
    """An environment that remembers which variables were looked up."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self.values = dict(values)
        self.read: set[str] = set()

    def __getitem__(self, name: str) -> str:
        self.read.add(name)
        return self.values[name]

    def get(self, name: str, default: Any = None) -> Any:
        self.read.add(name)
        return self.values.get(name, default)

    def __iter__(self) -> Iterator[str]:
        return iter(self.values)

    def __len__(self) -> int:
        return len(self.values)


@pytest.mark.parametrize("settings", REPRESENTATIVE, ids=lambda s: f"{type(s).__name__}")
def test_what_to_environ_writes_reads_back_as_the_same_settings(settings: RuntimeContract) -> None:
    environment = settings.to_environ()
    assert all(isinstance(v, str) and v for v in environment.values())  # Lambda: strings, never empty
    assert all(name.startswith("DELIVERY_") for name in environment)
    assert type(settings).from_environ(environment) == settings
    assert type(settings).from_environ(environment).to_environ() == environment


@pytest.mark.parametrize("settings", EVERY_VARIABLE, ids=lambda s: type(s).__name__)
def test_each_function_reads_exactly_the_variables_written_for_it(settings: RuntimeContract) -> None:
    environment = Recording(settings.to_environ())
    type(settings).from_environ(environment)
    assert environment.read == set(environment.values)


def test_the_three_functions_agree_on_every_variable_they_share() -> None:
    api, fanout, worker = (s.to_environ() for s in (REPRESENTATIVE[0], REPRESENTATIVE[2], REPRESENTATIVE[4]))
    for name in set(api) & set(fanout) | set(api) & set(worker) | set(fanout) & set(worker):
        assert len({e[name] for e in (api, fanout, worker) if name in e}) == 1, name


def test_the_deployed_environment_is_spelled_as_the_component_always_wrote_it() -> None:
    # Whole numbers as integers, lists comma-joined, no empty values: a redeploy changes no function.
    settings = WorkerSettings(**WORKER_NAMES, history_ttl_days=30, timeout_seconds=15, max_receives=28)
    assert settings.to_environ() == {
        "DELIVERY_TABLE_NAME": NAMES["table_name"],
        "DELIVERY_TASKS_QUEUE_URL": NAMES["tasks_queue_url"],
        "DELIVERY_DEAD_LETTER_QUEUE_URL": WORKER_NAMES["dead_letter_queue_url"],
        "DELIVERY_HISTORY_TTL_DAYS": "30",
        "DELIVERY_TIMEOUT_SECONDS": "15",
        "DELIVERY_RETRY_SCHEDULE": "5,300,1800,7200,18000,36000,36000",
        "DELIVERY_DISABLE_AFTER_FAILURES": "10",
        "DELIVERY_MAX_RESPONSE_BYTES": "4096",
        "DELIVERY_MAX_RECEIVES": "28",
        "DELIVERY_BREAKER_FAILURES": "5",
        "DELIVERY_BREAKER_COOLDOWN_SECONDS": "60",
    }


def test_sandbox_only_knobs_are_written_only_when_they_differ_from_the_deployed_default() -> None:
    assert "DELIVERY_TIME_SCALE" not in WorkerSettings(**WORKER_NAMES, time_scale=1).to_environ()
    assert WorkerSettings(**WORKER_NAMES, time_scale=0).to_environ()["DELIVERY_TIME_SCALE"] == "0"
    assert "DELIVERY_ENDPOINT_CACHE_SECONDS" not in FanoutSettings(**NAMES).to_environ()
    assert FanoutSettings(**NAMES, endpoint_cache_seconds=1).to_environ()["DELIVERY_ENDPOINT_CACHE_SECONDS"] == "1"


def test_an_empty_retry_schedule_stays_empty_instead_of_reading_as_the_default() -> None:
    # Rendered as nothing, the variable would be absent and the worker would retry seven times.
    environment = WorkerSettings(**WORKER_NAMES, retry_schedule=()).to_environ()
    assert environment["DELIVERY_RETRY_SCHEDULE"] == "none"
    assert WorkerSettings.from_environ(environment).retry_schedule == ()
    assert WorkerSettings.from_environ({**environment, "DELIVERY_RETRY_SCHEDULE": "NONE"}).retry_schedule == ()
    del environment["DELIVERY_RETRY_SCHEDULE"]
    assert WorkerSettings.from_environ(environment).retry_schedule == DEFAULT_SCHEDULE


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"DELIVERY_TABLE_NAME": None}, "DELIVERY_TABLE_NAME is required"),
        ({"DELIVERY_DEAD_LETTER_QUEUE_URL": "  "}, "DELIVERY_DEAD_LETTER_QUEUE_URL is required"),
        ({"DELIVERY_TIMEOUT_SECONDS": "fast"}, "DELIVERY_TIMEOUT_SECONDS must be a number"),
        ({"DELIVERY_TIMEOUT_SECONDS": "901"}, "DELIVERY_TIMEOUT_SECONDS must be between 0.01 and 900"),
        ({"DELIVERY_TIMEOUT_SECONDS": "nan"}, "DELIVERY_TIMEOUT_SECONDS must be between"),
        ({"DELIVERY_RETRY_SCHEDULE": "5,soon"}, "DELIVERY_RETRY_SCHEDULE must be comma-separated whole seconds"),
        ({"DELIVERY_RETRY_SCHEDULE": "5,0"}, "DELIVERY_RETRY_SCHEDULE entries must be between 1 and 43200"),
        ({"DELIVERY_RETRY_SCHEDULE": "43201"}, "DELIVERY_RETRY_SCHEDULE entries must be between 1 and 43200"),
        ({"DELIVERY_MAX_RECEIVES": "1"}, "DELIVERY_MAX_RECEIVES must be between 2 and 1000"),
        ({"DELIVERY_MAX_RECEIVES": "2.5"}, "DELIVERY_MAX_RECEIVES must be a whole number"),
        ({"DELIVERY_MAX_RESPONSE_BYTES": "65537"}, "DELIVERY_MAX_RESPONSE_BYTES must be between 0 and 65536"),
        ({"DELIVERY_ALLOWED_CIDRS": "10.0.0.0/8,10.0.0.0/33"}, "DELIVERY_ALLOWED_CIDRS: allowed CIDR '10.0.0.0/33'"),
        (
            {"DELIVERY_ALLOWED_CIDRS": "127.0.0.0/8,::/0"},
            "DELIVERY_ALLOWED_CIDRS: allowed CIDR '::/0' covers public addresses",
        ),
        (
            {"DELIVERY_ALLOWED_CIDRS": "64:ff9b::/96"},
            "DELIVERY_ALLOWED_CIDRS: allowed CIDR '64:ff9b::/96' overlaps the NAT64",
        ),
        ({"DELIVERY_TIME_SCALE": "2"}, "DELIVERY_TIME_SCALE must be between 0 and 1"),
    ],
)
def test_a_bad_variable_is_named(change: dict[str, str | None], message: str) -> None:
    environment: dict[str, str] = WorkerSettings(**WORKER_NAMES).to_environ()
    for name, value in change.items():
        if value is None:
            environment.pop(name)
        else:
            environment[name] = value
    with pytest.raises(SettingsError, match=message):
        WorkerSettings.from_environ(environment)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"table_name": ""}, "DELIVERY_TABLE_NAME is required"),
        ({"max_receives": 1001}, "DELIVERY_MAX_RECEIVES must be between 2 and 1000"),
        ({"retry_schedule": (5, 86_400)}, "DELIVERY_RETRY_SCHEDULE entries must be between 1 and 43200"),
        ({"allowed_cidrs": ("internal",)}, "DELIVERY_ALLOWED_CIDRS: allowed CIDR 'internal'"),
        ({"allowed_cidrs": ("0.0.0.0/0",)}, "DELIVERY_ALLOWED_CIDRS: allowed CIDR '0.0.0.0/0' covers public addresses"),
        ({"time_scale": -1}, "DELIVERY_TIME_SCALE must be between 0 and 1"),
    ],
)
def test_a_value_the_function_would_refuse_fails_where_the_environment_is_built(
    change: dict[str, Any], message: str
) -> None:
    # The component and the sandbox construct the settings: they fail there, not the function later.
    with pytest.raises(SettingsError, match=message):
        WorkerSettings(**{**WORKER_NAMES, **change})
    with pytest.raises(SettingsError, match=message):
        dataclasses.replace(WorkerSettings(**WORKER_NAMES), **change)


def test_settings_are_frozen_and_parse_their_networks_once() -> None:
    settings = ApiSettings(**NAMES, allowed_cidrs=("10.0.0.0/8",))
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.table_name = "other"  # type: ignore[misc]
    assert [str(n) for n in settings.allowed_networks] == ["10.0.0.0/8"]
    assert settings.allowed_networks is ApiSettings(**NAMES, allowed_cidrs=("10.0.0.0/8",)).allowed_networks


def test_the_token_issuer_is_an_http_base_url_without_a_trailing_slash() -> None:
    assert ApiSettings.from_environ({**ApiSettings(**NAMES).to_environ()}).token_issuer == ""  # unset: tokens off
    for bad in ("abc123.execute-api.us-east-1.amazonaws.com", "https://abc/", "ftp://x", "https://a b"):
        with pytest.raises(SettingsError, match="DELIVERY_TOKEN_ISSUER"):
            ApiSettings(**NAMES, token_issuer=bad)
