"""``hookstack:eventTypes``: parsed and validated in one step (components/config/event_types.py), written
into the delivery table as one item and exported for publishers; ``publish(..., catalog=)`` checks
event data against the schemas (functions/events.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from components.config.parser import read_stack_config
from functions.delivery.event_catalog import MAX_EVENT_TYPES, catalog_item
from functions.events import EventCatalog, EventSchemaError, make_event, publish
from tests.harness import Program

PAID = {
    "name": "invoice.paid",
    "description": "An invoice was paid.",
    "schema": {
        "type": "object",
        "required": ["amount", "lines"],
        "properties": {
            "amount": {"type": "number", "minimum": 0},
            "lines": {"type": "array", "items": {"type": "object", "properties": {"sku": {"type": "string"}}}},
        },
    },
    "example": {"amount": 42, "lines": [{"sku": "A-1"}]},
}
VOIDED = {"name": "invoice.voided", "description": "An invoice was voided."}


def problems(raw: dict[str, Any]) -> dict[str, str]:
    return {p.path: p.message for p in read_stack_config(raw).problems}


def test_a_valid_catalog_is_parsed_as_plain_json() -> None:
    parsed = read_stack_config({"eventTypes": [PAID, VOIDED]})
    assert parsed.problems == ()
    assert parsed.config.event_types == EventCatalog.from_json([PAID, VOIDED])
    assert read_stack_config({"eventTypes": []}).config.event_types is None  # empty: no catalog


@pytest.mark.parametrize(
    ("entry", "path", "text"),
    [
        ({**VOIDED, "name": "invoice.*"}, "name", "not a wildcard"),
        ({**VOIDED, "name": "in*voice"}, "name", "'*' is allowed nowhere else"),
        ({**VOIDED, "name": "x" * 129}, "name", "1-128 characters"),
        ({"name": "a.b"}, "description", "is required"),
        ({**VOIDED, "description": ""}, "description", "1-1000 characters"),
        ({**VOIDED, "schema": {"type": "nope"}}, "schema", "is not a valid JSON Schema (draft 2020-12) at .type"),
        ({**VOIDED, "schema": {"$schema": "http://json-schema.org/draft-07/schema#"}}, "schema", "draft 2020-12"),
        ({**VOIDED, "schema": "object"}, "schema", "must be"),
        ({**PAID, "example": {"amount": -1, "lines": []}}, "example.amount", "does not match the schema"),
        ({**PAID, "example": {"amount": 1, "lines": [{"sku": 7}]}}, "example.lines[0].sku", "7 is not of type"),
        ({**VOIDED, "colour": "red"}, "colour", "unknown key"),
    ],
)
def test_each_problem_names_the_entry_and_its_key(entry: dict[str, Any], path: str, text: str) -> None:
    found = problems({"eventTypes": [VOIDED, entry] if entry.get("name") != VOIDED["name"] else [PAID, entry]})
    assert text in found.get(f"hookstack:eventTypes[1].{path}", ""), found


@pytest.mark.parametrize("key", ["schema", "example"])
def test_a_schema_or_example_nested_beyond_the_recursion_limit_is_a_problem_not_a_traceback(key: str) -> None:
    deep: dict[str, Any] = {"type": "object"}
    for _ in range(3000):
        deep = {"type": "object", "properties": {"a": deep}} if key == "schema" else {"a": deep}
    found = problems({"eventTypes": [VOIDED, {**VOIDED, "name": "invoice.deep", key: deep}]})
    assert found == {
        f"hookstack:eventTypes[1].{key}": "is nested too deeply (the catalog may have 262144 bytes as JSON)"
    }


@pytest.mark.parametrize("example", [None, {"a": 1}])
@pytest.mark.parametrize(
    ("schema", "text"),
    [
        (
            {"properties": {"a": {"$ref": "http://127.0.0.1:9/a.json"}}},
            "must be self-contained: $ref 'http://127.0.0.1:9/a.json' at .properties.a names another document",
        ),
        ({"$dynamicRef": "other.json#node"}, "must be self-contained: $dynamicRef 'other.json#node' names another"),
        (
            {"properties": {"a": {"$ref": "#/$defs/missing"}}},
            "$ref '#/$defs/missing' at .properties.a points to nothing in the schema",
        ),
    ],
)
def test_a_schema_referencing_another_document_or_nothing_is_refused(
    schema: dict[str, Any], text: str, example: Any
) -> None:
    # jsonschema fetched the URL over the network at `pulumi preview` (and at every publish), and an
    # unresolvable $ref raised a traceback when the example was checked.
    entry = {**VOIDED, "schema": schema, **({"example": example} if example is not None else {})}
    found = problems({"eventTypes": [entry]})
    assert list(found) == ["hookstack:eventTypes[0].schema"] and text in found["hookstack:eventTypes[0].schema"]


def test_a_schema_with_local_references_is_accepted() -> None:
    schema = {
        "$defs": {
            "sku": {"type": "string"},
            "line": {"$anchor": "line", "properties": {"sku": {"$ref": "#/$defs/sku"}}},
        },
        "properties": {"lines": {"type": "array", "items": {"$ref": "#line"}}, "self": {"$ref": "#"}},
    }
    assert problems({"eventTypes": [{**VOIDED, "schema": schema, "example": {"lines": [{"sku": "A"}]}}]}) == {}


def test_duplicates_shape_and_size_are_refused() -> None:
    assert "duplicate event type" in problems({"eventTypes": [VOIDED, VOIDED]})["hookstack:eventTypes[1].name"]
    assert "must be a list" in problems({"eventTypes": {"a": 1}})["hookstack:eventTypes"]
    many = [{"name": f"t.{n}", "description": "d"} for n in range(MAX_EVENT_TYPES + 1)]
    assert f"at most {MAX_EVENT_TYPES}" in problems({"eventTypes": many})["hookstack:eventTypes"]
    big = [{"name": f"t.{n}", "description": "d" * 1000} for n in range(300)]
    assert "bytes as JSON" in problems({"eventTypes": big})["hookstack:eventTypes"]


def test_with_a_catalog_config_endpoints_subscribe_to_known_types_only() -> None:
    destination = {"name": "crm", "url": "https://hooks.example.com/a", "auth": {"type": "none"}}
    tenants = [{"id": "acme", "destinations": [{**destination, "eventTypes": ["invoice.*", "order.*", "nope"]}]}]
    found = problems({"eventTypes": [PAID], "tenants": tenants})
    prefix = "hookstack:tenants[0].destinations[0].eventTypes"
    assert "matches no type of the event-type catalog" in found[f"{prefix}[1]"]
    assert "is not a type of the event-type catalog" in found[f"{prefix}[2]"]
    assert f"{prefix}[0]" not in found
    assert problems({"tenants": tenants}) == {}  # no catalog: today's behaviour


def test_publish_checks_data_against_the_schema_before_any_call() -> None:
    class EventBridge:
        calls: list[Any] = []

        def put_events(self, Entries: list[Any]) -> dict[str, Any]:
            self.calls.append(Entries)
            return {"FailedEntryCount": 0, "Entries": [{"EventId": "x"}] * len(Entries)}

    catalog = EventCatalog.from_json(json.dumps([PAID, VOIDED]))
    client = EventBridge()
    good = make_event("app", "invoice.paid", PAID["example"], tenant_id="acme")
    bad = make_event("app", "invoice.paid", {"amount": 3, "lines": [{"sku": None}]}, tenant_id="acme")
    with pytest.raises(EventSchemaError) as raised:
        publish(client, [good, bad], "bus", catalog=catalog)
    assert raised.value.path == "detail.lines[0].sku" and raised.value.event_type == "invoice.paid"
    assert "invoice.paid" in str(raised.value) and bad.event_id in str(raised.value)
    assert client.calls == []  # nothing was published
    # Types without a schema, types outside the catalog, and no catalog at all pass as before.
    others = [make_event("app", "invoice.voided", {"x": 1}), make_event("app", "other", {}), bad]
    assert publish(client, others[:2], "bus", catalog=catalog) == 1
    assert publish(client, [bad], "bus") == 1


def test_the_catalog_is_one_table_item_and_a_stack_output(program: Any) -> None:
    raw = {"tenants": [{"id": "1"}], "eventTypes": [PAID, VOIDED]}
    deployed: Program = program(raw)
    item = deployed.named("hookstack-delivery-event-types")
    assert json.loads(item["item"]) == catalog_item(EventCatalog.from_json([PAID, VOIDED]))
    assert deployed.outputs["eventTypes"] == [PAID, VOIDED]
    assert EventCatalog.from_json(deployed.outputs["eventTypes"]) == EventCatalog.from_json([PAID, VOIDED])


def test_a_test_event_waits_less_than_the_api_function_may_run() -> None:
    from components.specs.delivery import API_INTEGRATION_TIMEOUT_MS, API_TIMEOUT_SECONDS
    from functions.delivery.api.event_types import TEST_WAIT_SECONDS

    # Room for storing the message, queueing the task and answering after the last poll.
    assert TEST_WAIT_SECONDS + 3 <= API_TIMEOUT_SECONDS < API_INTEGRATION_TIMEOUT_MS / 1000
