"""``hookstack:tenants``: tenants, their destinations, each destination's auth, retry and transform.

Invalid tenants and destinations are left out of the model (and reported): the plan never declares
a resource for a destination with problems.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from components.config.limits import (
    MAX_CONNECTION_PARAMETER_CHARS,
    MAX_EVENT_AGE_SECONDS,
    MAX_INPUT_PATHS,
    MAX_INPUT_TEMPLATE_CHARS,
    MAX_RATE_LIMIT,
    MAX_RETRY_ATTEMPTS,
    MIN_EVENT_AGE_SECONDS,
)
from components.config.model import (
    NAMESPACE,
    ApiKeyAuth,
    Auth,
    BasicAuth,
    Destination,
    NoAuth,
    OAuthAuth,
    RetryPolicy,
    Secret,
    SignedAuth,
    Tenant,
    Transform,
)
from components.config.reader import Reader, https_url_problem, kind_of, whsec_problem
from functions.delivery.ssrf import ascii_problem
from functions.events import TENANT_ID_RE, TENANT_ID_RULE

AUTH_TYPES = ("apiKey", "basic", "oauth", "signed", "none")
METHODS = ("POST", "PUT", "PATCH")
OAUTH_METHODS = ("GET", "POST", "PUT")
DESTINATION_KEYS = (
    "name",
    "url",
    "method",
    "eventTypes",
    "auth",
    "rateLimitPerSecond",
    "retry",
    "transform",
    "headers",
    "enabled",
)
HEADER_NAME_RE = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}$")
# JSONPath as EventBridge input transformers accept it: $, $.a.b, $.a[0], $.a['key with space'].
INPUT_PATH_RE = re.compile(r"^\$(?:\.[A-Za-z0-9_@$-]+|\[\d+\]|\['[^'\]]+'\])*$")
INPUT_PATH_KEY_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
PLACEHOLDER_RE = re.compile(r"<([A-Za-z0-9_.-]+)>")
# Placeholders EventBridge fills in itself, without an input path.
PREDEFINED_PLACEHOLDERS = frozenset(
    {
        "aws.events.rule-arn",
        "aws.events.rule-name",
        "aws.events.event",
        "aws.events.event.json",
        "aws.events.event.ingestion-time",
    }
)


def parse_tenants(reader: Reader, value: Any) -> tuple[Tenant, ...]:
    path = f"{NAMESPACE}:tenants"
    if value is None:
        return ()
    if not isinstance(value, list):
        reader.problem(path, f"must be a list of tenants, got {kind_of(value)}")
        return ()
    tenants: list[Tenant] = []
    ids: list[tuple[str, str | None]] = []
    for index, item in enumerate(value):
        tpath = f"{path}[{index}]"
        raw = reader.mapping(item, tpath)
        if raw is None:
            continue
        reader.unknown_keys(raw, tpath, ("id", "destinations"))
        tenant_id = reader.get(raw, "id", tpath, str, required=True)
        if tenant_id is not None and not TENANT_ID_RE.fullmatch(tenant_id):
            reader.problem(
                f"{tpath}.id",
                f"must be {TENANT_ID_RULE}; got {tenant_id!r}",
            )
            tenant_id = None
        ids.append((f"{tpath}.id", tenant_id))
        destinations = []
        names: list[tuple[str, str | None]] = []
        for dpath, draw in reader.items(raw, "destinations", tpath):
            destination = _destination(reader, draw, dpath)
            if destination is not None:
                destinations.append(destination)
            # Duplicates are reported even when the destination has other problems.
            raw_name = draw.get("name") if isinstance(draw, Mapping) else None
            names.append((f"{dpath}.name", raw_name if isinstance(raw_name, str) else None))
        reader.unique(names, "destination name")
        if tenant_id is not None:
            tenants.append(Tenant(id=tenant_id, destinations=tuple(destinations)))
    reader.unique(ids, "tenant id")
    return tuple(tenants)


def _destination(reader: Reader, value: Any, path: str) -> Destination | None:
    raw = reader.mapping(value, path)
    if raw is None:
        return None
    reader.unknown_keys(raw, path, DESTINATION_KEYS)
    name = reader.name(raw, "name", path)
    url = reader.get(raw, "url", path, str, required=True)
    if url is not None:
        # Not ASCII: EventBridge refuses it mid-deploy (InvocationEndpoint's pattern). A signed destination
        # gets the worker's whole check instead (check_signed_destination_urls: the host is judged first).
        auth_type = raw["auth"].get("type") if isinstance(raw.get("auth"), Mapping) else None
        problem = https_url_problem(url, allow_loopback_http=reader.local) or (
            None if auth_type == "signed" else ascii_problem(url)
        )
        if problem:
            reader.problem(f"{path}.url", problem)
            url = None
    method = reader.choice(raw, "method", path, METHODS, default="POST")
    event_types = reader.strings(raw, "eventTypes", path)
    reader.unique([(f"{path}.eventTypes[{i}]", t) for i, t in enumerate(event_types)], "event type")
    rate = reader.int_in(raw, "rateLimitPerSecond", path, 1, MAX_RATE_LIMIT, MAX_RATE_LIMIT)
    retry = _retry(reader, raw.get("retry"), f"{path}.retry")
    transform = _transform(reader, raw.get("transform"), f"{path}.transform")
    headers = _headers(reader, raw.get("headers"), f"{path}.headers")
    enabled = reader.get(raw, "enabled", path, bool, default=True)
    auth = _auth(reader, raw.get("auth"), f"{path}.auth")
    if auth is not None and isinstance(auth, SignedAuth):
        if transform is not None:
            reader.problem(
                f"{path}.transform",
                "is not supported for auth.type signed (signed deliveries send the event as is)",
            )
        if headers:
            reader.problem(f"{path}.headers", "is not supported for auth.type signed")
    if name is None or url is None or auth is None:
        return None
    return Destination(
        name=name,
        url=url,
        method=method or "POST",
        event_types=event_types,
        auth=auth,
        rate_limit_per_second=rate,
        retry=retry,
        transform=transform,
        headers=headers,
        enabled=bool(enabled),
    )


def _auth(reader: Reader, value: Any, path: str) -> Auth | None:
    if value is None:
        reader.problem(path, f"is required; auth.type is one of {', '.join(AUTH_TYPES)}")
        return None
    raw = reader.mapping(value, path)
    if raw is None:
        return None
    kind = reader.choice(raw, "type", path, AUTH_TYPES, required=True)
    if kind == "apiKey":
        reader.unknown_keys(raw, path, ("type", "header", "value"))
        header = reader.get(raw, "header", path, str, required=True)
        if header is not None and not HEADER_NAME_RE.match(header):
            reader.problem(f"{path}.header", f"must be an HTTP header name; got {header!r}")
            header = None
        secret = reader.secret(raw, "value", path, required=True)
        _check_parameter_length(reader, secret, f"{path}.value")
        if header and secret:
            return ApiKeyAuth(header=header, value=secret)
    elif kind == "basic":
        reader.unknown_keys(raw, path, ("type", "username", "password"))
        username = reader.get(raw, "username", path, str, required=True)
        if username is not None and (":" in username or not username):
            reader.problem(f"{path}.username", "must be non-empty and must not contain ':'")
            username = None
        password = reader.secret(raw, "password", path, required=True)
        _check_parameter_length(reader, password, f"{path}.password")
        if username and password:
            return BasicAuth(username=username, password=password)
    elif kind == "oauth":
        reader.unknown_keys(
            raw, path, ("type", "authorizationEndpoint", "clientId", "clientSecret", "scope", "httpMethod")
        )
        endpoint = reader.https_url(raw, "authorizationEndpoint", path, required=True)
        client_id = reader.get(raw, "clientId", path, str, required=True)
        client_secret = reader.secret(raw, "clientSecret", path, required=True)
        _check_parameter_length(reader, client_secret, f"{path}.clientSecret")
        scope = reader.get(raw, "scope", path, str)
        http_method = reader.choice(raw, "httpMethod", path, OAUTH_METHODS, default="POST")
        if endpoint and client_id and client_secret:
            return OAuthAuth(
                authorization_endpoint=endpoint,
                client_id=client_id,
                client_secret=client_secret,
                scope=scope,
                http_method=http_method or "POST",
            )
    elif kind == "signed":
        reader.unknown_keys(raw, path, ("type", "secret", "previousSecret"))
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
        return SignedAuth(secret=secret, previous_secret=previous) if valid else None
    elif kind == "none":
        reader.unknown_keys(raw, path, ("type",))
        return NoAuth()
    return None


def _check_parameter_length(reader: Reader, secret: Secret | None, path: str) -> None:
    if secret is not None and len(secret.reveal()) > MAX_CONNECTION_PARAMETER_CHARS:
        reader.problem(path, f"must be at most {MAX_CONNECTION_PARAMETER_CHARS} characters")


def _retry(reader: Reader, value: Any, path: str) -> RetryPolicy:
    raw = reader.mapping(value, path)
    if raw is None:
        return RetryPolicy()
    reader.unknown_keys(raw, path, ("maxAttempts", "maxEventAgeSeconds"))
    return RetryPolicy(
        max_attempts=reader.int_in(raw, "maxAttempts", path, 0, MAX_RETRY_ATTEMPTS, MAX_RETRY_ATTEMPTS),
        max_event_age_seconds=reader.int_in(
            raw,
            "maxEventAgeSeconds",
            path,
            MIN_EVENT_AGE_SECONDS,
            MAX_EVENT_AGE_SECONDS,
            MAX_EVENT_AGE_SECONDS,
        ),
    )


def _transform(reader: Reader, value: Any, path: str) -> Transform | None:
    if value is None:
        return None
    raw = reader.mapping(value, path)
    if raw is None:
        return None
    reader.unknown_keys(raw, path, ("paths", "template"))
    template = reader.get(raw, "template", path, str, required=True)
    paths_raw = reader.mapping(raw.get("paths"), f"{path}.paths") or {}
    paths: dict[str, str] = {}
    for key, input_path in paths_raw.items():
        kpath = f"{path}.paths.{key}"
        if not INPUT_PATH_KEY_RE.match(str(key)) or str(key).startswith("AWS"):
            reader.problem(kpath, "key must be 1-64 characters of A-Z, a-z, 0-9, '_' and '-', not starting 'AWS'")
            continue
        if not isinstance(input_path, str) or not INPUT_PATH_RE.match(input_path):
            reader.problem(
                kpath,
                f"must be a JSONPath like $.detail.name, $.detail.items[0] or $.detail['a key']; got {input_path!r}",
            )
            continue
        paths[str(key)] = input_path
    if len(paths_raw) > MAX_INPUT_PATHS:
        reader.problem(f"{path}.paths", f"must have at most {MAX_INPUT_PATHS} entries")
    if template is None:
        return None
    if len(template) > MAX_INPUT_TEMPLATE_CHARS:
        reader.problem(f"{path}.template", f"must be at most {MAX_INPUT_TEMPLATE_CHARS} characters")
    for placeholder in PLACEHOLDER_RE.findall(template):
        if placeholder not in paths_raw and placeholder not in PREDEFINED_PLACEHOLDERS:
            reader.problem(
                f"{path}.template",
                f"uses <{placeholder}>, which is neither a key of paths nor one of "
                f"{', '.join(sorted(PREDEFINED_PLACEHOLDERS))}",
            )
    return Transform(paths=paths, template=template)


def _headers(reader: Reader, value: Any, path: str) -> dict[str, str]:
    raw = reader.mapping(value, path)
    if not raw:
        return {}
    headers: dict[str, str] = {}
    for key, header_value in raw.items():
        if not HEADER_NAME_RE.match(str(key)):
            reader.problem(f"{path}.{key}", "must be an HTTP header name")
        elif not isinstance(header_value, str) or len(header_value) > MAX_CONNECTION_PARAMETER_CHARS:
            reader.problem(f"{path}.{key}", f"must be a string of at most {MAX_CONNECTION_PARAMETER_CHARS} characters")
        else:
            headers[str(key)] = header_value
    return headers
