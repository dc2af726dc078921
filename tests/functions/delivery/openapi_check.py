"""Every subscription API response the delivery tests see, checked against the OpenAPI document:
the status must be one the operation declares, the body must match that response's schema
(jsonschema, draft 2020-12, the document's components resolving the ``$ref``s)."""

from __future__ import annotations

import functools
from typing import Any

from jsonschema import Draft202012Validator

from functions.delivery import openapi, routes


@functools.cache
def _document() -> dict[str, Any]:
    return openapi.document()


@functools.cache
def _validator(reference: str) -> Draft202012Validator:
    # The document's components beside the $ref: "#/components/schemas/X" resolves within this schema.
    return Draft202012Validator({"$ref": reference, "components": _document()["components"]})


def check_response(method: str, path: str, status: int, body: Any) -> None:
    """Assert that the document declares ``status`` for the route and that ``body`` matches it."""
    try:
        route, _ = routes.match(method, path.split("?", 1)[0])
    except routes.NoRoute:
        assert status in (404, 405), (method, path, status)
        _validator("#/components/schemas/Error").validate(body)
        return
    responses = _document()["paths"][route.path][route.method.lower()]["responses"]
    assert str(status) in responses, f"{route.key} answered {status}, which the OpenAPI document does not declare"
    content = responses[str(status)].get("content")
    if content is None:
        assert body is None, f"{route.key} {status} declares no body"
        return
    _validator(content["application/json"]["schema"]["$ref"]).validate(body)
