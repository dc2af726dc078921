"""``hookstack:delivery``: signed deliveries (Standard Webhooks) made by hookstack's delivery worker."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

from components.config.limits import MAX_MAXIMUM_CONCURRENCY, MIN_MAXIMUM_CONCURRENCY
from components.config.model import NAMESPACE, DeliverySettings
from components.config.reader import Reader
from components.config.tenants import destination_engine
from functions.delivery import ssrf
from functions.delivery.endpoint_fields import MAX_TIMEOUT_SECONDS, MIN_TIMEOUT_SECONDS, WORKER
from functions.delivery.protection import MAX_BREAKER_COOLDOWN_SECONDS, MAX_BREAKER_FAILURES
from functions.delivery.settings import API_TENANTS_CHOICES

DELIVERY_KEYS = (
    "enabled",
    "timeoutSeconds",
    "retryScheduleSeconds",
    "disableAfterFailures",
    "historyTtlDays",
    "rotationOverlapHours",
    "allowedCidrs",
    "maxResponseBytes",
    "workerMaxConcurrency",
    "fanoutMaxConcurrency",
    "breakerFailureThreshold",
    "breakerCooldownSeconds",
    "apiTenants",
)


def parse_delivery(reader: Reader, value: Any) -> DeliverySettings:
    raw, path = reader.section(value, "delivery", DELIVERY_KEYS)
    schedule: list[int] = []
    for item_path, item in reader.items(raw, "retryScheduleSeconds", path):
        if isinstance(item, int) and not isinstance(item, bool) and 1 <= item <= 43_200:
            schedule.append(item)
        else:
            reader.problem(item_path, f"must be a whole number of seconds between 1 and 43200, got {item!r}")
    if "retryScheduleSeconds" in raw and len(schedule) > 20:
        reader.problem(f"{path}.retryScheduleSeconds", "must have at most 20 entries")
    cidrs = reader.strings(raw, "allowedCidrs", path)
    for index, cidr in enumerate(cidrs):
        try:
            network = ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            reader.problem(f"{path}.allowedCidrs[{index}]", f"must be a CIDR like 10.0.0.0/8; got {cidr!r}")
            continue
        problem = ssrf.allowed_cidr_problem(network)  # the worker's own rule (settings refuse the same)
        if problem:
            reader.problem(f"{path}.allowedCidrs[{index}]", f"{cidr!r} {problem}")
    defaults = DeliverySettings()
    return DeliverySettings(
        enabled=bool(reader.get(raw, "enabled", path, bool, default=defaults.enabled)),
        timeout_seconds=reader.int_in(
            raw, "timeoutSeconds", path, MIN_TIMEOUT_SECONDS, MAX_TIMEOUT_SECONDS, defaults.timeout_seconds
        ),
        retry_schedule_seconds=tuple(schedule) if "retryScheduleSeconds" in raw else defaults.retry_schedule_seconds,
        disable_after_failures=reader.int_in(
            raw, "disableAfterFailures", path, 1, 10_000, defaults.disable_after_failures
        ),
        history_ttl_days=reader.int_in(raw, "historyTtlDays", path, 1, 365, defaults.history_ttl_days),
        rotation_overlap_hours=reader.int_in(
            raw, "rotationOverlapHours", path, 0, 24 * 30, defaults.rotation_overlap_hours
        ),
        allowed_cidrs=cidrs,
        max_response_bytes=reader.int_in(raw, "maxResponseBytes", path, 0, 65_536, defaults.max_response_bytes),
        worker_max_concurrency=reader.int_in(
            raw,
            "workerMaxConcurrency",
            path,
            MIN_MAXIMUM_CONCURRENCY,
            MAX_MAXIMUM_CONCURRENCY,
            defaults.worker_max_concurrency,
        ),
        fanout_max_concurrency=reader.int_in(
            raw,
            "fanoutMaxConcurrency",
            path,
            MIN_MAXIMUM_CONCURRENCY,
            MAX_MAXIMUM_CONCURRENCY,
            defaults.fanout_max_concurrency,
        ),
        breaker_failure_threshold=reader.int_in(
            raw, "breakerFailureThreshold", path, 1, MAX_BREAKER_FAILURES, defaults.breaker_failure_threshold
        ),
        breaker_cooldown_seconds=reader.int_in(
            raw, "breakerCooldownSeconds", path, 1, MAX_BREAKER_COOLDOWN_SECONDS, defaults.breaker_cooldown_seconds
        ),
        api_tenants=reader.choice(raw, "apiTenants", path, API_TENANTS_CHOICES, default=defaults.api_tenants)
        or defaults.api_tenants,
    )


def check_signed_destination_urls(reader: Reader, tenants: Any, delivery: DeliverySettings) -> None:
    """Worker endpoints are called by the delivery worker from inside AWS, so their URLs must pass
    the SSRF guard (literal addresses, internal names; DNS is checked at every attempt) with
    ``allowedCidrs``, as the worker checks them: a config error here, not a failure mid-deploy."""
    allowed: list[ssrf.IPNetwork] = []
    for cidr in (*delivery.allowed_cidrs, *(ssrf.LOOPBACK_CIDRS if reader.local else ())):
        try:
            allowed += ssrf.parse_networks([cidr])
        except ValueError:
            continue  # reported by parse_delivery
    for tenant_index, tenant in enumerate(tenants if isinstance(tenants, list) else []):
        destinations = tenant.get("destinations") if isinstance(tenant, Mapping) else None
        for index, destination in enumerate(destinations if isinstance(destinations, list) else []):
            if not isinstance(destination, Mapping) or not isinstance(destination.get("url"), str):
                continue  # reported by the tenants section
            if destination_engine(destination, tenant.get("id")) != WORKER:
                continue
            key = f"{NAMESPACE}:tenants[{tenant_index}].destinations[{index}].url"
            if any(problem.path == key for problem in reader.problems):
                continue  # the tenants section said what is wrong with it already: one problem per key
            auth = destination.get("auth")
            token_url = auth.get("authorizationEndpoint") if isinstance(auth, Mapping) else None
            if isinstance(token_url, str):
                # The worker fetches OAuth tokens from inside AWS too, through the same guard.
                try:
                    ssrf.parse_url(token_url, allowed)
                except ssrf.UnsafeUrl as error:
                    reader.problem(f"{key.removesuffix('.url')}.auth.authorizationEndpoint", str(error))
            try:
                ssrf.parse_url(destination["url"], allowed)
            except ssrf.UnsendableUrl as error:
                reader.problem(key, str(error))  # not about the address: no word on allowedCidrs
            except ssrf.UnsafeUrl as error:
                reader.problem(
                    key,
                    f"{error} (worker endpoints are called from inside AWS; hookstack:delivery.allowedCidrs exempts networks)",
                )
