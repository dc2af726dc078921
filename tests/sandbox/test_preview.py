"""``python -m sandbox plan`` and the preview machinery it runs: product code, not test code."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from sandbox.__main__ import main

ROOT = Path(__file__).resolve().parent.parent.parent
PRODUCT = ["__main__.py", "components", "functions", "sandbox", "ops", "benchmarks", "sql"]
# Modules that must import without the Pulumi SDK (``sandbox plan`` imports sandbox.preview lazily).
WITHOUT_PULUMI = ["sandbox.__main__", "sandbox.provider", "sandbox.preview_aws", "benchmarks.program_eval"]
SMALL_STACK = """config:
  hookstack:delivery: {enabled: false}
  hookstack:tenants:
    - id: "1"
      destinations:
        - {name: crm, url: "https://crm.example.com/hooks", auth: {type: apiKey, header: x-api-key, value: {secure: v1:abc}}}
"""


def test_plan_prints_what_a_stack_file_declares(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stack = tmp_path / "Pulumi.small.yaml"
    stack.write_text(SMALL_STACK)
    assert main(["plan", "--config", str(stack)]) == 0
    out = capsys.readouterr().out
    total = re.search(r"Pulumi\.small\.yaml: (\d+) resources", out)
    assert total is not None, out
    counts = {typ: int(n) for n, typ in re.findall(r"^\s+(\d+)\s+(\S+)$", out, flags=re.MULTILINE)}
    assert sum(counts.values()) == int(total.group(1))
    assert counts["hookstack:index:EntryBus"] == counts["hookstack:index:WebhookProvider"] == 1
    assert counts["aws:cloudwatch/eventArchive:EventArchive"] == 1
    assert counts["aws:cloudwatch/eventApiDestination:EventApiDestination"] == 1
    outputs = {o.strip() for o in out.split("outputs: ", 1)[1].split(", ")}
    assert {"busName", "busArn", "archiveArn", "deadLetterQueueUrl", "destinations"} <= outputs
    assert "subscriptionsApiUrl" not in outputs  # delivery off in this stack file


def test_product_code_never_imports_the_tests() -> None:
    """Also in code run as text (benchmarks start children with ``python -c``)."""
    offenders = []
    for entry in PRODUCT:
        path = ROOT / entry
        for file in [path] if path.is_file() else sorted(path.rglob("*.py")):
            for number, line in enumerate(file.read_text().splitlines(), 1):
                if re.search(r"\b(from|import)\s+tests\b", line):
                    offenders.append(f"{file.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == []


def test_the_sandbox_command_imports_without_the_pulumi_sdk() -> None:
    blocker = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'pulumi' or name.startswith(('pulumi.', 'pulumi_')):\n"
        "            raise ImportError(f'{name} is not installed')\n"
        "sys.meta_path.insert(0, Block())\n"
        f"for module in {WITHOUT_PULUMI!r}:\n"
        "    __import__(module)\n"
        "try:\n"
        "    import sandbox.preview\n"
        "except ImportError as error:\n"
        "    print('preview needs', error)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", blocker], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    # The blocker works: the preview itself does need the SDK.
    assert result.stdout.strip() == "preview needs pulumi is not installed"
