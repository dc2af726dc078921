"""What the outgoing side consists of, derived once from the stack configuration.

Both the Pulumi components and the local sandbox build their resources from this plan: bus names,
how tenants are spread over buses, every rule's event pattern, every target's input transformer,
retry policy and connection. Because both read the same plan, the sandbox cannot drift from what
``pulumi up`` deploys. Never imports ``pulumi``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from components.config import (
    MAX_API_DESTINATIONS,
    MAX_BUSES,
    MAX_CONNECTIONS,
    MAX_EVENT_PATTERN_CHARS,
    MAX_SHARDS,
    ApiKeyAuth,
    BasicAuth,
    BearerAuth,
    ConfigProblem,
    Destination,
    NoAuth,
    OAuthAuth,
    RetryPolicy,
    Secret,
    StackConfig,
    Tenant,
    Transform,
    to_json,
)
from components.delivery_rules import (
    delivery_rule_pattern,  # noqa: F401 (re-exported: sandbox and tests use it)
    delivery_rule_patterns,
    delivery_tenants,
)
from functions import patterns
from functions.delivery.endpoint_fields import BEARER_PREFIX
from functions.events import REDRIVE_MARKER_KEY
from functions.patterns import redrive_clause  # noqa: F401 (re-exported; owned there: the config sizes rule patterns)

# Rules the entry bus keeps for hookstack itself (the signed-delivery rule, and room to grow).
RESERVED_RULES_PER_BUS = 5
# In automatic mode a stack that outgrows one bus is spread over at least this many shard buses,
# so that adding tenants later lands them on existing or new shards without moving anyone.
AUTO_MIN_SHARDS = 16
# Header an API destination without auth sends (EventBridge connections always need some auth).
NO_AUTH_HEADER = "X-Hookstack-Destination"

_UNSAFE = re.compile(r"[^A-Za-z0-9-]+")


def resource_key(*parts: str, max_length: int = 32) -> str:
    """A short, stable, name-safe key for resources of one tenant/destination.

    Used in logical names (and so in the physical names Pulumi derives from them), which AWS limits
    to 64 characters of ``[A-Za-z0-9._-]`` for rules, connections and API destinations. When the
    readable form must be altered or shortened, a hash of the original keeps it unique.
    """
    original = "-".join(parts)
    readable = _UNSAFE.sub("-", original).strip("-").lower()
    if readable == original.lower() and len(readable) <= max_length and original == original.lower():
        return readable
    digest = hashlib.sha256(original.encode()).hexdigest()[:6]
    return f"{readable[: max_length - 7].rstrip('-')}-{digest}"


@dataclass(frozen=True)
class ConnectionAuth:
    """EventBridge connection authorization, in the API's terms (values may be :class:`Secret`)."""

    authorization_type: str  # API_KEY | BASIC | OAUTH_CLIENT_CREDENTIALS
    parameters: dict[str, Any]
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class ApiDestinationPlan:
    """One API destination: its connection, endpoint, rule and target."""

    tenant_id: str
    name: str
    key: str
    bus_index: int
    url: str
    method: str
    rate_limit_per_second: int
    retry: RetryPolicy
    event_pattern: dict[str, Any]
    transform: Transform | None
    auth: ConnectionAuth
    enabled: bool

    @property
    def event_pattern_json(self) -> str:
        return to_json(self.event_pattern)

    @property
    def target_id(self) -> str:
        return "api-destination"


@dataclass(frozen=True)
class RoutingRulePlan:
    """A rule on the entry bus forwarding the events of some tenants to their shard bus."""

    key: str
    shard: int
    tenant_ids: tuple[str, ...]

    @property
    def event_pattern(self) -> dict[str, Any]:
        # No redrive clause: marked events of these tenants are forwarded too, and the shard's
        # destination rules pick the one they are marked for.
        return {"detail": {"tenantId": list(self.tenant_ids)}}

    @property
    def event_pattern_json(self) -> str:
        return to_json(self.event_pattern)


@dataclass(frozen=True)
class BusPlan:
    index: int  # 0 = the entry bus; shards are 1..n
    name: str


@dataclass(frozen=True)
class ProviderPlan:
    entry_bus_name: str
    sharded: bool
    buses: tuple[BusPlan, ...]
    tenant_bus: dict[str, int]
    destinations: tuple[ApiDestinationPlan, ...]
    routing_rules: tuple[RoutingRulePlan, ...]
    rules_per_bus: int
    shard_count: int
    delivery_rule_patterns: tuple[dict[str, Any], ...] = ()
    """The delivery rules' patterns (:func:`delivery_rule_patterns`); none when delivery is off."""
    delivery_tenants: tuple[str, ...] | None = None
    """``delivery.apiTenants: listed``: the tenants the delivery rules cover; ``None``: every tenant."""

    @property
    def name_prefix(self) -> str:
        """Prefix of this stack's connection and API destination names (IAM wildcards use it)."""
        return resource_key(self.entry_bus_name, max_length=24) + "-"

    def connection_name(self, destination: ApiDestinationPlan) -> str:
        """Physical name of a destination's connection and API destination (at most 57 characters)."""
        return f"{self.name_prefix}{destination.key}"

    def bus(self, index: int) -> BusPlan:
        return next(b for b in self.buses if b.index == index)

    def rules_on(self, index: int) -> int:
        count = sum(1 for d in self.destinations if d.bus_index == index)
        if index == 0:
            count += len(self.routing_rules) + len(self.delivery_rule_patterns)
        return count


def event_pattern(tenant: Tenant, destination: Destination) -> dict[str, Any]:
    """The rule pattern of a destination (:func:`destination_pattern`; the config refuses filters that conflict)."""
    return destination_pattern(tenant.id, destination.name, destination.event_types, destination.filter)


def destination_pattern(
    tenant_id: str, name: str, event_types: Sequence[str] = (), event_filter: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The tenant's events, of ``event_types`` (exact, or a ``prefix`` for ``invoice.*``), redriven ones only when
    marked for ``name`` (:func:`redrive_clause`), matching ``event_filter`` (:func:`functions.patterns.merge`)."""
    return patterns.rule_pattern(tenant_id, name, event_types, event_filter)


def redrive_marker(pattern: Any) -> str | None:
    """The marker a rule's event pattern (a dict or its JSON) accepts; ``None`` when it has no
    :func:`redrive_clause` (a routing rule, or a rule deployed before markers existed)."""
    if isinstance(pattern, str):
        try:
            pattern = json.loads(pattern)
        except ValueError:
            return None
    detail = pattern.get("detail") if isinstance(pattern, dict) else None
    branches = detail.get("$or") if isinstance(detail, dict) else None
    for branch in branches if isinstance(branches, list) else ():
        values = branch.get(REDRIVE_MARKER_KEY) if isinstance(branch, dict) else None
        if isinstance(values, list) and len(values) == 1 and isinstance(values[0], str):
            return values[0]
    return None


def connection_auth(tenant: Tenant, destination: Destination) -> ConnectionAuth:
    auth = destination.auth
    headers = tuple(sorted(destination.headers.items()))
    if isinstance(auth, ApiKeyAuth):
        return ConnectionAuth("API_KEY", {"key": auth.header, "value": auth.value}, headers)
    if isinstance(auth, BasicAuth):
        return ConnectionAuth("BASIC", {"username": auth.username, "password": auth.password}, headers)
    if isinstance(auth, BearerAuth):
        token = Secret(BEARER_PREFIX + auth.token.reveal())  # no bearer connection type: an API key one
        return ConnectionAuth("API_KEY", {"key": "Authorization", "value": token}, headers)
    if isinstance(auth, OAuthAuth):
        body = [("grant_type", "client_credentials")]
        if auth.scope:
            body.append(("scope", auth.scope))
        return ConnectionAuth(
            "OAUTH_CLIENT_CREDENTIALS",
            {
                "authorization_endpoint": auth.authorization_endpoint,
                "http_method": auth.http_method,
                "client_id": auth.client_id,
                "client_secret": auth.client_secret,
                # AWS requires oauth_http_parameters for client credentials; the grant goes in the body.
                "body_parameters": body,
            },
            headers,
        )
    if isinstance(auth, NoAuth):
        # Connections cannot be created without authorization; a non-secret marker header stands in.
        return ConnectionAuth("API_KEY", {"key": NO_AUTH_HEADER, "value": f"{tenant.id}/{destination.name}"}, headers)
    raise ValueError(f"auth type {auth.type!r} is not delivered by API destinations")


def shard_of(tenant_id: str, shard_count: int) -> int:
    """The shard (1..shard_count) of a tenant: depends on the tenant id and the count only."""
    digest = hashlib.sha256(tenant_id.encode()).digest()
    return int.from_bytes(digest[:8], "big") % shard_count + 1


def build_provider_plan(config: StackConfig, default_bus_name: str = "hookstack") -> ProviderPlan:
    entry = config.provider.bus_name or default_bus_name
    covered = delivery_tenants(config)
    delivery_rules = delivery_rule_patterns(covered) if config.delivery.enabled else ()
    # Delivery rules beyond the one reserved take room from the entry bus's API destination rules.
    capacity = config.provider.rules_per_bus - RESERVED_RULES_PER_BUS - max(0, len(delivery_rules) - 1)
    rules_by_tenant = {t.id: sum(1 for d in t.destinations if not d.is_worker) for t in config.tenants}
    total = sum(rules_by_tenant.values())

    requested = config.provider.shards
    if requested == 1 or (requested is None and total <= capacity):
        shard_count = 0
    elif requested is not None:
        shard_count = requested
    else:
        shard_count = AUTO_MIN_SHARDS
        while shard_count < MAX_SHARDS and not _shards_fit(rules_by_tenant, shard_count, capacity):
            shard_count = min(shard_count * 2, MAX_SHARDS)

    # A tenant without a rule stays on the entry bus (no routing rule, and maybe no shard bus, is there for it).
    tenant_bus = {
        t.id: (shard_of(t.id, shard_count) if shard_count and rules_by_tenant[t.id] else 0) for t in config.tenants
    }
    used = sorted({tenant_bus[t] for t, n in rules_by_tenant.items() if n} - {0})
    buses = (BusPlan(0, entry),) + tuple(BusPlan(i, f"{entry}-shard-{i:02d}") for i in used)

    destinations = tuple(
        ApiDestinationPlan(
            tenant_id=tenant.id,
            name=destination.name,
            key=resource_key(tenant.id, destination.name),
            bus_index=tenant_bus[tenant.id],
            url=destination.url,
            method=destination.method,
            rate_limit_per_second=destination.rate_limit_per_second,
            retry=destination.retry,
            event_pattern=event_pattern(tenant, destination),
            transform=destination.transform,
            auth=connection_auth(tenant, destination),
            enabled=destination.enabled,
        )
        for tenant, destination in config.api_destinations()
    )
    routing = tuple(_routing_rules(tenant_bus, rules_by_tenant, used)) if shard_count else ()
    return ProviderPlan(
        entry_bus_name=entry,
        sharded=bool(shard_count),
        buses=buses,
        tenant_bus=tenant_bus,
        destinations=destinations,
        routing_rules=routing,
        rules_per_bus=config.provider.rules_per_bus,
        shard_count=shard_count,
        delivery_rule_patterns=delivery_rules,
        delivery_tenants=covered,
    )


def _shards_fit(rules_by_tenant: dict[str, int], shard_count: int, capacity: int) -> bool:
    load: dict[int, int] = {}
    for tenant_id, rules in rules_by_tenant.items():
        shard = shard_of(tenant_id, shard_count)
        load[shard] = load.get(shard, 0) + rules
    return all(n <= capacity for n in load.values())


def _routing_rules(
    tenant_bus: dict[str, int], rules_by_tenant: dict[str, int], shards: list[int]
) -> Iterator[RoutingRulePlan]:
    for shard in shards:
        tenant_ids = sorted(t for t, bus in tenant_bus.items() if bus == shard and rules_by_tenant[t])
        chunk: list[str] = []
        part = 0
        for tenant_id in tenant_ids:
            candidate = RoutingRulePlan("", shard, tuple(chunk + [tenant_id]))
            if chunk and len(candidate.event_pattern_json) > MAX_EVENT_PATTERN_CHARS:
                yield RoutingRulePlan(f"route-{shard:02d}-{part}", shard, tuple(chunk))
                chunk, part = [], part + 1
            chunk.append(tenant_id)
        if chunk:
            yield RoutingRulePlan(f"route-{shard:02d}-{part}", shard, tuple(chunk))


def quota_problems(config: StackConfig, plan: ProviderPlan) -> list[ConfigProblem]:
    """Everything in ``config`` that AWS would refuse at deploy time, with the key to change.

    ``plan`` is ``build_provider_plan(config, ...)``: the plan the program declares, so the quotas are
    checked on what is deployed (:func:`components.stack.load_stack` builds it once for both).
    Per-destination patterns and the API destination count come first, the plan's checks only when
    those pass, so that one cause is not reported twice (too many destinations are also too many rules).
    """
    problems: list[ConfigProblem] = []
    api = config.api_destinations()
    for tenant_index, tenant in enumerate(config.tenants):
        for destination_index, destination in enumerate(tenant.destinations):
            if destination.is_worker:
                continue  # no rule of its own: the fan-out evaluates eventTypes and filter
            pattern = to_json(event_pattern(tenant, destination))
            if len(pattern) > MAX_EVENT_PATTERN_CHARS:
                key = "filter" if destination.filter else "eventTypes"
                advice = f"use {'a shorter filter, engine: worker or ' if destination.filter else ''}fewer or shorter event types"
                problems.append(
                    ConfigProblem(
                        f"hookstack:tenants[{tenant_index}].destinations[{destination_index}].{key}",
                        f"makes an event pattern of {len(pattern)} characters; EventBridge allows "
                        f"{MAX_EVENT_PATTERN_CHARS} ({advice})",
                    )
                )
    if len(api) > MAX_API_DESTINATIONS:
        problems.append(
            ConfigProblem(
                "hookstack:tenants",
                f"declare {len(api)} API destinations (and as many connections); an account allows "
                f"{min(MAX_API_DESTINATIONS, MAX_CONNECTIONS)} per region unless the quota was raised",
            )
        )
    if problems:
        return problems
    return plan_problems(plan)


def plan_problems(plan: ProviderPlan) -> list[ConfigProblem]:
    """Quota checks on a built plan: rules per bus, pattern sizes, bus count.

    Every destination has a rule of its own with exactly one target, so the 5-targets-per-rule
    quota cannot be reached (and a 401 from one endpoint, or a disabled destination, touches no
    other). ``tests/components/test_plan.py`` holds the plan to that.
    """
    problems: list[ConfigProblem] = []
    limit = plan.rules_per_bus
    if len(plan.buses) > MAX_BUSES:
        problems.append(
            ConfigProblem("hookstack:provider.shards", f"needs {len(plan.buses)} buses; an account allows {MAX_BUSES}")
        )
    for bus in plan.buses:
        rules = plan.rules_on(bus.index)
        delivery_rules = len(plan.delivery_rule_patterns) if bus.index == 0 else 0
        if rules > limit:
            where = "hookstack:provider.shards" if plan.sharded else "hookstack:tenants"
            advice = (
                "set hookstack:provider.shards to a larger number (re-homes tenants; see docs/runbook.md)"
                if plan.sharded
                else "remove hookstack:provider.shards (automatic) or set it above 1 to spread tenants over buses"
            )
            if delivery_rules > limit - RESERVED_RULES_PER_BUS:  # sharding moves API destination rules only
                where, advice = (
                    "hookstack:delivery.apiTenants",
                    (
                        f"{delivery_rules} are delivery rules for {len(plan.delivery_tenants or ())} listed tenants, which "
                        "no shard count moves (use apiTenants: all, or cover fewer tenants)"
                    ),
                )
            problems.append(
                ConfigProblem(where, f"bus {bus.name} would hold {rules} rules; the quota is {limit}: {advice}")
            )
    for routing in plan.routing_rules:
        if len(routing.event_pattern_json) > MAX_EVENT_PATTERN_CHARS:
            problems.append(
                ConfigProblem(
                    "hookstack:tenants",
                    f"tenant id {routing.tenant_ids[0]!r} alone makes a routing pattern over "
                    f"{MAX_EVENT_PATTERN_CHARS} characters",
                )
            )
    return problems
