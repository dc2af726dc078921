"""A fresh clone installs the versions CI tested: constraints.txt pins every requirement."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _names(path: Path) -> set[str]:
    names = set()
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            names.add(re.split(r"[\[<>=!~; ]", line, maxsplit=1)[0].lower().replace("_", "-"))
    return names


def test_constraints_pin_every_requirement_exactly() -> None:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        name, separator, version = line.partition("==")
        assert separator and version, f"constraints.txt: {line!r} is not name==version"
        pins[name.lower().replace("_", "-")] = version
    required = _names(ROOT / "requirements.txt") | _names(ROOT / "requirements-dev.txt")
    assert required - set(pins) == set(), "re-pin with `make lock`"


def test_ci_and_the_readme_install_with_the_constraints() -> None:
    assert "-c constraints.txt" in (ROOT / ".ci" / "run").read_text()
    assert "-c constraints.txt" in (ROOT / "README.md").read_text().split("```", 2)[1]
