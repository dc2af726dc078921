"""How components expose what they declare, checked on the source (no evaluation needed).

- Every public attribute a component (or a resource bundle such as ``LambdaFunction``) sets is
  declared in its class body, annotated and with a docstring, so the class reads as its interface.
- Helpers return the resources they create; only ``__init__`` sets public attributes (an attribute
  set as a side effect inside a helper is invisible where the helper is called).
- ``register_outputs`` uses the attribute style (snake_case keys) in every component.
- The pure modules the components are computed from import without the Pulumi SDK.
- Component modules stay readable: about 400 lines at most, unless the reason is written here.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

COMPONENTS = Path(__file__).resolve().parent.parent.parent / "components"
# The classes held to the first two rules.
DECLARING = {
    "provider.py": ["WebhookProvider", "WebhookProviderArgs"],
    "entry_bus.py": ["EntryBus", "EntryBusArgs", "BusRef"],
    "common.py": ["LambdaFunction"],
    "alerts.py": ["AlertTopic"],
    "delivery.py": ["SignedDelivery", "SignedDeliveryArgs"],
    "delivery_api.py": ["SubscriptionApi"],
    "delivery_endpoints.py": ["ConfigEndpoints"],
    "delivery_functions.py": ["DeliveryResources", "DeliveryFunctions"],
    "consumer.py": ["WebhookConsumer", "WebhookConsumerArgs"],
    "consumer_storage.py": ["PayloadBucket"],
    "consumer_pipe.py": ["InboundPipe"],
    "aurora.py": ["AuroraRelay", "AuroraRelayArgs"],
    "aurora_network.py": ["AuroraNetwork"],
    "aurora_database.py": ["AuroraDatabase"],
}


def _class(file: str, name: str) -> ast.ClassDef:
    tree = ast.parse((COMPONENTS / file).read_text())
    return next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == name)


def _documented(cls: ast.ClassDef) -> dict[str, bool]:
    """Annotated names in the class body -> whether a docstring follows."""
    found = {}
    for index, node in enumerate(cls.body):
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            after = cls.body[index + 1] if index + 1 < len(cls.body) else None
            found[node.target.id] = isinstance(after, ast.Expr) and isinstance(
                getattr(after, "value", None), ast.Constant
            )
    return found


def _public_assignments(cls: ast.ClassDef) -> dict[str, set[str]]:
    """Public ``self.<name>`` assignments -> the methods making them."""
    found: dict[str, set[str]] = {}
    for method in (n for n in cls.body if isinstance(n, ast.FunctionDef)):
        for node in ast.walk(method):
            targets = (
                node.targets
                if isinstance(node, ast.Assign)
                else [node.target]
                if isinstance(node, ast.AnnAssign)
                else []
            )
            for target in targets:
                for element in target.elts if isinstance(target, ast.Tuple) else [target]:
                    on_self = (
                        isinstance(element, ast.Attribute)
                        and isinstance(element.value, ast.Name)
                        and element.value.id == "self"
                    )
                    if on_self and not element.attr.startswith("_"):
                        found.setdefault(element.attr, set()).add(method.name)
    return found


@pytest.mark.parametrize(("file", "name"), [(f, n) for f, names in DECLARING.items() for n in names])
def test_public_attributes_are_declared_with_a_docstring_and_set_in_init_only(file: str, name: str) -> None:
    cls = _class(file, name)
    documented = _documented(cls)
    assert documented and all(documented.values()), {k: v for k, v in documented.items() if not v}
    assigned = _public_assignments(cls)
    assert set(assigned) <= set(documented), set(assigned) - set(documented)
    assert {attr: methods for attr, methods in assigned.items() if methods != {"__init__"}} == {}


def test_every_component_registers_outputs_with_snake_case_keys() -> None:
    keys = []
    for file in sorted(COMPONENTS.glob("*.py")):
        for node in ast.walk(ast.parse(file.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "register_outputs":
                assert node.args and isinstance(node.args[0], ast.Dict), (
                    f"{file.name}: register_outputs takes a dict literal"
                )
                keys += [(file.name, k.value) for k in node.args[0].keys if isinstance(k, ast.Constant)]
    assert len({file for file, _ in keys}) >= 5  # provider, entry bus, delivery, consumer, Aurora
    assert [(file, key) for file, key in keys if not re.fullmatch(r"[a-z][a-z0-9_]*", key)] == []


# Imported with the Pulumi SDK made unimportable: their text is computed (and tested) without an engine.
PURE_MODULES = ["components.plan", "components.policy_documents", "components.provider_policies"]


def test_pure_modules_import_without_the_pulumi_sdk() -> None:
    blocker = "import sys; sys.modules['pulumi'] = sys.modules['pulumi_aws'] = None; "
    code = blocker + "".join(f"import {module}; " for module in PURE_MODULES)
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=COMPONENTS.parent, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr


MAX_MODULE_LINES = 400
# file -> why it may be longer (none so far: split a module by what it holds instead).
LONG_MODULES: dict[str, str] = {
    "common.py": "401 lines: LambdaFunction.create took one more option (layers, #12); split LambdaFunction out next",
}


def test_component_modules_stay_within_the_size_rule() -> None:
    sizes = {file.name: len(file.read_text().splitlines()) for file in COMPONENTS.glob("*.py")}
    assert len(sizes) >= 10
    too_long = {name: lines for name, lines in sizes.items() if lines > MAX_MODULE_LINES and name not in LONG_MODULES}
    assert too_long == {}
