"""The endpoint model's fields in a request body (create and update), checked with the rules the
stack config applies (:mod:`functions.delivery.endpoint_fields`, :mod:`functions.transform`,
:mod:`functions.patterns`); each error names its field (``auth.value``, ``headers.x-team``,
``filter.detail.amount[0]``...). Secret values (the auth's, the signing secrets) are returned
apart from the options, to be stored in the endpoint's secrets item only.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from functions import patterns, transform, whsec
from functions.delivery import endpoint_fields as fields
from functions.delivery.api.http import ApiError
from functions.delivery.api.oauth_clients import oauth_auth
from functions.delivery.signing import DEFAULT_SCHEME, SCHEME_NOT_YET, SCHEMES, SIGNERS
from functions.delivery.store import EndpointAuth, EndpointOptions
from functions.delivery.v1a import KEYS_GENERATED as V1A_KEYS_GENERATED
from functions.delivery.v1a import SCHEME as V1A_SCHEME
from functions.records import record

# The endpoint model's fields beyond url, eventTypes, description and enabled.
OPTION_FIELDS = (
    "engine",
    "method",
    "signing",
    "auth",
    "headers",
    "transform",
    "filter",
    "rateLimitPerSecond",
    "timeoutSeconds",
)


def invalid(field: str, message: str) -> ApiError:
    return ApiError(400, "validation_error", f"{field} {message}", field)


@record
class ParsedOptions:
    options: EndpointOptions
    auth_secret: str | None = None
    """The auth's value (API key, password, token), stored apart; ``None`` for ``none``."""
    auth_changed: bool = False
    signing_secret: str | None = None
    """``signing.secret`` given on create (``None``: generate one)."""
    previous_secret: str | None = None


def parse_options(
    body: Mapping[str, Any], event_types: Sequence[str], current: EndpointOptions | None = None
) -> ParsedOptions:
    """The options ``body`` sets, over ``current`` (an update) or the defaults (a create)."""
    creating = current is None
    options = current or EndpointOptions()
    changes: dict[str, Any] = {}
    engine = body.get("engine", fields.WORKER)
    if engine != fields.WORKER:
        if engine == fields.API_DESTINATION:
            raise invalid(
                "engine",
                "apiDestination needs a deploy (EventBridge resources): declare the endpoint in the stack "
                "config (hookstack:tenants[].destinations[]); endpoints created here use engine worker",
            )
        raise invalid("engine", f"must be {fields.WORKER!r}")
    if "method" in body:
        if body["method"] not in fields.METHODS:
            raise invalid("method", f"must be one of {', '.join(fields.METHODS)}")
        changes["method"] = body["method"]
    signing_secret = previous_secret = None
    if "signing" in body:
        scheme, signing_secret, previous_secret = _signing(body["signing"], creating)
        changes["signing_scheme"] = scheme
    auth_secret: str | None = None
    if "auth" in body:
        changes["auth"], auth_secret = _auth(body["auth"])
    auth: EndpointAuth = changes.get("auth", options.auth)
    if "headers" in body or "auth" in body:
        changes["headers"] = _headers(body.get("headers", options.headers), auth)
    if "transform" in body:
        changes["transform"] = _transform(body["transform"])
    if "filter" in body:
        changes["filter"] = _filter(body["filter"])
    event_filter = changes.get("filter", options.filter)
    if event_filter and (problem := fields.filter_event_types_problem(event_filter, event_types)):
        raise invalid(f"filter.{problem[0]}", problem[1])
    for key, attribute, low, high in (
        ("rateLimitPerSecond", "rate_limit_per_second", 1, fields.MAX_RATE_LIMIT),
        ("timeoutSeconds", "timeout_seconds", fields.MIN_TIMEOUT_SECONDS, fields.MAX_TIMEOUT_SECONDS),
    ):
        if key in body:
            changes[attribute] = _whole_number(body[key], key, low, high)
    return ParsedOptions(
        options=dataclasses.replace(options, **changes),
        auth_secret=auth_secret,
        auth_changed="auth" in body,
        signing_secret=signing_secret,
        previous_secret=previous_secret,
    )


def _object(value: Any, field: str, allowed: Sequence[str]) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise invalid(field, "must be an object")
    for key in value:
        if key not in allowed:
            raise ApiError(
                400, "validation_error", f"unknown field {field}.{key}; allowed: {', '.join(allowed)}", f"{field}.{key}"
            )
    return value


def _signing(value: Any, creating: bool) -> tuple[str, str | None, str | None]:
    raw = _object(value, "signing", ("scheme", "secret", "previousSecret"))
    scheme = raw.get("scheme", DEFAULT_SCHEME)
    if scheme not in SCHEMES:
        raise invalid("signing.scheme", f"must be one of {', '.join(SCHEMES)}")
    if scheme not in SIGNERS:
        raise invalid("signing.scheme", f"{scheme}: {SCHEME_NOT_YET}")
    secrets: dict[str, str | None] = {"secret": None, "previousSecret": None}
    for key in secrets:
        if key not in raw or raw[key] is None:
            continue
        if scheme == V1A_SCHEME:
            raise invalid(f"signing.{key}", V1A_KEYS_GENERATED)
        if not creating:
            raise invalid(f"signing.{key}", "changes through POST .../rotate-secret, which keeps the old one signing")
        try:
            whsec.key(raw[key])
        except (whsec.SecretFormatError, TypeError, AttributeError) as error:
            raise invalid(f"signing.{key}", str(error)) from None
        secrets[key] = raw[key]
    if secrets["previousSecret"] is not None and secrets["secret"] is None:
        raise invalid("signing.previousSecret", "needs signing.secret (the new secret) as well")
    return scheme, secrets["secret"], secrets["previousSecret"]


def _auth(value: Any) -> tuple[EndpointAuth, str | None]:
    if not isinstance(value, Mapping):
        raise invalid("auth", "must be an object with a type")
    kind = value.get("type")
    if kind == "oauth":
        return oauth_auth(value)
    if kind not in fields.WORKER_AUTH_TYPES:
        raise invalid("auth.type", f"must be one of {', '.join((*fields.WORKER_AUTH_TYPES, 'oauth'))}")
    if kind == "none":
        _object(value, "auth", ("type",))
        return EndpointAuth(), None
    if kind == "apiKey":
        raw = _object(value, "auth", ("type", "header", "value"))
        header = raw.get("header")
        if problem := fields.header_name_problem(header) or fields.reserved_header_problem(str(header)):
            raise invalid("auth.header", problem)
        return EndpointAuth(type=kind, header=header), _secret(raw, "value", fields.MAX_HEADER_VALUE_CHARS)
    if kind == "basic":
        raw = _object(value, "auth", ("type", "username", "password"))
        username = raw.get("username")
        if not isinstance(username, str) or not username or ":" in username or len(username) > 512:
            raise invalid("auth.username", "must be 1-512 characters without ':'")
        password = raw.get("password")
        if not isinstance(password, str) or not 1 <= len(password) <= fields.MAX_HEADER_VALUE_CHARS:
            raise invalid("auth.password", f"must be a string of 1-{fields.MAX_HEADER_VALUE_CHARS} characters")
        return EndpointAuth(type=kind, username=username), password
    raw = _object(value, "auth", ("type", "token"))
    return EndpointAuth(type=kind), _secret(raw, "token", fields.MAX_BEARER_TOKEN_CHARS)


def _secret(raw: Mapping[str, Any], key: str, limit: int) -> str:
    value = raw.get(key)
    if problem := fields.header_value_problem(value, limit):
        raise invalid(f"auth.{key}", problem)
    return str(value)


def _headers(value: Any, auth: EndpointAuth) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise invalid("headers", "must be an object of header names to values")
    if len(value) > fields.MAX_HEADERS:
        raise invalid("headers", f"must have at most {fields.MAX_HEADERS} headers")
    set_by_auth = fields.auth_headers(auth.type, auth.header)
    for name, header_value in value.items():
        problem = (
            fields.header_name_problem(name)
            or fields.reserved_header_problem(str(name), set_by_auth)
            or fields.header_value_problem(header_value)
        )
        if problem:
            raise invalid(f"headers.{name}", problem)
    return {str(k): str(v) for k, v in value.items()}


def _transform(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    raw = _object(value, "transform", ("paths", "template"))
    found = transform.problems(raw.get("paths"), raw.get("template"), rule_placeholders=False)
    if found:
        where, message = found[0]
        raise invalid(f"transform.{where}", message)
    return {"paths": dict(raw.get("paths") or {}), "template": raw["template"]}


def _filter(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    problem = patterns.filter_problem(value, fields.FILTER_RESERVED_FIELDS)
    if problem:
        where, message = problem
        raise invalid(f"filter.{where}" if where else "filter", message)
    return dict(value)


def _whole_number(value: Any, field: str, low: int, high: int) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise invalid(field, f"must be a whole number from {low} to {high}, or null")
    return value
