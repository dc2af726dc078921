"""The stack configuration's model: typed, immutable, and what every other part of hookstack reads.

The parser (:mod:`components.config.parser`) builds a :class:`StackConfig` from the ``hookstack:``
keys of a stack; the Pulumi program, the plan and the sandbox read only this model. Secret values
are wrapped in :class:`Secret` so that they never show up in a ``repr``, a log line or an error
message; the Pulumi program turns them into ``pulumi.Output.secret`` values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from components.config.limits import MAX_EVENT_AGE_SECONDS, MAX_RATE_LIMIT, MAX_RETRY_ATTEMPTS, MAX_RULES_PER_BUS
from functions.delivery.endpoint_fields import API_DESTINATION, WORKER
from functions.delivery.protection import BREAKER_COOLDOWN_SECONDS, BREAKER_FAILURES
from functions.delivery.settings import API_TENANTS_ALL
from functions.delivery.signing import DEFAULT_SCHEME
from functions.events import EventCatalog
from functions.inbound.dedupe import DEFAULT_DEDUPE
from functions.inbound.hmac_scheme import HmacConfig

NAMESPACE = "hookstack"


def default_bus_name(stack: str) -> str:
    """The entry bus of a stack without ``provider.busName``: ``hookstack-<stack>``."""
    return f"{NAMESPACE}-{stack}"


# The public ingest function's reserved concurrency: ~2,000 webhooks/s at ~50 ms each, while a flood
# of unsigned requests cannot take more of the account's pool (1,000 by default, of which Lambda
# keeps 100 unreserved).
DEFAULT_INGEST_RESERVED_CONCURRENCY = 100


class Secret:
    """A secret configuration value. Its text is only reachable through :meth:`reveal`."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret(***)"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))


@dataclass(frozen=True)
class RetryPolicy:
    """How EventBridge retries a failed delivery before it goes to the dead-letter queue."""

    max_attempts: int = MAX_RETRY_ATTEMPTS
    """Retries after the first attempt, 0..185 (AWS ``MaximumRetryAttempts``)."""
    max_event_age_seconds: int = MAX_EVENT_AGE_SECONDS
    """Give up on an event older than this, 60..86400 (AWS ``MaximumEventAgeInSeconds``)."""


@dataclass(frozen=True)
class Transform:
    """An EventBridge input transformer: input paths and a template with ``<placeholders>``."""

    paths: Mapping[str, str]
    template: str


@dataclass(frozen=True)
class ApiKeyAuth:
    header: str
    value: Secret
    type: Literal["apiKey"] = "apiKey"


@dataclass(frozen=True)
class BasicAuth:
    username: str
    password: Secret
    type: Literal["basic"] = "basic"


@dataclass(frozen=True)
class OAuthAuth:
    authorization_endpoint: str
    client_id: str
    client_secret: Secret
    scope: str | None = None
    http_method: str = "POST"
    type: Literal["oauth"] = "oauth"


@dataclass(frozen=True)
class BearerAuth:
    """``Authorization: Bearer <token>`` (on an API destination: an API key connection sending that header)."""

    token: Secret
    type: Literal["bearer"] = "bearer"


@dataclass(frozen=True)
class NoAuth:
    type: Literal["none"] = "none"


Auth = ApiKeyAuth | BasicAuth | OAuthAuth | BearerAuth | NoAuth


@dataclass(frozen=True)
class Signing:
    """Standard Webhooks signatures made by hookstack's delivery worker (every worker endpoint has one)."""

    scheme: str = DEFAULT_SCHEME
    """``v1`` (HMAC-SHA256); ``v1a`` (ed25519) is in the model but refused until a signer exists."""
    secret: Secret | None = None
    """``whsec_`` + base64 key; generated at deploy time when absent."""
    previous_secret: Secret | None = None
    """The secret being rotated out: deliveries carry its signature too until it is removed."""


@dataclass(frozen=True)
class Destination:
    """One customer endpoint that receives a tenant's events (docs/endpoints.md: one model, two engines)."""

    name: str
    url: str
    auth: Auth
    engine: str = API_DESTINATION
    """``apiDestination`` (EventBridge API destination) or ``worker`` (hookstack's delivery worker)."""
    signing: Signing | None = None
    """Set for every worker endpoint (``auth.type: signed`` and ``signing`` both land here)."""
    method: str = "POST"
    event_types: tuple[str, ...] = ()
    """``detail-type`` values to deliver, exact or a prefix ending in ``.*``; empty means every event type."""
    filter: Mapping[str, Any] | None = None
    """An EventBridge event pattern the event must match as well (:mod:`functions.patterns`)."""
    rate_limit_per_second: int = MAX_RATE_LIMIT
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    """API destinations only (the worker follows ``hookstack:delivery.retryScheduleSeconds``)."""
    transform: Transform | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    """Static, non-secret headers added to every request."""
    timeout_seconds: int | None = None
    """Worker only: this endpoint's per-attempt deadline (``None``: ``hookstack:delivery.timeoutSeconds``)."""
    enabled: bool = True

    @property
    def is_worker(self) -> bool:
        """Delivered by hookstack's delivery worker (which signs every delivery), not by an API destination."""
        return self.engine == WORKER

    @property
    def is_signed(self) -> bool:
        return self.is_worker


@dataclass(frozen=True)
class Tenant:
    id: str
    destinations: tuple[Destination, ...] = ()
    self_service: bool = False
    """May create endpoints through the subscription API when ``delivery.apiTenants`` is ``listed``."""


@dataclass(frozen=True)
class ProviderSettings:
    """The outgoing side: the event bus, its archive and how tenants are spread over buses."""

    bus_name: str | None = None
    """Name of the entry bus; derived from the project and stack when absent."""
    event_source: str = "hookstack"
    """``source`` of the events hookstack itself publishes (the Aurora relay appends ``.aurora``)."""
    archive_retention_days: int = 7
    """0 keeps archived events forever."""
    rules_per_bus: int = MAX_RULES_PER_BUS
    """The account's rules-per-bus quota (300 in most regions, 100 in some)."""
    shards: int | None = None
    """Number of shard buses; ``None`` = automatic (one bus while everything fits)."""


@dataclass(frozen=True)
class DeliverySettings:
    """Signed deliveries made by the delivery worker (Standard Webhooks)."""

    enabled: bool = True
    timeout_seconds: int = 15
    retry_schedule_seconds: tuple[int, ...] = (5, 300, 1800, 7200, 18000, 36000, 36000)
    disable_after_failures: int = 10
    """Consecutive messages that exhausted every retry before the endpoint is disabled."""
    history_ttl_days: int = 30
    rotation_overlap_hours: int = 24
    allowed_cidrs: tuple[str, ...] = ()
    """Destination networks exempt from the SSRF block (empty: only public addresses)."""
    max_response_bytes: int = 4096
    worker_max_concurrency: int = 20
    """Most worker invocations at once (SQS event source ``MaximumConcurrency``): with 10 deliveries
    in flight per invocation, at most 200 requests; hanging endpoints cannot take more of the account's
    Lambda concurrency than this."""
    fanout_max_concurrency: int = 5
    """Most fan-out invocations at once (each takes about 30 ms per batch of 10 events)."""
    breaker_failure_threshold: int = BREAKER_FAILURES
    """Failed attempts in a row (no answer, 5xx, 408) after which an endpoint's circuit breaker opens."""
    breaker_cooldown_seconds: int = BREAKER_COOLDOWN_SECONDS
    """How long an open breaker keeps the endpoint from being called before one probe."""
    api_tenants: str = API_TENANTS_ALL
    """``all``: every tenant event enters the worker pipeline (any tenant may create endpoints through
    the API); ``listed``: only tenants with a worker endpoint in the config or ``selfService: true``."""


@dataclass(frozen=True)
class Source:
    """One inbound webhook source (a SaaS provider posting to us)."""

    name: str
    kind: str
    secret: Secret
    previous_secret: Secret | None = None
    """Still accepted until removed: bridges a rotation for providers that hold one secret."""
    ordering_key: str | None = None
    """Dotted JSON path in the payload whose value becomes the FIFO message group."""
    public_url: str | None = None
    """The URL the provider signs (Twilio); defaults to the function URL + ``/<name>``."""
    event_type_path: str | None = None
    """Dotted JSON path of the event type when the provider puts it in the body."""
    hmac: HmacConfig | None = None
    """The signature scheme of a ``kind: hmac`` source (``functions.inbound.hmac_scheme``)."""
    dedupe: str = DEFAULT_DEDUPE
    """``content``, or ``off``: every request its own event (``functions.inbound.dedupe``)."""


@dataclass(frozen=True)
class ConsumerSettings:
    enabled: bool = False
    claim_check_threshold_bytes: int = 200_000
    ingest_reserved_concurrency: int | None = DEFAULT_INGEST_RESERVED_CONCURRENCY
    """Concurrency reserved for (and capping) the public ingest function; ``None``: unreserved."""
    dedupe_ttl_hours: int = 72
    payload_retention_days: int = 14
    max_receive_count: int = 5
    enrichment_timeout_seconds: int = 30
    target: str = "bus"
    target_arn: str | None = None
    """Lambda or Step Functions ARN when ``target`` is not ``bus``."""
    sources: tuple[Source, ...] = ()
    payload_store: str = "s3"
    """Where claim-checked payloads go: ``s3`` (a general purpose bucket) or ``s3express`` (an S3
    Express One Zone directory bucket in ``payload_store_zone_id``: cheaper requests, one zone)."""
    payload_store_zone_id: str | None = None
    """The Availability Zone ID (``use1-az4``) of the ``s3express`` directory bucket."""


@dataclass(frozen=True)
class TracingSettings:
    """``hookstack:tracing``: carry the publisher's ``traceparent`` to receivers; X-Ray active tracing."""

    propagate: bool = False
    xray: bool = False


@dataclass(frozen=True)
class AuroraSettings:
    enabled: bool = False
    engine_version: str = "16"
    """Major version only (recommended: AWS applies minor upgrades and the stack keeps matching),
    or major.minor to pin exactly (then automatic minor upgrades are turned off)."""
    database_name: str = "hookstack"
    master_username: str = "hookstack_admin"
    min_capacity: float = 0.5
    max_capacity: float = 4.0
    deletion_protection: bool = True
    skip_final_snapshot: bool = False
    vpc_id: str | None = None
    subnet_ids: tuple[str, ...] = ()
    vpc_cidr: str = "10.40.0.0/16"
    lambda_network_path: str = "endpoint"
    sweep_interval_minutes: int = 1
    sweep_grace_seconds: int = 60


@dataclass(frozen=True)
class PortalSettings:
    """The tenant portal: a static site on CloudFront (``TenantPortal``) calling the self-service API."""

    enabled: bool = True
    frame_ancestors: tuple[str, ...] = ()
    """Origins that may embed the portal in a frame (CSP ``frame-ancestors``); empty: none may."""
    theme: tuple[tuple[str, str], ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class StackConfig:
    tenants: tuple[Tenant, ...] = ()
    provider: ProviderSettings = field(default_factory=ProviderSettings)
    delivery: DeliverySettings = field(default_factory=DeliverySettings)
    consumer: ConsumerSettings = field(default_factory=ConsumerSettings)
    aurora: AuroraSettings = field(default_factory=AuroraSettings)
    alarm_email: str | None = None
    portal: PortalSettings = field(default_factory=PortalSettings)
    event_types: EventCatalog | None = None
    """``hookstack:eventTypes`` (None: no catalog; any event type may be subscribed to)."""
    tracing: TracingSettings = field(default_factory=TracingSettings)

    def destinations(self) -> list[tuple[Tenant, Destination]]:
        return [(t, d) for t in self.tenants for d in t.destinations]

    def api_destinations(self) -> list[tuple[Tenant, Destination]]:
        """Destinations delivered by EventBridge API destinations (``engine: apiDestination``)."""
        return [(t, d) for t, d in self.destinations() if not d.is_worker]

    def signed_destinations(self) -> list[tuple[Tenant, Destination]]:
        """Destinations delivered (and signed) by hookstack's delivery worker (``engine: worker``)."""
        return [(t, d) for t, d in self.destinations() if d.is_worker]


@dataclass(frozen=True)
class ConfigProblem:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class StackConfigError(ValueError):
    """Every problem found in a stack configuration, reported together."""

    def __init__(self, problems: Sequence[ConfigProblem]) -> None:
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{len(self.problems)} problem(s) in the stack configuration:\n{lines}")
