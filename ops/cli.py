"""``python -m ops``: the command line (argparse). See docs/runbook.md for when to use what.

Exit codes: 0 all good; 1 something needs an operator (a problem in ``status``, a message left in
the queue or a run cut short by its time limit in ``redrive --execute``, a FAILED replay); 2 bad
input or an AWS call that failed.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import json
import sys
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

from functions.delivery.since import DEFAULT as DEFAULT_SINCE
from functions.delivery.since import InvalidSince
from functions.delivery.vocab import DeliveryStatus
from ops import (
    deliveries,
    dlq,
    inbound_cli,
    inbound_redrive,
    inbound_replay,
    queue_run,
    reauthorize,
    redrive,
    replay,
    status,
)
from ops.aws import Clients, pages
from ops.outputs import OpsError, SandboxAccess, StackOutputs, load_outputs, resource_name, sandbox_access

EXIT_OK, EXIT_ATTENTION, EXIT_ERROR = 0, 1, 2


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
    inbound_cli.add_replay_options(cmd)
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
    inbound_cli.add_commands(commands, common)
    from ops import token_cli  # imported here: one hunk for the token commands (docs/tokens.md)

    token_cli.add_commands(commands, common)
    return parser


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


# --- entry point ------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None, *, clients: Clients | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        clients = clients or _clients(args, sandbox_access(args.outputs))
        if args.command == "inbound":
            return inbound_cli.run(args, clients)
        if args.command in ("token", "token-keys"):
            from ops import token_cli

            return token_cli.run(args, clients)
        outputs = load_outputs(
            args.outputs, bus_name=args.bus_name, bus_arn=args.bus_arn, dlq_url=args.dlq_url, archive=args.archive
        )
        _check_region(clients, outputs)
        if args.command == "status":
            return _status(args, clients, outputs)
        if args.command == "deliveries":
            return _deliveries(args, clients, outputs)
        if args.command == "enable":
            return _enable(args, clients, outputs)
        if args.command == "redrive":
            return _redrive(args, clients, outputs)
        if args.command == "replay":
            return _replay(args, clients, outputs)
        return _reauthorize(args, clients, outputs)
    except OpsError as error:
        _error(str(error))
    except NoRegionError:
        _error("no AWS region: pass --region or set AWS_REGION")
    except NoCredentialsError:
        _error("no AWS credentials found (environment, profile or instance role)")
    except ClientError as error:
        info = error.response.get("Error", {})
        _error(f"AWS refused {error.operation_name}: {info.get('Code', '?')}: {info.get('Message', '')}")
    except BotoCoreError as error:
        _error(f"AWS call failed: {error}")
    return EXIT_ERROR


def _clients(args: argparse.Namespace, local: SandboxAccess | None) -> Clients:
    """Clients for the flags; an outputs file of the local sandbox supplies endpoint, region and
    credentials (``--endpoint-url`` / ``--region`` still win). Its credentials are used only with
    its own endpoint: real ones are never sent to the sandbox, the sandbox's never elsewhere."""
    if local is None:
        return Clients(region=args.region, endpoint_url=args.endpoint_url)
    endpoint = args.endpoint_url or local.endpoint_url
    return Clients(
        region=args.region or local.region,
        endpoint_url=endpoint,
        credentials=(local.access_key_id, local.secret_access_key) if endpoint == local.endpoint_url else None,
        region_origin="--region" if args.region else f"the sandbox's outputs file {args.outputs}",
    )


def _check_region(clients: Clients, outputs: StackOutputs) -> None:
    """Before any AWS call: the clients' region must be the stack's, which its ARNs and queue URL
    name. In another region every resource looks missing and the DLQ empty, misleading the operator."""
    stack_regions = outputs.regions()
    if not stack_regions:
        return  # nothing in the outputs names a region (flags only, or a local endpoint's URLs)
    region = clients.resolved_region()
    expected = next(iter(stack_regions))
    if region is None:
        raise OpsError(f"no AWS region: pass --region {expected} or set AWS_REGION={expected} (the stack's region)")
    if region not in stack_regions:
        where = "; ".join(f"{r} ({named})" for r, named in stack_regions.items())
        raise OpsError(
            f"region mismatch: AWS calls would go to {region} ({clients.region_origin}) but the stack is in {where}. "
            f"Pass --region {expected} or set AWS_REGION={expected}"
        )


def _error(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)


def _emit(args: argparse.Namespace, data: Any, text: str, *, json_lines: bool = False) -> None:
    """Print ``text``, or ``data`` as JSON (one line per record when several follow: ``--wait``)."""
    if args.output == "json":
        print(json.dumps(data, indent=None if json_lines else 2, default=_json_default), flush=json_lines)
    else:
        print(text, flush=True)


def _json_default(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else str(value)


# --- status -----------------------------------------------------------------------------------


def _status(args: argparse.Namespace, clients: Clients, outputs: StackOutputs) -> int:
    report = status.collect(clients.events, clients.sqs, clients.cloudwatch, outputs)
    # The worker engine and the inbound pipeline: what `status` covers beyond API destinations.
    tenants = deliveries.tenants_to_check(outputs, args.tenant)
    if tenants and (args.table or outputs.extra.get(deliveries.TABLE_OUTPUT)):
        table = deliveries.delivery_table(clients.dynamodb, outputs, args.table)
        deliveries.worker_endpoints(report, table, tenants, time.time())
    deliveries.queue_depths(report, clients.sqs, outputs)
    problems = report.problems(strict=args.strict)
    marks = {"ok": "ok", "warning": "WARN", "problem": "FAIL"}
    lines = [f"hookstack outgoing webhooks on bus {report.bus_name} (resource prefix {report.prefix})"]
    width = max((len(f.name) for f in report.findings), default=10)
    for finding in report.findings:
        extra = "  ".join(x for x in (finding.label, finding.detail) if x)
        lines.append(
            f"{marks[finding.level]:<4}  {finding.kind:<17} {finding.name:<{width}}  {finding.state:<20} {extra}".rstrip()
        )
    counted = sum(1 for f in report.findings if f.level == "problem")
    warned = sum(1 for f in report.findings if f.level == "warning")
    lines.append(f"{counted} problem(s), {warned} warning(s){' (strict: warnings count)' if args.strict else ''}")
    _emit(args, {**report.as_dict(), "problems": len(problems)}, "\n".join(lines))
    return EXIT_ATTENTION if problems else EXIT_OK


# --- deliveries -------------------------------------------------------------------------------


def _deliveries(args: argparse.Namespace, clients: Clients, outputs: StackOutputs) -> int:
    table = deliveries.delivery_table(clients.dynamodb, outputs, args.table)
    try:
        items, complete = deliveries.list_deliveries(
            table, args.tenant, DeliveryStatus(args.status) if args.status else None, args.since, maximum=args.max
        )
    except InvalidSince as error:
        raise OpsError(f"--since: {error}") from None
    what = args.status or "any status"
    lines = [
        f"{len(items)} deliver{'y' if len(items) == 1 else 'ies'} of tenant {args.tenant} ({what}) since {args.since}"
    ]
    lines += deliveries.delivery_rows(items)
    if not complete:
        lines.append(f"(stopped after {args.max}: pass --max or a later --since)")
    _emit(
        args,
        {"tenant": args.tenant, "status": args.status, "deliveries": items, "complete": complete},
        "\n".join(lines),
    )
    return EXIT_OK


def _enable(args: argparse.Namespace, clients: Clients, outputs: StackOutputs) -> int:
    table = deliveries.delivery_table(clients.dynamodb, outputs, args.table)
    # functions.logs writes JSON lines on stdout; keep stdout for the report.
    with contextlib.redirect_stdout(sys.stderr):
        enabled = deliveries.enable_endpoint(
            table,
            clients.events,
            outputs.bus_name,
            inbound_replay.event_source_prefix(args.event_source),
            args.tenant,
            args.endpoint,
        )
    text = f"{args.tenant}/{args.endpoint}: {'enabled (endpoint.enabled published)' if enabled else 'was not disabled'}"
    _emit(args, {"tenant": args.tenant, "endpointId": args.endpoint, "enabled": enabled}, text)
    return EXIT_OK


# --- redrive ----------------------------------------------------------------------------------


def _redrive(args: argparse.Namespace, clients: Clients, outputs: StackOutputs) -> int:
    queue_url = outputs.require_queue_url()
    time_limit = _time_limit(args)
    rule_arns = set(args.rule_arn) | {outputs.destination(label).rule_arn for label in args.destination}
    selection = dlq.RedriveFilter(frozenset(rule_arns), frozenset(args.tenant), frozenset(args.error_code))
    printer = _ProgressPrinter()
    # functions.events logs retries as JSON lines on stdout; keep stdout for the report.
    with contextlib.redirect_stdout(sys.stderr):
        report = redrive.redrive(
            clients.sqs,
            clients.events,
            queue_url,
            outputs.bus_name,
            execute=args.execute,
            selection=selection,
            max_messages=args.max,
            target_bus=args.target_bus,
            all_rules=args.all_rules,
            wait_seconds=args.wait_seconds,
            visibility_timeout=args.visibility_timeout,
            time_limit=time_limit,
            progress=printer,
        )
    printer(report, final=True)
    labels = outputs.rule_labels()
    _emit(args, {**report.as_dict(labels), "queueUrl": queue_url}, _redrive_text(report, labels, queue_url))
    return _run_exit_code(report)


def _time_limit(args: argparse.Namespace) -> int:
    """A dead-letter run's ``--time-limit`` (its default), checked against ``--visibility-timeout``."""
    time_limit: int = args.time_limit or min(queue_run.DEFAULT_TIME_LIMIT_SECONDS, args.visibility_timeout * 4 // 5)
    if time_limit >= args.visibility_timeout:
        raise OpsError(
            f"--time-limit {args.time_limit} must be below --visibility-timeout {args.visibility_timeout}: "
            "the messages a run holds must not become visible again while it runs"
        )
    return time_limit


def _run_exit_code(report: queue_run.QueueRun) -> int:
    """A dead-letter run's exit code: 2 when it aborted; with --execute, 1 when a message was left or
    the run was cut short."""
    if report.aborted:
        return EXIT_ERROR
    return EXIT_ATTENTION if report.execute and not report.complete else EXIT_OK


class _ProgressPrinter:
    """Progress lines on stderr: the first batch, then at most one a second, and the last."""

    def __init__(self, interval: float = 1.0) -> None:
        self.interval = interval
        self.last: float | None = None

    def __call__(self, report: dlq.RedriveReport | inbound_redrive.InboundRedriveReport, final: bool = False) -> None:
        now = time.monotonic()
        if final or self.last is None or now - self.last >= self.interval:
            self.last = now
            print(
                report.progress_line() + (f"; stopped: {report.stopped}" if final and report.stopped else ""),
                file=sys.stderr,
                flush=True,
            )


def _redrive_text(report: dlq.RedriveReport, labels: Mapping[str, str], queue_url: str) -> str:
    data = report.as_dict(labels)
    if report.execute:
        head = f"EXECUTED: published {report.published_events} event(s), deleted {report.deleted} message(s) from {queue_url}"
    else:
        head = f"DRY RUN: nothing published, nothing deleted ({queue_url})"
    lines = [
        head,
        f"{report.present_at_start} message(s) present at start, looked at {report.looked_at}; "
        f"{report.arrived_after_start} arrived since (left for a later run); stopped: {report.stopped or '-'}",
        f"selected {report.selected}, redrivable {report.redrivable}"
        + (f", oldest sent {data['oldestSentAt']}" if data["oldestSentAt"] else ""),
    ]
    for title, key in (("by rule", "byRule"), ("by tenant", "byTenant"), ("by error code", "byErrorCode")):
        if data[key]:
            lines.append(f"{title}:")
            lines.extend(f"  {count:>6}  {name}" for name, count in data[key].items())
    if report.kept:
        lines.append(f"left in the queue ({len(report.kept)}):")
        lines.extend(f"  {k['messageId']}  event {k['eventId']}: {k['reason']}" for k in report.kept)
    lines.extend(f"warning: {w}" for w in report.warnings)
    if report.aborted:
        lines.append(f"stopped: {report.aborted}")
    if not report.execute and report.redrivable:
        if report.all_rules:
            where = (
                f"Events go to bus {report.bus_name} without the redrive marker, where EVERY rule matching them "
                "sees them again (other destinations of the tenant too, same eventId)."
            )
        else:
            where = (
                "Each event goes only to the rule that dead-lettered it (on that rule's bus, marked with "
                "detail.hookstackRedrive), same eventId."
            )
        lines.append(f"To redrive: run again with --execute. {where}")
    return "\n".join(lines)


# --- replay -----------------------------------------------------------------------------------


def _replay(args: argparse.Namespace, clients: Clients, outputs: StackOutputs) -> int:
    events = clients.events
    if args.replay_command == "start":
        return _replay_start(args, events, outputs)
    if args.replay_command == "status":
        return _replay_show(args, events, replay.check_replay_name(args.name))
    if args.replay_command == "cancel":
        response = events.cancel_replay(ReplayName=replay.check_replay_name(args.name))
        _emit(
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
    _emit(args, listed, text)
    return EXIT_OK


def _replay_start(args: argparse.Namespace, events: Any, outputs: StackOutputs) -> int:
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
        _emit(
            args,
            {"dryRun": True, "request": request, "notes": notes},
            "DRY RUN, StartReplay request:\n" + json.dumps(request, indent=2, default=_json_default),
        )
        return EXIT_OK
    response = events.start_replay(**request)
    name = request["ReplayName"]
    _emit(
        args,
        {"request": request, "response": _plain(response), "notes": notes},
        f"replay {name} {response.get('State')}; follow it with: python -m ops replay status {name} --wait",
        json_lines=args.wait,
    )
    if args.wait:
        return _replay_show(args, events, name)
    return EXIT_OK


def _replay_show(args: argparse.Namespace, events: Any, name: str) -> int:
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
        _emit(args, {**_plain(described), "progress": share}, text, json_lines=args.wait)

    if args.wait:
        described = replay.wait_for(events, name, interval=args.interval, timeout=args.timeout, on_update=show)
    else:
        described = events.describe_replay(ReplayName=name)
        show(described)
    return EXIT_ATTENTION if described.get("State") == "FAILED" else EXIT_OK


def _plain(response: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in response.items() if k != "ResponseMetadata"}


# --- reauthorize ------------------------------------------------------------------------------


def _reauthorize(args: argparse.Namespace, clients: Clients, outputs: StackOutputs) -> int:
    name = args.connection
    if "/" in name and outputs.destinations:
        name = resource_name(outputs.destination(name).connection_arn, "connection")
    if sys.stdin.isatty():
        secret = getpass.getpass(f"credential for connection {name} (not echoed): ")
    else:
        secret = sys.stdin.read().rstrip("\r\n")
    result = reauthorize.reauthorize(clients.events, name, secret)
    _emit(
        args,
        result,
        f"connection {name}: {result['previousState']} -> {result['state']}; check with: python -m ops status",
    )
    return EXIT_OK
