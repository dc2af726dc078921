"""``python -m sandbox plan`` and the preview machinery it runs: product code, not test code."""

from __future__ import annotations

import json
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


# A stack file only `sandbox up` runs as is: loopback http:// receivers, plain and `secure:` secrets.
SANDBOX_STACK = """config:
  hookstack:tenants:
    - id: "acme"
      destinations:
        - {name: crm, url: "http://127.0.0.1:8080/hooks", auth: {type: apiKey, header: x-api-key, value: plain}}
        - {name: audit, url: "http://localhost:8080/audit", auth: {type: signed}}
    - id: "b.2"
      destinations:
        - {name: erp, url: "https://erp.example.com/h", auth: {type: basic, username: u, password: {secure: v1:abc}}}
"""


def test_plan_prints_resources_by_component_and_tenant(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stack = tmp_path / "Pulumi.small.yaml"
    stack.write_text(SMALL_STACK)
    assert main(["plan", "--config", str(stack)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{stack}: stack 'small'")
    sections = re.split(r"\n\n", out)
    provider = next(s for s in sections if s.startswith("WebhookProvider ("))
    tenant_block = provider.split("  tenant 1\n", 1)[1]
    # The destination's own resources, named, under its tenant; the shared ones above it.
    for word, typ in [("conn", "eventConnection:EventConnection"), ("dest", "eventApiDestination:EventApiDestination")]:
        assert re.search(rf"^    hookstack-1-crm-{word}\s+aws:cloudwatch/{typ}$", tenant_block, re.MULTILINE), provider
    assert re.search(r"^    hookstack-dlq\s+aws:sqs/queue:Queue$", provider.split("  tenant 1", 1)[0], re.MULTILINE)
    outputs = next(s for s in sections if s.startswith("Outputs\n"))
    assert re.search(r"^  busName\s+hookstack-small$", outputs, re.MULTILINE)
    assert "subscriptionsApiUrl" not in outputs  # delivery off in this stack file
    summary = next(s for s in sections if s.startswith("Summary: "))
    total = re.match(r"Summary: (\d+) resources of (\d+) types in (\d+) components, 1 tenant", summary)
    assert total is not None, summary
    counts = {typ: int(n) for n, typ in re.findall(r"^\s+(\d+)\s+(\S+)$", summary, flags=re.MULTILINE)}
    assert sum(counts.values()) == int(total.group(1)) and len(counts) == int(total.group(2))
    assert counts["hookstack:index:EntryBus"] == counts["hookstack:index:WebhookProvider"] == 1
    listed = re.findall(r"^    (\S+)\s+(\S+)$", out, flags=re.MULTILINE)
    assert len(listed) == int(total.group(1))


def test_plan_json_takes_what_sandbox_up_takes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stack = tmp_path / "local.yaml"
    stack.write_text(SANDBOX_STACK)
    assert main(["plan", "--config", str(stack), "--json"]) == 0
    captured = capsys.readouterr()
    document = json.loads(captured.out)
    assert set(document) == {"resources", "outputs"}
    rows = document["resources"]
    assert all(set(row) == {"type", "name", "component", "tenant"} for row in rows)
    by_name = {row["name"]: row for row in rows}
    assert by_name["hookstack-acme-crm-dest"] == {
        "type": "aws:cloudwatch/eventApiDestination:EventApiDestination",
        "name": "hookstack-acme-crm-dest",
        "component": "WebhookProvider",
        "tenant": "acme",
    }
    # A tenant id that is not a valid name part still owns its resources (b.2 -> b-2-<hash>).
    assert {row["tenant"] for row in rows if row["type"].endswith("EventConnection")} == {"acme", "b.2"}
    assert by_name["hookstack-delivery-acme-audit-endpoint"]["tenant"] == "acme"
    assert by_name["hookstack-dlq"]["tenant"] is None
    assert {row["component"] for row in rows} == {
        "EntryBus",
        "WebhookProvider",
        "SignedDelivery",
        "TenantPortal",
        "StackObservability",
    }
    outputs = document["outputs"]
    assert outputs["busName"] == "hookstack-sandbox"  # not Pulumi.<stack>.yaml: planned as `up` runs it
    assert set(outputs["destinations"]) == {"acme", "b.2"}
    assert outputs["signedDestinationSecrets"] == "[secret]"  # as `pulumi stack output --json` hides it
    assert "hookstack:tenants[0].destinations[0].url" in captured.err  # the loopback note, on stderr
    # Plain-text secrets are a sandbox allowance: the note says what `pulumi up` would make of them.
    (note,) = [line for line in captured.err.splitlines() if "in plain text" in line]
    assert "1 secret value(s) in plain text in the stack file: hookstack:tenants[0].destinations[0].auth.value" in note
    assert "pulumi config set --secret --path" in note and "password" not in note and "plain" not in note.split(":")[-1]


def test_plan_refuses_a_bad_stack_file_as_up_does(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stack = tmp_path / "bad.yaml"
    stack.write_text(SMALL_STACK.replace("https://crm.example.com/hooks", "ftp://crm.example.com"))
    assert main(["plan", "--config", str(stack)]) == 2
    err = capsys.readouterr().err
    assert "bad.yaml:" in err and "tenants[0].destinations[0].url" in err, err


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


@pytest.mark.parametrize("stack", ["bad name!", "", "a/b", "x" * 101])
def test_plan_refuses_a_stack_name_pulumi_refuses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], stack: str
) -> None:
    # The stack name names the entry bus (hookstack-<stack>): 'bad name!' was planned as a bus name.
    config = tmp_path / "Pulumi.small.yaml"
    config.write_text(SMALL_STACK)
    with pytest.raises(SystemExit) as caught:
        main(["plan", "--config", str(config), "--stack", stack])
    assert caught.value.code == 2
    assert "--stack: must be 1-100 characters of A-Z, a-z, 0-9, '-', '_' and '.'" in capsys.readouterr().err
