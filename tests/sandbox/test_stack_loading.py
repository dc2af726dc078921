"""The sandbox loads a stack file through components.stack.load_stack and runs the plan it returns."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import components.plan
import components.stack
import sandbox.runtime
from components.config import StackFileError
from components.plan import ProviderPlan
from sandbox.runtime import Sandbox, SandboxStartError, load_local_config, local_stack

STACK_FILE = """\
config:
  aws:region: us-east-1
  hookstack:tenants:
    - id: "1"
      destinations:
        - name: crm
          url: http://127.0.0.1:65000/crm
          auth: {type: none}
        - name: audit
          url: http://127.0.0.1:65000/audit
          auth: {type: signed, secret: {secure: AAABAJ}}
"""


def count_plans(monkeypatch: pytest.MonkeyPatch) -> list[ProviderPlan]:
    built: list[ProviderPlan] = []
    original = components.plan.build_provider_plan

    def counting(*args: Any, **kwargs: Any) -> ProviderPlan:
        built.append(original(*args, **kwargs))
        return built[-1]

    monkeypatch.setattr(components.plan, "build_provider_plan", counting)
    monkeypatch.setattr(components.stack, "build_provider_plan", counting)
    return built


def test_the_sandbox_runs_the_plan_load_stack_built_and_builds_no_other(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "Pulumi.local.yaml"
    path.write_text(STACK_FILE)
    built = count_plans(monkeypatch)

    stack, generated = load_local_config(str(path))

    assert built == [stack.plan]
    assert stack.plan.entry_bus_name == "hookstack-sandbox"  # default_bus_name("sandbox"), as before
    assert list(generated) == ["tenants[0].destinations[1].auth.secret"]
    assert [d.name for d in stack.plan.destinations] == ["crm"]  # loopback http: the sandbox's mode

    given: list[ProviderPlan] = []

    class RecordingProvider:
        def __init__(self, plan: ProviderPlan, *_: Any) -> None:
            given.append(plan)
            raise RuntimeError("recorded")  # stop the start here: the plan is all this test needs

    monkeypatch.setattr(sandbox.runtime, "LocalProvider", RecordingProvider)
    running = Sandbox(stack)
    with pytest.raises(SandboxStartError, match="recorded"):
        running.start()
    assert given == [stack.plan] and given[0] is stack.plan
    assert len(built) == 1


def test_local_stack_plans_raw_keys_under_the_sandbox_stack_name() -> None:
    stack = local_stack(
        {
            "tenants": [
                {
                    "id": "1",
                    "destinations": [{"name": "crm", "url": "http://127.0.0.1:65000/crm", "auth": {"type": "none"}}],
                }
            ]
        }
    )
    assert stack.plan.entry_bus_name == "hookstack-sandbox"
    assert stack.config.tenants[0].destinations[0].url == "http://127.0.0.1:65000/crm"


def test_quota_problems_in_a_stack_file_name_their_line(tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.wide.yaml"
    event_types = "".join(f"\n            - widget.event-type-number-{i:04d}" for i in range(80))
    path.write_text(
        STACK_FILE.replace("        - name: audit", f"          eventTypes:{event_types}\n        - name: audit")
    )
    with pytest.raises(StackFileError) as caught:
        load_local_config(str(path))
    # The line of the value: the list of event types starts under `eventTypes:`.
    assert f"{path}:10: hookstack:tenants[0].destinations[0].eventTypes: makes an event pattern of " in str(
        caught.value
    )
    assert [p.path for p in caught.value.problems] == ["hookstack:tenants[0].destinations[0].eventTypes"]


def test_the_sandbox_loads_a_given_vpc_without_looking_it_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The VPC lookup is the Pulumi program's (components.stack_config); the sandbox runs no Aurora networking."""
    import pulumi_aws

    def no_lookup(*_: Any, **__: Any) -> Any:
        raise AssertionError("the sandbox looked a VPC up")

    monkeypatch.setattr(pulumi_aws.ec2, "get_vpc", no_lookup)
    path = tmp_path / "Pulumi.local.yaml"
    path.write_text(
        STACK_FILE
        + "  hookstack:aurora:\n    enabled: true\n    vpcId: vpc-0nodns\n    subnetIds: [subnet-a, subnet-b]\n"
    )
    stack, _ = load_local_config(str(path))
    assert stack.config.aurora.vpc_id == "vpc-0nodns"
