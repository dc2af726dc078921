"""The ingest function's environment, without Pulumi: the component, the sandbox and the config check share it.

Lambda allows 4 KB for all environment variables of a function, and ``CONSUMER_SOURCES`` grows with
every source. The stack configuration checks the estimate below before any resource is declared
(``hookstack:consumer.sources``), for the name the program gives the component; the component checks
it again for the name it is actually given.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

# The logical name __main__.py gives the WebhookConsumer (the sandbox uses it too).
CONSUMER_NAME = "hookstack-inbound"
# Lambda allows 4 KB for all environment variables of a function.
MAX_ENVIRONMENT_BYTES = 4096
# Pulumi appends this many characters (a dash and 7 random ones) to an autonamed resource.
AUTONAME_SUFFIX_CHARS = 8
# Names and values of the other CONSUMER_* variables: queue URL, table and bucket names, numbers.
OTHER_VARIABLES_BYTES = 600


class SourceSettings(Protocol):
    """What the environment needs of a configured source (``components.config.Source``)."""

    @property
    def name(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def ordering_key(self) -> str | None: ...
    @property
    def event_type_path(self) -> str | None: ...


def secret_logical_name(name: str, source_name: str) -> str:
    return f"{name}-{source_name}-secret"


def sources_environment(sources: Sequence[SourceSettings], secret_ids: Sequence[str]) -> str:
    """``CONSUMER_SOURCES``: name -> kind, secret name, ordering key, event type path (no secrets)."""
    document: dict[str, Mapping[str, Any]] = {}
    for source, secret_id in zip(sources, secret_ids, strict=True):
        entry: dict[str, Any] = {"kind": source.kind, "secretId": secret_id}
        if source.ordering_key:
            entry["orderingKey"] = source.ordering_key
        if source.event_type_path:
            entry["eventTypePath"] = source.event_type_path
        document[source.name] = entry
    return json.dumps(document, separators=(",", ":"))


def environment_estimate(name: str, sources: Sequence[SourceSettings]) -> int:
    """Bytes of the ingest environment (secret names are the logical name plus Pulumi's suffix)."""
    secret_names = ["x" * (len(secret_logical_name(name, s.name)) + AUTONAME_SUFFIX_CHARS) for s in sources]
    return len(sources_environment(sources, secret_names)) + OTHER_VARIABLES_BYTES


def environment_problem(name: str, sources: Sequence[SourceSettings]) -> str | None:
    """Why ``sources`` do not fit the ingest function's environment, or ``None``."""
    estimate = environment_estimate(name, sources)
    if estimate <= MAX_ENVIRONMENT_BYTES:
        return None
    return (
        f"{len(sources)} sources need about {estimate} bytes of environment; Lambda allows "
        f"{MAX_ENVIRONMENT_BYTES} (split the sources over two stacks or shorten names and paths)"
    )
