"""Rules checked on the source of every package (no evaluation needed).

- A module-level regex anchored with ``$`` is never applied with ``.match``: ``$`` also matches
  before a trailing newline, so ``re.match(r"^\\d{3}$", "001\\n")`` succeeds. Such values (a name, a
  header value, a timestamp, a version) are checked whole with ``fullmatch``; a trailing newline passed
  a dozen checks that way (header values that become injected lines, resource names AWS refuses
  mid-deploy) before the rule existed.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("functions", "components", "ops", "sandbox", "tools", "benchmarks", "examples", "publisher")
# NAME = re.compile(r"...$") at any indentation; a final "\$" is a literal dollar, not an anchor.
_ANCHORED = re.compile(r'^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*re\.compile\(\s*r?"(.*?)(?<!\\)\$"\s*[,)]', re.M)


def test_no_dollar_anchored_regex_is_applied_with_match() -> None:
    sources = {path: path.read_text() for package in PACKAGES for path in (ROOT / package).rglob("*.py")}
    anchored = {name for text in sources.values() for name, _ in _ANCHORED.findall(text)}
    assert {"HEADER_NAME_RE", "_HEADER_VALUE", "_CANONICAL_V4"} <= anchored  # the scan finds anchored patterns
    misuses = [
        f"{path.relative_to(ROOT)}:{text[: found.start()].count(chr(10)) + 1}: {found.group(1)}.match"
        for path, text in sources.items()
        for found in re.finditer(r"\b([A-Za-z_][A-Za-z0-9_]*)\.match\(", text)
        if found.group(1) in anchored
    ]
    assert misuses == []
