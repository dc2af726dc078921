"""Cold start in instructions: the children of the ingest and delivery cold-start benchmarks, counted
by valgrind's callgrind instead of timed (part of ``python -m benchmarks.cold_start``).

Why: on a shared or virtualised machine the ratio of CPU-time medians of separate processes moves by
about as much as the margin it judges (the same code measured 0.95x and 1.23x of ``import boto3`` an
hour apart); the timed tables therefore judge each run against its own ``import boto3`` (paired),
which moves by about 0.01x. The number of instructions a fresh interpreter executes for the same work
is the same on every run, a second view without noise. It counts user-space instructions only: the
kernel's work of finding and reading our modules' files is not in it, so it understates what many
small modules cost; the timed, paired CPU ratios stay the ones the 1.15x bound is judged on.

Each row runs the exact child script of :mod:`benchmarks.ingest_cold_start` or
:mod:`benchmarks.delivery_cold_start` (our bytecode cached, as boto3's is) under
``valgrind --tool=callgrind``. The interpreter's start and the children's own prelude are counted alone
and subtracted from every row: the ratio is (row - prelude) / (``import boto3`` - prelude), what the
timed children measure after their prelude.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from benchmarks import delivery_cold_start, ingest_cold_start
from benchmarks.ingest_cold_start import CRYPTO_KINDS, ROOT, TARGET_RATIO

COLLECTED_RE = re.compile(r"Collected : (\d+)")


def available() -> bool:
    return shutil.which("valgrind") is not None


def _count(script: str, argv: list[str], package: Path, environment: dict[str, str] | None = None) -> int:
    with tempfile.NamedTemporaryFile(prefix="callgrind-", suffix=".out") as out:
        result = subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out.name}", sys.executable, "-B", "-c", script]
            + argv,
            cwd=package,
            env={**os.environ, **(environment or {})},
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )
    found = COLLECTED_RE.search(result.stderr)
    if result.returncode != 0 or found is None:
        raise RuntimeError(f"callgrind child failed:\n{result.stderr[-2000:]}")
    return int(found.group(1))


def measure() -> dict[str, float]:
    """Row -> instructions relative to ``import boto3`` (prelude subtracted); also ``boto3`` itself (in millions)."""
    with tempfile.TemporaryDirectory() as scratch, delivery_cold_start.receiver() as url:
        package = Path(scratch)
        shutil.copytree(ROOT / "functions", package / "functions", ignore=shutil.ignore_patterns("__pycache__"))
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(package)], check=True, timeout=300)
        signed = ingest_cold_start.cases(int(time.time()))
        served = delivery_cold_start.cases(url)
        with ThreadPoolExecutor(2) as pool:
            prelude = pool.submit(_count, ingest_cold_start.PRELUDE + "print('{}')\n", [], package)
            boto3 = pool.submit(_count, ingest_cold_start.BASELINE, [], package)
            rows: dict[str, Any] = {
                f"ingest + `{kind}`": pool.submit(_count, ingest_cold_start.INGEST, [json.dumps(case)], package)
                for kind, case in signed.items()
            }
            rows |= {
                f"`functions.delivery.{name}` + first request": pool.submit(
                    _count, delivery_cold_start.CHILD, [json.dumps(case)], package, case.get("environment")
                )
                for name, case in served.items()
            }
            start, baseline = prelude.result(), boto3.result()
            ratios = {row: (future.result() - start) / (baseline - start) for row, future in rows.items()}
    return {"boto3 (millions)": (baseline - start) / 1e6, **ratios}


def section(measured: dict[str, float]) -> list[str]:
    lines = [
        "## Instruction counts against `import boto3` (deterministic, user space only)",
        "",
        "Written by `python -m benchmarks.cold_start` (`benchmarks/cold_start_instructions.py`): the same",
        "children as the two timed sections (bytecode cached), each run once under valgrind's callgrind; the",
        "interpreter's start and the children's prelude are subtracted. These counts do not move from run to",
        "run, so they show what a change did; they leave out the kernel's work of reading our modules' files",
        "(they understate the cost of many small modules), and the timed, paired CPU ratios above stay the",
        "ones the bound is judged on.",
        f"`import boto3` itself: {measured['boto3 (millions)']:.0f} million instructions.",
        "",
        f"| row | vs `import boto3`, instructions | under {TARGET_RATIO:.2f}x |",
        "|---|---:|---|",
    ]
    for row, ratio in measured.items():
        if row == "boto3 (millions)":
            continue
        crypto = any(f"`{kind}`" in row for kind in CRYPTO_KINDS)
        verdict = (
            "not bound (its first request imports `cryptography`)"
            if crypto
            else ("yes" if ratio <= TARGET_RATIO else "**no**")
        )
        lines.append(f"| {row} | {ratio:.3f}x | {verdict} |")
    return lines
