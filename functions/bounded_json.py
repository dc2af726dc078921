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


class StringScan:
    """Whether a left-to-right scan of JSON text is inside a string literal (escapes honoured).

    Feed it every character in order with :meth:`outside`; :attr:`inside` is the state before the
    next character. The nesting bound here and the sandbox's input transformer read JSON with it.
    """

    __slots__ = ("_escaped", "inside")

    def __init__(self) -> None:
        self.inside = False
        self._escaped = False

    def outside(self, char: str) -> bool:
        """Move past ``char``; ``True`` when it is structure (outside every string, not a quote)."""
        if self.inside:
            if self._escaped:
                self._escaped = False
            elif char == "\\":
                self._escaped = True
            elif char == '"':
                self.inside = False
            return False
        if char == '"':
            self.inside = True
            return False
        return True


def depth(text: str) -> int:
    """The deepest nesting of arrays and objects in ``text`` (strings are skipped, escapes honoured)."""
    deepest = level = 0
    outside = StringScan().outside
    for char in text:
        if not outside(char):
            continue
        if char in OPENERS:
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
