"""``python -m ops``: the command line. See docs/runbook.md for when to use what.

This module reads the arguments (:mod:`ops.arguments`), makes the AWS clients and runs the command:
``status``, ``deliveries``, ``enable``, ``redrive`` and ``reauthorize`` here, the others in their
own modules (:mod:`ops.replay_cli`, :mod:`ops.inbound_cli`, :mod:`ops.token_cli`). Exit codes and
output: :mod:`ops.command`.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import sys
import time
from collections.abc import Mapping, Sequence

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

from functions.delivery.since import InvalidSince
from functions.delivery.vocab import DeliveryStatus
from ops import (
    deliveries,
    dlq,
    inbound_cli,
    inbound_replay,
    queue_run_cli,
    reauthorize,
    redrive,
    replay_cli,
    status,
    token_cli,
)
from ops.arguments import build_parser
from ops.aws import Clients
from ops.command import EXIT_ATTENTION, EXIT_ERROR, EXIT_OK, check_region, emit
from ops.outputs import (
    OpsError,
    SandboxAccess,
    StackOutputs,
    load_outputs,
    resource_name,
    rule_location,
    sandbox_access,
)

# --- entry point ------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None, *, clients: Clients | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        clients = clients or _clients(args, sandbox_access(args.outputs))
        if args.command == "inbound":
            return inbound_cli.run(args, clients)
        if args.command in ("token", "token-keys"):
            return token_cli.run(args, clients)
        outputs = load_outputs(
            args.outputs, bus_name=args.bus_name, bus_arn=args.bus_arn, dlq_url=args.dlq_url, archive=args.archive
        )
        check_region(clients, outputs)
        if args.command == "status":
            return _status(args, clients, outputs)
        if args.command == "deliveries":
            return _deliveries(args, clients, outputs)
        if args.command == "enable":
            return _enable(args, clients, outputs)
        if args.command == "redrive":
            return _redrive(args, clients, outputs)
        if args.command == "replay":
            return replay_cli.run(args, clients, outputs)
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


def _error(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)


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
    emit(args, {**report.as_dict(), "problems": len(problems)}, "\n".join(lines))
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
    emit(
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
    emit(args, {"tenant": args.tenant, "endpointId": args.endpoint, "enabled": enabled}, text)
    return EXIT_OK


# --- redrive ----------------------------------------------------------------------------------


def _redrive(args: argparse.Namespace, clients: Clients, outputs: StackOutputs) -> int:
    queue_url = outputs.require_queue_url()
    time_limit = queue_run_cli.time_limit(args)
    for arn in args.rule_arn:
        try:
            rule_location(arn)
        except OpsError as error:
            raise OpsError(f"--rule-arn {error}") from None
    rule_arns = set(args.rule_arn) | {outputs.destination(label).rule_arn for label in args.destination}
    selection = dlq.RedriveFilter(frozenset(rule_arns), frozenset(args.tenant), frozenset(args.error_code))
    printer = queue_run_cli.ProgressPrinter()
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
    emit(args, {**report.as_dict(labels), "queueUrl": queue_url}, _redrive_text(report, labels, queue_url))
    return queue_run_cli.run_exit_code(report)


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
    emit(
        args,
        result,
        f"connection {name}: {result['previousState']} -> {result['state']}; check with: python -m ops status",
    )
    return EXIT_OK
