"""The runtime contracts of the inbound functions: every ``CONSUMER_*`` variable, once.

:class:`IngestSettings` is what the ingest function reads, :class:`EnrichSettings` what the Pipe
enrichment reads. Names, defaults, bounds and formats live only here: the component
(``components/consumer.py``, through ``components/specs/consumer.py``) and the sandbox build the
functions' environments with ``to_environ``, the handlers read them with ``from_environ`` at their
first invocation (never at import).

========================================= =============== ==============================================
variable                                  read by         meaning (default)
========================================= =============== ==============================================
``CONSUMER_SOURCES``                      ingest          JSON ``{name: {"kind", "secretId", "orderingKey"?,
                                                          "eventTypePath"?, "hmac"?, "dedupe"?}}`` (required;
                                                          no secret values: ``secretId`` names the source's
                                                          secret; ``hmac``: an hmac source's scheme, its
                                                          non-default keys, checked by the config's own
                                                          rules; ``dedupe``: ``off``, only when not the
                                                          default ``content``, same rules)
``CONSUMER_TABLE_NAME``                   ingest          the dedupe ledger table (required)
``CONSUMER_QUEUE_URL``                    ingest          the FIFO queue (required)
``CONSUMER_BUCKET_NAME``                  ingest          the payload (claim-check) bucket (required)
``CONSUMER_CLAIM_CHECK_THRESHOLD_BYTES``  ingest          bodies above this go to S3 (200000)
``CONSUMER_DEDUPE_TTL_SECONDS``           ingest          how long a delivery id is remembered (259200)
``CONSUMER_SECRET_TTL_SECONDS``           ingest          secret cache time-to-live (300)
``CONSUMER_MAX_TARGET_ITEM_BYTES``        ingest, enrich  largest event the Pipe target takes (262144); a
                                                          payload whose event would be larger is
                                                          claim-checked, and travels as a pointer
``CONSUMER_EVENT_SOURCE``                 enrich          the stack's ``provider.eventSource``: events are
                                                          ``<it>.<source name>`` (``hookstack``, also while
                                                          a deploy updates the code before the
                                                          configuration)
========================================= =============== ==============================================

The numbers are whole numbers >= 0 with no upper bound of their own (the stack configuration
bounds what the component writes).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from functions.environ import Environ, SettingsError, render
from functions.inbound.dedupe import DEDUPE_OFF, DEFAULT_DEDUPE, dedupe_problem
from functions.inbound.kinds import KIND_NAMES, kind_of
from functions.inbound.target import DEFAULT_EVENT_SOURCE, MAX_BUS_ENTRY_BYTES
from functions.records import record

if TYPE_CHECKING:  # imported by a process with an hmac source only (_hmac)
    from functions.inbound.hmac_scheme import HmacConfig

DEFAULT_THRESHOLD_BYTES = 200_000
DEFAULT_DEDUPE_TTL_SECONDS = 72 * 3600
DEFAULT_SECRET_TTL_SECONDS = 300
_UNBOUNDED = 2**63 - 1
SOURCES = "CONSUMER_SOURCES"
MAX_TARGET_ITEM_BYTES = "CONSUMER_MAX_TARGET_ITEM_BYTES"


@record
class SourceConfig:
    """One source as the ingest function knows it (no secret: only the name of the secret)."""

    name: str
    kind: str
    secret_id: str
    ordering_key: str | None = None
    event_type_path: str | None = None
    hmac: HmacConfig | None = None
    """The scheme of an ``hmac`` source (and only of one)."""
    dedupe: str = DEFAULT_DEDUPE
    """``content``, or ``off``: neither the ledger nor SQS deduplicates; every request is its own event."""

    @property
    def deduplicated(self) -> bool:
        return self.dedupe != DEDUPE_OFF


@record
class IngestSettings:
    sources: Mapping[str, SourceConfig]
    table_name: str
    queue_url: str
    bucket_name: str
    claim_check_threshold_bytes: int = DEFAULT_THRESHOLD_BYTES
    dedupe_ttl_seconds: int = DEFAULT_DEDUPE_TTL_SECONDS
    secret_ttl_seconds: int = DEFAULT_SECRET_TTL_SECONDS
    max_target_item_bytes: int = MAX_BUS_ENTRY_BYTES

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> IngestSettings:
        """Parse the ingest's variables; raises :class:`SettingsError` naming the bad one."""
        env = Environ(environ)
        return cls(
            sources=parse_sources(env.json_object(SOURCES)),
            table_name=env.required("CONSUMER_TABLE_NAME"),
            queue_url=env.required("CONSUMER_QUEUE_URL"),
            bucket_name=env.required("CONSUMER_BUCKET_NAME"),
            claim_check_threshold_bytes=_count(env, "CONSUMER_CLAIM_CHECK_THRESHOLD_BYTES", DEFAULT_THRESHOLD_BYTES),
            dedupe_ttl_seconds=_count(env, "CONSUMER_DEDUPE_TTL_SECONDS", DEFAULT_DEDUPE_TTL_SECONDS),
            secret_ttl_seconds=_count(env, "CONSUMER_SECRET_TTL_SECONDS", DEFAULT_SECRET_TTL_SECONDS),
            max_target_item_bytes=_count(env, MAX_TARGET_ITEM_BYTES, MAX_BUS_ENTRY_BYTES),
        )

    def to_environ(self) -> dict[str, str]:
        return render(
            {
                SOURCES: sources_environment(self.sources.values()),
                "CONSUMER_TABLE_NAME": self.table_name,
                "CONSUMER_QUEUE_URL": self.queue_url,
                "CONSUMER_BUCKET_NAME": self.bucket_name,
                "CONSUMER_CLAIM_CHECK_THRESHOLD_BYTES": self.claim_check_threshold_bytes,
                "CONSUMER_DEDUPE_TTL_SECONDS": self.dedupe_ttl_seconds,
                "CONSUMER_SECRET_TTL_SECONDS": self.secret_ttl_seconds,
                MAX_TARGET_ITEM_BYTES: self.max_target_item_bytes,
            }
        )


@record
class EnrichSettings:
    max_target_item_bytes: int = MAX_BUS_ENTRY_BYTES
    event_source: str = DEFAULT_EVENT_SOURCE
    """The prefix of every event's ``source``: ``<event_source>.<source name>``."""

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> EnrichSettings:
        env = Environ(environ)
        return cls(
            max_target_item_bytes=_count(env, MAX_TARGET_ITEM_BYTES, MAX_BUS_ENTRY_BYTES),
            event_source=env.text("CONSUMER_EVENT_SOURCE", DEFAULT_EVENT_SOURCE) or DEFAULT_EVENT_SOURCE,
        )

    def to_environ(self) -> dict[str, str]:
        return render({MAX_TARGET_ITEM_BYTES: self.max_target_item_bytes, "CONSUMER_EVENT_SOURCE": self.event_source})


def sources_environment(sources: Iterable[SourceConfig]) -> str:
    """``CONSUMER_SOURCES``: name -> kind, secret name, ordering key, event type path (no secrets).

    Compact JSON in the sources' order: Lambda holds 4 KB of environment for all variables
    (``components/specs/consumer.py`` measures this text before deploying).
    """
    document: dict[str, Mapping[str, Any]] = {}
    for source in sources:
        entry: dict[str, Any] = {"kind": source.kind, "secretId": source.secret_id}
        if source.ordering_key:
            entry["orderingKey"] = source.ordering_key
        if source.event_type_path:
            entry["eventTypePath"] = source.event_type_path
        if source.hmac is not None:
            entry["hmac"] = source.hmac.to_json()
        if source.dedupe != DEFAULT_DEDUPE:  # written only when set: existing stacks' environment is unchanged
            entry["dedupe"] = source.dedupe
        document[source.name] = entry
    return json.dumps(document, separators=(",", ":"))


def parse_sources(document: Mapping[str, Any]) -> dict[str, SourceConfig]:
    """The sources of a parsed ``CONSUMER_SOURCES``; raises :class:`SettingsError` naming the bad one."""
    sources = {}
    for name, item in document.items():
        secret_id = item.get("secretId") if isinstance(item, Mapping) else None
        if (
            not isinstance(item, Mapping)
            or item.get("kind") not in KIND_NAMES
            or not isinstance(secret_id, str)
            or not secret_id
        ):
            raise SettingsError(f"{SOURCES}[{name!r}] needs kind (one of {', '.join(KIND_NAMES)}) and secretId")
        paths = {}
        for key in ("orderingKey", "eventTypePath"):
            value = item.get(key)
            if value is not None and not isinstance(value, str):
                raise SettingsError(f"{SOURCES}[{name!r}].{key} must be a dotted path (a string), got {value!r}")
            paths[key] = value or None
        hmac = _hmac(name, item)
        sources[name] = SourceConfig(
            name=name,
            kind=str(item["kind"]),
            secret_id=secret_id,
            ordering_key=paths["orderingKey"],
            event_type_path=paths["eventTypePath"],
            hmac=hmac,
            dedupe=_dedupe(name, item, hmac),
        )
    return sources


def _dedupe(name: str, item: Mapping[str, Any], hmac: HmacConfig | None) -> str:
    """The source's ``dedupe``, checked by the configuration's own rule (:mod:`functions.inbound.dedupe`)."""
    mode = item.get("dedupe")
    if mode is None:  # absent (or null, as the other optional keys may be): the default
        mode = DEFAULT_DEDUPE
    # The kind's conventions only for `off` (an hmac source's derivation would load its modules for nothing).
    problem = dedupe_problem(mode, kind_of(str(item["kind"]), hmac) if mode == DEDUPE_OFF else None)
    if problem is not None:
        raise SettingsError(f"{SOURCES}[{name!r}].dedupe {problem}")
    return str(mode)


def _hmac(name: str, item: Mapping[str, Any]) -> HmacConfig | None:
    """An hmac source's scheme, checked by the same rules as the stack configuration; none for others."""
    if item.get("kind") != "hmac":
        if item.get("hmac") is not None:
            raise SettingsError(f"{SOURCES}[{name!r}].hmac is only for sources of kind hmac")
        return None
    from functions.inbound.hmac_scheme import parse_hmac

    config, problems = parse_hmac(item.get("hmac"))
    if config is None:
        detail = "; ".join(f"{key or 'hmac'}: {message}" for key, message in problems)
        raise SettingsError(f"{SOURCES}[{name!r}].hmac is not a valid hmac scheme ({detail})")
    return config


def _count(env: Environ, name: str, default: int) -> int:
    return env.integer(name, default, 0, _UNBOUNDED)
