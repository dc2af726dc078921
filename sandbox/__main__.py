"""``python -m sandbox demo | up --config FILE --state-file FILE | plan [--config FILE] [--json]``.

Exit codes (docs/sandbox.md): 0 stopped by SIGINT/SIGTERM after ready (``up``) or every step passed
(``demo``); 1 a runtime failure (a part failed to start; a demo step failed); 2 a configuration or
usage error, found before anything starts; 128 + the signal number when SIGINT/SIGTERM interrupted
the startup (or the demo). Errors are one message, no traceback (``--debug`` shows it).
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import math
import os
import re
import signal
import sys
import threading
import traceback
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
EXIT_FAILED = 1
EXIT_USAGE = 2
SIGNAL_POLL_SECONDS = 0.2
GC_YOUNG_THRESHOLD = 50_000


class StopSignals:
    """SIGINT, SIGTERM and SIGHUP: record the first one and set :attr:`stopping`; ignore later ones.

    ``up`` checks :attr:`stopping` between startup steps and waits on it once ready; no exception
    is raised at a random point, so nothing can cut a stop short (which would leave PostgreSQL
    running). With :attr:`interrupting` (``demo``, ``plan``: code that does not check) the first
    signal also raises ``KeyboardInterrupt`` in the main thread.
    """

    def __init__(self) -> None:
        self.received: int | None = None
        self.stopping = threading.Event()
        self.hurry = threading.Event()
        self.interrupting = False
        self.on_signal: list[Callable[[], None]] = []  # run at the first signal (must be quick and safe)
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopSignals:
        # SIGHUP: the terminal was closed. Its default action ended the process at once, leaving
        # PostgreSQL (in its own process group) running and the state files behind.
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *_exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        if self.received is not None:
            self.hurry.set()  # a second Ctrl-C ends the drain (never the stop)
            return
        self.received = signum
        self.stopping.set()
        for action in self.on_signal:
            action()
        if self.interrupting:
            raise KeyboardInterrupt

    @property
    def name(self) -> str:
        return signal.Signals(self.received or signal.SIGINT).name

    @property
    def exit_code(self) -> int:
        return 128 + (self.received or signal.SIGINT)


def main(argv: list[str] | None = None) -> int:
    # The sandbox holds a large, long-lived heap (moto's backends, botocore's models, the handlers)
    # that every full collection walks again: collect the young generation less often (startup took
    # a quarter less CPU); cycles are still collected.
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
    with StopSignals() as signals:
        return _main(argv, signals)


def _main(argv: list[str] | None, signals: StopSignals) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description="hookstack's local sandbox")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("demo", help="start everything, run the scripted flows end to end, exit 0 only if all passed")
    up = commands.add_parser("up", help="run a stack file locally until SIGINT/SIGTERM")
    up.add_argument("--config", required=True, help="a stack file in the Pulumi.<stack>.yaml schema")
    up.add_argument("--state-file", required=True, help="JSON written once everything is ready")
    up.add_argument(
        "--time-scale",
        type=_time_scale,
        default=1.0,
        help="multiply retry waits, schedules and event ages (0.01: a day in 15 minutes)",
    )
    up.add_argument("--debug", action="store_true", help="also print the traceback of a startup failure")
    up.add_argument(
        "--log-format",
        choices=("text", "json"),
        help="the functions' and emulators' log records: text (default on a terminal) or json (default otherwise)",
    )
    up.add_argument("--quiet", action="store_true", help="no INFO records and no summary: warnings, errors, one line")
    up.add_argument(
        "--faults",
        metavar="SPEC",
        help="make the functions' AWS calls fail: SERVICE:OPERATION=RATE[:error|throttle|timeout],... "
        "(e.g. dynamodb:PutItem=0.05,sqs:SendMessage=0.02:throttle,s3:*=0.01:timeout)",
    )
    up.add_argument("--seed", type=int, help="with --faults: the same seed fails the same requests (default 0)")
    plan = commands.add_parser("plan", help="print what `pulumi up` would declare for a stack file (Pulumi mocks)")
    plan.add_argument("--config", default=str(ROOT / "Pulumi.dev.yaml"), help="a stack file, as `up` takes it")
    plan.add_argument(
        "--stack", type=_stack_name, help="the stack name (default: <name> of Pulumi.<name>.yaml, else sandbox)"
    )
    plan.add_argument("--json", action="store_true", help='print {"resources": [...], "outputs": {...}}')
    args = parser.parse_args(argv)

    from components.config import StackConfigError
    from sandbox.faults import FaultSpecError

    try:
        if args.command == "up":
            return _up(args, signals)
        signals.interrupting = True
        if args.command == "demo":
            from sandbox.demo import run_demo

            return run_demo()  # stops its sandbox in a `finally`, also on KeyboardInterrupt
        from sandbox.plan import run_plan

        return run_plan(args.config, stack=args.stack, as_json=args.json)
    except (StackConfigError, FaultSpecError) as error:
        _error(str(error))
        return EXIT_USAGE
    except KeyboardInterrupt:
        _error(f"{signals.name} received: stopped")
        return signals.exit_code


def _time_scale(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"{text} must be a number above 0 (0.01: a day of retries in 15 minutes)")
    return value


def _stack_name(text: str) -> str:
    """A name Pulumi accepts for a stack (it names the entry bus, ``hookstack-<stack>``)."""
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,100}", text):
        raise argparse.ArgumentTypeError(
            f"must be 1-100 characters of A-Z, a-z, 0-9, '-', '_' and '.' (a Pulumi stack name); got {text!r}"
        )
    return text


def _up(args: argparse.Namespace, signals: StopSignals) -> int:
    from sandbox.faults import FaultInjector, parse_faults
    from sandbox.logs import default_format, routed_stdout

    if args.seed is not None and args.faults is None:
        _error("--seed: only with --faults (it chooses which requests fail)")
        return EXIT_USAGE
    # An empty SPEC is refused too (FaultSpecError: exit 2), not taken for "no faults".
    faults = FaultInjector(parse_faults(args.faults), seed=args.seed or 0) if args.faults is not None else None
    log_format = args.log_format or default_format(sys.stdout)
    with routed_stdout(sys.stdout, log_format=log_format, quiet=args.quiet):
        return _run_up(args, signals, faults)


def _run_up(args: argparse.Namespace, signals: StopSignals, faults: Any) -> int:
    from sandbox.drain import drain
    from sandbox.outputs import outputs_path, write_outputs
    from sandbox.runtime import (
        Sandbox,
        SandboxStartError,
        StartCancelled,
        StateFileError,
        claim_state_file,
        load_local_config,
    )
    from sandbox.summary import ready_summary

    state_file = args.state_file

    def cancelled() -> int:
        _error(f"{signals.name} received before the sandbox was ready: stopped what had started")
        return signals.exit_code

    stack, generated = load_local_config(args.config)  # StackConfigError: exit 2
    try:
        note = claim_state_file(state_file)
    except StateFileError as error:
        _error(str(error))
        return EXIT_USAGE
    if note:
        _error(note)
    # Left by a sandbox that was killed: nobody may read its endpoints while this one starts.
    outputs_file = outputs_path(state_file)
    outputs_file.unlink(missing_ok=True)
    if signals.stopping.is_set():
        return cancelled()
    sandbox = Sandbox(stack, time_scale=args.time_scale, local_secrets=generated, faults=faults)
    try:
        try:
            sandbox.start(cancel=signals.stopping)  # on failure or cancel, it has stopped what it started
            write_outputs(sandbox, outputs_file)
            sandbox.write_state(state_file, {"outputs_file": str(outputs_file.resolve())})
        except StartCancelled:
            return cancelled()
        except SandboxStartError as error:
            if args.debug:
                traceback.print_exception(error.__cause__ or error)
            _error(f"failed to start: {error}")
            return EXIT_FAILED
        except OSError as error:
            _error(f"--state-file {state_file}: cannot write it: {error.strerror or error}")
            return EXIT_FAILED
        # From the first signal on, requests get 503 (set in the handler itself: no 200 meanwhile).
        signals.on_signal.append(sandbox.stop_accepting)
        if signals.stopping.is_set():
            sandbox.stop_accepting()
        if args.quiet:
            print(f"sandbox ready: state in {state_file}, outputs in {outputs_file} (Ctrl-C to stop)", flush=True)
        else:
            summary = ready_summary(
                json.loads(Path(state_file).read_text(encoding="utf-8")),
                json.loads(outputs_file.read_text(encoding="utf-8")),
                state_file=str(Path(state_file).resolve()),
                outputs_file=str(outputs_file.resolve()),
                time_scale=args.time_scale,
            )
            print(summary, flush=True)
        # With a timeout: a signal the kernel hands to another thread only runs its Python handler
        # once the main thread executes bytecode again, which an untimed wait would never do.
        while not signals.stopping.wait(SIGNAL_POLL_SECONDS):
            pass
        print(f"sandbox: {signals.name} received, stopping: draining first (Ctrl-C again to stop at once)", flush=True)
        print(f"sandbox: {drain(sandbox, hurry=signals.hurry)}", flush=True)
        if faults is not None:
            print(f"sandbox: {faults.summary()}", flush=True)
        return 0
    finally:
        sandbox.stop()
        Path(state_file).unlink(missing_ok=True)
        outputs_file.unlink(missing_ok=True)


def _error(message: str) -> None:
    print(f"sandbox: {message}", file=sys.stderr, flush=True)


def exit_now(code: int) -> None:
    """Exit without the interpreter's teardown: by now every part is stopped, PostgreSQL is down and
    the state files are gone, and the teardown would only garbage-collect the heap (moto's backends,
    botocore's models), which took 10 s or more after the sandbox had already stopped."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    exit_now(main())
