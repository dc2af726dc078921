"""How long the Pulumi program takes to evaluate as tenants grow (under Pulumi mocks).

Each size runs in a fresh process (so imports and caches do not flatter later sizes); the figure is
the wall time of one full evaluation of ``__main__.py`` — what ``pulumi preview``/``up`` spend in
the Python program before the engine talks to AWS — plus the number of resources declared and the
peak memory of the process. Usage: ``python -m benchmarks.program_eval [--sizes 1,10,100,1000]``.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "docs" / "benchmarks" / "program-evaluation.md"

CHILD = """
import json, resource, sys, time
sys.path.insert(0, {root!r})
from sandbox.preview import run_program
size = {size}
tenants = [
    {{"id": f"tenant-{{i:05d}}", "destinations": [
        {{"name": "crm", "url": f"https://t{{i}}.example.com/hooks", "eventTypes": ["widget.created"],
          "auth": {{"type": "apiKey", "header": "x-api-key", "value": f"key-{{i}}"}}}},
        {{"name": "erp", "url": f"https://erp{{i}}.example.com/in", "auth": {{"type": "none"}}}},
    ]}}
    for i in range(size)
]
started = time.perf_counter()
program = run_program({{"tenants": tenants}}, secret_keys=["tenants"])
elapsed = time.perf_counter() - started
print(json.dumps({{"tenants": size, "seconds": elapsed, "resources": len(program.resources),
                   "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def measure(size: int) -> dict[str, float]:
    result = subprocess.run(
        [sys.executable, "-c", CHILD.format(root=str(ROOT), size=size)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=1800,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1,10,100,500,1000")
    args = parser.parse_args()
    rows = [measure(int(size)) for size in args.sizes.split(",")]
    lines = [
        "# Program evaluation time as tenants grow",
        "",
        "Written by `python -m benchmarks.program_eval`. Each tenant has two API destinations (API key and",
        "no auth), so 2 connections, 2 API destinations, 2 rules and 2 targets, plus the stack's fixed",
        "resources (signed delivery is on by default; no inbound sources, no Aurora); past 295 rules the",
        "tenants are sharded over 16 buses. Measured under Pulumi mocks in a fresh process per size:",
        "this is the Python side of `pulumi preview`/`up` (the engine and AWS calls come on top).",
        "",
        f"Machine: {platform.machine()}, Python {platform.python_version()}, {time.strftime('%Y-%m-%d')}.",
        "",
        "| tenants | resources | seconds | ms per resource | peak RSS (MB) |",
        "|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        per = 1000 * row["seconds"] / max(1, row["resources"])
        lines.append(
            f"| {row['tenants']} | {row['resources']} | {row['seconds']:.1f} | {per:.1f} | {row['peak_rss_mb']:.0f} |"
        )
    lines += [
        "",
        "Growth is linear in resources (about 4 per API destination plus a fixed set per stack);",
        "almost all of the time is the Pulumi SDK registering resources, not hookstack's own code",
        "(config parsing and planning 1,000 tenants takes well under a second, see `tests/components/test_plan.py`).",
    ]
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
