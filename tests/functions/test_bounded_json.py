"""The nesting bound on untrusted JSON, and the string scanner it shares with the sandbox's transformer."""

from __future__ import annotations

import json

import pytest

from functions import bounded_json
from functions.bounded_json import StringScan


def structure(text: str) -> str:
    scan = StringScan()
    return "".join(char for char in text if scan.outside(char))


@pytest.mark.parametrize(
    ("text", "outside"),
    [
        ('{"a": [1]}', "{: [1]}"),
        ('["[{", "}]"]', "[, ]"),  # brackets inside strings are not structure
        (r'["a\"[", 1]', "[, 1]"),  # an escaped quote does not end the string
        (r'["a\\", [2]]', "[, [2]]"),  # an escaped backslash does not escape the quote after it
        ('"[[[', ""),  # an unterminated string runs to the end
    ],
)
def test_the_scanner_tells_structure_from_string_contents(text: str, outside: str) -> None:
    assert structure(text) == outside


def test_the_scanner_reports_the_state_before_each_character() -> None:
    scan = StringScan()
    states = []
    for char in '{"a"}':
        states.append(scan.inside)
        scan.outside(char)
    assert states == [False, False, True, True, False]


def test_depth_counts_only_structure_and_loads_refuses_beyond_the_bound() -> None:
    assert bounded_json.depth('{"a": "[[[[[", "b": [[1]]}') == 3
    assert bounded_json.loads('{"a": [1]}', 2) == {"a": [1]}
    with pytest.raises(bounded_json.TooDeep, match="deeper than 2 levels"):
        bounded_json.loads(json.dumps([[[1]]]), 2)
