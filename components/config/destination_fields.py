"""The fields of one destination (``hookstack:tenants[].destinations[]``), each parsed with its key path.

The rules come from ``functions/`` (:mod:`functions.delivery.endpoint_fields`, :mod:`functions.transform`,
:mod:`functions.patterns`, :mod:`functions.delivery.signing`), which the subscription API applies to
the same camelCase fields, so a value the config accepts the API accepts and the reverse.
:mod:`components.config.tenants` decides the engine and calls these with it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from components.config.limits import CONNECTION_PARAMETER_CONTROL_RE, MAX_CONNECTION_PARAMETER_CHARS
from components.config.model import (
    ApiKeyAuth,
    Auth,
    BasicAuth,
    BearerAuth,
    NoAuth,
    OAuthAuth,
    Secret,
    Signing,
    Transform,
)
from components.config.reader import Reader, eventbridge_url_problem, whsec_problem
from functions import patterns, transform
from functions.delivery import endpoint_fields as fields
from functions.delivery.endpoint_fields import OAUTH_METHODS
from functions.delivery.signing import DEFAULT_SCHEME, SCHEME_NOT_YET, SCHEMES, SIGNERS
from functions.delivery.v1a import KEYS_GENERATED as V1A_KEYS_GENERATED
from functions.delivery.v1a import SCHEME as V1A_SCHEME

# What the config spells as auth types: the model's, and the legacy `signed` (= engine worker + signing).
SIGNED = "signed"
CONFIG_AUTH_TYPES = ("apiKey", "basic", "oauth", "bearer", SIGNED, "none")


def parse_auth(reader: Reader, value: Any, path: str, *, worker: bool) -> tuple[Auth | None, Signing | None]:
    """The destination's auth and, for the legacy ``auth.type: signed``, the signing it stands for."""
    if value is None:
        reader.problem(path, f"is required; auth.type is one of {', '.join(CONFIG_AUTH_TYPES)}")
        return None, None
    raw = reader.mapping(value, path)
    if raw is None:
        return None, None
    kind = reader.choice(raw, "type", path, CONFIG_AUTH_TYPES, required=True)
    if kind == "apiKey":
        reader.unknown_keys(raw, path, ("type", "header", "value"))
        header = reader.get(raw, "header", path, str, required=True)
        if header is not None and (
            problem := fields.header_name_problem(header) or fields.reserved_header_problem(header)
        ):
            reader.problem(f"{path}.header", f"{problem}; got {header!r}")
            header = None
        secret = reader.secret(raw, "value", path, required=True)
        _check_secret(reader, secret, f"{path}.value", as_header=worker, connection=not worker)
        return (ApiKeyAuth(header=header, value=secret) if header and secret else None), None
    if kind == "basic":
        reader.unknown_keys(raw, path, ("type", "username", "password"))
        username = reader.get(raw, "username", path, str, required=True)
        if username is not None and (":" in username or not username):
            reader.problem(f"{path}.username", "must be non-empty and must not contain ':'")
            username = None
        if not worker and not _connection_parameter_fits(reader, username, f"{path}.username"):
            username = None
        password = reader.secret(raw, "password", path, required=True)
        _check_secret(reader, password, f"{path}.password", as_header=False, connection=not worker)
        return (BasicAuth(username=username, password=password) if username and password else None), None
    if kind == "bearer":
        reader.unknown_keys(raw, path, ("type", "token"))
        token = reader.secret(raw, "token", path, required=True)
        _check_secret(reader, token, f"{path}.token", as_header=True, limit=fields.MAX_BEARER_TOKEN_CHARS)
        return (BearerAuth(token=token) if token else None), None
    if kind == "oauth":
        return _oauth(reader, raw, path, worker=worker), None
    if kind == SIGNED:
        reader.unknown_keys(raw, path, ("type", "secret", "previousSecret"))
        secrets = _signing_secrets(reader, raw, path)
        return (NoAuth(), Signing(secret=secrets[0], previous_secret=secrets[1])) if secrets else (None, None)
    if kind == "none":
        reader.unknown_keys(raw, path, ("type",))
        return NoAuth(), None
    return None, None


def _oauth(reader: Reader, raw: Mapping[str, Any], path: str, *, worker: bool) -> OAuthAuth | None:
    reader.unknown_keys(raw, path, ("type", "authorizationEndpoint", "clientId", "clientSecret", "scope", "httpMethod"))
    endpoint = reader.https_url(raw, "authorizationEndpoint", path, required=True)
    if (
        endpoint
        and not worker
        and not endpoint.startswith("http://")
        and (problem := eventbridge_url_problem(endpoint))
    ):
        reader.problem(f"{path}.authorizationEndpoint", problem)  # (a sandbox's loopback http:// is never deployed)
        endpoint = None
    client_id = reader.get(raw, "clientId", path, str, required=True)
    client_secret = reader.secret(raw, "clientSecret", path, required=True)
    _check_secret(reader, client_secret, f"{path}.clientSecret", as_header=False, connection=not worker)
    scope = reader.get(raw, "scope", path, str)
    if not worker:  # EventBridge connection parameters (the scope is a body parameter of the token request)
        client_id = client_id if _connection_parameter_fits(reader, client_id, f"{path}.clientId") else None
        scope = scope if _connection_parameter_fits(reader, scope, f"{path}.scope") else None
    http_method = reader.choice(raw, "httpMethod", path, OAUTH_METHODS, default="POST")
    if endpoint and client_id and client_secret:
        return OAuthAuth(
            authorization_endpoint=endpoint,
            client_id=client_id,
            client_secret=client_secret,
            scope=scope,
            http_method=http_method or "POST",
        )
    return None


def _check_secret(
    reader: Reader,
    secret: Secret | None,
    path: str,
    *,
    as_header: bool,
    limit: int = MAX_CONNECTION_PARAMETER_CHARS,
    connection: bool = False,
) -> None:
    """A secret value's length (and, when it travels as a header value or an EventBridge connection
    parameter, its characters); never shown."""
    if secret is None:
        return
    if as_header and (problem := fields.header_value_problem(secret.reveal(), limit)):
        reader.problem(path, f"{problem} (the value is not shown)")
    elif len(secret.reveal()) > limit:
        reader.problem(path, f"must be at most {limit} characters")
    elif connection and CONNECTION_PARAMETER_CONTROL_RE.search(secret.reveal()):
        reader.problem(
            path, "must not contain control characters (an EventBridge connection parameter; the value is not shown)"
        )


def _connection_parameter_fits(reader: Reader, value: str | None, path: str) -> bool:
    """A plain EventBridge connection parameter: at most 512 characters, no control characters."""
    if value is None:
        return True
    if len(value) > MAX_CONNECTION_PARAMETER_CHARS:
        reader.problem(
            path, f"must be at most {MAX_CONNECTION_PARAMETER_CHARS} characters (an EventBridge connection parameter)"
        )
    elif CONNECTION_PARAMETER_CONTROL_RE.search(value):
        reader.problem(path, "must not contain control characters (an EventBridge connection parameter)")
    else:
        return True
    return False


def _signing_secrets(reader: Reader, raw: Mapping[str, Any], path: str) -> tuple[Secret | None, Secret | None] | None:
    """``secret`` and ``previousSecret`` (``whsec_`` values), or ``None`` when either is wrong."""
    secret = reader.secret(raw, "secret", path, required=False)
    previous = reader.secret(raw, "previousSecret", path, required=False)
    valid = True
    for key, candidate in (("secret", secret), ("previousSecret", previous)):
        if candidate is not None and (problem := whsec_problem(candidate.reveal())):
            reader.problem(f"{path}.{key}", problem)
            valid = False
    if previous is not None and secret is None:
        reader.problem(f"{path}.previousSecret", "needs secret (the new secret) to be set as well")
        valid = False
    return (secret, previous) if valid else None


def parse_signing(reader: Reader, value: Any, path: str) -> Signing | None:
    """``signing: {scheme, secret, previousSecret}``; ``v1a`` is valid in the model but not signed yet."""
    raw = reader.mapping(value, path)
    if raw is None:
        return None
    before = len(reader.problems)
    reader.unknown_keys(raw, path, ("scheme", "secret", "previousSecret"))
    scheme = reader.choice(raw, "scheme", path, SCHEMES, default=DEFAULT_SCHEME) or DEFAULT_SCHEME
    if scheme == V1A_SCHEME:
        for key in ("secret", "previousSecret"):
            if raw.get(key) is not None:
                reader.problem(f"{path}.{key}", V1A_KEYS_GENERATED)
        return Signing(scheme=scheme) if len(reader.problems) == before else None
    secrets = _signing_secrets(reader, raw, path)
    if scheme not in SIGNERS:
        reader.problem(f"{path}.scheme", SCHEME_NOT_YET)
        return None
    return Signing(scheme=scheme, secret=secrets[0], previous_secret=secrets[1]) if secrets else None


def parse_transform(reader: Reader, value: Any, path: str, *, worker: bool) -> Transform | None:
    if value is None:
        return None
    raw = reader.mapping(value, path)
    if raw is None:
        return None
    reader.unknown_keys(raw, path, ("paths", "template"))
    paths_raw = reader.mapping(raw.get("paths"), f"{path}.paths")
    found = transform.problems(paths_raw or {}, raw.get("template"), rule_placeholders=not worker)
    for where, message in found:
        reader.problem(f"{path}.{where}", message)
    template = raw.get("template")
    if found or paths_raw is None or not isinstance(template, str):
        return None
    return Transform(paths={str(k): str(v) for k, v in paths_raw.items()}, template=template)


def parse_headers(reader: Reader, value: Any, path: str, auth: Auth | None) -> dict[str, str]:
    raw = reader.mapping(value, path)
    if not raw:
        return {}
    if len(raw) > fields.MAX_HEADERS:
        reader.problem(path, f"must have at most {fields.MAX_HEADERS} headers")
    set_by_auth = fields.auth_headers(auth.type, auth.header if isinstance(auth, ApiKeyAuth) else None) if auth else ()
    headers: dict[str, str] = {}
    for key, header_value in raw.items():
        problem = (
            fields.header_name_problem(key)
            or fields.reserved_header_problem(str(key), set_by_auth)
            or fields.header_value_problem(header_value)
        )
        if problem:
            reader.problem(f"{path}.{key}", problem)
        else:
            headers[str(key)] = header_value
    return headers


def parse_event_types(reader: Reader, raw: Mapping[str, Any], path: str) -> tuple[str, ...]:
    event_types = reader.strings(raw, "eventTypes", path)
    valid = []
    for index, event_type in enumerate(event_types):
        if problem := patterns.event_type_problem(event_type):
            reader.problem(f"{path}.eventTypes[{index}]", problem)
        else:
            valid.append(event_type)
    reader.unique([(f"{path}.eventTypes[{i}]", t) for i, t in enumerate(event_types)], "event type")
    return tuple(valid)


def parse_filter(reader: Reader, value: Any, path: str, event_types: tuple[str, ...]) -> Mapping[str, Any] | None:
    if value is None:
        return None
    problem = patterns.filter_problem(value, fields.FILTER_RESERVED_FIELDS) or fields.filter_event_types_problem(
        value, event_types
    )
    if not problem and "detail" in value and not isinstance(value["detail"], Mapping):
        # The rule matches detail.tenantId: a leaf on detail itself cannot be ANDed with it (and no
        # event's detail, always an object, would match it).
        problem = "detail", 'must be an object of detail fields ({"detail": {"amount": [...]}}), not a list of values'
    if problem:
        where, message = problem
        reader.problem(f"{path}.{where}" if where else path, message)
        return None
    return dict(value)
