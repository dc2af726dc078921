"""Dependency pins that behaviour depends on.

The Python SDK of pulumi-aws fixes the provider plugin the CLI fetches (same version), so the pin
in requirements.txt is the provider a deployment runs. The delivery table's global secondary indexes
use ``key_schemas`` (``hash_key``/``range_key`` are deprecated): that form made ``pulumi up`` show a
change on every run until terraform-provider-aws 6.32.1 (hashicorp/terraform-provider-aws#46442), so
the pin must exclude every pulumi-aws release verified to bundle an older provider.
"""

from __future__ import annotations

import re
from importlib.metadata import version
from pathlib import Path

from packaging.specifiers import SpecifierSet
from packaging.version import Version

from tests.harness import Program, run_program

ROOT = Path(__file__).resolve().parent.parent
# The earliest pulumi-aws release verified to bundle terraform-provider-aws >= 6.32.1 (7.37.0: 6.53/6.54).
FIRST_WITHOUT_GSI_KEY_SCHEMA_DIFF = Version("7.37.0")


def pinned(package: str) -> SpecifierSet:
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        match = re.match(rf"^{re.escape(package)}\s*([<>=!~].*)$", line.strip())
        if match:
            return SpecifierSet(match.group(1))
    raise AssertionError(f"{package} is not pinned in requirements.txt")


def test_pulumi_aws_is_pinned_to_releases_without_the_key_schema_perpetual_diff() -> None:
    spec = pinned("pulumi-aws")
    assert not spec.contains("7.36.99"), spec  # the last releases before the one verified
    assert not spec.contains("7.16.0"), spec  # terraform-provider-aws 6.28: no key_schema at all
    assert spec.contains(str(FIRST_WITHOUT_GSI_KEY_SCHEMA_DIFF))
    assert not spec.contains("8.0.0"), "a major version needs its own review"
    installed = version("pulumi-aws")
    assert spec.contains(installed), f"the installed pulumi-aws {installed} is outside {spec}"


def test_the_delivery_table_declares_its_indexes_in_the_key_schemas_form() -> None:
    declared: Program = run_program({"tenants": [], "consumer": {"enabled": False}})
    table = declared.one("aws:dynamodb/table:Table")
    indexes = table.plain("globalSecondaryIndexes")
    assert indexes
    for index in indexes:
        # Both forms at once are refused by the provider; the deprecated one alone is not the pinned one.
        assert "hashKey" not in index and "rangeKey" not in index, index
        assert [k["keyType"] for k in index["keySchemas"]] == ["HASH", "RANGE"], index
