"""The EntryBus under Pulumi mocks: the bus and its archive, their URNs, and one bus for every component."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from components.entry_bus import MAX_NAME, validate_name
from sandbox.preview import Program
from tests.harness import ACCOUNT, REGION, load_stack_file_config, run_program

ROOT = Path(__file__).resolve().parent.parent.parent
BUS = "aws:cloudwatch/eventBus:EventBus"
ARCHIVE = "aws:cloudwatch/eventArchive:EventArchive"
RULE = "aws:cloudwatch/eventRule:EventRule"
TARGET = "aws:cloudwatch/eventTarget:EventTarget"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
PIPE = "aws:pipes/pipe:Pipe"
ENTRY_BUS = "hookstack:index:EntryBus"
SMALL = {
    "delivery": {"enabled": False},
    "provider": {"archiveRetentionDays": 0},
    "tenants": [
        {"id": "1", "destinations": [{"name": "crm", "url": "https://crm.example.com/h", "auth": {"type": "none"}}]}
    ],
}
BUS_NAME = "acme-entry"


@pytest.fixture(scope="module")
def everything() -> Program:
    """The dev stack (delivery, inbound, Aurora all on) with its own bus name."""
    config, secret_keys = load_stack_file_config(ROOT / "Pulumi.dev.yaml")
    config["hookstack:provider"] = {**config["hookstack:provider"], "busName": BUS_NAME}
    return run_program(config, secret_keys=secret_keys)


def test_the_entry_bus_and_its_archive_belong_to_the_entry_bus_component(everything: Program) -> None:
    component = everything.one(ENTRY_BUS)
    assert component.urn == f"urn:pulumi:dev::hookstack::{ENTRY_BUS}::hookstack"
    bus = everything.named("hookstack-bus")
    archive = everything.named("hookstack-archive")
    assert bus.type == BUS and archive.type == ARCHIVE
    assert bus.parent == archive.parent == component.urn
    assert bus.urn == f"urn:pulumi:dev::hookstack::{ENTRY_BUS}${BUS}::hookstack-bus"
    assert bus["name"] == BUS_NAME
    assert bus["description"] == "hookstack entry bus"
    assert archive["eventSourceArn"] == bus.arn == f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/{BUS_NAME}"
    assert archive["retentionDays"] == 7  # Pulumi.dev.yaml
    assert archive["description"] == f"Every event on {BUS_NAME}, for replay"
    outputs = everything.outputs
    assert (outputs["busName"], outputs["busArn"], outputs["archiveArn"]) == (BUS_NAME, bus.arn, archive.arn)


def test_archive_retention_comes_from_the_config_and_zero_keeps_events_forever() -> None:
    assert run_program(SMALL).one(ARCHIVE)["retentionDays"] == 0


@pytest.mark.parametrize(
    ("stack", "alias_specs"),
    [("dev", True), ("prod", False)],
    ids=["engine-resolves-alias-specs", "sdk-computes-alias-urns"],
)
def test_bus_and_archive_keep_the_urns_they_had_under_the_webhook_provider(stack: str, alias_specs: bool) -> None:
    """Moving them under the EntryBus must not replace them (a new archive would start empty).

    Checked both ways an alias becomes a URN: the engine resolving the alias spec the SDK sends, and
    the SDK computing the URN itself (what it does for engines without alias specs).
    """
    program = run_program(SMALL, stack=stack, alias_specs=alias_specs)
    old = f"urn:pulumi:{stack}::hookstack::hookstack:index:WebhookProvider$"
    assert program.named("hookstack-bus").aliases == [f"{old}aws:cloudwatch/eventBus:EventBus::hookstack-bus"]
    assert program.named("hookstack-archive").aliases == [
        f"{old}aws:cloudwatch/eventArchive:EventArchive::hookstack-archive"
    ]
    # The provider is still there, under its own URN, and kept no bus or archive of its own.
    assert (
        program.one("hookstack:index:WebhookProvider").urn
        == f"urn:pulumi:{stack}::hookstack::hookstack:index:WebhookProvider::hookstack"
    )
    assert len(program.of_type(BUS)) == len(program.of_type(ARCHIVE)) == 1
    # Nothing else claims an old URN, and every other resource kept its URN (no alias needed).
    assert sorted(r.name for r in program.resources if r.aliases) == ["hookstack-archive", "hookstack-bus"]


def test_every_component_publishes_to_and_subscribes_on_the_same_bus(everything: Program) -> None:
    bus = everything.named("hookstack-bus")
    # Subscribers: the signed-delivery rule and every API-destination rule live on the entry bus.
    rules = everything.of_type(RULE)
    assert "hookstack-delivery-rule" in [r.name for r in rules]
    assert len(rules) >= 5
    assert {r["eventBusName"] for r in rules} == {BUS_NAME}
    assert {t["eventBusName"] for t in everything.of_type(TARGET)} == {BUS_NAME}
    assert everything.named("hookstack-delivery-rule").arn.startswith(
        f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{BUS_NAME}/"
    )
    # Publishers: the inbound Pipe targets the bus; every events:PutEvents permission names it only.
    assert everything.one(PIPE).plain("target") == bus.arn
    allowed: dict[str, list[Any]] = {}
    for policy in everything.of_type(ROLE_POLICY):
        for statement in policy.json("policy")["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            if "events:PutEvents" in actions:
                resources = statement["Resource"]
                allowed[policy.name] = resources if isinstance(resources, list) else [resources]
    assert {"hookstack-aurora-relay-policy", "hookstack-aurora-sweeper-policy", "hookstack-inbound-pipe-policy"} <= set(
        allowed
    )
    assert all(resources == [bus.arn] for resources in allowed.values()), allowed


def test_the_component_name_leaves_room_for_the_archive_name() -> None:
    validate_name("hookstack")
    validate_name("x" * MAX_NAME)
    assert len(f"{'x' * MAX_NAME}-archive-0000000") == 48  # EventBridge's archive name limit
    for bad in ("", "x" * (MAX_NAME + 1)):
        with pytest.raises(ValueError, match=r"EntryBus name .* must be 1 to 32 characters"):
            validate_name(bad)
