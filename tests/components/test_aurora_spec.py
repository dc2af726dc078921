"""components/specs/aurora.py: the values the AuroraRelay component and the sandbox both derive, the
environments it builds through the functions' contracts, and that the sandbox's side never needs
pulumi."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from components.config import parse_stack_config
from components.specs.aurora import AuroraSpec, event_source
from functions import relay, sweeper
from functions.environ import SettingsError
from functions.relay import RelaySettings
from functions.sweeper import SweeperSettings

ROOT = Path(__file__).resolve().parents[2]
CLUSTER = "arn:aws:rds:us-east-1:123456789012:cluster:hookstack-aurora-cluster-0123456"
SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!cluster-0123-AbCdEf"


def spec(provider_event_source: str = "hookstack", **aurora) -> AuroraSpec:
    return AuroraSpec.from_config(
        parse_stack_config({"aurora": aurora}).aurora, provider_event_source=provider_event_source
    )


def test_leases_outlive_the_invocations_holding_them():
    default = spec()
    assert default.relay_lease_seconds == 60 and default.relay_lease_seconds > default.relay.timeout_seconds
    assert default.sweeper_lease_seconds == 360 and default.sweeper_lease_seconds > default.sweeper.timeout_seconds


def test_the_handler_names_resolve_to_the_handlers():
    default = spec()
    for function in (default.relay, default.sweeper, default.migration):
        module, _, name = function.handler.rpartition(".")
        assert callable(getattr(importlib.import_module(module), name))
    assert default.relay.handler == "functions.relay.handler"


def test_the_schedule_and_grace_come_from_the_config():
    five = spec(sweepIntervalMinutes=5, sweepGraceSeconds=120)
    assert (five.schedule_expression, five.sweep_interval_seconds, five.sweep_max_event_age_seconds) == (
        "rate(5 minutes)",
        300,
        300,
    )
    assert spec().sweep_max_event_age_seconds == 60, "the least Lambda and Scheduler accept"
    assert five.sweeper_environment(CLUSTER, SECRET, "bus")["SWEEPER_GRACE_SECONDS"] == "120"


def test_the_event_source_is_the_providers_plus_aurora_for_both_sides():
    assert event_source("acme") == "acme.aurora"
    assert spec("acme").relay_environment(CLUSTER, SECRET, "bus")["AURORA_EVENT_SOURCE"] == "acme.aurora"
    assert spec("acme").local_environment("postgresql://x", "bus", time_scale=1)["AURORA_EVENT_SOURCE"] == "acme.aurora"


def test_deployed_environments_read_back_as_the_settings_the_spec_means():
    default = spec(databaseName="orders")
    relay_settings = RelaySettings.from_environ(default.relay_environment(CLUSTER, SECRET, "bus"))
    assert relay_settings == default.relay_settings(default.data_api(CLUSTER, SECRET), "bus")
    assert relay_settings.database.database_name == "orders"
    sweeper_environment = default.sweeper_environment(CLUSTER, SECRET, "bus")
    assert SweeperSettings.from_environ(sweeper_environment).lease_seconds == default.sweeper_lease_seconds
    assert set(default.migration_environment(CLUSTER, SECRET)) == {
        "AURORA_CLUSTER_ARN",
        "AURORA_SECRET_ARN",
        "AURORA_DATABASE_NAME",
    }
    assert sum(len(k) + len(v) for k, v in sweeper_environment.items()) < 4096, "Lambda's 4 KB for all variables"


def test_a_value_the_function_would_refuse_fails_when_the_environment_is_built():
    broken = AuroraSpec(
        event_source="x.aurora",
        database_name="hookstack",
        sweep_interval_minutes=1,
        sweep_grace_seconds=60,
        sweeper_batch_size=0,
    )
    with pytest.raises(SettingsError, match="SWEEPER_BATCH_SIZE must be between 1 and"):
        broken.sweeper_environment(CLUSTER, SECRET, "bus")


def test_the_sandbox_runs_both_handlers_on_one_environment_scaled_in_time():
    local = spec(sweepGraceSeconds=600).local_environment("postgresql://x", "bus", time_scale=0.01)
    assert RelaySettings.from_environ(local).database.dsn == "postgresql://x"
    assert SweeperSettings.from_environ(local).grace_seconds == 6
    assert (
        spec(sweepGraceSeconds=10).local_environment("postgresql://x", "bus", time_scale=0.001)["SWEEPER_GRACE_SECONDS"]
        == "1"
    )
    assert local["EVENT_BUS_NAME"] == "bus"
    with pytest.raises(ValueError, match="time_scale must be positive"):
        spec().local_environment("postgresql://x", "bus", time_scale=0)


def test_the_sandbox_side_imports_no_pulumi():
    code = "import sys, sandbox.aurora, components.specs.aurora; print(sorted(m for m in sys.modules if m.split('.')[0] in ('pulumi', 'pulumi_aws')))"
    output = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert output.strip() == "[]"


def test_the_sandbox_forgets_the_handlers_state_when_it_stops(monkeypatch):
    from sandbox.aurora import LocalAurora

    for module in (relay, sweeper):
        module._state.set("stale runtime")  # type: ignore[arg-type]
    aurora = LocalAurora(
        parse_stack_config({}).aurora,
        provider_event_source="x",
        bus_name="b",
        time_scale=1,
        set_environment=None,
        region="us-east-1",
    )
    aurora.stop()
    monkeypatch.delenv("EVENT_BUS_NAME", raising=False)
    monkeypatch.setenv("AURORA_DATABASE_DSN", "postgresql://unused")
    for module in (relay, sweeper):
        with pytest.raises(SettingsError, match="EVENT_BUS_NAME is required"):
            module._state.get()  # rebuilt from the environment, not the stale runtime
    assert aurora.spec.event_source == "x.aurora"
