"""`python -m sandbox up` fails loudly and cleanly: a failed or interrupted start exits at once,
non-zero, with one error and no traceback, and leaves no PostgreSQL, thread or temporary directory
behind; Ctrl-C while running exits 0; a second run on the same state file is refused."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.e2e, pytest.mark.slow]

AURORA_ONLY = {"config": {"hookstack:aurora": {"enabled": True}}}
# Patches the migrations directory in the child, then runs the real CLI: no test-only knob in the code.
WITH_SQL_DIR = (
    "import sys; from pathlib import Path; import sandbox.aurora as aurora; aurora.SQL_DIR = Path(sys.argv[1]); "
    "from sandbox.__main__ import main; sys.exit(main(sys.argv[2:]))"
)


@pytest.fixture
def scratch() -> Iterator[Path]:
    """The child's TMPDIR, where its PostgreSQL data directory goes: short, as the unix socket
    path in it is limited to ~100 characters (pytest's tmp_path is too long)."""
    path = Path(tempfile.mkdtemp(prefix="hs-", dir="/tmp"))
    yield path
    for pid in postgres_under(path):  # only after a failed test: stop what the sandbox left running
        with contextlib.suppress(psutil.Error):
            psutil.Process(pid).send_signal(signal.SIGINT)
    shutil.rmtree(path, ignore_errors=True)


def launch(
    tmp_path: Path, scratch: Path, stack: dict, *args: str, python_args: tuple[str, ...] = ("-m", "sandbox")
) -> subprocess.Popen[str]:
    config = tmp_path / "Pulumi.test.yaml"
    config.write_text(yaml.safe_dump(stack))
    return subprocess.Popen(
        [sys.executable, *python_args, "up", "--config", str(config), *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, so a test can Ctrl-C it as a terminal would
        env={**os.environ, "TMPDIR": str(scratch), "PYTHONWARNINGS": "ignore", "PYTHONUNBUFFERED": "1"},
    )


def postgres_under(path: Path, names: tuple[str, ...] = ("postgres",)) -> list[int]:
    found = []
    for process in psutil.process_iter(["name", "cmdline"]):
        if process.info["name"] in names and str(path) in " ".join(process.info["cmdline"] or []):
            found.append(process.pid)
    return found


def wait_until(process: subprocess.Popen[str], condition: Callable[[], bool], seconds: float) -> None:
    """Poll ``condition`` while the sandbox runs; on exit or timeout, kill it and fail with its output."""
    deadline = time.monotonic() + seconds
    while not condition():
        if process.poll() is not None or time.monotonic() > deadline:
            stop(process)
            pytest.fail(f"sandbox exited ({process.returncode}) or timed out:\n{process.communicate()[1][-3000:]}")
        time.sleep(0.05)


def finish(process: subprocess.Popen[str], seconds: float) -> tuple[str, str]:
    """The sandbox's output once it exited; if it does not within ``seconds``, kill it and fail."""
    try:
        return process.communicate(timeout=seconds)
    except subprocess.TimeoutExpired:
        stop(process)
        pytest.fail(f"sandbox still running {seconds} s later:\n{process.communicate()[1][-3000:]}")


def stop(process: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def assert_nothing_left(scratch: Path, state_file: Path) -> None:
    assert postgres_under(scratch) == [], "PostgreSQL still running after the sandbox exited"
    assert list(scratch.glob("hookstack-sandbox-pg-*")) == [], "the data directory was not removed"
    assert not state_file.exists()


def test_a_failed_start_exits_1_at_once_and_stops_postgresql(tmp_path: Path, scratch: Path) -> None:
    broken = tmp_path / "sql"
    broken.mkdir()
    shutil.copy(ROOT / "sql" / "001_widgets.sql", broken)
    (broken / "002_broken.sql").write_text("CREATE TABLE broken (;\n")
    state = tmp_path / "state.json"
    process = launch(
        tmp_path, scratch, AURORA_ONLY, "--state-file", str(state), python_args=("-c", WITH_SQL_DIR, str(broken))
    )
    _, err = finish(process, 120)  # before the fix: hung here forever, PostgreSQL running

    assert process.returncode == 1, err
    assert 'sandbox: failed to start: aurora: create failed: SyntaxError: syntax error at or near ";"' in err
    assert "Traceback" not in err
    assert_nothing_left(scratch, state)


def test_ctrl_c_during_startup_stops_everything_and_exits_130(tmp_path: Path, scratch: Path) -> None:
    state = tmp_path / "state.json"
    process = launch(tmp_path, scratch, AURORA_ONLY, "--state-file", str(state))
    # initdb runs: AWS and the parts before Aurora are up, the sandbox is half-way through starting.
    wait_until(process, lambda: bool(postgres_under(scratch, ("initdb", "pg_ctl", "postgres"))), 90)
    assert not state.exists()
    os.killpg(process.pid, signal.SIGINT)  # as Ctrl-C in a terminal: the whole group, initdb included
    _, err = finish(process, 60)

    assert process.returncode == 128 + signal.SIGINT, err
    assert "sandbox: SIGINT received before the sandbox was ready: stopped what had started" in err
    assert "Traceback" not in err
    assert_nothing_left(scratch, state)


def test_ctrl_c_while_running_exits_0_and_a_second_run_is_refused(tmp_path: Path, scratch: Path) -> None:
    stack = {
        "config": {
            "hookstack:tenants": [
                {"id": "1", "destinations": [{"name": "a", "url": "http://127.0.0.1:9/a", "auth": {"type": "none"}}]}
            ]
        }
    }
    state = tmp_path / "missing" / "state.json"  # its directory is created
    state.parent.mkdir()
    state.write_text(json.dumps({"pid": 2**22 + 1, "aws_endpoint": "http://127.0.0.1:1"}))  # left by a killed sandbox
    process = launch(tmp_path, scratch, stack, "--state-file", str(state))
    wait_until(process, lambda: state.exists() and json.loads(state.read_text() or "{}").get("pid") == process.pid, 60)

    second = subprocess.run(
        [
            sys.executable,
            "-m",
            "sandbox",
            "up",
            "--config",
            str(tmp_path / "Pulumi.test.yaml"),
            "--state-file",
            str(state),
        ],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    assert second.returncode == 2, second.stderr
    assert f"a sandbox (pid {process.pid}) is using it" in second.stderr
    assert json.loads(state.read_text())["pid"] == process.pid  # the running sandbox's file is untouched

    os.killpg(process.pid, signal.SIGINT)
    out, err = finish(process, 60)
    assert process.returncode == 0, err
    assert "removed the stale state file" in err
    assert "sandbox: SIGINT received, stopping" in out
    assert "Traceback" not in err
    assert not state.exists()


def test_the_dev_stack_runs_with_the_pulumi_sdk_uninstalled(tmp_path: Path, scratch: Path) -> None:
    """`sandbox up` needs no Pulumi: every part builds from the Pulumi-free specs and contracts."""
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    # Imported at start-up by every interpreter on the path: makes `import pulumi` fail as if uninstalled.
    (blocker / "sitecustomize.py").write_text(
        "import sys\nfor name in ('pulumi', 'pulumi_aws', 'pulumi_random'):\n    sys.modules[name] = None\n"
    )
    state = tmp_path / "state.json"
    process = subprocess.Popen(
        [sys.executable, "-m", "sandbox", "up", "--config", str(ROOT / "Pulumi.dev.yaml"), "--state-file", str(state)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env={**os.environ, "PYTHONPATH": str(blocker), "TMPDIR": str(scratch), "PYTHONWARNINGS": "ignore"},
    )
    wait_until(process, state.exists, 90)
    ready = json.loads(state.read_text())
    assert ready["subscriptions_api"] and ready["inbound"] and ready["postgres_dsn"]  # every part started
    os.killpg(process.pid, signal.SIGINT)
    _, err = finish(process, 60)
    assert process.returncode == 0, err
    assert "Traceback" not in err


def test_the_blocker_really_hides_the_pulumi_sdk(tmp_path: Path) -> None:
    (tmp_path / "sitecustomize.py").write_text("import sys\nsys.modules['pulumi'] = None\n")
    result = subprocess.run(
        [sys.executable, "-c", "import pulumi"],
        check=False,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
    )
    assert result.returncode == 1 and "ModuleNotFoundError" in result.stderr
