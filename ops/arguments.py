"""The command line's arguments: :func:`build_parser` (every command's options and help text) and
the option groups and argument types several commands share.

Separate from :mod:`ops.cli`, which runs the commands, so the parser reads as one piece. The
``inbound`` group is defined here too (not in :mod:`ops.inbound_cli`, which runs it): it uses the
shared options, and a parser that imports :mod:`ops.inbound_cli` for its options while that module
imports the shared options from here would be an import cycle. The token commands define their own
options (:func:`ops.token_cli.add_commands`).
"""

from __future__ import annotations

import argparse
from typing import Any

from functions.delivery.since import DEFAULT as DEFAULT_SINCE
from functions.delivery.vocab import DeliveryStatus
from ops import deliveries, queue_run, token_cli


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    _common_options(common, default=argparse.SUPPRESS)
    parser = argparse.ArgumentParser(
        prog="python -m ops",
        allow_abbrev=False,  # an abbreviation of --execute must not slip through
        description="Operate hookstack's outgoing webhooks: status, DLQ redrive, archive replay, re-authorization.",
        epilog="Stack outputs: `pulumi stack output --json > outputs.json`, then --outputs outputs.json.",
    )
    _common_options(parser, default=None)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    cmd = commands.add_parser(
        "status",
        parents=[common],
        allow_abbrev=False,
        help="state of connections, API destinations, rules, archive, DLQ, alarms, worker endpoints, inbound queues",
    )
    cmd.add_argument(
        "--strict",
        action="store_true",
        help="also exit 1 on warnings (messages in the DLQ, alarms firing, disabled rules)",
    )
    cmd.add_argument(
        "--tenant",
        action="append",
        default=[],
        metavar="ID",
        help="worker endpoints of this tenant (repeatable; default: the deliveryTenants output)",
    )
    cmd.add_argument("--table", metavar="NAME", help="the delivery table (overrides deliveryTableName)")

    cmd = commands.add_parser(
        "deliveries",
        parents=[common],
        allow_abbrev=False,
        help="a tenant's worker deliveries by status since a time (GET /tenants/{t}/deliveries)",
        description=(
            "List a tenant's worker deliveries whose status changed since --since (a failed one: when it failed), "
            "oldest first, read from the delivery table's recent index (no scan)."
        ),
    )
    cmd.add_argument("--tenant", required=True, metavar="ID", help="the tenant")
    cmd.add_argument(
        "--status",
        choices=[s.value for s in DeliveryStatus],
        help="only deliveries in this status (default: every status)",
    )
    cmd.add_argument(
        "--since",
        default=DEFAULT_SINCE,
        metavar="WHEN",
        help=f"ISO 8601 with a zone, or 30m / 24h / 7d back from now (default {DEFAULT_SINCE})",
    )
    cmd.add_argument("--max", type=_positive, default=deliveries.DEFAULT_MAX, metavar="N", help="list at most N")
    cmd.add_argument("--table", metavar="NAME", help="the delivery table (overrides deliveryTableName)")

    cmd = commands.add_parser(
        "enable",
        parents=[common],
        allow_abbrev=False,
        help="enable a disabled worker endpoint and publish endpoint.enabled (as PATCH enabled: true does)",
    )
    cmd.add_argument("endpoint", metavar="ENDPOINT_ID", help="the endpoint (cfg_<name> for one of the stack config)")
    cmd.add_argument("--tenant", required=True, metavar="ID", help="its tenant")
    cmd.add_argument(
        "--event-source",
        metavar="PREFIX",
        help="the stack's provider.eventSource (default: hookstack): the event goes out as <it>.operational",
    )
    cmd.add_argument("--table", metavar="NAME", help="the delivery table (overrides deliveryTableName)")

    cmd = commands.add_parser(
        "redrive",
        parents=[common],
        allow_abbrev=False,
        help="send dead-lettered events again, each to the rule that dead-lettered it (dry run unless --execute)",
        description=(
            "Send the events of the dead-letter queue again, each only to the rule that dead-lettered it "
            "(marked with detail.hookstackRedrive, which only that rule accepts), and delete a message once "
            "its event was accepted; a message stays, with the reason, when its rule no longer matches the event "
            "(checked with TestEventPattern). A run works on the messages present when it starts: messages that "
            "arrive later (a redriven event failing again) are left for a later run; one event is sent at "
            "most once per rule in a run. Progress goes to stderr; the run stops by itself."
        ),
    )
    cmd.add_argument("--execute", action="store_true", help="publish and delete; without it nothing is sent or deleted")
    _selection_options(cmd)
    cmd.add_argument(
        "--error-code",
        action="append",
        default=[],
        metavar="CODE",
        help="only messages with this ERROR_CODE attribute (repeatable)",
    )
    cmd.add_argument("--max", type=_positive, metavar="N", help="select at most N messages, then stop")
    cmd.add_argument(
        "--target-bus", metavar="NAME", help="publish to this bus instead of the dead-lettering rule's bus"
    )
    cmd.add_argument(
        "--all-rules",
        action="store_true",
        help="publish without the redrive marker to the entry bus: EVERY rule matching an event gets it again "
        "(for dead letters whose rule no longer exists)",
    )
    _run_options(cmd)

    replay_cmd = commands.add_parser("replay", allow_abbrev=False, help="archive replays: start, status, cancel, list")
    replays = replay_cmd.add_subparsers(dest="replay_command", required=True, metavar="ACTION")
    cmd = replays.add_parser("start", parents=[common], allow_abbrev=False, help="replay the archive for a time window")
    cmd.add_argument(
        "--from",
        "--since",
        dest="start",
        required=True,
        metavar="ISO8601",
        help="window start, with offset (2026-01-05T10:00Z)",
    )
    cmd.add_argument("--to", "--until", dest="end", required=True, metavar="ISO8601", help="window end, with offset")
    _selection_options(cmd)
    _inbound_replay_options(cmd)
    cmd.add_argument("--name", help="replay name (default: <prefix>replay-<UTC time>)")
    cmd.add_argument("--description", default="", help="free text kept with the replay (max 512)")
    cmd.add_argument("--dry-run", action="store_true", help="print the StartReplay request, start nothing")
    _wait_options(cmd)
    cmd = replays.add_parser("status", parents=[common], allow_abbrev=False, help="progress of a replay")
    cmd.add_argument("name")
    _wait_options(cmd)
    cmd = replays.add_parser("cancel", parents=[common], allow_abbrev=False, help="cancel a running replay")
    cmd.add_argument("name")
    replays.add_parser("list", parents=[common], allow_abbrev=False, help="replays of the entry bus's archive")

    cmd = commands.add_parser(
        "reauthorize",
        parents=[common],
        allow_abbrev=False,
        help="UpdateConnection with the credential read from stdin (never from arguments)",
    )
    cmd.add_argument("connection", help="connection name, or tenant/destination with --outputs")
    _inbound_commands(commands, common)
    token_cli.add_commands(commands, common)
    return parser


def _inbound_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    """The ``inbound`` command group, on ``python -m ops``'s subcommands."""
    group = commands.add_parser(
        "inbound", allow_abbrev=False, help="inbound webhooks: redrive the FIFO dead-letter queue"
    )
    actions = group.add_subparsers(dest="inbound_command", required=True, metavar="ACTION")
    cmd = actions.add_parser(
        "redrive",
        parents=[common],
        allow_abbrev=False,
        help="move inbound dead letters back to the FIFO queue, in order (dry run unless --execute)",
        description=(
            "Move the messages of the inbound FIFO dead-letter queue back to the inbound FIFO queue, each into "
            "its own message group, oldest first, and delete each once it was sent. A run works on the messages "
            "present when it starts and stops by itself; each message is sent at most once (a repeated send "
            "within 5 minutes is absorbed by the queue's deduplication). Progress goes to stderr."
        ),
    )
    cmd.add_argument("--execute", action="store_true", help="send and delete; without it nothing is sent or deleted")
    cmd.add_argument("--queue", metavar="NAME|URL", help="the inbound FIFO queue (default: inboundQueueName)")
    cmd.add_argument(
        "--dead-letter-queue",
        metavar="NAME|URL",
        help="its FIFO dead-letter queue (default: inboundDeadLetterQueueName)",
    )
    cmd.add_argument(
        "--source", action="append", default=[], metavar="NAME", help="only this inbound source's messages (repeatable)"
    )
    cmd.add_argument(
        "--group", action="append", default=[], metavar="ID", help="only this FIFO message group (repeatable)"
    )
    cmd.add_argument("--max", type=_positive, metavar="N", help="select at most N messages, then stop")
    _run_options(cmd)


def _inbound_replay_options(parser: argparse.ArgumentParser) -> None:
    """``replay start --inbound-source NAME [--event-source PREFIX]``."""
    parser.add_argument(
        "--inbound-source",
        action="append",
        default=[],
        metavar="NAME",
        help="replay to the rules that take this inbound source's events (<eventSource>.<NAME>, or a full "
        "event source such as acme.github; repeatable)",
    )
    parser.add_argument(
        "--event-source",
        metavar="PREFIX",
        help="the stack's provider.eventSource (default: hookstack), the prefix of inbound events' source",
    )


def _common_options(parser: argparse.ArgumentParser, default: Any) -> None:
    group = parser.add_argument_group("stack and AWS")
    group.add_argument("--outputs", metavar="FILE", default=default, help="`pulumi stack output --json` of the stack")
    group.add_argument("--bus-name", default=default, help="entry bus name (overrides busName)")
    group.add_argument("--bus-arn", default=default, help="entry bus ARN (overrides busArn)")
    group.add_argument("--dlq-url", default=default, help="dead-letter queue URL (overrides deadLetterQueueUrl)")
    group.add_argument("--archive", default=default, help="archive name or ARN (default: the archive of the entry bus)")
    group.add_argument(
        "--region", default=default, help="AWS region (default: AWS_REGION, else AWS_DEFAULT_REGION / profile)"
    )
    group.add_argument("--endpoint-url", default=default, help="AWS endpoint, e.g. a moto server or the local sandbox")
    group.add_argument(
        "--output",
        choices=("text", "json"),
        default="text" if default is None else default,
        help="text (default) or json",
    )


def _selection_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rule-arn", action="append", default=[], metavar="ARN", help="only this rule (repeatable)")
    parser.add_argument(
        "--destination",
        action="append",
        default=[],
        metavar="TENANT/NAME",
        help="only this destination's rule (repeatable; needs --outputs)",
    )
    parser.add_argument("--tenant", action="append", default=[], metavar="ID", help="only this tenant (repeatable)")


def _wait_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--wait", action="store_true", help="poll until the replay ends")
    parser.add_argument(
        "--interval", type=_bounded(1, 3600), default=15, metavar="S", help="seconds between polls (default 15)"
    )
    parser.add_argument("--timeout", type=_bounded(1, 7 * 86_400), metavar="S", help="stop waiting after S seconds")


def _run_options(parser: argparse.ArgumentParser) -> None:
    """How a dead-letter run receives and when it stops (``redrive`` and ``inbound redrive``)."""
    parser.add_argument(
        "--wait-seconds",
        type=_bounded(0, 20),
        default=2,
        metavar="S",
        help="SQS long-poll wait per receive (0-20, default 2)",
    )
    parser.add_argument(
        "--visibility-timeout",
        type=_bounded(30, 43_200),
        default=300,
        metavar="S",
        help="how long a run holds the messages it looked at (30-43200 s, default 300); longer than the run",
    )
    parser.add_argument(
        "--time-limit",
        type=_bounded(1, 43_199),
        metavar="S",
        help=f"stop after S seconds, below --visibility-timeout (default {queue_run.DEFAULT_TIME_LIMIT_SECONDS}, "
        "or 80%% of a shorter --visibility-timeout)",
    )


def _positive(text: str) -> int:
    return _bounded(1, 10**9)(text)


def _bounded(low: int, high: int) -> Any:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is outside {low}..{high}")
        return value

    return parse
