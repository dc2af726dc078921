"""The stack configuration: the user's contract, parsed into a typed, immutable model.

Everything a stack file (``Pulumi.<stack>.yaml``) can say under the ``hookstack:`` namespace is
parsed and validated by this package, all at once, before any resource is declared. Errors name the
key path (``hookstack:tenants[1].destinations[0].url``) and what is allowed. The README's
configuration tables document every key.

- :mod:`~components.config.model`: the dataclasses, :class:`Secret`, the errors;
- :mod:`~components.config.limits`: the AWS limits the configuration is checked against;
- :mod:`~components.config.reader`: the reader that collects problems, and the value checks;
- one module per section: :mod:`~components.config.tenants` (destinations, their engine, retry;
  each field in :mod:`~components.config.destination_fields`), :mod:`~components.config.provider`, :mod:`~components.config.delivery`,
  :mod:`~components.config.consumer`, :mod:`~components.config.aurora`;
- :mod:`~components.config.parser`: the sections together and the checks across them;
- :mod:`~components.config.stack_file`: stack files read outside Pulumi (sandbox, tests).

The quota checks need the provider plan (:mod:`components.plan`, which imports this package, never
the reverse): :func:`components.stack.load_stack` runs them on the one plan it builds and reports
them with the problems found here. This package never imports ``pulumi``: the local sandbox parses
the same stack files with it, so the sandbox and the Pulumi program cannot disagree about what a
configuration means.
"""

from components.config.aurora import NETWORK_PATHS
from components.config.consumer import (
    MAX_INGEST_RESERVED_CONCURRENCY,
    PROCESSING_TARGETS,
    RESERVED_SOURCE_NAMES,
    SOURCE_KINDS,
)
from components.config.delivery import DELIVERY_KEYS
from components.config.limits import (
    MAX_API_DESTINATIONS,
    MAX_BUSES,
    MAX_CONNECTION_PARAMETER_CHARS,
    MAX_CONNECTIONS,
    MAX_ENDPOINT_URL_CHARS,
    MAX_EVENT_AGE_SECONDS,
    MAX_EVENT_PATTERN_CHARS,
    MAX_INLINE_PAYLOAD_BYTES,
    MAX_INPUT_PATHS,
    MAX_INPUT_TEMPLATE_CHARS,
    MAX_MAXIMUM_CONCURRENCY,
    MAX_RATE_LIMIT,
    MAX_RETRY_ATTEMPTS,
    MAX_RULES_PER_BUS,
    MAX_SHARDS,
    MIN_EVENT_AGE_SECONDS,
    MIN_MAXIMUM_CONCURRENCY,
    to_json,
)
from components.config.model import (
    DEFAULT_INGEST_RESERVED_CONCURRENCY,
    NAMESPACE,
    ApiKeyAuth,
    AuroraSettings,
    Auth,
    BasicAuth,
    BearerAuth,
    ConfigProblem,
    ConsumerSettings,
    DeliverySettings,
    Destination,
    NoAuth,
    OAuthAuth,
    PortalSettings,
    ProviderSettings,
    RetryPolicy,
    Secret,
    Signing,
    Source,
    StackConfig,
    StackConfigError,
    Tenant,
    TracingSettings,
    Transform,
    default_bus_name,
)
from components.config.parser import ParsedConfig, parse_stack_config, read_stack_config
from components.config.portal import PORTAL_KEYS, THEME_VARIABLES
from components.config.reader import https_url_problem, whsec_problem
from components.config.stack_file import (
    StackFile,
    StackFileError,
    load_stack_file,
    read_stack_file,
    resolve_secure,
    stack_values,
)
from components.config.tenants import AUTH_TYPES, DESTINATION_KEYS, METHODS, OAUTH_METHODS, destination_engine
from components.config.tracing import TRACING_KEYS
from functions.events import TENANT_ID_RE, TENANT_ID_RULE, EventCatalog  # the tenant-id rule the config applies

__all__ = [
    "AUTH_TYPES",
    "DEFAULT_INGEST_RESERVED_CONCURRENCY",
    "DELIVERY_KEYS",
    "DESTINATION_KEYS",
    "MAX_API_DESTINATIONS",
    "MAX_BUSES",
    "MAX_CONNECTIONS",
    "MAX_CONNECTION_PARAMETER_CHARS",
    "MAX_ENDPOINT_URL_CHARS",
    "MAX_EVENT_AGE_SECONDS",
    "MAX_EVENT_PATTERN_CHARS",
    "MAX_INGEST_RESERVED_CONCURRENCY",
    "MAX_INLINE_PAYLOAD_BYTES",
    "MAX_INPUT_PATHS",
    "MAX_INPUT_TEMPLATE_CHARS",
    "MAX_MAXIMUM_CONCURRENCY",
    "MAX_RATE_LIMIT",
    "MAX_RETRY_ATTEMPTS",
    "MAX_RULES_PER_BUS",
    "MAX_SHARDS",
    "METHODS",
    "MIN_EVENT_AGE_SECONDS",
    "MIN_MAXIMUM_CONCURRENCY",
    "NAMESPACE",
    "NETWORK_PATHS",
    "OAUTH_METHODS",
    "PORTAL_KEYS",
    "PROCESSING_TARGETS",
    "RESERVED_SOURCE_NAMES",
    "SOURCE_KINDS",
    "TENANT_ID_RE",
    "TENANT_ID_RULE",
    "THEME_VARIABLES",
    "TRACING_KEYS",
    "ApiKeyAuth",
    "AuroraSettings",
    "Auth",
    "BasicAuth",
    "BearerAuth",
    "ConfigProblem",
    "ConsumerSettings",
    "DeliverySettings",
    "Destination",
    "EventCatalog",
    "NoAuth",
    "OAuthAuth",
    "ParsedConfig",
    "PortalSettings",
    "ProviderSettings",
    "RetryPolicy",
    "Secret",
    "Signing",
    "Source",
    "StackConfig",
    "StackConfigError",
    "StackFile",
    "StackFileError",
    "Tenant",
    "TracingSettings",
    "Transform",
    "default_bus_name",
    "destination_engine",
    "https_url_problem",
    "load_stack_file",
    "parse_stack_config",
    "read_stack_config",
    "read_stack_file",
    "resolve_secure",
    "stack_values",
    "to_json",
    "whsec_problem",
]
