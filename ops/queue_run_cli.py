"""The command-line side every dead-letter run shares (``redrive`` and ``inbound redrive``): its time
limit, its progress lines and its exit code. Their options are ``ops.arguments._run_options``;
the run itself is :mod:`ops.queue_run`.

Separate from :mod:`ops.cli` so that :mod:`ops.inbound_cli` uses it with plain imports (it used to
import these from :mod:`ops.cli` inside functions to avoid an import cycle).
"""

from __future__ import annotations

import argparse
import sys
import time

from ops import dlq, inbound_redrive, queue_run
from ops.command import EXIT_ATTENTION, EXIT_ERROR, EXIT_OK
from ops.outputs import OpsError


def time_limit(args: argparse.Namespace) -> int:
    """A dead-letter run's ``--time-limit`` (its default), checked against ``--visibility-timeout``."""
    time_limit: int = args.time_limit or min(queue_run.DEFAULT_TIME_LIMIT_SECONDS, args.visibility_timeout * 4 // 5)
    if time_limit >= args.visibility_timeout:
        raise OpsError(
            f"--time-limit {args.time_limit} must be below --visibility-timeout {args.visibility_timeout}: "
            "the messages a run holds must not become visible again while it runs"
        )
    return time_limit


def run_exit_code(report: queue_run.QueueRun) -> int:
    """A dead-letter run's exit code: 2 when it aborted; with --execute, 1 when a message was left or
    the run was cut short."""
    if report.aborted:
        return EXIT_ERROR
    return EXIT_ATTENTION if report.execute and not report.complete else EXIT_OK


class ProgressPrinter:
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
