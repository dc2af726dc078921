"""The stack configuration: the user's contract, parsed into a typed, immutable model.

Everything a stack file (``Pulumi.<stack>.yaml``) can say under the ``hookstack:`` namespace is
parsed and validated here, all at once, before any resource is declared. Errors name the key path
(``hookstack:tenants[1].destinations[0].url``) and what is allowed.

This module never imports ``pulumi``: the local sandbox parses the same stack files with it, so the
sandbox and the Pulumi program cannot disagree about what a configuration means. Secret values are
wrapped in :class:`Secret` so that they never show up in a ``repr``, a log line or an error message;
the Pulumi program turns them into ``pulumi.Output.secret`` values.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from functions import whsec
from functions.events import TENANT_ID_RE, TENANT_ID_RULE

NAMESPACE = "hookstack"


def default_bus_name(stack: str) -> str:
    """The entry bus of a stack without ``provider.busName``: ``hookstack-<stack>``."""
    return f"{NAMESPACE}-{stack}"

AUTH_TYPES = ("apiKey", "basic", "oauth", "signed", "none")
SOURCE_KINDS = ("github", "twilio", "stripe", "slack", "shopify", "standard")
METHODS = ("POST", "PUT", "PATCH")
OAUTH_METHODS = ("GET", "POST", "PUT")
NETWORK_PATHS = ("endpoint", "nat")
PROCESSING_TARGETS = ("bus", "lambda", "stepFunctions")

# AWS limits that the configuration can run into (the EventBridge, Lambda and SQS quotas in the AWS docs).
MAX_RETRY_ATTEMPTS = 185
MIN_EVENT_AGE_SECONDS, MAX_EVENT_AGE_SECONDS = 60, 86_400
MAX_RATE_LIMIT = 300
MAX_EVENT_PATTERN_CHARS = 2048
MAX_RULES_PER_BUS = 300
MAX_API_DESTINATIONS = 3000
MAX_CONNECTIONS = 3000
MAX_BUSES = 100
# Each bus gets 3 Metrics Insights alarms and a region allows 200 of those: 48 shards + the entry bus
# use 147. 48 shards of 295 rules hold far more than the 3,000 API destinations an account may have.
MAX_SHARDS = 48
MAX_INPUT_PATHS = 100
MAX_INPUT_TEMPLATE_CHARS = 8192
MAX_CONNECTION_PARAMETER_CHARS = 512
MAX_ENDPOINT_URL_CHARS = 2048
# The SQS / EventBridge entry limit is 256 KiB; the claim-check envelope and the headers kept with
# an inline payload need room too, so an inline body may not be larger than this.
MAX_INLINE_PAYLOAD_BYTES = 240_000
# Function URLs buffer at most 6 MB of request (Lambda's synchronous payload limit).
FUNCTION_URL_MAX_BYTES = 6 * 1024 * 1024
# The public ingest function's reserved concurrency: ~2,000 webhooks/s at ~50 ms each, while a flood
# of unsigned requests cannot take more of the account's pool (1,000 by default, of which Lambda
# keeps 100 unreserved). Above MAX, a typo: 10,000 concurrent ingests would take ~200,000 webhooks/s.
DEFAULT_INGEST_RESERVED_CONCURRENCY = 100
MAX_INGEST_RESERVED_CONCURRENCY = 10_000

RESOURCE_NAME_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?$")
HEADER_NAME_RE = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}$")
# JSONPath as EventBridge input transformers accept it: $, $.a.b, $.a[0], $.a['key with space'].
INPUT_PATH_RE = re.compile(r"^\$(?:\.[A-Za-z0-9_@$-]+|\[\d+\]|\['[^'\]]+'\])*$")
INPUT_PATH_KEY_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
PLACEHOLDER_RE = re.compile(r"<([A-Za-z0-9_.-]+)>")
# Placeholders EventBridge fills in itself, without an input path.
PREDEFINED_PLACEHOLDERS = frozenset(
    {"aws.events.rule-arn", "aws.events.rule-name", "aws.events.event", "aws.events.event.json",
     "aws.events.event.ingestion-time"}
)
# A dotted path into a JSON payload (orderingKey, eventTypePath): repository.id, data.object.id.
DOTTED_PATH_RE = re.compile(r"^[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*$")
BUS_NAME_RE = re.compile(r"^[A-Za-z0-9._-]{1,200}$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


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


# --------------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------------


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
class SignedAuth:
    """Standard Webhooks signatures made by hookstack's delivery worker (not an API destination)."""

    secret: Secret | None = None
    """``whsec_`` + base64 key; generated at deploy time when absent."""
    previous_secret: Secret | None = None
    """The secret being rotated out: deliveries carry its signature too until it is removed."""
    type: Literal["signed"] = "signed"


@dataclass(frozen=True)
class NoAuth:
    type: Literal["none"] = "none"


Auth = ApiKeyAuth | BasicAuth | OAuthAuth | SignedAuth | NoAuth


@dataclass(frozen=True)
class Destination:
    """One customer endpoint that receives a tenant's events."""

    name: str
    url: str
    auth: Auth
    method: str = "POST"
    event_types: tuple[str, ...] = ()
    """``detail-type`` values to deliver; empty means every event type."""
    rate_limit_per_second: int = MAX_RATE_LIMIT
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    transform: Transform | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    """Static, non-secret headers added to every request (API destinations only)."""
    enabled: bool = True

    @property
    def is_signed(self) -> bool:
        return isinstance(self.auth, SignedAuth)


@dataclass(frozen=True)
class Tenant:
    id: str
    destinations: tuple[Destination, ...] = ()


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
class StackConfig:
    tenants: tuple[Tenant, ...] = ()
    provider: ProviderSettings = field(default_factory=ProviderSettings)
    delivery: DeliverySettings = field(default_factory=DeliverySettings)
    consumer: ConsumerSettings = field(default_factory=ConsumerSettings)
    aurora: AuroraSettings = field(default_factory=AuroraSettings)
    alarm_email: str | None = None

    def destinations(self) -> list[tuple[Tenant, Destination]]:
        return [(t, d) for t in self.tenants for d in t.destinations]

    def api_destinations(self) -> list[tuple[Tenant, Destination]]:
        """Destinations delivered by EventBridge API destinations (every auth type but signed)."""
        return [(t, d) for t, d in self.destinations() if not d.is_signed]

    def signed_destinations(self) -> list[tuple[Tenant, Destination]]:
        return [(t, d) for t, d in self.destinations() if d.is_signed]


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------

T = TypeVar("T")
_MISSING = object()


class _Reader:
    """Walks the raw configuration, collecting problems instead of stopping at the first."""

    def __init__(self, *, local: bool = False) -> None:
        self.problems: list[ConfigProblem] = []
        self.local = local

    def problem(self, path: str, message: str) -> None:
        self.problems.append(ConfigProblem(path, message))

    def mapping(self, value: Any, path: str) -> Mapping[str, Any] | None:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            self.problem(path, f"must be a mapping (key: value), got {_kind(value)}")
            return None
        return value

    def unknown_keys(self, raw: Mapping[str, Any], path: str, allowed: Sequence[str]) -> None:
        for key in raw:
            if key not in allowed:
                self.problem(f"{path}.{key}", f"unknown key; allowed keys: {', '.join(allowed)}")

    def get(
        self,
        raw: Mapping[str, Any],
        key: str,
        path: str,
        expected: type | tuple[type, ...],
        *,
        required: bool = False,
        default: Any = None,
    ) -> Any:
        value = raw.get(key, _MISSING)
        if value is _MISSING or value is None:
            if required:
                self.problem(f"{path}.{key}", "is required")
            return default
        if expected is str and isinstance(value, (int, float)) and not isinstance(value, bool):
            # YAML turns `id: 1` into a number; identifiers are strings in events.
            value = str(value)
        if expected in (int, float) and isinstance(value, str):
            value = _parse_number(value, expected)  # Pulumi passes `--path` values as strings.
        if expected is bool and isinstance(value, str) and value.lower() in ("true", "false"):
            value = value.lower() == "true"
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, expected) or (isinstance(value, bool) and expected in (int, float)):
            self.problem(f"{path}.{key}", f"must be {_type_name(expected)}, got {_kind(value)}")
            return default
        return value

    def secret(self, raw: Mapping[str, Any], key: str, path: str, *, required: bool) -> Secret | None:
        value = raw.get(key)
        if isinstance(value, Mapping) and "secure" in value:
            # A `secure:` value this process could not decrypt (only the Pulumi engine can).
            self.problem(f"{path}.{key}", "is encrypted and could not be decrypted here")
            return None
        if value is None or value == "":
            if required:
                self.problem(
                    f"{path}.{key}",
                    "is required (set it with `pulumi config set --secret --path "
                    f"'{_config_path(path)}.{key}' <value>`)",
                )
            return None
        if not isinstance(value, str):
            self.problem(f"{path}.{key}", f"must be a string, got {_kind(value)}")
            return None
        return Secret(value)

    def int_in(
        self, raw: Mapping[str, Any], key: str, path: str, low: int, high: int, default: int
    ) -> int:
        value = self.get(raw, key, path, int, default=default)
        if not low <= value <= high:
            self.problem(f"{path}.{key}", f"must be between {low} and {high}, got {value}")
            return default
        return int(value)

    def float_in(
        self, raw: Mapping[str, Any], key: str, path: str, low: float, high: float, default: float
    ) -> float:
        value = self.get(raw, key, path, float, default=default)
        if not low <= value <= high:
            self.problem(f"{path}.{key}", f"must be between {low} and {high}, got {value}")
            return default
        return float(value)

    def choice(
        self,
        raw: Mapping[str, Any],
        key: str,
        path: str,
        allowed: Sequence[str],
        *,
        default: str | None = None,
        required: bool = False,
    ) -> str | None:
        value = self.get(raw, key, path, str, required=required, default=default)
        if value is not None and value not in allowed:
            self.problem(f"{path}.{key}", f"must be one of {', '.join(allowed)}; got {value!r}")
            return default
        return value

    def items(self, raw: Mapping[str, Any], key: str, path: str) -> list[tuple[str, Any]]:
        """The entries of a list-valued key, each with its own path."""
        value = raw.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            self.problem(f"{path}.{key}", f"must be a list, got {_kind(value)}")
            return []
        return [(f"{path}.{key}[{i}]", item) for i, item in enumerate(value)]

    def strings(self, raw: Mapping[str, Any], key: str, path: str) -> tuple[str, ...]:
        out: list[str] = []
        for item_path, item in self.items(raw, key, path):
            if isinstance(item, str) and item.strip():
                out.append(item)
            else:
                self.problem(item_path, f"must be a non-empty string, got {_kind(item)}")
        return tuple(out)

    def https_url(self, raw: Mapping[str, Any], key: str, path: str, *, required: bool) -> str | None:
        value = self.get(raw, key, path, str, required=required)
        if value is None:
            return None
        problem = https_url_problem(value, allow_loopback_http=self.local)
        if problem:
            self.problem(f"{path}.{key}", problem)
            return None
        return str(value)

    def name(self, raw: Mapping[str, Any], key: str, path: str) -> str | None:
        value = self.get(raw, key, path, str, required=True)
        if value is not None and not RESOURCE_NAME_RE.match(value):
            self.problem(
                f"{path}.{key}",
                f"must be 1-32 characters of a-z, 0-9 and '-' (not at either end); got {value!r}",
            )
            return None
        return value

    def unique(self, values: Sequence[tuple[str, str | None]], what: str) -> None:
        seen: dict[str, str] = {}
        for path, value in values:
            if value is None:
                continue
            if value in seen:
                self.problem(path, f"duplicate {what} {value!r} (also at {seen[value]})")
            else:
                seen[value] = path


def https_url_problem(url: str, *, allow_loopback_http: bool = False) -> str | None:
    """Why ``url`` is not acceptable as a webhook endpoint, or ``None`` when it is."""
    from urllib.parse import urlsplit

    if len(url) > MAX_ENDPOINT_URL_CHARS:
        return f"must be at most {MAX_ENDPOINT_URL_CHARS} characters"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        return f"is not a valid URL ({error})"
    if allow_loopback_http and parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost", "::1"):
        return None
    if parts.scheme != "https":
        return f"must be an https:// URL; got {url!r}"
    if not parts.hostname:
        return f"must name a host; got {url!r}"
    if parts.username or parts.password:
        return "must not carry credentials in the URL (use auth)"
    if any(ch.isspace() for ch in url):
        return "must not contain whitespace"
    if port is not None and not 1 <= port <= 65535:
        return f"has an invalid port {port}"
    return None


def parse_stack_config(raw: Mapping[str, Any], *, local: bool = False, stack: str | None = None) -> StackConfig:
    """Parse the ``hookstack:`` keys of a stack into a :class:`StackConfig`.

    ``raw`` maps keys without the namespace (``tenants``, ``consumer``...) to their values, as
    ``pulumi.Config("hookstack").get_object`` returns them. ``local=True`` is the sandbox's mode:
    destination URLs may be plain ``http://`` on loopback there, and only there. ``stack`` names the
    default entry bus in messages (``hookstack-<stack>``, as the program names it).
    Raises :class:`StackConfigError` listing every problem, cross-field and quota ones included.
    """
    reader = _Reader(local=local)
    root = NAMESPACE
    allowed = ("tenants", "provider", "delivery", "consumer", "aurora", "alarmEmail")
    for key in raw:
        if key not in allowed:
            reader.problem(f"{root}:{key}", f"unknown key; allowed keys: {', '.join(allowed)}")

    alarm_email = reader.get(raw, "alarmEmail", root, str)
    if alarm_email is not None and not EMAIL_RE.match(alarm_email):
        reader.problem(f"{root}:alarmEmail", f"must be an email address; got {alarm_email!r}")
        alarm_email = None

    tenants = _tenants(reader, raw.get("tenants"), local=local)
    provider = _provider(reader, raw.get("provider"))
    delivery = _delivery(reader, raw.get("delivery"))
    _check_signed_destination_urls(reader, raw.get("tenants"), delivery)
    consumer = _consumer(reader, raw.get("consumer"))
    aurora = _aurora(reader, raw.get("aurora"))
    config = StackConfig(
        tenants=tenants,
        provider=provider,
        delivery=delivery,
        consumer=consumer,
        aurora=aurora,
        alarm_email=alarm_email,
    )
    if not config.delivery.enabled:
        for tenant_index, tenant in enumerate(config.tenants):
            for destination_index, destination in enumerate(tenant.destinations):
                if destination.is_signed:
                    reader.problem(
                        f"{root}:tenants[{tenant_index}].destinations[{destination_index}].auth.type",
                        "is signed, but hookstack:delivery.enabled is false: nothing would deliver it "
                        "(enable delivery, or use apiKey, basic, oauth or none)",
                    )
    # Reported with every other problem. Invalid tenants and destinations are left out of the model
    # (fewer rules: never a false alarm, but positions shift, so per-destination paths wait for a
    # valid tenants list); an invalid provider section would plan with defaults.
    if not any(p.path.startswith(f"{root}:provider") for p in reader.problems):
        positions_exact = not any(p.path.startswith(f"{root}:tenants") for p in reader.problems)
        _check_aws_quotas(reader, config, default_bus_name(stack) if stack else NAMESPACE, positions_exact)
    if reader.problems:
        raise StackConfigError(reader.problems)
    return config


def _tenants(reader: _Reader, value: Any, *, local: bool) -> tuple[Tenant, ...]:
    path = f"{NAMESPACE}:tenants"
    if value is None:
        return ()
    if not isinstance(value, list):
        reader.problem(path, f"must be a list of tenants, got {_kind(value)}")
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
            destination = _destination(reader, draw, dpath, local=local)
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


DESTINATION_KEYS = (
    "name", "url", "method", "eventTypes", "auth", "rateLimitPerSecond", "retry", "transform",
    "headers", "enabled",
)


def _destination(reader: _Reader, value: Any, path: str, *, local: bool) -> Destination | None:
    raw = reader.mapping(value, path)
    if raw is None:
        return None
    reader.unknown_keys(raw, path, DESTINATION_KEYS)
    name = reader.name(raw, "name", path)
    url = reader.get(raw, "url", path, str, required=True)
    if url is not None:
        problem = https_url_problem(url, allow_loopback_http=reader.local)
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


def _auth(reader: _Reader, value: Any, path: str) -> Auth | None:
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


def whsec_problem(value: str) -> str | None:
    """Why ``value`` is not a Standard Webhooks secret (``whsec_`` + canonical base64 of 24..64 bytes).

    The rule is :mod:`functions.whsec`'s, so a secret accepted here is accepted wherever one is used.
    """
    problem = whsec.problem(value)
    return None if problem is None else f"{problem} (the value is not shown)"


def _check_parameter_length(reader: _Reader, secret: Secret | None, path: str) -> None:
    if secret is not None and len(secret.reveal()) > MAX_CONNECTION_PARAMETER_CHARS:
        reader.problem(path, f"must be at most {MAX_CONNECTION_PARAMETER_CHARS} characters")


def _retry(reader: _Reader, value: Any, path: str) -> RetryPolicy:
    raw = reader.mapping(value, path)
    if raw is None:
        return RetryPolicy()
    reader.unknown_keys(raw, path, ("maxAttempts", "maxEventAgeSeconds"))
    return RetryPolicy(
        max_attempts=reader.int_in(raw, "maxAttempts", path, 0, MAX_RETRY_ATTEMPTS, MAX_RETRY_ATTEMPTS),
        max_event_age_seconds=reader.int_in(
            raw, "maxEventAgeSeconds", path, MIN_EVENT_AGE_SECONDS, MAX_EVENT_AGE_SECONDS,
            MAX_EVENT_AGE_SECONDS,
        ),
    )


def _transform(reader: _Reader, value: Any, path: str) -> Transform | None:
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
            reader.problem(
                kpath, "key must be 1-64 characters of A-Z, a-z, 0-9, '_' and '-', not starting 'AWS'"
            )
            continue
        if not isinstance(input_path, str) or not INPUT_PATH_RE.match(input_path):
            reader.problem(
                kpath,
                "must be a JSONPath like $.detail.name, $.detail.items[0] or $.detail['a key']; "
                f"got {input_path!r}",
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


def _headers(reader: _Reader, value: Any, path: str) -> dict[str, str]:
    raw = reader.mapping(value, path)
    if not raw:
        return {}
    headers: dict[str, str] = {}
    for key, header_value in raw.items():
        if not HEADER_NAME_RE.match(str(key)):
            reader.problem(f"{path}.{key}", "must be an HTTP header name")
        elif not isinstance(header_value, str) or len(header_value) > MAX_CONNECTION_PARAMETER_CHARS:
            reader.problem(
                f"{path}.{key}", f"must be a string of at most {MAX_CONNECTION_PARAMETER_CHARS} characters"
            )
        else:
            headers[str(key)] = header_value
    return headers


def _section(reader: _Reader, value: Any, key: str, allowed: Sequence[str]) -> tuple[Mapping[str, Any], str]:
    path = f"{NAMESPACE}:{key}"
    raw = reader.mapping(value, path) or {}
    reader.unknown_keys(raw, path, allowed)
    return raw, path


def _provider(reader: _Reader, value: Any) -> ProviderSettings:
    raw, path = _section(
        reader, value, "provider", ("busName", "eventSource", "archiveRetentionDays", "rulesPerBus", "shards")
    )
    bus_name = reader.get(raw, "busName", path, str)
    if bus_name is not None and (not BUS_NAME_RE.match(bus_name) or bus_name == "default"):
        reader.problem(
            f"{path}.busName", "must be 1-200 characters of A-Z, a-z, 0-9, '.', '_' and '-', not 'default'"
        )
        bus_name = None
    source = reader.get(raw, "eventSource", path, str, default="hookstack")
    if not re.match(r"^[A-Za-z0-9._-]{1,200}$", source) or source.startswith("aws."):
        reader.problem(f"{path}.eventSource", "must be 1-200 characters of A-Z, a-z, 0-9, '.', '_', '-', not 'aws.'")
        source = "hookstack"
    shards = raw.get("shards")
    # At most MAX_SHARDS: every bus holding rules has 3 Metrics Insights alarms (200 per region).
    shards_value = None if shards in (None, "auto") else reader.int_in(raw, "shards", path, 1, MAX_SHARDS, 1)
    return ProviderSettings(
        bus_name=bus_name,
        event_source=source,
        archive_retention_days=reader.int_in(raw, "archiveRetentionDays", path, 0, 36_500, 7),
        rules_per_bus=reader.int_in(raw, "rulesPerBus", path, 20, 2000, MAX_RULES_PER_BUS),
        shards=shards_value,
    )


# Lambda's SQS event sources take a ScalingConfig.MaximumConcurrency of 2-1000 (Lambda API reference).
MIN_MAXIMUM_CONCURRENCY, MAX_MAXIMUM_CONCURRENCY = 2, 1000
DELIVERY_KEYS = (
    "enabled", "timeoutSeconds", "retryScheduleSeconds", "disableAfterFailures", "historyTtlDays",
    "rotationOverlapHours", "allowedCidrs", "maxResponseBytes", "workerMaxConcurrency", "fanoutMaxConcurrency",
)


def _delivery(reader: _Reader, value: Any) -> DeliverySettings:
    raw, path = _section(reader, value, "delivery", DELIVERY_KEYS)
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
        import ipaddress

        try:
            ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            reader.problem(f"{path}.allowedCidrs[{index}]", f"must be a CIDR like 10.0.0.0/8; got {cidr!r}")
    defaults = DeliverySettings()
    return DeliverySettings(
        enabled=bool(reader.get(raw, "enabled", path, bool, default=True)),
        timeout_seconds=reader.int_in(raw, "timeoutSeconds", path, 1, 60, defaults.timeout_seconds),
        retry_schedule_seconds=tuple(schedule) if "retryScheduleSeconds" in raw else defaults.retry_schedule_seconds,
        disable_after_failures=reader.int_in(raw, "disableAfterFailures", path, 1, 10_000, defaults.disable_after_failures),
        history_ttl_days=reader.int_in(raw, "historyTtlDays", path, 1, 365, defaults.history_ttl_days),
        rotation_overlap_hours=reader.int_in(raw, "rotationOverlapHours", path, 0, 24 * 30, defaults.rotation_overlap_hours),
        allowed_cidrs=cidrs,
        max_response_bytes=reader.int_in(raw, "maxResponseBytes", path, 0, 65_536, defaults.max_response_bytes),
        worker_max_concurrency=reader.int_in(
            raw, "workerMaxConcurrency", path, MIN_MAXIMUM_CONCURRENCY, MAX_MAXIMUM_CONCURRENCY, defaults.worker_max_concurrency
        ),
        fanout_max_concurrency=reader.int_in(
            raw, "fanoutMaxConcurrency", path, MIN_MAXIMUM_CONCURRENCY, MAX_MAXIMUM_CONCURRENCY, defaults.fanout_max_concurrency
        ),
    )


def _check_signed_destination_urls(reader: _Reader, tenants: Any, delivery: DeliverySettings) -> None:
    """Signed destinations are called by the delivery worker from inside AWS, so their URLs must pass
    the SSRF guard (literal addresses, internal names; DNS is checked at every attempt) with
    ``allowedCidrs``, as the worker checks them: a config error here, not a failure mid-deploy."""
    from functions.delivery import ssrf

    allowed: list[ssrf.IPNetwork] = []
    for cidr in (*delivery.allowed_cidrs, *(ssrf.LOOPBACK_CIDRS if reader.local else ())):
        try:
            allowed += ssrf.parse_networks([cidr])
        except ValueError:
            continue  # reported by _delivery
    for tenant_index, tenant in enumerate(tenants if isinstance(tenants, list) else []):
        destinations = tenant.get("destinations") if isinstance(tenant, Mapping) else None
        for index, destination in enumerate(destinations if isinstance(destinations, list) else []):
            if not isinstance(destination, Mapping) or not isinstance(destination.get("url"), str):
                continue  # reported by _destination
            auth = destination.get("auth")
            if not isinstance(auth, Mapping) or auth.get("type") != "signed":
                continue
            try:
                ssrf.parse_url(destination["url"], allowed)
            except ssrf.UnsafeUrl as error:
                reader.problem(
                    f"{NAMESPACE}:tenants[{tenant_index}].destinations[{index}].url",
                    f"{error} (signed deliveries are sent from inside AWS; hookstack:delivery.allowedCidrs exempts networks)",
                )


def _consumer(reader: _Reader, value: Any) -> ConsumerSettings:
    raw, path = _section(
        reader, value, "consumer",
        ("enabled", "claimCheckThresholdBytes", "ingestReservedConcurrency", "dedupeTtlHours", "payloadRetentionDays",
         "maxReceiveCount", "enrichmentTimeoutSeconds", "target", "targetArn", "sources"),
    )
    defaults = ConsumerSettings()
    sources: list[Source] = []
    names: list[tuple[str, str | None]] = []
    source_items = reader.items(raw, "sources", path)
    for spath, sraw in source_items:
        source = _source(reader, sraw, spath)
        if source is not None:
            sources.append(source)
        raw_name = sraw.get("name") if isinstance(sraw, Mapping) else None
        names.append((f"{spath}.name", raw_name if isinstance(raw_name, str) else None))
    reader.unique(names, "source name")
    target = reader.choice(raw, "target", path, PROCESSING_TARGETS, default="bus") or "bus"
    target_arn = reader.get(raw, "targetArn", path, str)
    if target != "bus" and not target_arn:
        reader.problem(f"{path}.targetArn", f"is required when target is {target!r}")
    expected_service = {"lambda": ":lambda:", "stepFunctions": ":states:"}.get(target)
    if target_arn and expected_service and (not target_arn.startswith("arn:") or expected_service not in target_arn):
        reader.problem(f"{path}.targetArn", f"must be the ARN of a {target} target; got {target_arn!r}")
    enabled = bool(reader.get(raw, "enabled", path, bool, default=bool(sources)))
    if enabled and raw.get("sources") in (None, []):
        reader.problem(f"{path}.sources", "must list at least one source when enabled is true (or set enabled: false)")
    if enabled and sources and len(sources) == len(source_items):
        # Only a valid list is measured: a source with problems is reported for those first.
        from components.consumer_environment import CONSUMER_NAME, environment_problem

        if problem := environment_problem(CONSUMER_NAME, sources):
            reader.problem(f"{path}.sources", problem)
    return ConsumerSettings(
        enabled=enabled,
        claim_check_threshold_bytes=reader.int_in(
            raw, "claimCheckThresholdBytes", path, 0, MAX_INLINE_PAYLOAD_BYTES, defaults.claim_check_threshold_bytes
        ),
        ingest_reserved_concurrency=_reserved_concurrency(reader, raw, path),
        dedupe_ttl_hours=reader.int_in(raw, "dedupeTtlHours", path, 1, 24 * 90, defaults.dedupe_ttl_hours),
        payload_retention_days=reader.int_in(raw, "payloadRetentionDays", path, 1, 3650, defaults.payload_retention_days),
        max_receive_count=reader.int_in(raw, "maxReceiveCount", path, 5, 1000, defaults.max_receive_count),
        enrichment_timeout_seconds=reader.int_in(
            raw, "enrichmentTimeoutSeconds", path, 1, 120, defaults.enrichment_timeout_seconds
        ),
        target=target,
        target_arn=target_arn,
        sources=tuple(sources),
    )


def _reserved_concurrency(reader: _Reader, raw: Mapping[str, Any], path: str) -> int | None:
    """``ingestReservedConcurrency``: 1..10000, or ``none`` to leave the function unreserved."""
    if raw.get("ingestReservedConcurrency") == "none":
        return None
    value = reader.get(raw, "ingestReservedConcurrency", path, int, default=DEFAULT_INGEST_RESERVED_CONCURRENCY)
    if not 1 <= value <= MAX_INGEST_RESERVED_CONCURRENCY:
        reader.problem(
            f"{path}.ingestReservedConcurrency",
            f"must be between 1 and {MAX_INGEST_RESERVED_CONCURRENCY} (0 would refuse every webhook), or none to "
            f"leave the function unreserved; got {value}",
        )
        return DEFAULT_INGEST_RESERVED_CONCURRENCY
    return int(value)


# Inbound events are published as <provider.eventSource>.<source name>; these are hookstack's own.
RESERVED_SOURCE_NAMES = ("aurora",)


def _source(reader: _Reader, value: Any, path: str) -> Source | None:
    raw = reader.mapping(value, path)
    if raw is None:
        return None
    reader.unknown_keys(
        raw, path, ("name", "kind", "secret", "previousSecret", "orderingKey", "publicUrl", "eventTypePath")
    )
    name = reader.name(raw, "name", path)
    kind = reader.choice(raw, "kind", path, SOURCE_KINDS, required=True)
    secret = reader.secret(raw, "secret", path, required=True)
    previous = reader.secret(raw, "previousSecret", path, required=False)
    if kind == "standard":
        for key, candidate in (("secret", secret), ("previousSecret", previous)):
            if candidate is not None and (problem := whsec_problem(candidate.reveal())):
                reader.problem(f"{path}.{key}", problem)
    ordering_key = _dotted(reader, raw, "orderingKey", path)
    event_type_path = _dotted(reader, raw, "eventTypePath", path)
    public_url = reader.https_url(raw, "publicUrl", path, required=False)
    if public_url is not None and ("?" in public_url or "#" in public_url):
        reader.problem(
            f"{path}.publicUrl",
            "must not contain a query string or fragment (the request's own query string is appended when "
            "verifying Twilio signatures)",
        )
        public_url = None
    if name in RESERVED_SOURCE_NAMES:
        reader.problem(
            f"{path}.name", f"{name!r} is reserved: hookstack itself publishes events as <provider.eventSource>.{name}"
        )
        name = None
    if name is None or kind is None or secret is None:
        return None
    return Source(
        name=name,
        kind=kind,
        secret=secret,
        previous_secret=previous,
        ordering_key=ordering_key,
        public_url=public_url,
        event_type_path=event_type_path,
    )


def _dotted(reader: _Reader, raw: Mapping[str, Any], key: str, path: str) -> str | None:
    value = reader.get(raw, key, path, str)
    if value is not None and not DOTTED_PATH_RE.match(value.removeprefix("$.")):
        reader.problem(f"{path}.{key}", f"must be a dotted JSON path like repository.id; got {value!r}")
        return None
    return value.removeprefix("$.") if value else None


def _aurora(reader: _Reader, value: Any) -> AuroraSettings:
    raw, path = _section(
        reader, value, "aurora",
        ("enabled", "engineVersion", "databaseName", "masterUsername", "minCapacity", "maxCapacity",
         "deletionProtection", "skipFinalSnapshot", "vpcId", "subnetIds", "vpcCidr", "lambdaNetworkPath",
         "sweepIntervalMinutes", "sweepGraceSeconds"),
    )
    defaults = AuroraSettings()
    version = reader.get(raw, "engineVersion", path, str, default=defaults.engine_version)
    if not re.match(r"^1[3-7](\.\d+)?$", version):
        reader.problem(f"{path}.engineVersion", f"must be an Aurora PostgreSQL version 13..17 like 16.6; got {version!r}")
        version = defaults.engine_version
    elif not _data_api_supported(version):
        reader.problem(
            f"{path}.engineVersion",
            "must support the RDS Data API (13.11+, 14.8+, 15.3+, 16.1+, 17.4+); got " + repr(version),
        )
    database = reader.get(raw, "databaseName", path, str, default=defaults.database_name)
    if not re.match(r"^[A-Za-z][A-Za-z0-9_]{0,62}$", database):
        reader.problem(f"{path}.databaseName", "must be 1-63 characters of letters, digits and '_', starting with a letter")
    username = reader.get(raw, "masterUsername", path, str, default=defaults.master_username)
    if not re.match(r"^[A-Za-z][A-Za-z0-9_]{0,15}$", username) or username in ("postgres", "rdsadmin", "admin"):
        reader.problem(f"{path}.masterUsername", "must be 1-16 characters of letters, digits and '_', not a reserved name")
    min_capacity = reader.float_in(raw, "minCapacity", path, 0.0, 256.0, defaults.min_capacity)
    max_capacity = reader.float_in(raw, "maxCapacity", path, 1.0, 256.0, defaults.max_capacity)
    for key, capacity in (("minCapacity", min_capacity), ("maxCapacity", max_capacity)):
        if capacity * 2 != int(capacity * 2):
            reader.problem(f"{path}.{key}", "must be a multiple of 0.5 ACU")
    if min_capacity > max_capacity:
        reader.problem(f"{path}.minCapacity", f"must not exceed maxCapacity ({max_capacity})")
    vpc_id = reader.get(raw, "vpcId", path, str)
    subnet_ids = reader.strings(raw, "subnetIds", path)
    if vpc_id and len(subnet_ids) < 2:
        reader.problem(f"{path}.subnetIds", "needs at least two private subnets in different AZs when vpcId is set")
    if subnet_ids and not vpc_id:
        reader.problem(f"{path}.vpcId", "is required when subnetIds is set")
    vpc_cidr = reader.get(raw, "vpcCidr", path, str, default=defaults.vpc_cidr)
    try:
        import ipaddress

        network = ipaddress.IPv4Network(vpc_cidr)
        if not 16 <= network.prefixlen <= 24:
            reader.problem(f"{path}.vpcCidr", "must be an IPv4 CIDR between /16 and /24")
    except ValueError:
        reader.problem(f"{path}.vpcCidr", f"must be an IPv4 CIDR like 10.40.0.0/16; got {vpc_cidr!r}")
    return AuroraSettings(
        enabled=bool(reader.get(raw, "enabled", path, bool, default=False)),
        engine_version=version,
        database_name=database,
        master_username=username,
        min_capacity=min_capacity,
        max_capacity=max_capacity,
        deletion_protection=bool(reader.get(raw, "deletionProtection", path, bool, default=True)),
        skip_final_snapshot=bool(reader.get(raw, "skipFinalSnapshot", path, bool, default=False)),
        vpc_id=vpc_id,
        subnet_ids=subnet_ids,
        vpc_cidr=vpc_cidr,
        lambda_network_path=reader.choice(
            raw, "lambdaNetworkPath", path, NETWORK_PATHS, default=defaults.lambda_network_path
        ) or defaults.lambda_network_path,
        sweep_interval_minutes=reader.int_in(raw, "sweepIntervalMinutes", path, 1, 60, defaults.sweep_interval_minutes),
        sweep_grace_seconds=reader.int_in(raw, "sweepGraceSeconds", path, 10, 3600, defaults.sweep_grace_seconds),
    )


def _data_api_supported(version: str) -> bool:
    minimum = {13: 11, 14: 8, 15: 3, 16: 1, 17: 4}
    major, _, minor = version.partition(".")
    return not minor or int(minor) >= minimum[int(major)]


def _check_aws_quotas(reader: _Reader, config: StackConfig, bus_name: str, positions_exact: bool) -> None:
    """Limits AWS would only reject at deploy time, checked against the plan the program builds."""
    from components import plan as plan_module  # the plan is built from a parsed config only

    for problem in plan_module.quota_problems(config, bus_name):
        if positions_exact or "[" not in problem.path:
            reader.problems.append(problem)


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _parse_number(value: str, expected: type) -> Any:
    try:
        return expected(value)
    except ValueError:
        return value


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"a boolean ({value})"
    if isinstance(value, Secret):
        return "a secret"
    if isinstance(value, (int, float)):
        return f"a number ({value})"
    if isinstance(value, str):
        return f"a string ({value[:40]!r})"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "a mapping"
    return type(value).__name__


def _type_name(expected: type | tuple[type, ...]) -> str:
    names = {str: "a string", int: "a whole number", float: "a number", bool: "true or false", list: "a list"}
    if isinstance(expected, tuple):
        return " or ".join(names.get(t, t.__name__) for t in expected)
    return names.get(expected, expected.__name__)


def _config_path(path: str) -> str:
    return path.split(":", 1)[1] if ":" in path else path


def load_stack_file(path: str, *, local: bool = False, secret_resolver: Callable[[str, Any], Any] | None = None) -> StackConfig:
    """Parse the ``hookstack:`` keys of a ``Pulumi.<stack>.yaml`` file (used by the sandbox and tests).

    ``secret_resolver(key_path, value)`` is called for every ``{secure: ...}`` value and returns its
    replacement (the sandbox generates local secrets for values it cannot decrypt). The file is read
    and checked by :mod:`components.stack_file`; every problem names the file and line.
    """
    from components.stack_file import read_stack_file

    return read_stack_file(path).parse(local=local, secret_resolver=secret_resolver)


def stack_values(config_block: Mapping[str, Any]) -> dict[str, Any]:
    """The ``hookstack:`` keys of a stack file's ``config:`` block, without the namespace."""
    prefix = f"{NAMESPACE}:"
    return {key[len(prefix):]: value for key, value in config_block.items() if key.startswith(prefix)}


def resolve_secure(value: Any, path: str, resolver: Callable[[str, Any], Any]) -> Any:
    """``value`` with every ``{secure: ...}`` replaced by ``resolver(key_path, that_value)``."""
    if isinstance(value, Mapping):
        if set(value) == {"secure"}:
            return resolver(path, value)
        return {k: resolve_secure(v, f"{path}.{k}" if path else str(k), resolver) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_secure(v, f"{path}[{i}]", resolver) for i, v in enumerate(value)]
    return value


def to_json(value: Any) -> str:
    """Compact, key-sorted JSON (event patterns and policies are compared and measured as this)."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True)
