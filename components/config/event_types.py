"""``hookstack:eventTypes``: the event-type catalog, parsed and validated in one step.

Each entry is ``{name, description, schema?, example?}``: ``name`` follows the event-type rules of
an endpoint's ``eventTypes`` (:func:`functions.patterns.event_type_problem`) without a wildcard,
``schema`` is a JSON Schema (draft 2020-12) of the event's data, ``example`` an object that must
validate against it. With a catalog, every destination's ``eventTypes`` entry must be a known type
(a wildcard must match at least one); :func:`check_destination_event_types` reports the rest.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from components.config.model import NAMESPACE
from components.config.reader import Reader, kind_of
from functions import patterns
from functions.delivery.event_catalog import MAX_CATALOG_BYTES, MAX_DESCRIPTION_CHARS, MAX_EVENT_TYPES
from functions.events import SCHEMA_DIALECT, EventCatalog, EventType, schema_problem

ENTRY_KEYS = ("name", "description", "schema", "example")
PATH = f"{NAMESPACE}:eventTypes"


def parse_event_types(reader: Reader, value: Any) -> EventCatalog | None:
    """The catalog, or ``None`` when the key is absent or empty (no catalog: today's behaviour)."""
    if value is None or value == []:
        return None
    if not isinstance(value, list):
        reader.problem(PATH, f"must be a list of {{name, description, schema?, example?}}, got {kind_of(value)}")
        return None
    if len(value) > MAX_EVENT_TYPES:
        reader.problem(PATH, f"must list at most {MAX_EVENT_TYPES} event types, got {len(value)}")
        return None
    types: list[EventType] = []
    names: list[tuple[str, str | None]] = []
    valid = True
    for index, item in enumerate(value):
        entry = _entry(reader, item, f"{PATH}[{index}]")
        names.append((f"{PATH}[{index}].name", entry.name if entry else None))
        if entry is None:
            valid = False
        else:
            types.append(entry)
    before = len(reader.problems)
    reader.unique(names, "event type")
    if not valid or len(reader.problems) > before:
        return None
    catalog = EventCatalog(tuple(types))
    size = len(json.dumps(catalog.to_json(), separators=(",", ":")).encode("utf-8"))
    if size > MAX_CATALOG_BYTES:
        reader.problem(PATH, f"must be at most {MAX_CATALOG_BYTES} bytes as JSON (one table item), got {size}")
        return None
    return catalog


def _entry(reader: Reader, item: Any, path: str) -> EventType | None:
    raw = reader.mapping(item, path)
    if raw is None:
        return None
    before = len(reader.problems)
    reader.unknown_keys(raw, path, ENTRY_KEYS)
    name = reader.get(raw, "name", path, str, required=True)
    if name is not None and (problem := _name_problem(name)):
        reader.problem(f"{path}.name", problem)
    description = reader.get(raw, "description", path, str, required=True)
    if description is not None and not 1 <= len(description) <= MAX_DESCRIPTION_CHARS:
        reader.problem(f"{path}.description", f"must be 1-{MAX_DESCRIPTION_CHARS} characters")
    schema = reader.get(raw, "schema", path, Mapping)
    too_deep = f"is nested too deeply (the catalog may have {MAX_CATALOG_BYTES} bytes as JSON)"
    try:  # a few thousand levels are far beyond the catalog's size, and beyond Python's recursion limit
        if schema is not None and (problem := _schema_problem(schema)):
            reader.problem(f"{path}.schema", problem)
            schema = None
        schema = _plain(schema)
    except RecursionError:
        reader.problem(f"{path}.schema", too_deep)
        schema = None
    example = reader.get(raw, "example", path, Mapping)
    from referencing.exceptions import Unresolvable  # jsonschema's, imported when used (as in _schema_problem)

    try:
        if example is not None and schema is not None and (found := schema_problem(schema, example, "example")):
            reader.problem(f"{path}.{found[0]}", f"does not match the schema: {found[1]}")
        example = _plain(example)
    except RecursionError:
        reader.problem(f"{path}.example", too_deep)
    except Unresolvable as error:  # a $ref relative to a nested $id that resolves to nothing
        reader.problem(f"{path}.schema", f"has a $ref that points to nothing: {error}")
    if len(reader.problems) > before or name is None or description is None:
        return None
    return EventType(name, description, schema, example)


def _name_problem(name: str) -> str | None:
    if problem := patterns.event_type_problem(name):
        return problem
    if name.endswith(patterns.EVENT_TYPE_WILDCARD):
        return f"must name one event type, not a wildcard; got {name!r}"
    return None


def _schema_problem(schema: Mapping[str, Any]) -> str | None:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    dialect = schema.get("$schema")
    if dialect is not None and (not isinstance(dialect, str) or dialect.rstrip("#") != SCHEMA_DIALECT):
        return f"must be JSON Schema draft 2020-12 ($schema {SCHEMA_DIALECT!r} or none); got $schema {dialect!r}"
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as error:
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
        return f"is not a valid JSON Schema (draft 2020-12){' at ' + where if where else ''}: {error.message}"
    return _reference_problem(schema)


def _reference_problem(schema: Mapping[str, Any]) -> str | None:
    """A ``$ref`` to another document (jsonschema would fetch it over the network, at preview and at
    every publish) or to nothing in the schema (a traceback when data is checked)."""
    from referencing import Registry
    from referencing.exceptions import Unresolvable
    from referencing.jsonschema import DRAFT202012

    base = "urn:hookstack:event-schema"
    resolver = Registry().with_resource(base, DRAFT202012.create_resource(schema)).resolver(base)
    for keyword, reference, where, under_nested_id in _references(schema, "", False):
        at = f" at {where}" if where else ""
        if not reference.startswith("#"):
            return f"must be self-contained: {keyword} {reference!r}{at} names another document (none is fetched)"
        if not under_nested_id:  # relative to a nested $id: resolved when data is checked
            try:
                resolver.lookup(reference)
            except Unresolvable:
                return f"{keyword} {reference!r}{at} points to nothing in the schema"
    return None


def _references(schema: Any, where: str, under_nested_id: bool) -> Iterator[tuple[str, str, str, bool]]:
    """``(keyword, reference, where, under a nested $id)`` for each ``$ref`` / ``$dynamicRef`` in ``schema``."""
    if isinstance(schema, Mapping):
        nested = under_nested_id or (bool(where) and "$id" in schema)
        for key, value in schema.items():
            if key in ("$ref", "$dynamicRef") and isinstance(value, str):
                yield key, value, where, nested
            elif key not in ("const", "enum", "default", "examples"):  # those hold data, not schemas
                yield from _references(value, f"{where}.{key}", nested)
    elif isinstance(schema, list):
        for index, item in enumerate(schema):
            yield from _references(item, f"{where}[{index}]", under_nested_id)


def _plain(value: Any) -> Any:
    """YAML and Pulumi hand mappings of their own types; the catalog holds plain JSON values."""
    return None if value is None else json.loads(json.dumps(value))


def check_destination_event_types(reader: Reader, catalog: EventCatalog | None, raw_tenants: Any) -> None:
    """With a catalog, each destination's ``eventTypes`` must name known types (wildcards: at least one).

    Walks the raw tenants (invalid tenants and destinations are left out of the model, so their
    indexes there would not be the ones in the stack file); malformed entries are reported elsewhere.
    """
    if catalog is None or not isinstance(raw_tenants, list):
        return
    for tenant_index, tenant in enumerate(raw_tenants):
        destinations = tenant.get("destinations") if isinstance(tenant, Mapping) else None
        for destination_index, destination in enumerate(destinations if isinstance(destinations, list) else []):
            event_types = destination.get("eventTypes") if isinstance(destination, Mapping) else None
            for index, event_type in enumerate(event_types if isinstance(event_types, list) else []):
                if patterns.event_type_problem(event_type):
                    continue
                found = patterns.unknown_event_type_problem([event_type], catalog.names)
                if found is not None:
                    path = f"{NAMESPACE}:tenants[{tenant_index}].destinations[{destination_index}].eventTypes[{index}]"
                    reader.problem(path, found[1])
