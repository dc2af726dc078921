"""The sandbox's input transformer follows AWS, and agrees with moto wherever moto is right."""

from __future__ import annotations

import json

import pytest
from moto.events.utils import EventTemplateParser

from sandbox.transform import apply, select

EVENT = {
    "id": "e1",
    "detail-type": "widget.created",
    "source": "app",
    "time": "2026-11-22T00:00:00Z",
    "ingestion-time": "2026-11-22T00:00:00Z",  # moto's parser reads it
    "detail": {
        "tenantId": "1",
        "widgetName": "W1",
        "count": 3,
        "tags": ["a", "b"],
        "nested": {"k": "v"},
        "a key": "spaced",
    },
}


@pytest.mark.parametrize(
    ("template", "paths"),
    [
        ('{"text": "Widget <name> created"}', {"name": "$.detail.widgetName"}),
        ('{"count": <count>}', {"count": "$.detail.count"}),
        ('{"tag": "<tag>", "tenant": "<tenant>"}', {"tag": "$.detail.tags[1]", "tenant": "$.detail.tenantId"}),
    ],
)
def test_quoted_placeholders_and_numbers_match_moto(template: str, paths: dict[str, str]) -> None:
    ours = json.loads(apply(template, paths, EVENT))
    theirs = EventTemplateParser.parse(input_template=template, input_paths_map=paths, event=EVENT)
    assert ours == theirs


def test_unquoted_string_values_are_quoted_like_aws() -> None:
    # AWS docs: a string placed without quotes is inserted as a JSON string. moto fails here (500).
    assert json.loads(apply('{"name": <name>}', {"name": "$.detail.widgetName"}, EVENT)) == {"name": "W1"}


def test_objects_and_arrays_are_inserted_as_json() -> None:
    body = apply('{"n": <n>, "t": <t>}', {"n": "$.detail.nested", "t": "$.detail.tags"}, EVENT)
    assert json.loads(body) == {"n": {"k": "v"}, "t": ["a", "b"]}


def test_missing_paths_give_null_outside_and_nothing_inside_strings() -> None:
    body = apply('{"x": <x>, "y": "[<x>]"}', {"x": "$.detail.absent"}, EVENT)
    assert json.loads(body) == {"x": None, "y": "[]"}


def test_predefined_placeholders() -> None:
    body = apply('{"event": <aws.events.event.json>, "rule": "<aws.events.rule-name>"}', {}, EVENT, rule_name="r1")
    assert json.loads(body) == {"event": EVENT, "rule": "r1"}


def test_strings_with_quotes_stay_valid_json() -> None:
    event = {"detail": {"name": 'He said "hi"'}}
    assert json.loads(apply('{"m": "<n>", "r": <n>}', {"n": "$.detail.name"}, event)) == {
        "m": 'He said "hi"',
        "r": 'He said "hi"',
    }


def test_plain_text_templates() -> None:
    assert apply("Widget <n> created", {"n": "$.detail.widgetName"}, EVENT) == "Widget W1 created"


@pytest.mark.parametrize(
    ("path", "expected"),
    [("$.detail.widgetName", "W1"), ("$.detail.tags[0]", "a"), ("$.detail['a key']", "spaced"), ("$", EVENT)],
)
def test_select(path: str, expected: object) -> None:
    assert select(EVENT, path) == expected


def test_select_rejects_unsupported_paths() -> None:
    with pytest.raises(ValueError, match="unsupported input path"):
        select(EVENT, "$.detail..x")
