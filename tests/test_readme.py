"""The README's first two commands are the product's front door: they must stay true."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    block = re.search(r"```bash\n(.*?)```", text, re.S)
    assert block, "README must open with a bash block"
    return [line for line in block.group(1).splitlines() if line and not line.startswith("#")]


def test_readme_opens_with_setup_demo_and_test_commands() -> None:
    setup, tests = readme_commands()[:2]
    assert "python3 -m venv .venv" in setup and "pip install -r requirements-dev.txt" in setup
    assert setup.endswith("python -m sandbox demo")
    assert tests.startswith(". .venv/bin/activate && python -m pytest")


def test_ci_runs_the_readme_test_command() -> None:
    test_command = readme_commands()[1].split("&&", 1)[1].strip()
    ci = (ROOT / ".ci" / "run").read_text()
    assert test_command in ci
    assert "pip install --quiet -r requirements-dev.txt" in ci
    assert "ruff check ." in ci


def test_sandbox_entry_point_exists() -> None:
    assert (ROOT / "sandbox" / "__main__.py").exists()


def test_license_is_apache_2_and_the_readme_says_so() -> None:
    license_text = (ROOT / "LICENSE").read_text()
    assert "Apache License" in license_text and "Version 2.0, January 2004" in license_text
    assert "TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION" in license_text
    readme = (ROOT / "README.md").read_text()
    assert re.search(r"## License\n\nhookstack is licensed under the \[Apache License 2\.0\]\(LICENSE\)", readme)
    assert 'license = "Apache-2.0"' in (ROOT / "pyproject.toml").read_text()
