"""The subscription API's HTTP layer: the request as the handler sees it, errors, bounded JSON
bodies, responses, and the checks every resource shares (path ids, known fields, page sizes).

Errors are ``{"error": {"code", "message", "field"}}`` with the field named.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs

from functions import bounded_json
from functions.delivery.runtime import Runtime
from functions.delivery.settings import ApiSettings
from functions.events import EVENT_ID_RE, TENANT_ID_RE
from functions.records import record

ApiRuntime = Runtime[ApiSettings]

ENDPOINT_ID_RE = re.compile(r"^(?:ep_[0-9a-f]{28}|cfg_[a-z0-9-]{1,64})$")
MAX_BODY_BYTES = 64 * 1024
# The deepest valid body holds an endpoint's filter, an EventBridge pattern (objects, $or lists,
# matcher lists and objects, numeric lists); a few levels of each fit in 32, and the bound still
# stops "[[[[..." long before json.loads would recurse too deep.
MAX_BODY_DEPTH = 32
DEFAULT_PAGE, MAX_PAGE = 50, 100


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field


@record
class Request:
    tenant_id: str
    params: Mapping[str, str]
    query: Mapping[str, str]
    body: Mapping[str, Any]
    now: float


# -- parsing ----------------------------------------------------------------------------------------


def check_path_parameters(params: Mapping[str, str], matched: Any) -> None:
    """Ids are taken from the raw path as sent and must be valid as they are.

    IAM authorized the request against a resource path that API Gateway built from the request
    (raw or decoded: docs/delivery.md); the tenant this handler serves must be exactly the segment
    that path carried. So no id may be percent-encoded (valid ids never need it; ``%2F`` would
    decode into another path), and when API Gateway passes its own ``pathParameters`` they must
    equal the raw segments.
    """
    for name, value in params.items():
        if "%" in value:
            raise ApiError(
                400,
                "validation_error",
                f"{name} must be sent as it is, not percent-encoded (valid ids never need encoding)",
                name,
            )
    # fullmatch: a pattern's "$" also matches before a trailing newline.
    if "tenantId" in params and not TENANT_ID_RE.fullmatch(params["tenantId"]):
        raise ApiError(
            400,
            "validation_error",
            "tenantId must be 1-64 characters of A-Z a-z 0-9 _ . : - starting with a letter or digit",
            "tenantId",
        )
    if isinstance(matched, Mapping):
        for name, value in params.items():
            if name in matched and matched[name] != value:
                raise ApiError(400, "validation_error", f"{name} differs from the path API Gateway matched", name)
    if "endpointId" in params and not ENDPOINT_ID_RE.fullmatch(params["endpointId"]):
        raise ApiError(404, "not_found", "no such endpoint", "endpointId")
    if "eventId" in params and not EVENT_ID_RE.fullmatch(params["eventId"]):
        raise ApiError(404, "not_found", "no such message", "eventId")


def path(event: Mapping[str, Any]) -> str:
    request_context = event.get("requestContext") or {}
    raw = str(event.get("rawPath") or (request_context.get("http") or {}).get("path") or "/")
    check_text(raw, "path")
    return raw


def query(event: Mapping[str, Any]) -> dict[str, str]:
    values = event.get("queryStringParameters")
    if isinstance(values, Mapping):
        parameters = {str(k): str(v) for k, v in values.items()}
    else:
        raw = event.get("rawQueryString") or ""
        parameters = {k: v[-1] for k, v in parse_qs(str(raw), keep_blank_values=True).items()}
    check_text(parameters, "query")
    return parameters


def body(event: Mapping[str, Any], method: str) -> Mapping[str, Any]:
    raw = event.get("body")
    if raw is None or raw == "":
        return {}
    if method not in ("POST", "PATCH"):
        return {}
    try:
        data = base64.b64decode(raw, validate=True) if event.get("isBase64Encoded") else str(raw).encode("utf-8")
    except (binascii.Error, ValueError):
        raise ApiError(400, "validation_error", "body is not valid base64", "body") from None
    if len(data) > MAX_BODY_BYTES:
        raise ApiError(413, "payload_too_large", f"body must be at most {MAX_BODY_BYTES} bytes", "body")
    try:
        document = bounded_json.loads(data.decode("utf-8"), MAX_BODY_DEPTH)
    except bounded_json.TooDeep as error:
        raise ApiError(400, "validation_error", f"body {error} (at most {MAX_BODY_DEPTH})", "body") from None
    except (UnicodeDecodeError, ValueError):
        raise ApiError(400, "validation_error", "body must be a JSON object", "body") from None
    if not isinstance(document, dict):
        raise ApiError(400, "validation_error", "body must be a JSON object", "body")
    check_text(document, "body")
    return document


def check_text(value: Any, field: str) -> None:
    """Every string in ``value`` (names included) must be text UTF-8 can carry, or a 400 naming it.

    JSON's ``\\ud800`` escapes (and a path or query the runtime decoded) give lone UTF-16 surrogates:
    Python holds them, DynamoDB (UTF-8) refuses to store them, so they are refused here, for every
    field of every route at once, instead of as a failed write. Names: ``description``,
    ``eventTypes[0]``, a query parameter's own name; ``field`` itself for the container.
    """
    if isinstance(value, str):
        if not _encodable(value):
            raise ApiError(
                400,
                "validation_error",
                f"{field} must be Unicode text (it holds a lone surrogate such as \\ud800, which UTF-8 cannot carry)",
                field,
            )
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if not _encodable(str(key)):
                raise ApiError(
                    400, "validation_error", f"{field} has a name that is not Unicode text (a lone surrogate)", field
                )
            check_text(item, str(key) if field in ("body", "query") else f"{field}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            check_text(item, f"{field}[{index}]")


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# -- checks every resource shares ---------------------------------------------------------------------


def only(body: Mapping[str, Any], allowed: tuple[str, ...]) -> None:
    for key in body:
        if key not in allowed:
            raise ApiError(400, "validation_error", f"unknown field {key!r}; allowed: {', '.join(allowed)}", str(key))


def page_limit(query: Mapping[str, str]) -> int:
    raw = query.get("limit")
    if raw is None or raw == "":
        return DEFAULT_PAGE
    # isascii: "²".isdigit() holds and int() refuses it; the length bound keeps int() under its digit limit.
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 9 or not 1 <= int(raw) <= MAX_PAGE:
        raise ApiError(400, "validation_error", f"limit must be a whole number from 1 to {MAX_PAGE}", "limit")
    return int(raw)


# -- responses ----------------------------------------------------------------------------------------


def response(status: int, document: Any) -> dict[str, Any]:
    headers = {"content-type": "application/json", "cache-control": "no-store"}
    if document is None:
        return {"statusCode": status, "headers": headers, "body": "", "isBase64Encoded": False}
    return {
        "statusCode": status,
        "headers": headers,
        "body": json.dumps(document, separators=(",", ":")),
        "isBase64Encoded": False,
    }


def error(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    details: dict[str, Any] = {"code": code, "message": message}
    if field:
        details["field"] = field
    return {"error": details}
