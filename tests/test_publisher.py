"""The ``hookstack-events`` distribution (publisher/): built by pip, installed into a clean virtualenv.

An application in another repository installs it instead of copying ``functions/events.py``; these
tests build the wheel the way such an application does (``pip wheel ./publisher``, through the
PEP 517 backend), install it into a virtualenv that has nothing else (no repository on the path,
no boto3), and publish through it.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import zipfile
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]

CLEAN_PROGRAM = r"""
import importlib.util, json, sys
import functions, functions.events as events
from functions.events import make_event, publish, PublishError

class EventBridge:  # any object with put_events: the application passes its boto3 client
    def __init__(self):
        self.calls = []
    def put_events(self, Entries):
        self.calls.append(Entries)
        failed = len(self.calls) == 1  # the first call: one entry throttled, retried alone
        return {"FailedEntryCount": int(failed), "Entries": [
            {"ErrorCode": "ThrottlingException", "ErrorMessage": "slow down"} if failed and i == 0 else {"EventId": "x"}
            for i, _ in enumerate(Entries)]}

client = EventBridge()
batch = [make_event("app", "order.created", {"n": n}, tenant_id="acme") for n in range(12)]
calls = publish(client, batch, "hookstack-prod", sleep=lambda _: None)
try:
    make_event("app", "t", {"hookstackRedrive": "x"})
    refused = False
except ValueError:
    refused = True
print(json.dumps({
    "file": functions.__file__,
    "calls": calls,
    "sizes": [len(c) for c in client.calls],
    "detail": json.loads(client.calls[0][0]["Detail"]),
    "bus": client.calls[0][0]["EventBusName"],
    "redrive_refused": refused,
    "others": [m for m in ("functions.delivery", "functions.runtime", "boto3")
               if importlib.util.find_spec(m) is not None],
}))
"""


def _backend() -> ModuleType:
    spec = importlib.util.spec_from_file_location("publisher_build_backend", ROOT / "publisher" / "build_backend.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_wheel_holds_the_event_contract_byte_for_byte_and_is_reproducible(tmp_path: Path) -> None:
    backend = _backend()
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    name = backend.build_wheel(str(first))
    assert name == "hookstack_events-0.1.0-py3-none-any.whl"
    assert backend.build_wheel(str(second)) == name
    assert (first / name).read_bytes() == (second / name).read_bytes()
    with zipfile.ZipFile(first / name) as wheel:
        names = wheel.namelist()
        assert sorted(n for n in names if n.startswith("functions/")) == [
            "functions/__init__.py",
            "functions/events.py",
            "functions/logs.py",
            "functions/records.py",
        ]
        for module in ("events.py", "logs.py", "records.py"):
            assert wheel.read(f"functions/{module}") == (ROOT / "functions" / module).read_bytes()
        assert names[-1].endswith("/RECORD")
        metadata = wheel.read("hookstack_events-0.1.0.dist-info/METADATA").decode()
        assert "Requires-Python: >=3.11" in metadata
        # jsonschema only with the extra (publish's catalog check): a plain install pulls in nothing.
        assert [line for line in metadata.splitlines() if line.startswith("Requires-Dist")] == [
            'Requires-Dist: jsonschema>=4.18; extra == "schemas"'
        ]


@pytest.mark.parametrize(
    "source", ["from functions import whsec", "import functions.runtime", "from functions.delivery import api"]
)
def test_a_shipped_module_importing_more_of_functions_fails_the_build(source: str) -> None:
    with pytest.raises(RuntimeError, match=r"does not ship; add them to MODULES"):
        _backend()._check_imports("events.py", source.encode())


def test_pip_builds_the_wheel_and_it_publishes_from_a_clean_virtualenv(tmp_path: Path) -> None:
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "-w", str(tmp_path / "dist"), str(ROOT / "publisher")], check=True)
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([*pip, "--python", str(python), "install", "--no-index", "--no-deps", str(wheel)], check=True)
    done = subprocess.run(
        [str(python), "-I", "-c", CLEAN_PROGRAM],  # -I: no PYTHONPATH, no current directory on the path
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    *logged, last = done.stdout.splitlines()
    assert "retrying failed PutEvents entries" in logged[0]  # its JSON log line, from functions.logs
    result = json.loads(last)
    assert result["file"].startswith(str(venv)), "imported from the installed wheel, not the repository"
    assert result["sizes"] == [10, 1, 2]  # 10 entries per call, the throttled one alone again, then the rest
    assert result["calls"] == 3
    assert result["detail"]["tenantId"] == "acme" and result["detail"]["eventId"].startswith("evt_")
    assert result["bus"] == "hookstack-prod"
    assert result["redrive_refused"]
    assert result["others"] == []  # the publisher alone: no Lambda code, no dependency
