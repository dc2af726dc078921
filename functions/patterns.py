"""EventBridge event patterns: one semantics for both engines.

An API destination's rule carries its endpoint's ``eventTypes`` and ``filter`` compiled into its
event pattern (``components/plan.py``, with :func:`merge`), so EventBridge evaluates them; a worker
endpoint's are evaluated in the fan-out by :func:`matches`, which implements the AWS semantics
(EventBridge user guide, "Comparison operators for use in event patterns", and its engine, the
open-source Event Ruler). :func:`pattern_problem` accepts exactly what :func:`matches` implements,
for both engines, so a filter means the same whichever engine delivers:

- exact values: strings, numbers (compared as numbers: ``300`` matches ``300.0``), ``true``,
  ``false``, ``null``; ``""`` matches an empty string;
- ``prefix``, ``suffix`` (each also as ``{"equals-ignore-case": ...}``), ``equals-ignore-case``,
  ``wildcard`` (``*`` any run of characters; ``\\*`` and ``\\\\`` escape; no ``**``);
- ``anything-but``: a string, a number, a list of only strings or only numbers, or ``{"prefix"}``,
  ``{"suffix"}``, ``{"equals-ignore-case"}`` (a string or a list), ``{"wildcard"}``;
- ``numeric``: ``[op, n]`` with ``<``, ``<=``, ``=``, ``>=``, ``>``, or a range ``[">"|">=", low,
  "<"|"<=", high]``; operands within +-1e9 (the range AWS documents);
- ``exists`` (leaves only: an object, an empty array or an absent field does not exist), ``cidr``
  (IPv4 or IPv6 network, host bits zero), and ``$or`` with two or more branches, at any level.

Everything else (``contains``, unknown operators, a ``$or`` with one branch, which Event Ruler would
read as a field named ``$or``) is refused with the operator named. Arrays in the event match when any
element does; objects inside arrays are matched element by element (Event Ruler's "array
consistency": two fields of one pattern object never come from different elements).

Where moto's engine (``moto.events.models.EventPattern``, the tests' oracle and the sandbox's router)
differs, AWS is followed (tests/functions/test_patterns.py pins each case): booleans are not the
numbers 1 and 0; fields inside arrays of objects match; nested arrays are flattened; an empty array
or object is no leaf for ``exists``; ``cidr`` applies to strings only.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from functions.events import REDRIVE_MARKER_KEY

# EventBridge event pattern: at most 2,048 characters.
MAX_EVENT_PATTERN_CHARS = 2048
# Numeric matching: "limited to values between -1.0e9 and +1.0e9 inclusive" (EventBridge user guide).
MAX_NUMERIC_OPERAND = 1e9
# detail-type: at most 128 characters (PutEvents).
MAX_EVENT_TYPE_CHARS = 128
OR = "$or"
OPERATORS = ("prefix", "suffix", "equals-ignore-case", "wildcard", "anything-but", "numeric", "exists", "cidr")
COMPARISONS = ("<", "<=", "=", ">=", ">")
EVENT_TYPE_WILDCARD = ".*"
EVENT_TYPE_RULE = (
    f"1-{MAX_EVENT_TYPE_CHARS} characters without control characters, either an exact detail-type or a "
    "prefix ending in '.*' ('invoice.*'); '*' is allowed nowhere else"
)

_MISSING = object()


class PatternConflict(ValueError):
    """Two patterns put a leaf on the same field: EventBridge cannot AND them in one pattern."""


# --- event types ------------------------------------------------------------------------------------


def event_type_problem(value: Any) -> str | None:
    """Why ``value`` cannot be an ``eventTypes`` entry, or ``None``."""
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_EVENT_TYPE_CHARS:
        return f"must be {EVENT_TYPE_RULE}"
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in value):
        return f"must be {EVENT_TYPE_RULE}; got a control character"
    stem = value[: -len(EVENT_TYPE_WILDCARD)] if value.endswith(EVENT_TYPE_WILDCARD) else value
    if "*" in stem or not stem:
        return f"must be {EVENT_TYPE_RULE}; got {value!r}"
    return None


def event_type_matches(event_types: Sequence[str], event_type: str) -> bool:
    """Whether an endpoint subscribed to ``event_types`` (empty: every type) takes ``event_type``."""
    if not event_types:
        return True
    for wanted in event_types:
        if wanted.endswith(EVENT_TYPE_WILDCARD):
            if event_type.startswith(wanted[:-1]):
                return True
        elif wanted == event_type:
            return True
    return False


def unknown_event_type_problem(event_types: Sequence[str], known: Sequence[str]) -> tuple[int, str] | None:
    """With an event-type catalog (``known``): the first entry of ``event_types`` that names no
    catalogued type (a wildcard must match at least one), as its index and why; ``None`` when all do."""
    for index, wanted in enumerate(event_types):
        if not any(event_type_matches([wanted], name) for name in known):
            what = "matches no type" if wanted.endswith(EVENT_TYPE_WILDCARD) else "is not a type"
            listed = ", ".join(known[:20]) + (f" and {len(known) - 20} more" if len(known) > 20 else "")
            return index, f"{what} of the event-type catalog (hookstack:eventTypes): {wanted!r}; known: {listed}"
    return None


def event_types_pattern(event_types: Sequence[str]) -> list[Any]:
    """The ``detail-type`` matchers of ``event_types``: exact strings, ``{"prefix": "invoice."}``."""
    return [{"prefix": t[:-1]} if t.endswith(EVENT_TYPE_WILDCARD) else t for t in event_types]


# --- validation -------------------------------------------------------------------------------------


def pattern_problem(pattern: Any, where: str = "") -> tuple[str, str] | None:
    """The first problem of ``pattern`` as ``(where, message)`` (``where`` is a dotted path inside it,
    ``""`` for the pattern itself), or ``None`` when :func:`matches` implements all of it."""
    if not isinstance(pattern, Mapping) or not pattern:
        return where, "must be a non-empty object (an EventBridge event pattern)"
    for key, value in pattern.items():
        path = f"{where}.{key}" if where else str(key)
        if not isinstance(key, str) or not key:
            return where, "field names must be non-empty strings"
        if key == OR:
            if not isinstance(value, list) or len(value) < 2:
                return path, "must be a list of two or more pattern objects"
            for index, branch in enumerate(value):
                if problem := pattern_problem(branch, f"{path}[{index}]"):
                    return problem
        elif isinstance(value, Mapping):
            if problem := pattern_problem(value, path):
                return problem
        elif isinstance(value, list):
            if not value:
                return path, "must not be an empty list (EventBridge refuses empty arrays)"
            for index, matcher in enumerate(value):
                if message := _matcher_problem(matcher):
                    return f"{path}[{index}]", message
        else:
            return path, "must be an object or a list of values to match"
    return None


def _matcher_problem(matcher: Any) -> str | None:
    if matcher is None or isinstance(matcher, (str, bool)):
        return None
    if isinstance(matcher, (int, float)):
        return None if _number(matcher) else "must be a finite number"
    if not isinstance(matcher, Mapping) or len(matcher) != 1:
        return f"must be a value or an object with one operator ({', '.join(OPERATORS)})"
    ((operator, operand),) = matcher.items()
    if operator in ("prefix", "suffix"):
        if isinstance(operand, str) or _ignore_case_string(operand):
            return None
        return f'{operator} takes a string or {{"equals-ignore-case": <string>}}'
    if operator == "equals-ignore-case":
        return None if isinstance(operand, str) else "equals-ignore-case takes a string"
    if operator == "wildcard":
        return _wildcard_problem(operand)
    if operator == "exists":
        return None if isinstance(operand, bool) else "exists takes true or false"
    if operator == "numeric":
        return _numeric_problem(operand)
    if operator == "cidr":
        try:
            ipaddress.ip_network(operand, strict=True) if isinstance(operand, str) else None
        except ValueError:
            return f"cidr takes a network such as 10.0.0.0/24 with its host bits zero; got {operand!r}"
        return None if isinstance(operand, str) else "cidr takes a network such as 10.0.0.0/24"
    if operator == "anything-but":
        return _anything_but_problem(operand)
    return f"unsupported operator {operator!r}; supported: {', '.join(OPERATORS)}"


def _ignore_case_string(operand: Any) -> bool:
    return (
        isinstance(operand, Mapping)
        and set(operand) == {"equals-ignore-case"}
        and isinstance(operand["equals-ignore-case"], str)
    )


def _wildcard_problem(operand: Any) -> str | None:
    if not isinstance(operand, str):
        return "wildcard takes a string"
    if "**" in operand:
        return "wildcard must not hold consecutive '*'"
    index = 0
    while index < len(operand):
        if operand[index] == "\\":
            if index + 1 >= len(operand) or operand[index + 1] not in "*\\":
                return "in a wildcard a backslash may only escape '*' or '\\'"
            index += 1
        index += 1
    return None


def _number(value: Any) -> bool:
    # An int is finite however long (math.isfinite would convert it to a float: OverflowError).
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and (isinstance(value, int) or math.isfinite(value))
    )


def _numeric_problem(operand: Any) -> str | None:
    usage = 'numeric takes [op, n] (op one of <, <=, =, >=, >) or [">"|">=", low, "<"|"<=", high]'
    if not isinstance(operand, list) or len(operand) not in (2, 4):
        return usage
    operators, numbers = operand[0::2], operand[1::2]
    if not all(isinstance(op, str) and op in COMPARISONS for op in operators) or not all(_number(n) for n in numbers):
        return usage
    if any(abs(n) > MAX_NUMERIC_OPERAND for n in numbers):
        return f"numeric operands must lie between -{MAX_NUMERIC_OPERAND:.0e} and {MAX_NUMERIC_OPERAND:.0e}"
    if len(operand) == 4 and (
        operators[0] not in (">", ">=") or operators[1] not in ("<", "<=") or numbers[0] >= numbers[1]
    ):
        return usage + " with low < high"
    return None


def _anything_but_problem(operand: Any) -> str | None:
    usage = (
        "anything-but takes a string, a number, a list of only strings or only numbers, or one of "
        '{"prefix": s}, {"suffix": s}, {"equals-ignore-case": s or [s...]}, {"wildcard": s}'
    )
    if isinstance(operand, str) or _number(operand):
        return None
    if isinstance(operand, list):
        if operand and (all(isinstance(v, str) for v in operand) or all(_number(v) for v in operand)):
            return None
        return usage
    if isinstance(operand, Mapping) and len(operand) == 1:
        ((operator, value),) = operand.items()
        if operator in ("prefix", "suffix") and isinstance(value, str):
            return None
        if operator == "wildcard":
            return _wildcard_problem(value)
        if operator == "equals-ignore-case" and (
            isinstance(value, str) or (isinstance(value, list) and value and all(isinstance(v, str) for v in value))
        ):
            return None
    return usage


def filter_problem(value: Any, reserved: Sequence[tuple[str, ...]] = ()) -> tuple[str, str] | None:
    """:func:`pattern_problem`, the pattern's size, and fields the caller owns (``reserved``: field
    paths such as ``("detail", "tenantId")`` that a filter may not name; ``$or`` levels are skipped)."""
    try:
        if problem := pattern_problem(value):
            return problem
        size = len(json.dumps(value, separators=(",", ":"), sort_keys=True))
    except RecursionError:  # far beyond what 2,048 characters can nest
        return "", f"is nested too deeply (an event pattern may have {MAX_EVENT_PATTERN_CHARS} characters)"
    if size > MAX_EVENT_PATTERN_CHARS:
        return "", f"is {size} characters as JSON; an event pattern may have {MAX_EVENT_PATTERN_CHARS}"
    for fields, where in _field_paths(value, (), ""):
        if fields in reserved:
            return where, "is reserved: hookstack routes on it (tenantId) or sets it itself (hookstackRedrive)"
    return None


def _field_paths(
    pattern: Mapping[str, Any], fields: tuple[str, ...], where: str
) -> Iterator[tuple[tuple[str, ...], str]]:
    for key, value in pattern.items():
        if key == OR:
            for index, branch in enumerate(value):
                yield from _field_paths(branch, fields, f"{where}.{key}[{index}]" if where else f"{key}[{index}]")
            continue
        path = f"{where}.{key}" if where else key
        yield (*fields, key), path
        if isinstance(value, Mapping):
            yield from _field_paths(value, (*fields, key), path)


# --- merging (API destinations: the rule's own clauses AND the filter) ------------------------------


def merge(first: Mapping[str, Any], second: Mapping[str, Any], where: str = "") -> dict[str, Any]:
    """One pattern matching exactly the events both match. Objects merge field by field; two ``$or``
    at one level become one ``$or`` over every pair of branches (A and (B or C) and (D or E) =
    A and (BD or BE or CD or CE)); two leaves on one field raise :class:`PatternConflict`."""
    merged = dict(first)
    for key, value in second.items():
        path = f"{where}.{key}" if where else key
        if key not in merged:
            merged[key] = value
        elif key == OR:
            merged[key] = [merge(a, b, path) for a in merged[key] for b in value]
        elif isinstance(merged[key], Mapping) and isinstance(value, Mapping):
            merged[key] = merge(merged[key], value, path)
        else:
            raise PatternConflict(f"{path} is matched by both patterns")
    return merged


# --- matching ---------------------------------------------------------------------------------------


def matches(pattern: Mapping[str, Any], event: Any) -> bool:
    """Whether ``event`` (parsed JSON) matches ``pattern`` (valid per :func:`pattern_problem`)."""
    return _object(pattern, event)


def _object(pattern: Mapping[str, Any], node: Any) -> bool:
    for key, expected in pattern.items():
        if key == OR and isinstance(expected, list):
            if not any(isinstance(b, Mapping) and _object(b, node) for b in expected):
                return False
            continue
        child = node.get(key, _MISSING) if isinstance(node, Mapping) else _MISSING
        if isinstance(expected, Mapping):
            if not _nested(expected, child):
                return False
        elif not isinstance(expected, list) or not _leaf(expected, child):
            return False
    return True


def _nested(pattern: Mapping[str, Any], node: Any) -> bool:
    """A nested pattern against a node; an array's objects are tried one by one (array consistency)."""
    if isinstance(node, list):
        objects = [item for item in _flatten(node) if isinstance(item, Mapping)]
        return any(_object(pattern, item) for item in objects) if objects else _object(pattern, _MISSING)
    return _object(pattern, node)


def _flatten(values: list[Any]) -> Iterator[Any]:
    for value in values:
        if isinstance(value, list):
            yield from _flatten(value)
        else:
            yield value


def _leaf(matchers: list[Any], node: Any) -> bool:
    if node is _MISSING or isinstance(node, Mapping):
        values: list[Any] = []
    elif isinstance(node, list):
        values = [v for v in _flatten(node) if not isinstance(v, Mapping)]
    else:
        values = [node]
    for matcher in matchers:
        if isinstance(matcher, Mapping) and "exists" in matcher:
            if matcher["exists"] is bool(values):
                return True
        elif any(_value_matches(matcher, value) for value in values):
            return True
    return False


def _equal(expected: Any, value: Any) -> bool:
    if isinstance(expected, bool) or isinstance(value, bool):
        return isinstance(expected, bool) and isinstance(value, bool) and expected is value
    if expected is None or value is None:
        return expected is None and value is None
    if _number(expected):
        return _number(value) and expected == value
    return isinstance(value, str) and expected == value


def _value_matches(matcher: Any, value: Any) -> bool:
    if not isinstance(matcher, Mapping):
        return _equal(matcher, value)
    ((operator, operand),) = matcher.items()
    if operator == "anything-but":
        return not _anything(operand, value)
    if operator == "numeric":
        return _number(value) and all(
            _compare(value, op, n) for op, n in zip(operand[0::2], operand[1::2], strict=True)
        )
    if not isinstance(value, str):
        return False
    if operator in ("prefix", "suffix"):
        text, wanted = (
            (value.lower(), operand["equals-ignore-case"].lower()) if isinstance(operand, Mapping) else (value, operand)
        )
        return text.startswith(wanted) if operator == "prefix" else text.endswith(wanted)
    if operator == "equals-ignore-case":
        return bool(value.lower() == operand.lower())
    if operator == "wildcard":
        return _wildcard_matches(operand, value)
    if operator == "cidr":
        try:
            return ipaddress.ip_address(value) in ipaddress.ip_network(operand)
        except (ValueError, TypeError):
            return False
    return False


def _anything(operand: Any, value: Any) -> bool:
    """Whether ``value`` is one of what an ``anything-but`` excludes."""
    if isinstance(operand, list):
        return any(_equal(item, value) for item in operand)
    if isinstance(operand, Mapping):
        ((operator, excluded),) = operand.items()
        if operator == "equals-ignore-case":
            excluded = excluded if isinstance(excluded, list) else [excluded]
            return isinstance(value, str) and any(value.lower() == e.lower() for e in excluded)
        return _value_matches({operator: excluded}, value)
    return _equal(operand, value)


def _compare(value: float, operator: str, operand: float) -> bool:
    return {
        "<": value < operand,
        "<=": value <= operand,
        "=": value == operand,
        ">=": value >= operand,
        ">": value > operand,
    }[operator]


@functools.lru_cache(maxsize=256)
def _wildcard(pattern: str) -> tuple[str, ...]:
    """The literal pieces between the unescaped ``*`` of a wildcard (``a*b*c``: ``("a", "b", "c")``)."""
    pieces, current, index = [], [], 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\" and index + 1 < len(pattern):
            current.append(pattern[index + 1])
            index += 2
            continue
        if char == "*":
            pieces.append("".join(current))
            current = []
        else:
            current.append(char)
        index += 1
    pieces.append("".join(current))
    return tuple(pieces)


def _wildcard_matches(pattern: str, value: str) -> bool:
    """Glob matching in linear passes: the first piece is a prefix, the last a suffix, the ones
    between found leftmost in order (greedy is exact when ``*`` is the only wildcard). Not a regex:
    ``.*a.*a.*b`` backtracks polynomially on a long value, and a filter is tenant input."""
    pieces = _wildcard(pattern)
    if len(pieces) == 1:
        return value == pieces[0]
    first, *middle, last = pieces
    if len(value) < len(first) + len(last) or not value.startswith(first) or not value.endswith(last):
        return False
    position, end = len(first), len(value) - len(last)
    for piece in middle:
        found = value.find(piece, position, end)
        if found < 0:
            return False
        position = found + len(piece)
    return True


# -- an API destination's rule pattern (components/plan.py declares it; the config sizes it) --------


def redrive_clause(marker: str) -> list[dict[str, Any]]:
    """The ``$or`` (inside ``detail``) that makes a rule take every event without a redrive marker,
    and of the redriven ones only those whose ``detail.hookstackRedrive`` is ``marker``.

    ``ops redrive`` reads the marker back from the dead-lettering rule's pattern
    (:func:`components.plan.redrive_marker`), so an event goes back to that one rule. The marker is the destination
    name: unique within a tenant, and every destination pattern also matches ``tenantId``, so a
    same-named destination of another tenant never matches.
    """
    return [{REDRIVE_MARKER_KEY: [{"exists": False}]}, {REDRIVE_MARKER_KEY: [marker]}]


def rule_pattern(
    tenant_id: str, name: str, event_types: Sequence[str] = (), event_filter: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The rule pattern of API destination ``name``: the tenant's events, of ``event_types`` (exact, or a
    ``prefix`` for ``invoice.*``), redriven ones only when marked for ``name`` (:func:`redrive_clause`),
    matching ``event_filter`` (:func:`merge`)."""
    pattern: dict[str, Any] = {"detail": {"tenantId": [tenant_id], "$or": redrive_clause(name)}}
    if event_types:
        pattern["detail-type"] = event_types_pattern(event_types)
    if event_filter:
        pattern = merge(pattern, event_filter)
    return pattern


def rule_pattern_chars(pattern: Mapping[str, Any]) -> int:
    """A pattern's size as EventBridge counts it against :data:`MAX_EVENT_PATTERN_CHARS` (compact JSON)."""
    return len(json.dumps(pattern, separators=(",", ":"), sort_keys=True))
