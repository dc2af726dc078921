"""The README's first command: the demo runs every flow and exits 0 only if all of them passed."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e


def test_demo_runs_every_flow_end_to_end(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "sandbox", "demo"],
        cwd=tmp_path,  # the demo must not depend on the working directory (it writes its log there)
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    match = re.search(r"(\d+)/(\d+) steps passed", result.stdout)
    assert match and match.group(1) == match.group(2) and int(match.group(2)) >= 13, result.stdout[-2000:]
    for flow in (
        "outgoing: EventBridge API destinations",
        "outgoing: signed deliveries",
        "database: Aurora outbox",
        "inbound: verify",
    ):
        assert flow in result.stdout
    assert "[FAIL]" not in result.stdout
    assert (tmp_path / ".sandbox" / "demo-functions.log").stat().st_size > 0
