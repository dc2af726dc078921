"""``hookstack:consumer``: inbound webhook sources, and how their events are stored and delivered."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from components.config.limits import MAX_INLINE_PAYLOAD_BYTES
from components.config.model import DEFAULT_INGEST_RESERVED_CONCURRENCY, ConsumerSettings, Source
from components.config.provider import AURORA_SOURCE_NAME, derived_source_problem
from components.config.reader import Reader
from components.specs.consumer import CONSUMER_NAME, environment_problem
from functions.delivery.operational import SOURCE_NAME as OPERATIONAL_SOURCE_NAME
from functions.inbound.dedupe import DEDUPE_OFF, DEFAULT_DEDUPE, dedupe_problem
from functions.inbound.hmac_scheme import HmacConfig, parse_hmac
from functions.inbound.kinds import KIND_NAMES, kind_of, source_kind
from functions.inbound.mailgun import MAILGUN_TOLERANCE_SECONDS

CONSUMER_KEYS = (
    "enabled",
    "claimCheckThresholdBytes",
    "ingestReservedConcurrency",
    "dedupeTtlHours",
    "payloadRetentionDays",
    "maxReceiveCount",
    "enrichmentTimeoutSeconds",
    "target",
    "targetArn",
    "sources",
    "payloadStore",
    "payloadStoreZoneId",
)
SOURCE_KEYS = (
    "name",
    "kind",
    "secret",
    "previousSecret",
    "orderingKey",
    "publicUrl",
    "eventTypePath",
    "hmac",
    "dedupe",
)
# The kinds hookstack can verify: the registry (functions.inbound.kinds) is their one owner.
SOURCE_KINDS = KIND_NAMES
PROCESSING_TARGETS = ("bus", "lambda", "stepFunctions")
# Inbound events are published as <provider.eventSource>.<source name>; these are hookstack's own.
RESERVED_SOURCE_NAMES = (AURORA_SOURCE_NAME, OPERATIONAL_SOURCE_NAME)
# A dotted path into a JSON payload (orderingKey, eventTypePath): repository.id, data.object.id.
DOTTED_PATH_RE = re.compile(r"^[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*$")
# Above this, a typo: 10,000 concurrent ingests would take ~200,000 webhooks/s.
MAX_INGEST_RESERVED_CONCURRENCY = 10_000
# Claim-checked payloads: a general purpose S3 bucket, or an S3 Express One Zone directory bucket
# (docs/consumer.md, "Where claim-checked payloads are stored").
PAYLOAD_STORES = ("s3", "s3express")
# An Availability Zone ID (use1-az4, apne1-az1): directory buckets are created in one, by ID.
ZONE_ID_RE = re.compile(r"^[a-z]{2,8}[0-9]{1,2}-az[0-9]{1,2}$")


def parse_consumer(reader: Reader, value: Any, *, event_source: str) -> ConsumerSettings:
    """``event_source``: the stack's ``provider.eventSource`` (each source publishes ``<it>.<name>``)."""
    raw, path = reader.section(value, "consumer", CONSUMER_KEYS)
    defaults = ConsumerSettings()
    sources: list[Source] = []
    names: list[tuple[str, str | None]] = []
    source_items = reader.items(raw, "sources", path)
    for spath, sraw in source_items:
        source = _source(reader, sraw, spath)
        if source is not None and (problem := derived_source_problem(event_source, source.name)):
            reader.problem(f"{spath}.name", f"with provider.eventSource, {problem}")
            source = None
        if source is not None:
            sources.append(source)
        raw_name = sraw.get("name") if isinstance(sraw, Mapping) else None
        names.append((f"{spath}.name", raw_name if isinstance(raw_name, str) else None))
    reader.unique(names, "source name")
    target = reader.choice(raw, "target", path, PROCESSING_TARGETS, default=defaults.target) or defaults.target
    target_arn = reader.get(raw, "targetArn", path, str)
    if target != "bus" and not target_arn:
        reader.problem(f"{path}.targetArn", f"is required when target is {target!r}")
    expected_service = {"lambda": ":lambda:", "stepFunctions": ":states:"}.get(target)
    if target_arn and expected_service and (not target_arn.startswith("arn:") or expected_service not in target_arn):
        reader.problem(f"{path}.targetArn", f"must be the ARN of a {target} target; got {target_arn!r}")
    enabled = bool(reader.get(raw, "enabled", path, bool, default=bool(sources)))
    if enabled and raw.get("sources") in (None, []):
        reader.problem(f"{path}.sources", "must list at least one source when enabled is true (or set enabled: false)")
    # Only a valid list is measured: a source with problems is reported for those first.
    measurable = enabled and sources and len(sources) == len(source_items)
    if measurable and (problem := environment_problem(CONSUMER_NAME, sources)):
        reader.problem(f"{path}.sources", problem)
    return ConsumerSettings(
        enabled=enabled,
        claim_check_threshold_bytes=reader.int_in(
            raw, "claimCheckThresholdBytes", path, 0, MAX_INLINE_PAYLOAD_BYTES, defaults.claim_check_threshold_bytes
        ),
        ingest_reserved_concurrency=_reserved_concurrency(reader, raw, path),
        dedupe_ttl_hours=_dedupe_ttl_hours(reader, raw, path, sources),
        payload_retention_days=reader.int_in(
            raw, "payloadRetentionDays", path, 1, 3650, defaults.payload_retention_days
        ),
        max_receive_count=reader.int_in(raw, "maxReceiveCount", path, 5, 1000, defaults.max_receive_count),
        enrichment_timeout_seconds=reader.int_in(
            raw, "enrichmentTimeoutSeconds", path, 1, 120, defaults.enrichment_timeout_seconds
        ),
        target=target,
        target_arn=target_arn,
        sources=tuple(sources),
        **_payload_store(reader, raw, path),
    )


def _payload_store(reader: Reader, raw: Mapping[str, Any], path: str) -> dict[str, Any]:
    """``payloadStore`` and, for ``s3express`` (and only then), its ``payloadStoreZoneId``."""
    store = reader.choice(raw, "payloadStore", path, PAYLOAD_STORES, default="s3") or "s3"
    zone_id = reader.get(raw, "payloadStoreZoneId", path, str)
    if store == "s3express" and zone_id is None:
        reader.problem(
            f"{path}.payloadStoreZoneId",
            "is required when payloadStore is 's3express': the Availability Zone ID of the directory bucket "
            "(such as use1-az4; S3 Express One Zone is offered in some zones only)",
        )
    elif store != "s3express" and zone_id is not None:
        reader.problem(f"{path}.payloadStoreZoneId", "is only used with payloadStore: s3express; remove it")
        zone_id = None
    elif zone_id is not None and not ZONE_ID_RE.fullmatch(zone_id):
        reader.problem(
            f"{path}.payloadStoreZoneId",
            f"must be an Availability Zone ID such as use1-az4 (not a zone name such as us-east-1a); got {zone_id!r}",
        )
        zone_id = None
    return {"payload_store": store if zone_id is not None else "s3", "payload_store_zone_id": zone_id}


def _dedupe_ttl_hours(reader: Reader, raw: Mapping[str, Any], path: str, sources: list[Source]) -> int:
    """1..2160 hours; with a Mailgun source at least its signature's window (a token must be remembered
    for as long as its signature verifies, or a captured one could carry another body)."""
    hours = reader.int_in(raw, "dedupeTtlHours", path, 1, 24 * 90, ConsumerSettings().dedupe_ttl_hours)
    if any(source.kind == "mailgun" for source in sources) and hours * 3600 < MAILGUN_TOLERANCE_SECONDS:
        reader.problem(
            f"{path}.dedupeTtlHours",
            f"must be at least {MAILGUN_TOLERANCE_SECONDS // 3600} with a mailgun source (its tokens are remembered "
            f"for as long as its signatures verify); got {hours}",
        )
    return hours


def _reserved_concurrency(reader: Reader, raw: Mapping[str, Any], path: str) -> int | None:
    """``ingestReservedConcurrency``: 1..10000, or ``none`` to leave the function unreserved."""
    given = raw.get("ingestReservedConcurrency")
    if given == "none":
        return None
    if isinstance(given, str) and not (given.strip().isascii() and given.strip().isdigit()):
        reader.problem(  # 'NONE', 'unlimited': the reader's "must be a whole number" would hide the word
            f"{path}.ingestReservedConcurrency",
            f"must be a whole number between 1 and {MAX_INGEST_RESERVED_CONCURRENCY}, or none to leave the function "
            f"unreserved; got {given!r}",
        )
        return DEFAULT_INGEST_RESERVED_CONCURRENCY
    value = reader.get(raw, "ingestReservedConcurrency", path, int, default=DEFAULT_INGEST_RESERVED_CONCURRENCY)
    if not 1 <= value <= MAX_INGEST_RESERVED_CONCURRENCY:
        reader.problem(
            f"{path}.ingestReservedConcurrency",
            f"must be between 1 and {MAX_INGEST_RESERVED_CONCURRENCY} (0 would refuse every webhook), or none to "
            f"leave the function unreserved; got {value}",
        )
        return DEFAULT_INGEST_RESERVED_CONCURRENCY
    return int(value)


def _source(reader: Reader, value: Any, path: str) -> Source | None:
    raw = reader.mapping(value, path)
    if raw is None:
        return None
    reader.unknown_keys(raw, path, SOURCE_KEYS)
    name = reader.name(raw, "name", path)
    kind = reader.choice(raw, "kind", path, SOURCE_KINDS, required=True)
    secret = reader.secret(raw, "secret", path, required=True)
    previous = reader.secret(raw, "previousSecret", path, required=False)
    secret_problem = source_kind(kind).secret_problem if kind is not None else None
    if secret_problem is not None:
        for key, candidate in (("secret", secret), ("previousSecret", previous)):
            if candidate is not None and (problem := secret_problem(candidate.reveal())):
                reader.problem(f"{path}.{key}", f"{problem} (the value is not shown)")
    hmac = _hmac(reader, raw, kind, path)
    dedupe = _dedupe(reader, raw, kind, hmac, path)
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
    if name is None or kind is None or secret is None or (kind == "hmac" and hmac is None):
        return None
    return Source(
        name=name,
        kind=kind,
        secret=secret,
        previous_secret=previous,
        ordering_key=ordering_key,
        public_url=public_url,
        event_type_path=event_type_path,
        hmac=hmac,
        dedupe=dedupe,
    )


def _dedupe(reader: Reader, raw: Mapping[str, Any], kind: str | None, hmac: HmacConfig | None, path: str) -> str:
    """``dedupe``: ``content`` (default) or ``off``, the latter only where a source's provider sends no
    delivery id (the rule is :func:`functions.inbound.dedupe.dedupe_problem`, the ingest's too)."""
    value = raw.get("dedupe")
    if value is None:  # absent or null, as the reader takes other optional keys
        value = DEFAULT_DEDUPE
    elif value is False:  # YAML 1.1 readers (PyYAML: the sandbox, the stack-file check) read an unquoted off so
        value = DEDUPE_OFF
    conventions = None  # unknown while the kind (or an hmac source's scheme) has problems of its own
    if value == DEDUPE_OFF and kind is not None and (kind != "hmac" or hmac is not None):
        conventions = kind_of(kind, hmac)
    problem = dedupe_problem(value, conventions)
    if problem is not None:
        reader.problem(f"{path}.dedupe", problem)
        return DEFAULT_DEDUPE
    return str(value)


def _hmac(reader: Reader, raw: Mapping[str, Any], kind: str | None, path: str) -> HmacConfig | None:
    """``hmac:``, required for (and only for) ``kind: hmac``; its rules are the scheme's own (parse_hmac)."""
    value = raw.get("hmac")
    if kind != "hmac":
        if value is not None:
            reader.problem(f"{path}.hmac", "is only for sources of kind hmac")
        return None
    if value is None:
        reader.problem(f"{path}.hmac", "is required for kind hmac (header, algorithm, encoding; see docs/consumer.md)")
        return None
    config, problems = parse_hmac(value)
    for key, message in problems:
        reader.problem(f"{path}.hmac.{key}" if key else f"{path}.hmac", message)
    return config


def _dotted(reader: Reader, raw: Mapping[str, Any], key: str, path: str) -> str | None:
    value = reader.get(raw, key, path, str)
    if value is not None and not DOTTED_PATH_RE.fullmatch(value.removeprefix("$.")):
        reader.problem(f"{path}.{key}", f"must be a dotted JSON path like repository.id; got {value!r}")
        return None
    return value.removeprefix("$.") if value else None
