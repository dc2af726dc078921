"""The fan-out's EventBridge pattern matcher: moto's engine as the oracle, AWS where moto differs.

Property test: on generated patterns (every operator hookstack supports, ``$or``, nesting) and events
(strings, numbers, null, arrays, objects) the matcher agrees with ``moto.events.models.EventPattern``,
the engine moto routes ``PutEvents`` with. The generators leave out the inputs on which moto differs
from AWS; each of those has a test of its own below, with what AWS (Event Ruler) does.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto.events.models import EventPattern

from functions.patterns import (
    PatternConflict,
    event_type_matches,
    event_type_problem,
    event_types_pattern,
    filter_problem,
    matches,
    merge,
    pattern_problem,
)


def moto_matches(pattern: dict[str, Any], event: dict[str, Any]) -> bool:
    return bool(EventPattern.load(json.dumps(pattern)).matches_event(event))  # type: ignore[arg-type]


# --- generators ------------------------------------------------------------------------------------

FIELDS = ("a", "b", "c")
words = st.sampled_from(["", "ab", "Ab", "abc", "ABC", "b", "a*b", "a\\b"])
numbers = st.one_of(st.integers(-3, 3), st.sampled_from([0.5, 3.0, 1e6]))
scalars = st.one_of(words, numbers, st.none())
ips = st.sampled_from(["10.0.0.1", "10.0.1.1", "192.168.0.9", "2001:db8::1", "nope"])

leaf_values = st.one_of(scalars, st.lists(scalars, min_size=1, max_size=3))
event_nodes = st.recursive(
    leaf_values,
    lambda inner: st.dictionaries(st.sampled_from(FIELDS), inner, min_size=1, max_size=3),
    max_leaves=6,
)
# Every field is present more often than not, so that patterns match often enough to tell apart.
details = st.fixed_dictionaries(
    {}, optional={field: st.one_of(leaf_values, leaf_values, event_nodes) for field in FIELDS}
)
events = st.fixed_dictionaries({"detail": details}, optional={"ip": ips})

wildcards = st.sampled_from(["a*", "*b", "a*b", "*", "A*", "a\\*b", "x.y", "*.*"])
ignore_case = st.builds(lambda w: {"equals-ignore-case": w}, words)
matchers = st.one_of(
    scalars,
    st.builds(lambda w: {"prefix": w}, st.one_of(words, ignore_case)),
    st.builds(lambda w: {"suffix": w}, st.one_of(words, ignore_case)),
    st.builds(lambda w: {"equals-ignore-case": w}, words),
    st.builds(lambda w: {"wildcard": w}, wildcards),
    st.builds(lambda e: {"exists": e}, st.booleans()),
    st.builds(
        lambda v: {"anything-but": v},
        st.one_of(
            words,
            numbers,
            st.lists(words, min_size=1, max_size=3),
            st.lists(numbers, min_size=1, max_size=3),
            st.builds(lambda w: {"prefix": w}, words),
            st.builds(lambda w: {"suffix": w}, words),
            st.builds(lambda w: {"equals-ignore-case": w}, st.one_of(words, st.lists(words, min_size=1, max_size=2))),
            st.builds(lambda w: {"wildcard": w}, wildcards),
        ),
    ),
    st.builds(lambda op, n: {"numeric": [op, n]}, st.sampled_from(["<", "<=", "=", ">=", ">"]), numbers),
    st.builds(
        lambda low, width, ops: {"numeric": [ops[0], low, ops[1], low + width]},
        st.integers(-5, 4),
        st.integers(1, 5),
        st.tuples(st.sampled_from([">", ">="]), st.sampled_from(["<", "<="])),
    ),
)


def _values(node: Any) -> list[Any]:
    return [v for v in (node if isinstance(node, list) else [node]) if not isinstance(v, (dict, list))]


@st.composite
def anchored(draw: st.DrawFn, node: Any) -> list[Any]:
    """Matchers for one event field: random ones, and often one built from the field's own value (so
    that a good share of the patterns match: about a quarter, against a few percent without)."""
    found = draw(st.lists(matchers, max_size=2))
    values = _values(node)
    if values and draw(st.booleans()):
        value = draw(st.sampled_from(values))
        options: list[Any] = [value, {"exists": True}]
        if isinstance(value, str):
            options += [{"prefix": value[:1]}, {"suffix": value[-1:]}, {"equals-ignore-case": value.upper()}]
        elif isinstance(value, (int, float)):
            options += [{"numeric": [">=", value]}, {"numeric": [">", value - 1, "<=", value]}]
        found.append(draw(st.sampled_from(options)))
    return found or [{"exists": node is not None and bool(values)}]


@st.composite
def pattern_for(draw: st.DrawFn, node: Any, depth: int = 0) -> dict[str, Any]:
    """A pattern object for an event object: some of its fields (and sometimes one it lacks), nested
    where the event nests, and sometimes an ``$or`` of two such objects."""
    fields = list(node) if isinstance(node, dict) else []
    chosen = (
        draw(st.lists(st.sampled_from(FIELDS), min_size=1, max_size=2, unique=True))
        if not fields or draw(st.booleans())
        else draw(st.lists(st.sampled_from(fields), min_size=1, max_size=2, unique=True))
    )
    pattern: dict[str, Any] = {}
    for field in chosen:
        child = node.get(field) if isinstance(node, dict) else None
        if isinstance(child, dict) and depth < 3 and draw(st.booleans()):
            pattern[field] = draw(pattern_for(child, depth + 1))
        else:
            pattern[field] = draw(anchored(child))
    if depth < 2 and draw(st.integers(0, 3)) == 0:
        pattern["$or"] = [draw(pattern_for(node, depth + 1)), draw(pattern_for(node, depth + 1))]
    return pattern


cidrs = st.sampled_from(["10.0.0.0/24", "10.0.0.0/8", "2001:db8::/32"])


@st.composite
def pattern_and_event(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    event = draw(events)
    pattern: dict[str, Any] = {"detail": draw(pattern_for(event["detail"]))}
    if draw(st.booleans()):
        pattern["ip"] = [{"cidr": draw(cidrs)}]
    return pattern, event


def test_the_matcher_agrees_with_moto_on_generated_patterns_and_events() -> None:
    answers = {True: 0, False: 0}

    # derandomize: the same 60 cases on every run, so the share check below cannot fail by chance
    # (random cases matched 9 of 60 once); other generated tests still explore new cases.
    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
    @given(case=pattern_and_event())
    def agree(case: tuple[dict[str, Any], dict[str, Any]]) -> None:
        pattern, event = case
        assert pattern_problem(pattern) is None, pattern
        ours = matches(pattern, event)
        assert ours == moto_matches(pattern, event), (pattern, event)
        answers[ours] += 1

    agree()
    # A generator that only ever matched (or never) would prove little: about a quarter match.
    assert answers[True] >= 10 and answers[False] >= 10, answers


# --- where moto differs from AWS: AWS (Event Ruler) is followed ------------------------------------


@pytest.mark.parametrize(
    ("pattern", "event", "aws"),
    [
        # Booleans are JSON literals, not the numbers 1 and 0 (moto: True == 1 in Python).
        ({"detail": {"x": [1]}}, {"detail": {"x": True}}, False),
        ({"detail": {"x": [True]}}, {"detail": {"x": 1}}, False),
        ({"detail": {"x": [{"numeric": [">", 0]}]}}, {"detail": {"x": True}}, False),
        ({"detail": {"x": [{"anything-but": [1]}]}}, {"detail": {"x": True}}, True),
        # Fields inside arrays of objects match (moto never descends into arrays).
        ({"detail": {"items": {"sku": ["a"]}}}, {"detail": {"items": [{"sku": "b"}, {"sku": "a"}]}}, True),
        # Nested arrays are flattened.
        ({"detail": {"x": [1]}}, {"detail": {"x": [[1], [2]]}}, True),
        # An empty array or object is no leaf: it does not exist.
        ({"detail": {"x": [{"exists": True}]}}, {"detail": {"x": []}}, False),
        ({"detail": {"x": [{"exists": True}]}}, {"detail": {"x": {}}}, False),
        ({"detail": {"x": [{"exists": False}]}}, {"detail": {"x": []}}, True),
        # cidr applies to strings (moto turns the number 167772161 into 10.0.0.1).
        ({"detail": {"ip": [{"cidr": "10.0.0.0/8"}]}}, {"detail": {"ip": 167772161}}, False),
    ],
)
def test_where_moto_differs_aws_is_followed(pattern: dict[str, Any], event: dict[str, Any], aws: bool) -> None:
    assert pattern_problem(pattern) is None
    assert matches(pattern, event) is aws
    assert moto_matches(pattern, event) is not aws  # still a difference: else the case belongs above


@pytest.mark.parametrize(
    ("pattern", "event", "expected"),
    [
        # From the EventBridge user guide and Event Ruler's README.
        ({"detail": {"x": [300]}}, {"detail": {"x": 300.0}}, True),
        ({"detail": {"x": [{"numeric": ["=", 3.018e2]}]}}, {"detail": {"x": 301.8}}, True),
        ({"detail": {"c": [{"exists": False}]}}, {"detail": {"c": {"c1": 100}}}, True),
        ({"resources": ["r2"]}, {"resources": ["r1", "r2"]}, True),
        ({"detail": {"x": [{"anything-but": [100, 500]}]}}, {"detail": {"x": [100, 50]}}, True),
        ({"detail": {"x": [{"anything-but": [100, 500]}]}}, {"detail": {"x": 100}}, False),
        ({"detail": {"x": [{"anything-but": "a"}]}}, {"detail": {}}, False),
        ({"detail": {"x": [None]}}, {"detail": {"x": None}}, True),
        ({"detail": {"x": [""]}}, {"detail": {"x": ""}}, True),
        ({"detail": {"f": [{"wildcard": "*/lib/*"}]}}, {"detail": {"f": "/usr/lib/x"}}, True),
        ({"detail": {"f": [{"anything-but": {"wildcard": "*/lib/*"}}]}}, {"detail": {"f": "/usr/lib/x"}}, False),
        ({"detail": {"s": [{"prefix": {"equals-ignore-case": "EVENTB"}}]}}, {"detail": {"s": "EventBridge"}}, True),
        ({"detail": {"ip": [{"cidr": "2001:db8::/32"}]}}, {"detail": {"ip": "2001:db8::5"}}, True),
        ({"detail": {"amount": [{"numeric": [">", 100]}]}}, {"detail": {"amount": "150"}}, False),
        # Array consistency: two fields of one pattern object come from one element of an array.
        (
            {"detail": {"e": {"first": ["Anna"], "last": ["Jones"]}}},
            {"detail": {"e": [{"first": "Anna", "last": "Smith"}, {"first": "Peter", "last": "Jones"}]}},
            False,
        ),
        (
            {"detail": {"e": {"first": ["Anna"], "last": ["Smith"]}}},
            {"detail": {"e": [{"first": "Anna", "last": "Smith"}, {"first": "Peter", "last": "Jones"}]}},
            True,
        ),
    ],
)
def test_documented_semantics(pattern: dict[str, Any], event: dict[str, Any], expected: bool) -> None:
    assert pattern_problem(pattern) is None
    assert matches(pattern, event) is expected


# --- validation -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "where", "message"),
    [
        ({}, "", "must be a non-empty object"),
        ({"detail": {"x": []}}, "detail.x", "must not be an empty list"),
        ({"detail": {"x": "a"}}, "detail.x", "must be an object or a list"),
        ({"detail": {"x": [{"contains": "a"}]}}, "detail.x[0]", "unsupported operator 'contains'"),
        ({"detail": {"x": [{"prefix": "a", "suffix": "b"}]}}, "detail.x[0]", "one operator"),
        ({"detail": {"$or": [{"x": ["a"]}]}}, "detail.$or", "two or more"),
        ({"detail": {"x": [{"numeric": [">", 2e9]}]}}, "detail.x[0]", "between -1e+09 and 1e+09"),
        ({"detail": {"x": [{"numeric": ["<", 5, ">", 1]}]}}, "detail.x[0]", "low < high"),
        ({"detail": {"x": [{"numeric": [">", True]}]}}, "detail.x[0]", "numeric takes"),
        ({"detail": {"x": [{"wildcard": "a**b"}]}}, "detail.x[0]", "consecutive"),
        ({"detail": {"x": [{"wildcard": "a\\b"}]}}, "detail.x[0]", "backslash"),
        ({"detail": {"x": [{"cidr": "10.0.0.1/8"}]}}, "detail.x[0]", "host bits zero"),
        ({"detail": {"x": [{"anything-but": ["a", 1]}]}}, "detail.x[0]", "only strings or only numbers"),
        ({"detail": {"x": [{"exists": "yes"}]}}, "detail.x[0]", "true or false"),
        ({"detail": {"x": [float("nan")]}}, "detail.x[0]", "finite"),
    ],
)
def test_unsupported_or_malformed_patterns_are_refused_naming_where(
    pattern: dict[str, Any], where: str, message: str
) -> None:
    problem = pattern_problem(pattern)
    assert problem is not None and problem[0] == where and message in problem[1], problem


def test_a_filter_may_not_name_what_hookstack_routes_on() -> None:
    reserved = [("detail", "tenantId"), ("detail", "hookstackRedrive")]
    assert filter_problem({"detail": {"tenantId": ["2"]}}, reserved) == (
        "detail.tenantId",
        "is reserved: hookstack routes on it (tenantId) or sets it itself (hookstackRedrive)",
    )
    problem = filter_problem({"detail": {"$or": [{"a": [1]}, {"hookstackRedrive": ["x"]}]}}, reserved)
    assert problem is not None and problem[0] == "detail.$or[1].hookstackRedrive"
    assert filter_problem({"detail": {"a": ["x" * 2100]}}) is not None
    assert filter_problem({"source": ["app"], "detail": {"x": {"tenantId": ["1"]}}}, reserved) is None


# --- merging and event types ------------------------------------------------------------------------


def test_merging_ands_the_patterns_and_distributes_or() -> None:
    rule = {"detail": {"tenantId": ["1"], "$or": [{"m": [{"exists": False}]}, {"m": ["crm"]}]}}
    extra = {"detail": {"$or": [{"a": [1]}, {"b": [2]}], "c": ["x"]}, "source": ["app"]}
    merged = merge(rule, extra)
    assert merged["source"] == ["app"] and merged["detail"]["c"] == ["x"]
    assert len(merged["detail"]["$or"]) == 4
    for event in (
        {"source": "app", "detail": {"tenantId": "1", "a": 1, "c": "x"}},
        {"source": "app", "detail": {"tenantId": "1", "b": 2, "c": "x", "m": "crm"}},
        {"source": "app", "detail": {"tenantId": "1", "b": 2, "c": "x", "m": "other"}},
        {"source": "other", "detail": {"tenantId": "1", "a": 1, "c": "x"}},
    ):
        assert matches(merged, event) == (matches(rule, event) and matches(extra, event)) == moto_matches(merged, event)
    with pytest.raises(PatternConflict, match=r"detail\.tenantId"):
        merge(rule, {"detail": {"tenantId": ["2"]}})


def test_event_type_wildcards() -> None:
    assert event_type_problem("invoice.*") is None and event_type_problem("order.created") is None
    for bad in ("*", ".*", "inv*", "a.*.b", "a\nb", "x" * 129, 3, ""):
        assert event_type_problem(bad) is not None, bad
    types = ["invoice.*", "order.created"]
    assert event_types_pattern(types) == [{"prefix": "invoice."}, "order.created"]
    for event_type, expected in (
        ("invoice.paid", True),
        ("invoice", False),
        ("order.created", True),
        ("order.x", False),
    ):
        assert event_type_matches(types, event_type) is expected
        assert moto_matches({"detail-type": event_types_pattern(types)}, {"detail-type": event_type}) is expected
    assert event_type_matches([], "anything")


def test_wildcards_match_in_linear_time_on_hostile_input() -> None:
    """A filter is tenant input: ``*a*a...*b`` against a long run of ``a`` backtracks polynomially in a
    regex (hours for this case) and would hold the fan-out, and every tenant's event in its batch."""
    import time

    pattern = {"detail": {"x": [{"wildcard": "*a" * 30 + "*b"}]}}
    assert pattern_problem(pattern) is None
    started = time.monotonic()
    assert matches(pattern, {"detail": {"x": "a" * 100_000}}) is False
    assert matches(pattern, {"detail": {"x": "a" * 100_000 + "b"}}) is True
    assert time.monotonic() - started < 1.0


@settings(max_examples=100, deadline=None)
@given(
    pattern=st.text(alphabet="ab*\\", max_size=8).filter(lambda p: pattern_problem({"x": [{"wildcard": p}]}) is None),
    value=st.text(alphabet="ab*\\", max_size=10),
)
def test_wildcards_agree_with_a_regex_reference(pattern: str, value: str) -> None:
    import re

    reference = "".join(
        re.escape(piece[1]) if piece.startswith("\\") else ".*" if piece == "*" else re.escape(piece)
        for piece in re.findall(r"\\.|\*|[^\\*]", pattern)
    )
    assert matches({"x": [{"wildcard": pattern}]}, {"x": value}) is bool(re.fullmatch(reference, value, re.DOTALL))


def test_an_integer_too_large_for_a_float_is_compared_not_a_crash() -> None:
    # Valid JSON; math.isfinite() raised OverflowError on it, failing the whole event's fan-out.
    event = json.loads('{"detail": {"n": 1' + "0" * 400 + ', "m": -1' + "0" * 400 + "}}")
    assert matches({"detail": {"n": [{"numeric": [">", 0]}]}}, event)
    assert not matches({"detail": {"m": [{"numeric": [">", 0]}]}}, event)
    assert not matches({"detail": {"n": [5]}}, event)
    assert matches({"detail": {"n": [{"anything-but": [5]}]}}, event)


def test_a_filter_with_an_integer_too_large_for_a_float_is_judged_not_a_crash() -> None:
    big = json.loads("1" + "0" * 400)
    assert filter_problem({"detail": {"n": [big]}}) is None  # finite: an exact value like any other
    assert filter_problem({"detail": {"n": [{"numeric": [">", big]}]}}) == (
        "detail.n[0]",
        "numeric operands must lie between -1e+09 and 1e+09",
    )
