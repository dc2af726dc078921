"""The one entry point (components/stack.py): config and plan built once, every problem in one error,
and no import cycle between the configuration and the plan."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import components.plan
import components.provider
import components.stack
import components.stack_config
from components.config import StackConfigError, parse_stack_config
from components.plan import ProviderPlan
from components.stack import Stack, load_stack
from tests.harness import run_program

ROOT = Path(__file__).resolve().parents[2]


def api_tenants(count: int) -> list[dict[str, Any]]:
    return [
        {"id": f"t{i}", "destinations": [{"name": "d", "url": f"https://t{i}.example.com", "auth": {"type": "none"}}]}
        for i in range(count)
    ]


def count_plans(monkeypatch: pytest.MonkeyPatch) -> list[ProviderPlan]:
    """Every plan built from now on, wherever it is built from."""
    built: list[ProviderPlan] = []
    original = components.plan.build_provider_plan

    def counting(*args: Any, **kwargs: Any) -> ProviderPlan:
        built.append(original(*args, **kwargs))
        return built[-1]

    monkeypatch.setattr(components.plan, "build_provider_plan", counting)
    monkeypatch.setattr(components.stack, "build_provider_plan", counting)
    return built


# --- one entry point, one plan -------------------------------------------------------------------


def test_the_program_gets_config_and_plan_from_load_stack_and_builds_the_plan_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    built = count_plans(monkeypatch)
    loaded: list[Stack] = []
    real_load_stack = components.stack_config.load_stack

    def recording_load_stack(*args: Any, **kwargs: Any) -> Stack:
        loaded.append(real_load_stack(*args, **kwargs))
        return loaded[-1]

    provider_args: list[components.provider.WebhookProviderArgs] = []
    real_args = components.provider.WebhookProviderArgs

    def recording_args(*args: Any, **kwargs: Any) -> components.provider.WebhookProviderArgs:
        provider_args.append(real_args(*args, **kwargs))
        return provider_args[-1]

    monkeypatch.setattr(components.stack_config, "load_stack", recording_load_stack)
    monkeypatch.setattr(components.provider, "WebhookProviderArgs", recording_args)
    raw = {"tenants": api_tenants(2), "delivery": {"enabled": False}}

    program = run_program(raw, stack="qa")

    (stack,) = loaded
    assert len(built) == 1, "the plan is built once, by load_stack"
    assert stack.plan is built[0]
    (args,) = provider_args
    assert args.plan is stack.plan  # the program declares the very plan the quotas were checked on
    assert stack.config == parse_stack_config(raw)
    assert stack.plan.entry_bus_name == "hookstack-qa"  # default bus naming: hookstack-<stack>
    assert [b.get("name") for b in program.of_type("aws:cloudwatch/eventBus:EventBus")] == ["hookstack-qa"]


def test_load_stack_returns_the_parsed_config_and_its_plan() -> None:
    raw = {"tenants": api_tenants(3), "provider": {"shards": 2}}
    stack = load_stack(raw, stack="prod")
    assert stack.config == parse_stack_config(raw)
    assert stack.plan.sharded and stack.plan.entry_bus_name == "hookstack-prod"
    assert {d.tenant_id for d in stack.plan.destinations} == {"t0", "t1", "t2"}
    with pytest.raises(AttributeError):
        stack.plan = stack.plan  # type: ignore[misc]  # frozen


def test_field_cross_field_and_quota_problems_come_in_one_error() -> None:
    tenants = api_tenants(301)
    tenants.append(
        {"id": "s", "destinations": [{"name": "d", "url": "https://s.example.com", "auth": {"type": "signed"}}]}
    )
    raw = {
        "tenants": tenants,
        "provider": {"shards": 1},
        "delivery": {"enabled": False},
        "aurora": {"minCapacity": 8, "maxCapacity": 4},
    }
    with pytest.raises(StackConfigError) as caught:
        load_stack(raw, stack="dev")
    assert [str(p) for p in caught.value.problems] == [
        "hookstack:aurora.minCapacity: must not exceed maxCapacity (4.0)",
        "hookstack:tenants[301].destinations[0].auth.type: is signed, but hookstack:delivery.enabled is false: "
        "nothing would deliver it (enable delivery, or use apiKey, basic, oauth or none)",
        "hookstack:tenants: bus hookstack-dev would hold 301 rules; the quota is 300: remove hookstack:provider.shards "
        "(automatic) or set it above 1 to spread tenants over buses",
    ]
    assert str(caught.value).startswith("3 problem(s) in the stack configuration:")


def test_parse_stack_config_is_the_field_parser_and_leaves_quotas_to_load_stack() -> None:
    raw = {"tenants": api_tenants(301), "provider": {"shards": 1}}
    assert len(parse_stack_config(raw).tenants) == 301
    with pytest.raises(StackConfigError, match="would hold 302 rules"):
        load_stack(raw, stack="dev")


def test_no_plan_is_built_while_the_provider_section_has_problems(monkeypatch: pytest.MonkeyPatch) -> None:
    built = count_plans(monkeypatch)
    with pytest.raises(StackConfigError) as caught:
        load_stack({"tenants": api_tenants(301), "provider": {"shards": 1, "rulesPerBus": 5}}, stack="dev")
    assert [p.path for p in caught.value.problems] == ["hookstack:provider.rulesPerBus"]
    assert built == []


# --- no import cycle ---------------------------------------------------------------------------


def test_config_never_imports_the_plan_or_pulumi() -> None:
    """Parsing every section (the SSRF and environment checks included) loads neither the plan nor
    the entry point nor pulumi: the configuration does not depend on what is built from it."""
    script = """
import sys
from components.config import parse_stack_config, read_stack_config
raw = {
    "tenants": [{"id": "1", "destinations": [
        {"name": "a", "url": "https://a.example.com", "auth": {"type": "signed"}},
        {"name": "b", "url": "https://b.example.com", "eventTypes": ["x"] * 2, "auth": {"type": "none"}},
    ]}],
    "consumer": {"sources": [{"name": "gh", "kind": "github", "secret": "s"}]},
    "aurora": {"enabled": True},
}
read_stack_config(raw)
parse_stack_config({**raw, "tenants": []})
print(" ".join(sorted(m for m in sys.modules if m.startswith(("components", "pulumi")))))
"""
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    loaded = result.stdout.split()
    assert "components.config.tenants" in loaded  # the script did import and run the parser
    assert "components.plan" not in loaded
    assert "components.stack" not in loaded
    assert not [m for m in loaded if m == "pulumi" or m.startswith("pulumi.")]


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_no_module_of_the_config_package_imports_the_plan_the_entry_point_or_pulumi() -> None:
    files = sorted((ROOT / "components" / "config").glob("*.py"))
    assert len(files) >= 10
    for path in files:
        forbidden = sorted(
            name
            for name in imported_modules(path)
            if name.startswith(("components.plan", "components.stack", "pulumi"))
        )
        assert not forbidden, f"{path.relative_to(ROOT)} imports {forbidden}"


def test_every_config_module_stays_readable_at_once() -> None:
    for path in sorted((ROOT / "components" / "config").glob("*.py")) + [ROOT / "components" / "stack.py"]:
        assert len(path.read_text().splitlines()) <= 400, path.name


def test_no_constant_is_defined_twice_in_the_config_package() -> None:
    defined: dict[str, str] = {}
    for path in sorted((ROOT / "components" / "config").glob("*.py")):
        for node in ast.parse(path.read_text()).body:
            targets = (
                node.targets
                if isinstance(node, ast.Assign)
                else [node.target]
                if isinstance(node, ast.AnnAssign)
                else []
            )
            for target in targets:
                for name in ast.walk(target):
                    if isinstance(name, ast.Name) and name.id.isupper():
                        assert name.id not in defined, f"{name.id} in {path.name} and {defined[name.id]}"
                        defined[name.id] = path.name
    assert {"MAX_SHARDS", "SOURCE_KINDS", "NAMESPACE"} <= set(defined)
