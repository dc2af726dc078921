"""The input transformer both engines share follows AWS; moto is the oracle only where it is right.

Each case where moto's ``EventTemplateParser`` and the AWS documentation ("Amazon EventBridge input
transformation") disagree is pinned here, with what AWS does.
"""

from __future__ import annotations

import json

import pytest
from moto.events.utils import EventTemplateParser

from functions.transform import apply, problems, select

EVENT = {
    "version": "0",
    "id": "e1",
    "detail-type": "widget.created",
    "source": "app",
    "time": "2026-11-22T00:00:00Z",
    "ingestion-time": "2026-11-22T00:00:00Z",  # moto's parser reads it
    "detail": {
        "tenantId": "1",
        "widgetName": "W1",
        "count": 3,
        "zero": 0,
        "off": False,
        "empty": "",
        "tags": ["a", "b"],
        "sizes": [1, 2],
        "nested": {"k": "v"},
        "a key": "spaced",
    },
}


def moto(template: str, paths: dict[str, str]) -> object:
    return EventTemplateParser.parse(input_template=template, input_paths_map=paths, event=EVENT)


@pytest.mark.parametrize(
    ("template", "paths"),
    [
        ('{"text": "Widget <name> created"}', {"name": "$.detail.widgetName"}),
        ('{"count": <count>}', {"count": "$.detail.count"}),
        ('{"tag": "<tag>", "tenant": "<tenant>"}', {"tag": "$.detail.tags[1]", "tenant": "$.detail.tenantId"}),
        ('{"n": <n>, "t": <t>}', {"n": "$.detail.nested", "t": "$.detail.tags"}),
        ('{"count": "<count>"}', {"count": "$.detail.count"}),
    ],
)
def test_where_moto_is_right_both_agree(template: str, paths: dict[str, str]) -> None:
    assert json.loads(apply(template, paths, EVENT)) == moto(template, paths)


# --- where moto and AWS differ: AWS is followed --------------------------------------------------


def test_unquoted_string_values_are_quoted_like_aws() -> None:
    # AWS docs, "Simple JSON": {"instance": <instance>} gives {"instance": "i-0123456789"}. moto: invalid JSON.
    template, paths = '{"name": <name>}', {"name": "$.detail.widgetName"}
    assert json.loads(apply(template, paths, EVENT)) == {"name": "W1"}
    with pytest.raises(ValueError):
        moto(template, paths)


@pytest.mark.parametrize(("key", "value"), [("zero", 0), ("off", False), ("empty", "")])
def test_falsy_values_are_inserted_moto_leaves_the_placeholder(key: str, value: object) -> None:
    template, paths = '{"v": <v>}', {"v": f"$.detail.{key}"}
    assert json.loads(apply(template, paths, EVENT)) == {"v": value}
    if value != 0:  # moto only replaces truthy text: '0' is, False and '' are not
        with pytest.raises(ValueError):
            moto(template, paths)


def test_arrays_of_numbers_stay_numbers_moto_makes_them_strings() -> None:
    template, paths = '{"s": <s>}', {"s": "$.detail.sizes"}
    assert json.loads(apply(template, paths, EVENT)) == {"s": [1, 2]}
    assert moto(template, paths) == {"s": ["1", "2"]}


def test_missing_paths_give_null_outside_and_nothing_inside_strings() -> None:
    template, paths = '{"x": <x>, "y": "[<x>]"}', {"x": "$.detail.absent"}
    assert json.loads(apply(template, paths, EVENT)) == {"x": None, "y": "[]"}
    with pytest.raises(ValueError):  # moto leaves "<x>" in place
        moto(template, paths)


def test_values_inside_quotes_are_not_escaped_as_aws_documents() -> None:
    # AWS docs, "Common issues": EventBridge doesn't escape values extracted by Input Path.
    event = {"detail": {"name": 'He said "hi"'}}
    assert apply('{"m": "<n>"}', {"n": "$.detail.name"}, event) == '{"m": "He said "hi""}'
    # Unquoted, the value is inserted as a JSON string: escaped, valid.
    assert json.loads(apply('{"r": <n>}', {"n": "$.detail.name"}, event)) == {"r": 'He said "hi"'}


def test_predefined_placeholders_moto_does_not_know() -> None:
    body = apply(
        '{"all": <aws.events.event.json>, "envelope": <aws.events.event>, "rule": "<aws.events.rule-name>", '
        '"arn": "<aws.events.rule-arn>", "at": "<aws.events.event.ingestion-time>"}',
        {},
        EVENT,
        rule_name="r1",
        rule_arn="arn:aws:events:us-east-1:123456789012:rule/r1",
    )
    envelope = {k: v for k, v in EVENT.items() if k != "detail"}  # AWS: "without the detail field"
    assert json.loads(body) == {
        "all": EVENT,
        "envelope": envelope,
        "rule": "r1",
        "arn": "arn:aws:events:us-east-1:123456789012:rule/r1",
        "at": EVENT["time"],
    }


def test_plain_text_templates() -> None:
    # AWS sends text; moto parses the result as JSON and fails.
    assert apply("Widget <n> created", {"n": "$.detail.widgetName"}, EVENT) == "Widget W1 created"
    assert apply("<n> and <c>", {"n": "$.detail.nested", "c": "$.detail.count"}, EVENT) == '{"k":"v"} and 3'


@pytest.mark.parametrize(
    ("path", "expected"),
    [("$.detail.widgetName", "W1"), ("$.detail.tags[0]", "a"), ("$.detail['a key']", "spaced"), ("$", EVENT)],
)
def test_select(path: str, expected: object) -> None:
    assert select(EVENT, path) == expected


def test_select_rejects_unsupported_paths() -> None:
    with pytest.raises(ValueError, match="unsupported input path"):
        select(EVENT, "$.detail..x")


# --- validation, shared by the stack config and the subscription API -------------------------------


def test_problems_name_where_they_are() -> None:
    assert problems({"n": "$.detail.n"}, '{"n": <n>}') == []
    assert problems({"AWSx": "$.a"}, "<AWSx>")[0][0] == "paths.AWSx"
    assert problems({"n": "detail.n"}, "<n>")[0][0] == "paths.n"
    assert problems({"n": "$.a"}, None) == [("template", "is required")]
    assert problems({}, "<nope>")[0][0] == "template"
    assert problems({str(i): "$.a" for i in range(101)}, "x") == [("paths", "must have at most 100 entries")]
    assert problems({}, "x" * 8193) == [("template", "must be at most 8192 characters")]


def test_rule_placeholders_are_refused_for_the_worker_engine() -> None:
    template = '{"r": "<aws.events.rule-arn>", "e": <aws.events.event.json>}'
    assert problems({}, template) == []
    (found,) = problems({}, template, rule_placeholders=False)
    assert found[0] == "template" and "only an API destination fills in" in found[1]


@pytest.mark.parametrize("template", ["<all> <all> <all>", '{"a": <all>, "b": "<all>", "c": <all>}'])
def test_a_bounded_fill_stops_at_the_bound_in_text_and_json_templates(template: str) -> None:
    from functions.transform import TransformTooLarge

    event = {**EVENT, "detail": {"blob": "é" * 1000}}
    whole = len(json.dumps(event, separators=(",", ":")).encode())
    assert apply(template, {"all": "$"}, event, max_bytes=3 * whole + 40)
    with pytest.raises(TransformTooLarge, match="larger than 3000 bytes"):
        apply(template, {"all": "$"}, event, max_bytes=3000)
