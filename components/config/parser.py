"""Parsing the ``hookstack:`` keys into a :class:`StackConfig`: every section, then the checks across them.

This is the field and cross-field part of validation. The quota checks need the provider plan and
run in :func:`components.stack.load_stack`, the one entry point of the program and the sandbox,
which reports them together with the problems found here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from components.config.aurora import parse_aurora
from components.config.consumer import parse_consumer
from components.config.delivery import check_signed_destination_urls, parse_delivery
from components.config.event_types import check_destination_event_types, parse_event_types
from components.config.model import NAMESPACE, ConfigProblem, StackConfig, StackConfigError
from components.config.portal import parse_portal, portal_needs_delivery
from components.config.provider import AURORA_SOURCE_NAME, derived_source_problem, parse_provider
from components.config.reader import Reader, kind_of
from components.config.tenants import parse_tenants
from components.config.tracing import parse_tracing
from functions.delivery.endpoint_fields import WORKER_ONLY_KEYS

TOP_LEVEL_KEYS = (
    "tenants",
    "provider",
    "delivery",
    "consumer",
    "aurora",
    "alarmEmail",
    "eventTypes",
    "portal",
    "tracing",
)
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class ParsedConfig:
    """The model built from what is valid, and every problem found (in the order they were met)."""

    config: StackConfig
    problems: tuple[ConfigProblem, ...]


def read_stack_config(raw: Mapping[str, Any], *, local: bool = False) -> ParsedConfig:
    """Parse the ``hookstack:`` keys of a stack, collecting problems instead of raising.

    ``raw`` maps keys without the namespace (``tenants``, ``consumer``...) to their values, as
    ``pulumi.Config("hookstack").get_object`` returns them. ``local=True`` is the sandbox's mode:
    destination URLs may be plain ``http://`` on loopback there, and only there. Invalid tenants and
    destinations are left out of the model.
    """
    reader = Reader(local=local)
    root = NAMESPACE
    for key in raw:
        if key not in TOP_LEVEL_KEYS:
            reader.problem(f"{root}:{key}", f"unknown key; allowed keys: {', '.join(TOP_LEVEL_KEYS)}")

    alarm_email = raw.get("alarmEmail")
    if alarm_email is not None and not isinstance(alarm_email, str):  # reader.get would name `hookstack.alarmEmail`
        reader.problem(f"{root}:alarmEmail", f"must be a string, got {kind_of(alarm_email)}")
        alarm_email = None
    if alarm_email is not None and not EMAIL_RE.fullmatch(alarm_email):
        reader.problem(f"{root}:alarmEmail", f"must be an email address; got {alarm_email!r}")
        alarm_email = None

    tenants = parse_tenants(reader, raw.get("tenants"))
    event_types = parse_event_types(reader, raw.get("eventTypes"))
    check_destination_event_types(reader, event_types, raw.get("tenants"))
    provider = parse_provider(reader, raw.get("provider"))
    delivery = parse_delivery(reader, raw.get("delivery"))
    check_signed_destination_urls(reader, raw.get("tenants"), delivery)
    consumer = parse_consumer(reader, raw.get("consumer"), event_source=provider.event_source)
    aurora = parse_aurora(reader, raw.get("aurora"))
    if aurora.enabled and (problem := derived_source_problem(provider.event_source, AURORA_SOURCE_NAME)):
        reader.problem(f"{root}:provider.eventSource", f"with aurora enabled, {problem}")
    config = StackConfig(
        tenants=tenants,
        provider=provider,
        delivery=delivery,
        consumer=consumer,
        aurora=aurora,
        alarm_email=alarm_email,
        portal=portal_needs_delivery(
            reader, raw.get("portal"), parse_portal(reader, raw.get("portal")), delivery.enabled
        ),
        event_types=event_types,
        tracing=parse_tracing(reader, raw.get("tracing")),
    )
    if not config.delivery.enabled:
        for tenant_index, tenant in enumerate(config.tenants):
            for destination_index, destination in enumerate(tenant.destinations):
                if destination.is_worker:
                    reader.problem(*_worker_without_delivery(raw, tenant_index, destination_index))
    return ParsedConfig(config, tuple(reader.problems))


def _worker_without_delivery(raw: Mapping[str, Any], tenant_index: int, destination_index: int) -> tuple[str, str]:
    """The problem of a worker endpoint on a stack without the delivery pipeline, at the key that chose it."""
    path = f"{NAMESPACE}:tenants[{tenant_index}].destinations[{destination_index}]"
    destination = raw["tenants"][tenant_index]["destinations"][destination_index]
    auth = destination.get("auth")
    if isinstance(auth, Mapping) and auth.get("type") == "signed":
        return f"{path}.auth.type", (
            "is signed, but hookstack:delivery.enabled is false: nothing would deliver it "
            "(enable delivery, or use apiKey, basic, oauth or none)"
        )
    implied = [k for k in WORKER_ONLY_KEYS if k in destination] or ["filter"]  # else a filter only the worker holds
    key = "engine" if destination.get("engine") is not None else implied[0]
    return f"{path}.{key}", (
        "needs engine worker, but hookstack:delivery.enabled is false: nothing would deliver it "
        "(enable delivery, or make it an API destination)"
    )


def parse_stack_config(raw: Mapping[str, Any], *, local: bool = False) -> StackConfig:
    """:func:`read_stack_config`, raising :class:`StackConfigError` listing every problem.

    Field and cross-field checks only: the program and the sandbox use
    :func:`components.stack.load_stack`, which adds the quota checks on the provider plan.
    """
    parsed = read_stack_config(raw, local=local)
    if parsed.problems:
        raise StackConfigError(parsed.problems)
    return parsed.config
