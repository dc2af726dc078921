"""``hookstack:tenants``: tenants, their destinations, each destination's auth, retry and transform.

Invalid tenants and destinations are left out of the model (and reported): the plan never declares
a resource for a destination with problems.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from components.config.destination_fields import (
    CONFIG_AUTH_TYPES,
    SIGNED,
    parse_auth,
    parse_event_types,
    parse_filter,
    parse_headers,
    parse_signing,
    parse_transform,
)
from components.config.limits import (
    MAX_EVENT_AGE_SECONDS,
    MAX_RATE_LIMIT,
    MAX_RETRY_ATTEMPTS,
    MIN_EVENT_AGE_SECONDS,
)
from components.config.model import (
    NAMESPACE,
    Destination,
    RetryPolicy,
    Signing,
    Tenant,
)
from components.config.reader import Reader, eventbridge_url_problem, https_url_problem, kind_of
from functions import patterns
from functions.delivery.endpoint_fields import (
    API_DESTINATION,
    API_DESTINATION_ONLY_KEYS,
    ENGINES,
    MAX_TIMEOUT_SECONDS,
    METHODS,
    MIN_TIMEOUT_SECONDS,
    OAUTH_METHODS,
    WORKER,
    WORKER_ONLY_KEYS,
)
from functions.delivery.ssrf import ascii_problem
from functions.events import TENANT_ID_RE, TENANT_ID_RULE

AUTH_TYPES = CONFIG_AUTH_TYPES
__all__ = ["AUTH_TYPES", "DESTINATION_KEYS", "METHODS", "OAUTH_METHODS", "destination_engine", "parse_tenants"]
DESTINATION_KEYS = (
    "name",
    "url",
    "engine",
    "method",
    "eventTypes",
    "filter",
    "auth",
    "signing",
    "headers",
    "transform",
    "rateLimitPerSecond",
    "timeoutSeconds",
    "retry",
    "enabled",
)
# Why an API destination cannot take each worker-only key.
_WORKER_ONLY_REASONS = {
    "signing": "EventBridge API destinations cannot sign",
    "timeoutSeconds": "EventBridge API destinations always give up after 5 s",
}


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
        reader.unknown_keys(raw, tpath, ("id", "destinations", "selfService"))
        self_service = bool(reader.get(raw, "selfService", tpath, bool, default=False))
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
            destination = _destination(reader, draw, dpath, tenant_id)
            if destination is not None:
                destinations.append(destination)
            # Duplicates are reported even when the destination has other problems.
            raw_name = draw.get("name") if isinstance(draw, Mapping) else None
            names.append((f"{dpath}.name", raw_name if isinstance(raw_name, str) else None))
        reader.unique(names, "destination name")
        if tenant_id is not None:
            tenants.append(Tenant(id=tenant_id, destinations=tuple(destinations), self_service=self_service))
    reader.unique(ids, "tenant id")
    return tuple(tenants)


def destination_engine(raw: Mapping[str, Any], tenant_id: Any = None) -> str | None:
    """The engine of a raw destination: ``engine`` when given (``None`` if it is not one), else
    ``worker`` when a worker-only key is present (``signing``, ``timeoutSeconds``, or the legacy
    ``auth.type: signed``) or the ``filter`` is more than a rule pattern can hold
    (:func:`filter_overflows_rule`), else ``apiDestination``: the rule docs/endpoints.md states."""
    engine = raw.get("engine")
    if engine is not None:
        return engine if engine in ENGINES else None
    auth = raw.get("auth")
    if (isinstance(auth, Mapping) and auth.get("type") == SIGNED) or any(k in raw for k in WORKER_ONLY_KEYS):
        return WORKER
    return WORKER if filter_overflows_rule(raw, tenant_id) else API_DESTINATION


def filter_overflows_rule(raw: Mapping[str, Any], tenant_id: Any) -> bool:
    """Whether a valid ``filter`` makes the destination's API destination rule pattern (tenant, redrive
    and event-type clauses included) longer than EventBridge's 2,048 characters: only the worker,
    which evaluates it in the fan-out, can deliver such a destination. Invalid input is ``False``
    (its own problems are reported)."""
    event_filter, event_types = raw.get("filter"), raw.get("eventTypes") or []
    if not isinstance(event_filter, Mapping) or not event_filter or patterns.filter_problem(event_filter):
        return False
    if not isinstance(event_types, list) or any(patterns.event_type_problem(t) for t in event_types):
        return False
    try:
        pattern = patterns.rule_pattern(str(tenant_id), str(raw.get("name")), event_types, event_filter)
    except patterns.PatternConflict:
        return False
    return patterns.rule_pattern_chars(pattern) > patterns.MAX_EVENT_PATTERN_CHARS


def _destination(reader: Reader, value: Any, path: str, tenant_id: str | None) -> Destination | None:
    raw = reader.mapping(value, path)
    if raw is None:
        return None
    reader.unknown_keys(raw, path, DESTINATION_KEYS)
    engine = destination_engine(raw, tenant_id)
    if engine is None:
        reader.problem(f"{path}.engine", f"must be one of {', '.join(ENGINES)}; got {raw.get('engine')!r}")
    worker = engine == WORKER
    name = reader.name(raw, "name", path)
    url = reader.get(raw, "url", path, str, required=True)
    if url is not None:
        # Not ASCII: EventBridge refuses it mid-deploy (InvocationEndpoint's pattern). A worker endpoint
        # gets the worker's whole check instead (check_signed_destination_urls: the host is judged first).
        problem = https_url_problem(url, allow_loopback_http=reader.local) or (
            None if worker else ascii_problem(url) or _api_destination_url_problem(url)
        )
        if problem:
            reader.problem(f"{path}.url", problem)
            url = None
    method = reader.choice(raw, "method", path, METHODS, default="POST")
    event_types = parse_event_types(reader, raw, path)
    event_filter = parse_filter(reader, raw.get("filter"), f"{path}.filter", event_types)
    rate = reader.int_in(raw, "rateLimitPerSecond", path, 1, MAX_RATE_LIMIT, MAX_RATE_LIMIT)
    timeout = (
        reader.int_in(raw, "timeoutSeconds", path, MIN_TIMEOUT_SECONDS, MAX_TIMEOUT_SECONDS, MAX_TIMEOUT_SECONDS)
        if raw.get("timeoutSeconds") is not None
        else None
    )
    retry = _retry(reader, raw.get("retry"), f"{path}.retry")
    transform = parse_transform(reader, raw.get("transform"), f"{path}.transform", worker=worker)
    enabled = reader.get(raw, "enabled", path, bool, default=True)
    auth, legacy_signing = parse_auth(reader, raw.get("auth"), f"{path}.auth", worker=worker)
    headers = parse_headers(reader, raw.get("headers"), f"{path}.headers", auth)
    signing = parse_signing(reader, raw["signing"], f"{path}.signing") if raw.get("signing") is not None else None
    if not _engine_fits(reader, raw, path, engine, auth, legacy_signing):
        return None
    if worker:
        signing = legacy_signing or signing or Signing()
    if name is None or url is None or auth is None or engine is None or (worker and signing is None):
        return None
    return Destination(
        name=name,
        url=url,
        auth=auth,
        engine=engine,
        signing=signing if worker else None,
        method=method or "POST",
        event_types=event_types,
        filter=event_filter,
        rate_limit_per_second=rate,
        retry=retry,
        transform=transform,
        headers=headers,
        timeout_seconds=timeout,
        enabled=bool(enabled),
    )


def _api_destination_url_problem(url: str) -> str | None:
    """EventBridge's pattern for an API destination URL (a sandbox's loopback ``http://`` receiver is not
    deployed: ``sandbox plan`` plans it as ``https://loopback.invalid``)."""
    return None if url.startswith("http://") else eventbridge_url_problem(url)


def _engine_fits(
    reader: Reader, raw: Mapping[str, Any], path: str, engine: str | None, auth: Any, legacy: Signing | None
) -> bool:
    """Report every key the destination's engine cannot deliver, naming the key; ``True`` when none."""
    before = len(reader.problems)
    explicit = raw.get("engine") is not None
    if engine == API_DESTINATION:
        for key in WORKER_ONLY_KEYS:
            if raw.get(key) is not None:
                reader.problem(
                    f"{path}.{key}",
                    f"needs engine worker ({_WORKER_ONLY_REASONS[key]}); remove it or set engine: worker",
                )
        if legacy is not None:
            reader.problem(
                f"{path}.auth.type",
                "is signed, which means engine worker (EventBridge API destinations cannot sign); "
                "remove engine: apiDestination or choose another auth type",
            )
    elif engine == WORKER:
        why = "" if explicit else f" (the engine {_implied_by(raw)} needs)"
        for key in API_DESTINATION_ONLY_KEYS:
            if raw.get(key) is not None:
                reader.problem(
                    f"{path}.{key}",
                    f"applies to engine apiDestination only; engine worker{why} retries on "
                    "hookstack:delivery.retryScheduleSeconds",
                )
        if legacy is not None and raw.get("signing") is not None:
            reader.problem(
                f"{path}.signing",
                "cannot be combined with auth.type signed (which already turns signing on): keep signing and "
                "set auth to the receiver's auth (or none)",
            )
    return len(reader.problems) == before


def _implied_by(raw: Mapping[str, Any]) -> str:
    auth = raw.get("auth")
    if isinstance(auth, Mapping) and auth.get("type") == SIGNED:
        return "worker, which auth.type signed"
    keys = [key for key in WORKER_ONLY_KEYS if key in raw] or ["a filter longer than a rule pattern holds"]
    return "worker, which " + " and ".join(keys)


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
