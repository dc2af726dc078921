"""JSON from callers, parsed with a bound on nesting.

``json.loads`` recurses once per nesting level: ``[[[[...`` a few thousand deep (a 64 KB body holds
65,000) raises ``RecursionError`` instead of ``ValueError``, which the API would answer with a 500.
:func:`loads` counts the depth first, in one linear pass that skips string contents, and refuses
anything deeper than the caller allows with a ``ValueError`` naming the limit.
"""

from __future__ import annotations

import json
from typing import Any

OPENERS, CLOSERS = frozenset("[{"), frozenset("]}")


class TooDeep(ValueError):
    """The document nests deeper than allowed."""


def depth(text: str) -> int:
    """The deepest nesting of arrays and objects in ``text`` (strings are skipped, escapes honoured)."""
    deepest = level = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in OPENERS:
            level += 1
            deepest = max(deepest, level)
        elif char in CLOSERS:
            level -= 1
    return deepest


def loads(text: str, max_depth: int) -> Any:
    """``json.loads`` for untrusted text; raises ``ValueError`` (:class:`TooDeep` for nesting)."""
    if depth(text) > max_depth:
        raise TooDeep(f"nests arrays/objects deeper than {max_depth} levels")
    try:
        return json.loads(text)
    except RecursionError:  # not reachable within the bound; kept so no input can turn into a 500
        raise TooDeep(f"nests arrays/objects deeper than {max_depth} levels") from None
