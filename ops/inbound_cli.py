"""``python -m ops inbound ...``: operate the inbound pipeline (docs/runbook.md §10).

:func:`run` runs the ``inbound`` group's commands, called by :mod:`ops.cli`. Their options, and
``replay start --inbound-source`` (run by :mod:`ops.replay_cli`), are in :mod:`ops.arguments`.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from ops import inbound_redrive, inbound_replay, queue_run_cli
from ops.aws import Clients
from ops.command import check_region as check_stack_region
from ops.outputs import OpsError, StackOutputs, load_outputs, region_of

QUEUE_OUTPUT, DEAD_LETTER_QUEUE_OUTPUT = "inboundQueueName", "inboundDeadLetterQueueName"


def run(args: argparse.Namespace, clients: Clients) -> int:
    """Run ``inbound <action>``; exit code as the rest of the tool."""
    outputs = _outputs(args)
    queue = args.queue or _output_name(outputs, QUEUE_OUTPUT, "--queue")
    dead_letter_queue = args.dead_letter_queue or _output_name(outputs, DEAD_LETTER_QUEUE_OUTPUT, "--dead-letter-queue")
    _check_region(clients, outputs, (queue, dead_letter_queue))
    time_limit = queue_run_cli.time_limit(args)
    for name in args.source:
        inbound_replay.check_source_name(name, outputs, "--source")
    sqs = clients.sqs
    queue_url, dead_letter_queue_url = _queue_url(sqs, queue), _queue_url(sqs, dead_letter_queue)
    printer = queue_run_cli.ProgressPrinter()
    report = inbound_redrive.redrive_inbound(
        sqs,
        queue_url,
        dead_letter_queue_url,
        execute=args.execute,
        selection=inbound_redrive.InboundSelection(frozenset(args.source), frozenset(args.group)),
        max_messages=args.max,
        wait_seconds=args.wait_seconds,
        visibility_timeout=args.visibility_timeout,
        time_limit=time_limit,
        progress=printer,
    )
    printer(report, final=True)
    if args.output == "json":
        print(json.dumps(report.as_dict(), indent=2), flush=True)
    else:
        print(_text(report), flush=True)
    return queue_run_cli.run_exit_code(report)


def _outputs(args: argparse.Namespace) -> StackOutputs | None:
    """The stack outputs when given (the inbound commands need no bus, so flags alone do too)."""
    if not (args.outputs or args.bus_name):
        return None
    return load_outputs(
        args.outputs, bus_name=args.bus_name, bus_arn=args.bus_arn, dlq_url=args.dlq_url, archive=args.archive
    )


def _output_name(outputs: StackOutputs | None, key: str, flag: str) -> str:
    value = outputs.extra.get(key) if outputs is not None else None
    if not isinstance(value, str) or not value:
        where = "the stack outputs have no" if outputs is not None else "no --outputs, so no"
        raise OpsError(f"{where} {key} (is the inbound consumer enabled?): pass {flag} NAME|URL")
    return value


def _queue_url(sqs: Any, name_or_url: str) -> str:
    if name_or_url.startswith(("https://", "http://")):
        return name_or_url
    return str(sqs.get_queue_url(QueueName=name_or_url)["QueueUrl"])


def _check_region(clients: Clients, outputs: StackOutputs | None, queues: tuple[str, ...]) -> None:
    """As every command: the calls go to the stack's region (ARNs and queue URLs name it)."""
    if outputs is not None:
        check_stack_region(clients, outputs)
    named = [(queue_region, q) for q in queues if (queue_region := region_of(q))]
    if not named:
        return  # names, or a local endpoint's URLs: nothing says where they are
    region = clients.resolved_region()
    for queue_region, queue in named:
        if region != queue_region:
            raise OpsError(
                f"region mismatch: AWS calls would go to {region or 'no region'} ({clients.region_origin}) but "
                f"{queue} is in {queue_region}. Pass --region {queue_region} or set AWS_REGION={queue_region}"
            )


def _text(report: inbound_redrive.InboundRedriveReport) -> str:
    if report.execute:
        head = (
            f"EXECUTED: sent {report.sent} message(s) to {report.queue_url}, deleted {report.deleted} from "
            f"{report.dead_letter_queue_url}"
            + (f" ({report.copies} identical copies left for the next run)" if report.copies else "")
        )
    else:
        head = f"DRY RUN: nothing sent, nothing deleted ({report.dead_letter_queue_url})"
    lines = [
        head,
        f"{report.present_at_start} message(s) present at start, looked at {report.looked_at}; "
        f"{report.arrived_after_start} arrived since (left for a later run); stopped: {report.stopped or '-'}",
        f"selected {report.selected}"
        + (f", oldest dead-lettered {report.oldest_sent_at.isoformat()}" if report.oldest_sent_at else ""),
    ]
    for title, counts in (("by source", report.by_source), ("by message group", report.by_group)):
        if counts:
            lines.append(f"{title}:")
            lines.extend(f"  {count:>6}  {name}" for name, count in counts.most_common())
    if report.kept:
        lines.append(f"left in the dead-letter queue ({len(report.kept)}):")
        lines.extend(
            f"  {k['messageId']}  group {k['group']}  event {k['eventId']}: {k['reason']}" for k in report.kept
        )
    lines.extend(f"warning: {w}" for w in report.warnings)
    if report.aborted:
        lines.append(f"stopped: {report.aborted}")
    if not report.execute and report.selected:
        lines.append(
            "To redrive: run again with --execute. Each message goes back into its own message group of the FIFO "
            "queue, after the messages already there (same eventId: consumers deduplicate on it)."
        )
    return "\n".join(lines)
