"""Cold-start import time of every Lambda handler module.

Each handler's module is imported in a fresh interpreter (``python -X importtime``), several times;
the figure is the median of the cumulative import time of the module itself, and of boto3 within it
(the Lambda runtime provides boto3, but importing it is still part of a cold start). Only the
standard library and boto3 are importable, as in the Lambda runtime.

The inbound ingest is also measured against ``import boto3`` alone, per source kind
(:mod:`benchmarks.ingest_cold_start`): issue 14 requires it within 1.15x for sources that do not use
the crypto layer; so are the delivery handlers, each with a first request
(:mod:`benchmarks.delivery_cold_start`): issue 12 requires them within 1.15x when they do not sign
with ``v1a``.
Usage: ``python -m benchmarks.cold_start [--runs 7]``.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks import cold_start_instructions, delivery_cold_start, ingest_cold_start

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "docs" / "benchmarks" / "cold-start.md"

HANDLERS = {
    "functions.inbound.ingest": "inbound: public endpoint (function URL)",
    "functions.inbound.enrich": "inbound: Pipe enrichment",
    "functions.delivery.api": "signed delivery: subscription API",
    "functions.delivery.fanout": "signed delivery: fan-out",
    "functions.delivery.worker": "signed delivery: worker",
    "functions.relay": "Aurora relay",
    "functions.sweeper": "Aurora sweeper",
    "functions.migrate": "Aurora migrations",
}


def import_times(module: str) -> dict[str, float]:
    """Cumulative microseconds per imported module, from one fresh interpreter."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    times: dict[str, float] = {}
    for line in result.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _self_us, cumulative_us, name = (part.strip() for part in line.split(":", 1)[1].split("|"))
        times[name] = float(cumulative_us)
    return times


def measure(module: str, runs: int) -> tuple[float, float]:
    totals, boto = [], []
    for _ in range(runs):
        times = import_times(module)
        totals.append(times.get(module, 0.0) / 1000)
        boto.append(times.get("boto3", 0.0) / 1000)
    return statistics.median(totals), statistics.median(boto)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    rows = []
    for module, role in HANDLERS.items():
        total, boto = measure(module, args.runs)
        rows.append((module, role, total, boto))
        print(f"{module}: {total:.0f} ms (boto3 {boto:.0f} ms)", flush=True)
    lines = [
        "# Cold start: handler import time",
        "",
        "Written by `python -m benchmarks.cold_start`. Median of "
        f"{args.runs} fresh interpreters per module (`python -X importtime`), cumulative milliseconds.",
        f"Machine: {platform.machine()}, Python {platform.python_version()}, {time.strftime('%Y-%m-%d')}; "
        "Lambda's arm64 workers differ, so compare the rows with each other, not with AWS's init figures.",
        "",
        "| handler module | role | import (ms) | of which boto3 (ms) | own code (ms) |",
        "|---|---|---:|---:|---:|",
    ]
    for module, role, total, boto in rows:
        lines.append(f"| `{module}` | {role} | {total:.0f} | {boto:.0f} | {max(0.0, total - boto):.0f} |")
    lines += [
        "",
        "The package ships nothing but its own code (one deterministic archive of `functions/`, about",
        "tens of kilobytes), so the import of boto3, which the runtime provides, is most of every cold",
        "start. Modules that do not call AWS at import import boto3 lazily (the Aurora functions import",
        "neither boto3 nor psycopg until they run; `tests/functions` checks it). This table compiles our",
        'modules at import and counts, under "own code", the standard-library modules a handler loads before',
        "boto3 would have (the whole import of the handlers without boto3 at import): the sections below",
        "measure each handler against `import boto3` in the same process, which is what the bounds judge.",
    ]
    print("ingest against import boto3, per source kind...", flush=True)
    runs = max(args.runs, 15)  # the ratio is what issue 14 bounds: more runs than the table above
    lines += ["", *ingest_cold_start.section(ingest_cold_start.measure(runs), runs)]
    print("delivery handlers against import boto3...", flush=True)
    lines += ["", *delivery_cold_start.section(delivery_cold_start.measure(runs), runs)]
    if cold_start_instructions.available():
        print("instruction counts (callgrind)...", flush=True)
        lines += ["", *cold_start_instructions.section(cold_start_instructions.measure())]
    else:
        lines += ["", "(valgrind is not installed here: no instruction counts; `apt-get install valgrind`.)"]
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
