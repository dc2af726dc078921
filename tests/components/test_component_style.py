"""How components expose what they declare, checked on the source (no evaluation needed).

- Every public attribute a component (or a resource bundle such as ``LambdaFunction``) sets is
  declared in its class body, annotated and with a docstring, so the class reads as its interface.
- Helpers return the resources they create; only ``__init__`` sets public attributes (an attribute
  set as a side effect inside a helper is invisible where the helper is called).
- ``register_outputs`` uses the attribute style (snake_case keys) in every component.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

COMPONENTS = Path(__file__).resolve().parent.parent.parent / "components"
# The classes held to the first two rules (delivery, consumer and Aurora are still to follow).
DECLARING = {
    "provider.py": ["WebhookProvider", "WebhookProviderArgs"],
    "entry_bus.py": ["EntryBus", "EntryBusArgs", "BusRef"],
    "common.py": ["LambdaFunction"],
    "alerts.py": ["AlertTopic"],
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
            found[node.target.id] = isinstance(after, ast.Expr) and isinstance(getattr(after, "value", None), ast.Constant)
    return found


def _public_assignments(cls: ast.ClassDef) -> dict[str, set[str]]:
    """Public ``self.<name>`` assignments -> the methods making them."""
    found: dict[str, set[str]] = {}
    for method in (n for n in cls.body if isinstance(n, ast.FunctionDef)):
        for node in ast.walk(method):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
            for target in targets:
                for element in target.elts if isinstance(target, ast.Tuple) else [target]:
                    on_self = isinstance(element, ast.Attribute) and isinstance(element.value, ast.Name) and element.value.id == "self"
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
                assert node.args and isinstance(node.args[0], ast.Dict), f"{file.name}: register_outputs takes a dict literal"
                keys += [(file.name, k.value) for k in node.args[0].keys if isinstance(k, ast.Constant)]
    assert len({file for file, _ in keys}) >= 5  # provider, entry bus, delivery, consumer, Aurora
    assert [(file, key) for file, key in keys if not re.fullmatch(r"[a-z][a-z0-9_]*", key)] == []
