"""Test glue around :mod:`sandbox.preview` (the program under recording Pulumi mocks).

The machinery lives in the product (``python -m sandbox plan`` and the benchmarks use it too); this
module re-exports what the tests use and keeps two patch points tests rely on, both looked up when
a program runs: ``_computed(typ, logical, inputs)`` (what the mocks answer for a resource; wrap it
to answer differently) and ``RecordingMocks`` (replace it to keep the records of a failing run).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sandbox import preview
from sandbox.preview import Declared, Program, is_secret, load_stack_file_config, reveal
from sandbox.preview_aws import ACCOUNT, REGION, aws_state

__all__ = [
    "ACCOUNT",
    "REGION",
    "Declared",
    "Program",
    "RecordingMocks",
    "contains_text",
    "is_secret",
    "load_stack_file_config",
    "reveal",
    "run_program",
]


def contains_text(value: Any, text: str) -> bool:
    """Whether ``text`` appears anywhere in ``value`` outside a secret envelope."""
    if is_secret(value):
        return False
    if isinstance(value, Mapping):
        return any(contains_text(v, text) for v in value.values())
    if isinstance(value, list):
        return any(contains_text(v, text) for v in value)
    return isinstance(value, str) and text in value


# The region of the evaluation in progress (``_computed`` keeps its three-argument signature
# because tests wrap it).
_evaluated_region = [REGION]


def _computed(typ: str, logical: str, inputs: Mapping[str, Any]) -> dict[str, Any]:
    """What AWS fills in for a resource type: physical name, ARN, URLs."""
    return aws_state(typ, logical, reveal(inputs), region=_evaluated_region[0])


class RecordingMocks(preview.RecordingMocks):
    def state(self, typ: str, logical: str, inputs: Mapping[str, Any]) -> dict[str, Any]:
        return _computed(typ, logical, inputs)


def run_program(
    config: Mapping[str, Any],
    *,
    region: str = REGION,
    vpcs: Mapping[str, Mapping[str, Any]] | None = None,
    **options: Any,
) -> Program:
    """:func:`sandbox.preview.run_program` with the patch points above."""
    _evaluated_region[0] = region
    return preview.run_program(config, region=region, mocks=RecordingMocks(region=region, vpcs=vpcs), **options)
