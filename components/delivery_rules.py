"""The signed-delivery rules on the entry bus: which tenants' events enter the worker pipeline.

``hookstack:delivery.apiTenants: all`` (the default) sends every tenant event (endpoints can be
created through the subscription API for any tenant at any time). ``listed`` sends only the events of
tenants with a worker endpoint in the config or ``selfService: true``: a tenant with API destinations
only then pays no worker-path charge (no SQS message, no fan-out share). EventBridge limits a pattern to
``MAX_EVENT_PATTERN_CHARS`` (2,048) characters, so the listed tenants are split over as many rules as
needed; each rule takes one of the entry bus's rules (``ProviderPlan.rules_on`` counts them). Never
imports ``pulumi``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from components.config import MAX_EVENT_PATTERN_CHARS, StackConfig
from components.config.limits import to_json
from functions.delivery.settings import API_TENANTS_ALL
from functions.events import REDRIVE_MARKER_KEY


def delivery_rule_pattern() -> dict[str, Any]:
    """Every tenant event goes to the signed-delivery queue (endpoints live in DynamoDB), except
    redriven ones: they are meant for one API destination's rule, and signed deliveries have a
    dead-letter queue and a replay of their own."""
    return {"detail": {"tenantId": [{"exists": True}], REDRIVE_MARKER_KEY: [{"exists": False}]}}


def delivery_tenants(config: StackConfig) -> tuple[str, ...] | None:
    """The tenants whose events enter the worker pipeline: ``None`` (every tenant) when
    ``delivery.apiTenants`` is ``all``; else those with a worker endpoint in the config or
    ``selfService: true`` (the subscription API creates endpoints for these only)."""
    if config.delivery.api_tenants == API_TENANTS_ALL:
        return None
    return tuple(t.id for t in config.tenants if t.self_service or any(d.is_worker for d in t.destinations))


def worker_tenants(config: StackConfig) -> tuple[str, ...]:
    """The config's tenants with a worker endpoint or ``selfService`` (stack output ``deliveryTenants``:
    the tenants ``python -m ops status`` looks at without a ``--tenant``)."""
    return tuple(t.id for t in config.tenants if t.self_service or any(d.is_worker for d in t.destinations))


def delivery_rule_patterns(tenant_ids: Sequence[str] | None) -> tuple[dict[str, Any], ...]:
    """The delivery rules: one for every tenant event (``None``), else the listed tenants' events,
    split over as many rules as EventBridge's pattern size needs (``MAX_EVENT_PATTERN_CHARS``: about
    30 tenants of 64-character ids, 150 of 8-character ones, per rule). No tenant, no rule."""
    if tenant_ids is None:
        return (delivery_rule_pattern(),)

    def pattern(ids: Sequence[str]) -> dict[str, Any]:
        return {"detail": {"tenantId": list(ids), REDRIVE_MARKER_KEY: [{"exists": False}]}}

    rules: list[dict[str, Any]] = []
    chunk: list[str] = []
    for tenant_id in sorted(set(tenant_ids)):
        if chunk and len(to_json(pattern([*chunk, tenant_id]))) > MAX_EVENT_PATTERN_CHARS:
            rules.append(pattern(chunk))
            chunk = []
        chunk.append(tenant_id)
    if chunk:
        rules.append(pattern(chunk))
    return tuple(rules)
