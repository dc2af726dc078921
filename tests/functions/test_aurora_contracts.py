"""The Aurora functions' runtime contracts (RelaySettings, SweeperSettings, DatabaseSettings): they
survive their own environment, write every variable their handler reads, refuse bad values naming
the variable; and the claim statuses are the SQL's, defined once."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from functions import migrate, outbox, relay, sweeper
from functions.environ import SettingsError
from functions.outbox import Claim, ClaimStatus, DatabaseSettings, Outbox
from functions.relay import EventTarget, RelaySettings
from functions.sweeper import SweeperSettings

ROOT = Path(__file__).resolve().parents[2]
CLUSTER = "arn:aws:rds:us-east-1:123456789012:cluster:hookstack-aurora-cluster"
SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!cluster-abc-AbCdEf"
DATA_API = DatabaseSettings(cluster_arn=CLUSTER, secret_arn=SECRET, database_name="orders")
LOCAL = DatabaseSettings(dsn="postgresql://hookstack@/hookstack?host=/tmp/pg")
TARGET = EventTarget("hookstack-prod", "acme.aurora")


class Recording(Mapping[str, str]):
    """An environment that remembers which variables were looked up."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self.values = dict(values)
        self.read: set[str] = set()

    def __getitem__(self, key: str) -> str:
        self.read.add(key)
        return self.values[key]

    def get(self, key: str, default: Any = None) -> Any:
        self.read.add(key)
        return self.values.get(key, default)

    def __iter__(self) -> Iterator[str]:
        return iter(self.values)

    def __len__(self) -> int:
        return len(self.values)


CONTRACTS = [
    RelaySettings(DATA_API, TARGET),
    RelaySettings(LOCAL, EventTarget("bus"), commit_wait_seconds=0.25, lease_seconds=3600),
    RelaySettings(DATA_API, TARGET, commit_wait_seconds=0, lease_seconds=1),
    SweeperSettings(DATA_API, TARGET),
    SweeperSettings(LOCAL, TARGET, grace_seconds=0, batch_size=1, lease_seconds=86_400, retention_days=3650),
    DATA_API,
    LOCAL,
    TARGET,
]


@pytest.mark.parametrize("settings", CONTRACTS, ids=lambda s: type(s).__name__)
def test_each_contract_survives_its_own_environment(settings):
    environment = settings.to_environ()
    assert all(isinstance(v, str) and v for v in environment.values()), "Lambda takes non-empty strings only"
    assert type(settings).from_environ(environment) == settings


@pytest.mark.parametrize("contract", [RelaySettings, SweeperSettings, DatabaseSettings])
def test_every_variable_a_handler_reads_is_written_and_nothing_written_is_ignored(contract):
    written: set[str] = set()
    read: set[str] = set()
    for database in (DATA_API, LOCAL):
        settings = database if contract is DatabaseSettings else contract(database, TARGET)
        environment = Recording(settings.to_environ())
        assert contract.from_environ(environment) == settings
        assert set(environment.values) <= environment.read, "a written variable nobody reads"
        written |= set(environment.values)
        read |= environment.read
    assert read == written, "a variable the handler reads that no to_environ() ever writes"


def test_the_names_and_defaults_are_the_documented_ones():
    environment = {
        "AURORA_CLUSTER_ARN": CLUSTER,
        "AURORA_SECRET_ARN": SECRET,
        "AURORA_DATABASE_NAME": "hookstack",
        "EVENT_BUS_NAME": "bus",
    }
    relay_settings = RelaySettings.from_environ(environment)
    assert (relay_settings.target.source, relay_settings.commit_wait_seconds, relay_settings.lease_seconds) == (
        "hookstack.aurora",
        3.0,
        60,
    )
    sweeper_settings = SweeperSettings.from_environ(environment)
    assert (
        sweeper_settings.grace_seconds,
        sweeper_settings.batch_size,
        sweeper_settings.lease_seconds,
        sweeper_settings.retention_days,
    ) == (60, 100, 300, 7)
    assert RelaySettings(DATA_API, TARGET).to_environ()["RELAY_COMMIT_WAIT_SECONDS"] == "3", "whole seconds as before"


def test_a_dsn_wins_over_the_data_api_target_as_documented():
    environment = {"AURORA_DATABASE_DSN": LOCAL.dsn, "AURORA_CLUSTER_ARN": CLUSTER}
    assert DatabaseSettings.from_environ(environment) == LOCAL
    with pytest.raises(SettingsError, match="not both"):
        DatabaseSettings(cluster_arn=CLUSTER, secret_arn=SECRET, database_name="x", dsn="postgresql://x")


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("RELAY_LEASE_SECONDS", "0", "RELAY_LEASE_SECONDS must be between 1 and 86400"),
        ("RELAY_LEASE_SECONDS", "sixty", "RELAY_LEASE_SECONDS must be a whole number"),
        ("RELAY_COMMIT_WAIT_SECONDS", "-1", "RELAY_COMMIT_WAIT_SECONDS must be between 0 and 900"),
        ("SWEEPER_BATCH_SIZE", "0", "SWEEPER_BATCH_SIZE must be between 1 and 1000"),
        ("SWEEPER_GRACE_SECONDS", "1.5", "SWEEPER_GRACE_SECONDS must be a whole number"),
        ("SWEEPER_RETENTION_DAYS", "0", "SWEEPER_RETENTION_DAYS must be between 1 and 3650"),
    ],
)
def test_bad_values_are_refused_naming_the_variable(variable, value, message):
    environment = {
        **SweeperSettings(DATA_API, TARGET).to_environ(),
        **RelaySettings(DATA_API, TARGET).to_environ(),
        variable: value,
    }
    contract = RelaySettings if variable.startswith("RELAY_") else SweeperSettings
    with pytest.raises(SettingsError, match=message):
        contract.from_environ(environment)


@pytest.mark.parametrize("module", [relay, sweeper, migrate, outbox])
def test_the_handlers_read_the_environment_only_through_their_contract(module):
    lines = [
        line for line in Path(module.__file__).read_text().splitlines() if re.search(r"os\.(environ|getenv)\b", line)
    ]
    # outbox reads nothing itself; each handler module builds its settings once, from its contract.
    assert len(lines) == (0 if module is outbox else 1)
    assert all("Settings.from_environ(os.environ)" in line for line in lines)


# -- claim statuses ----------------------------------------------------------------------------


def test_the_claim_statuses_are_exactly_what_the_sql_returns():
    sql = (ROOT / "sql" / "002_outbox.sql").read_text()
    body = sql[sql.index("FUNCTION hookstack.claim_event") :]
    body = body[: body.index("$$;")]
    returned = {a or b for a, b in re.findall(r"(?:THEN|ELSE)\s+'(\w+)'|'(\w+)'::text", body)}
    assert returned == {status.value for status in ClaimStatus}


def test_an_unknown_claim_status_is_refused_naming_it_and_the_known_ones():
    class Database:
        def query(self, sql, parameters=None):
            return [{"status": "archived", "event_id": "evt_1"}]

    with pytest.raises(ValueError, match=r"claim_event returned status 'archived'; the relay knows claimed, published"):
        Outbox(Database()).claim("evt_1", 1, 60)  # type: ignore[arg-type]
    assert Claim("leased").status is ClaimStatus.LEASED


def test_an_event_id_with_a_trailing_newline_is_refused():
    event_id = "evt_" + "a" * 32
    assert relay.parse_notification({"eventId": event_id, "txid": 1}).event_id == event_id
    with pytest.raises(ValueError, match="eventId must look like evt_"):
        relay.parse_notification({"eventId": event_id + "\n", "txid": 1})
