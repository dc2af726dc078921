"""The OpenAPI 3.1 document: valid (openapi-spec-validator), committed as generated, and exactly the
routes the handler serves (methods, paths, parameters). Every response of the delivery tests is
checked against it by ``DeliveryStack.api`` (tests/functions/delivery/openapi_check.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from openapi_spec_validator import validate
from openapi_spec_validator.validation import OpenAPIV31SpecValidator

from functions.delivery import api, openapi, routes
from tests.functions.delivery.conftest import DeliveryStack
from tools.openapi import TARGET, render

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def test_the_document_is_valid_openapi_3_1() -> None:
    document = openapi.document()
    assert document["openapi"].startswith("3.1.")
    validate(document, cls=OpenAPIV31SpecValidator)


def test_docs_openapi_json_is_current() -> None:
    assert TARGET.read_text(encoding="utf-8") == render(), "docs/openapi.json is stale: run python -m tools.openapi"


def test_every_route_is_documented_and_nothing_else() -> None:
    document = openapi.document()
    documented = {
        (method.upper(), path) for path, item in document["paths"].items() for method in item if method in HTTP_METHODS
    }
    assert documented == {(route.method, route.path) for route in routes.ROUTES}
    for route in routes.ROUTES:
        operation = document["paths"][route.path][route.method.lower()]
        in_path = [p["name"] for p in operation.get("parameters", []) if p["in"] == "path"]
        assert in_path == openapi.path_parameters(route.path), route.key
        expected = [] if route.public else [{openapi.IAM: []}]
        if route.scope is not None:
            expected.append({openapi.BEARER: sorted({route.scope, routes.OPERATOR_SCOPE} - {routes.ANY_SCOPE})})
        if route.scope == routes.ANY_SCOPE:
            expected[1][openapi.BEARER] = sorted({*routes.TENANT_SCOPES, routes.OPERATOR_SCOPE})
        assert operation["security"] == expected, route.key
    # One operation per action the handler serves, and no operation for an action it does not.
    assert set(openapi.OPERATIONS) == set(api.ACTIONS) == {route.action for route in routes.ROUTES}


BAD_QUERY_VALUES = {"limit": "0", "cursor": "x", "status": "lost", "since": "yesterday"}


def test_the_declared_query_parameters_are_the_ones_the_handler_reads(stack: DeliveryStack) -> None:
    endpoint = stack.create_endpoint("acme", "https://hooks.example.com/a")
    document = openapi.document()
    for route in routes.ROUTES:
        operation = document["paths"][route.path][route.method.lower()]
        names = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
        if route.method != "GET" or not route.path.startswith("/tenants/"):
            assert not names, route.key
            continue
        path = route.path.replace("{tenantId}", "acme").replace("{endpointId}", endpoint["id"])
        path = path.replace("{eventId}", "evt_missing")
        if not names:
            status, body = stack.api("GET", path, query={"limit": "0", "cursor": "x"})
            assert status != 400, (route.key, body)  # not read: a bad value changes nothing
        for name in names:  # each declared one is read: a bad value of it alone is refused, by name
            status, body = stack.api("GET", path, query={name: BAD_QUERY_VALUES[name]})
            assert status == 400 and body["error"]["field"] == name, (route.key, name, body)


@pytest.mark.parametrize("path", ["/openapi.json", "/openapi.json/"])
def test_the_api_serves_the_document(stack: DeliveryStack, path: str) -> None:
    status, document = stack.api("GET", path)
    assert status == 200 and document == json.loads(Path(TARGET).read_text(encoding="utf-8"))


def test_the_documents_limits_are_where_the_handler_draws_them(stack: DeliveryStack) -> None:
    create = openapi.document()["components"]["schemas"]["EndpointCreate"]["properties"]
    longest, most = create["description"]["maxLength"], create["eventTypes"]["anyOf"][0]["maxItems"]
    url = "https://hooks.example.com/a"
    stack.create_endpoint("acme", url, description="d" * longest, eventTypes=[f"t.{n}" for n in range(most)])
    for field, value in (("description", "d" * (longest + 1)), ("eventTypes", [f"t.{n}" for n in range(most + 1)])):
        status, body = stack.api("POST", "/tenants/acme/endpoints", {"url": url, field: value})
        assert status == 400 and body["error"]["field"] == field
