"""``python -m ops replay start|status|cancel|list``: archive replays (docs/runbook.md). The work is
:mod:`ops.replay` (and :mod:`ops.inbound_replay` for ``--inbound-source``); this module turns the
parsed arguments into those calls and prints the result. Its options are in :mod:`ops.arguments`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from ops import inbound_replay, replay
from ops.aws import Clients, pages
from ops.command import EXIT_ATTENTION, EXIT_OK, emit, json_default
from ops.outputs import OpsError, StackOutputs


def run(args: argparse.Namespace, clients: Clients, outputs: StackOutputs) -> int:
    """Run ``replay <action>``; exit code as the rest of the tool."""
    events = clients.events
    if args.replay_command == "start":
        return _start(args, events, outputs)
    if args.replay_command == "status":
        return _show(args, events, replay.check_replay_name(args.name))
    if args.replay_command == "cancel":
        response = events.cancel_replay(ReplayName=replay.check_replay_name(args.name))
        emit(
            args,
            response,
            f"replay {args.name}: {response.get('State')} ({response.get('StateReason', '')})".rstrip(" ()"),
        )
        return EXIT_OK
    archive = replay.find_archive(events, outputs)
    listed = pages(events.list_replays, "Replays", EventSourceArn=archive.arn)
    text = (
        "\n".join(
            f"{r['ReplayName']}  {r.get('State')}  {r.get('EventStartTime')} .. {r.get('EventEndTime')}" for r in listed
        )
        or f"no replays of archive {archive.name}"
    )
    emit(args, listed, text)
    return EXIT_OK


def _start(args: argparse.Namespace, events: Any, outputs: StackOutputs) -> int:
    now = datetime.now(UTC)
    start, end = replay.parse_time(args.start, "--from"), replay.parse_time(args.end, "--to")
    replay.check_window(start, end, now)
    archive = replay.find_archive(events, outputs)
    if archive.state != "ENABLED":
        raise OpsError(f"archive {archive.name} is {archive.state}, not ENABLED")
    targets = replay.resolve_rules(
        events, outputs, rule_arns=args.rule_arn, destinations=args.destination, tenants=args.tenant
    )
    if args.inbound_source:
        targets = inbound_replay.with_inbound_rules(events, outputs, targets, args.inbound_source, args.event_source)
    request = replay.replay_request(
        name=args.name or replay.default_replay_name(outputs.resource_prefix, now),
        archive_arn=archive.arn,
        bus_arn=replay.entry_bus_arn(events, outputs),
        start=start,
        end=end,
        rule_arns=targets.rule_arns,
        description=args.description or f"hookstack ops replay {start:%Y-%m-%dT%H:%M}Z..{end:%Y-%m-%dT%H:%M}Z",
    )
    notes = list(targets.notes)
    warning = replay.retention_warning(archive, start, now)
    if warning:
        notes.append(warning)
    if not targets.rule_arns:
        notes.append(f"no rule filter: every rule on {outputs.bus_name} gets the window again")
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    if args.dry_run:
        emit(
            args,
            {"dryRun": True, "request": request, "notes": notes},
            "DRY RUN, StartReplay request:\n" + json.dumps(request, indent=2, default=json_default),
        )
        return EXIT_OK
    response = events.start_replay(**request)
    name = request["ReplayName"]
    emit(
        args,
        {"request": request, "response": _plain(response), "notes": notes},
        f"replay {name} {response.get('State')}; follow it with: python -m ops replay status {name} --wait",
        json_lines=args.wait,
    )
    if args.wait:
        return _show(args, events, name)
    return EXIT_OK


def _show(args: argparse.Namespace, events: Any, name: str) -> int:
    def show(described: Mapping[str, Any]) -> None:
        share = replay.progress(described)
        done = "?" if share is None else f"{share:.0%}"
        line = (
            f"replay {name}: {described.get('State')} {done}, last replayed event time "
            f"{described.get('EventLastReplayedTime', '-')}, window {described.get('EventStartTime')} .. "
            f"{described.get('EventEndTime')}"
        )
        reason = described.get("StateReason")
        text = line + (f" ({reason})" if reason else "")
        emit(args, {**_plain(described), "progress": share}, text, json_lines=args.wait)

    if args.wait:
        described = replay.wait_for(events, name, interval=args.interval, timeout=args.timeout, on_update=show)
        if described.get("State") not in replay.TERMINAL_STATES:
            # --timeout ran out: the replay is not done, which a script must not read as success.
            print(
                f"note: replay {name} is still {described.get('State')} after --timeout {args.timeout}", file=sys.stderr
            )
            return EXIT_ATTENTION
    else:
        described = events.describe_replay(ReplayName=name)
        show(described)
    return EXIT_ATTENTION if described.get("State") == "FAILED" else EXIT_OK


def _plain(response: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in response.items() if k != "ResponseMetadata"}
