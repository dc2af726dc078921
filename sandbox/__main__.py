"""``python -m sandbox demo | up --config FILE --state-file FILE | plan``."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description="hookstack's local sandbox")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("demo", help="start everything, run the scripted flows end to end, exit 0 only if all passed")
    up = commands.add_parser("up", help="run a stack file locally until SIGINT/SIGTERM")
    up.add_argument("--config", required=True, help="a stack file in the Pulumi.<stack>.yaml schema")
    up.add_argument("--state-file", required=True, help="JSON written once everything is ready")
    up.add_argument("--time-scale", type=float, default=1.0, help="multiply retry waits (0.01: a day in 15 minutes)")
    plan = commands.add_parser("plan", help="print what `pulumi up` would declare for a stack file (Pulumi mocks)")
    plan.add_argument("--config", default=str(ROOT / "Pulumi.dev.yaml"))
    args = parser.parse_args(argv)

    if args.command == "demo":
        from sandbox.demo import run_demo

        return run_demo()
    if args.command == "plan":
        return _plan(args.config)
    return _up(args.config, args.state_file, args.time_scale)


def _up(config_path: str, state_file: str, time_scale: float) -> int:
    from components.config import StackConfigError
    from sandbox.runtime import Sandbox, load_local_config

    try:
        config, generated = load_local_config(config_path)
    except StackConfigError as error:
        print(error, file=sys.stderr)
        return 2
    sandbox = Sandbox(config, time_scale=time_scale, local_secrets=generated)
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    try:
        sandbox.start()
        sandbox.write_state(state_file)
        print(f"sandbox ready: state in {state_file} (Ctrl-C to stop)", flush=True)
        stopping.wait()
    finally:
        sandbox.stop()
        Path(state_file).unlink(missing_ok=True)
    return 0


def _plan(config_path: str) -> int:
    sys.path.insert(0, str(ROOT))
    from tests.harness import load_stack_file_config, run_program

    config, secret_keys = load_stack_file_config(Path(config_path))
    program = run_program(config, secret_keys=secret_keys)
    print(f"{config_path}: {len(program.resources)} resources")
    for typ, count in program.types().items():
        print(f"  {count:5d}  {typ}")
    print("outputs:", ", ".join(sorted(program.outputs)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
