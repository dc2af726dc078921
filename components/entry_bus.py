"""EntryBus: the bus every hookstack event enters through, and its archive for replays.

The hub of the stack. ``__main__.py`` creates it first and hands its :class:`BusRef` to the
publishers (the Aurora relay and the inbound consumer put events on it) and to the subscribers (the
WebhookProvider's rules and shard routing, the signed-delivery rule): one reference, so every
component names the same bus, and a component can be built in a test from a plain ``BusRef``.

The archive keeps every event of the bus for ``archive_retention_days`` (0 = forever) for
``python -m ops replay``.

Until the EntryBus existed, the WebhookProvider of the same name held the bus and the archive. Both
carry an alias to their URN under that parent, so ``pulumi up`` on an existing stack moves them
without replacing anything (a replaced archive would lose its events). Keep the aliases as long as a
stack deployed before the move may still be updated.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.common import WEBHOOK_PROVIDER_TYPE, child

ENTRY_BUS_TYPE = "hookstack:index:EntryBus"
# EventBridge archive names: at most 48 characters. The archive is autonamed "<name>-archive" plus
# Pulumi's 8-character suffix.
MAX_ARCHIVE_NAME = 48
MAX_NAME = MAX_ARCHIVE_NAME - len("-archive") - len("-0000000")


@dataclass(frozen=True)
class BusRef:
    """The entry bus as the other components need it: its name (rules, ``PutEvents``) and ARN (policies)."""

    name: pulumi.Input[str]
    """The bus's name (``event_bus_name`` of rules and targets, ``EVENT_BUS_NAME`` of publishers)."""
    arn: pulumi.Input[str]
    """The bus's ARN (the only resource a publisher's ``events:PutEvents`` may name)."""


@dataclass(frozen=True)
class EntryBusArgs:
    bus_name: str
    """The bus's name (``ProviderPlan.entry_bus_name``: ``provider.busName``, else ``hookstack-<stack>``)."""
    archive_retention_days: int = 7
    """How long the archive keeps events for replay (0 = forever)."""


class EntryBus(pulumi.ComponentResource):
    bus: aws.cloudwatch.EventBus
    """The bus applications and hookstack's publishers put events on."""
    archive: aws.cloudwatch.EventArchive
    """Every event of the bus, for replays."""
    bus_name: pulumi.Output[str]
    """The bus's name."""
    bus_arn: pulumi.Output[str]
    """The bus's ARN."""
    archive_arn: pulumi.Output[str]
    """The archive's ARN (``ops replay`` replays from it)."""
    ref: BusRef
    """What the other components take (name and ARN, both depending on the bus)."""

    def __init__(self, name: str, args: EntryBusArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        validate_name(name)
        super().__init__(ENTRY_BUS_TYPE, name, None, opts)
        moved = [pulumi.Alias(parent=former_parent_urn(name, opts))]
        self.bus = aws.cloudwatch.EventBus(
            f"{name}-bus", name=args.bus_name, description="hookstack entry bus", opts=child(self, aliases=moved)
        )
        self.archive = aws.cloudwatch.EventArchive(
            f"{name}-archive",
            event_source_arn=self.bus.arn,
            retention_days=args.archive_retention_days,
            description=f"Every event on {args.bus_name}, for replay",
            opts=child(self, aliases=moved),
        )
        self.bus_name = self.bus.name
        self.bus_arn = self.bus.arn
        self.archive_arn = self.archive.arn
        self.ref = BusRef(name=self.bus_name, arn=self.bus_arn)
        self.register_outputs({"bus_name": self.bus_name, "bus_arn": self.bus_arn, "archive_arn": self.archive_arn})


def validate_name(name: str) -> None:
    if not 1 <= len(name) <= MAX_NAME:
        raise ValueError(
            f"EntryBus name {name!r} must be 1 to {MAX_NAME} characters: the archive is autonamed "
            f"'<name>-archive-xxxxxxx' and EventBridge allows {MAX_ARCHIVE_NAME}"
        )


def former_parent_urn(name: str, opts: pulumi.ResourceOptions | None) -> pulumi.Output[str]:
    """The URN of the WebhookProvider named ``name`` (same parent), which held the bus and archive."""
    parent = opts.parent if opts is not None else None
    return pulumi.create_urn(name, WEBHOOK_PROVIDER_TYPE, parent)
