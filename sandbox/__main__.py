"""``python -m sandbox demo | up --config FILE --state-file FILE | plan``.

Exit codes (docs/sandbox.md): 0 stopped by SIGINT/SIGTERM after ready (``up``) or every step passed
(``demo``); 1 a runtime failure (a part failed to start; a demo step failed); 2 a configuration or
usage error, found before anything starts; 128 + the signal number when SIGINT/SIGTERM interrupted
the startup (or the demo). Errors are one message, no traceback (``--debug`` shows it).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import traceback
from pathlib import Path
from types import FrameType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
EXIT_FAILED = 1
EXIT_USAGE = 2
SIGNAL_POLL_SECONDS = 0.2


class StopSignals:
    """SIGINT and SIGTERM: record the first one and set :attr:`stopping`; ignore later ones.

    ``up`` checks :attr:`stopping` between startup steps and waits on it once ready; no exception
    is raised at a random point, so nothing can cut a stop short (which would leave PostgreSQL
    running). With :attr:`interrupting` (``demo``, ``plan``: code that does not check) the first
    signal also raises ``KeyboardInterrupt`` in the main thread.
    """

    def __init__(self) -> None:
        self.received: int | None = None
        self.stopping = threading.Event()
        self.interrupting = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopSignals:
        for signum in (signal.SIGINT, signal.SIGTERM):
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *_exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        if self.received is not None:
            return
        self.received = signum
        self.stopping.set()
        if self.interrupting:
            raise KeyboardInterrupt

    @property
    def name(self) -> str:
        return signal.Signals(self.received or signal.SIGINT).name

    @property
    def exit_code(self) -> int:
        return 128 + (self.received or signal.SIGINT)


def main(argv: list[str] | None = None) -> int:
    with StopSignals() as signals:
        return _main(argv, signals)


def _main(argv: list[str] | None, signals: StopSignals) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description="hookstack's local sandbox")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("demo", help="start everything, run the scripted flows end to end, exit 0 only if all passed")
    up = commands.add_parser("up", help="run a stack file locally until SIGINT/SIGTERM")
    up.add_argument("--config", required=True, help="a stack file in the Pulumi.<stack>.yaml schema")
    up.add_argument("--state-file", required=True, help="JSON written once everything is ready")
    up.add_argument("--time-scale", type=float, default=1.0, help="multiply retry waits (0.01: a day in 15 minutes)")
    up.add_argument("--debug", action="store_true", help="also print the traceback of a startup failure")
    plan = commands.add_parser("plan", help="print what `pulumi up` would declare for a stack file (Pulumi mocks)")
    plan.add_argument("--config", default=str(ROOT / "Pulumi.dev.yaml"))
    args = parser.parse_args(argv)

    from components.config import StackConfigError

    try:
        if args.command == "up":
            return _up(args.config, args.state_file, args.time_scale, signals, debug=args.debug)
        signals.interrupting = True
        if args.command == "demo":
            from sandbox.demo import run_demo

            return run_demo()  # stops its sandbox in a `finally`, also on KeyboardInterrupt
        return _plan(args.config)
    except StackConfigError as error:
        _error(str(error))
        return EXIT_USAGE
    except KeyboardInterrupt:
        _error(f"{signals.name} received: stopped")
        return signals.exit_code


def _up(config_path: str, state_file: str, time_scale: float, signals: StopSignals, *, debug: bool) -> int:
    from sandbox.runtime import (
        Sandbox,
        SandboxStartError,
        StartCancelled,
        StateFileError,
        claim_state_file,
        load_local_config,
    )

    def cancelled() -> int:
        _error(f"{signals.name} received before the sandbox was ready: stopped what had started")
        return signals.exit_code

    stack, generated = load_local_config(config_path)  # StackConfigError: exit 2
    try:
        note = claim_state_file(state_file)
    except StateFileError as error:
        _error(str(error))
        return EXIT_USAGE
    if note:
        _error(note)
    if signals.stopping.is_set():
        return cancelled()
    sandbox = Sandbox(stack, time_scale=time_scale, local_secrets=generated)
    try:
        try:
            sandbox.start(cancel=signals.stopping)  # on failure or cancel, it has stopped what it started
            sandbox.write_state(state_file)
        except StartCancelled:
            return cancelled()
        except SandboxStartError as error:
            if debug:
                traceback.print_exception(error.__cause__ or error)
            _error(f"failed to start: {error}")
            return EXIT_FAILED
        except OSError as error:
            _error(f"--state-file {state_file}: cannot write it: {error.strerror or error}")
            return EXIT_FAILED
        print(f"sandbox ready: state in {state_file} (Ctrl-C to stop)", flush=True)
        # With a timeout: a signal the kernel hands to another thread only runs its Python handler
        # once the main thread executes bytecode again, which an untimed wait would never do.
        while not signals.stopping.wait(SIGNAL_POLL_SECONDS):
            pass
        print(f"sandbox: {signals.name} received, stopping", flush=True)
        return 0
    finally:
        sandbox.stop()
        Path(state_file).unlink(missing_ok=True)


def _plan(config_path: str) -> int:
    # Imported here: the preview is the only part of the sandbox that needs the Pulumi SDK.
    from sandbox.preview import load_stack_file_config, run_program

    config, secret_keys = load_stack_file_config(Path(config_path))
    program = run_program(config, secret_keys=secret_keys)
    print(f"{config_path}: {len(program.resources)} resources")
    for typ, count in program.types().items():
        print(f"  {count:5d}  {typ}")
    print("outputs:", ", ".join(sorted(program.outputs)))
    return 0


def _error(message: str) -> None:
    print(f"sandbox: {message}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
