"""The stack outputs the operations tool works from, and the ARN shapes it reads names out of.

Operators export them once per stack with ``pulumi stack output --json > outputs.json``; flags
(``--bus-name``, ``--dlq-url``, ...) override single values or replace the file entirely.

The local sandbox writes the same file (``python -m sandbox up``: ``outputs_file`` in its state
file) with one key Pulumi never exports, :data:`SANDBOX_KEY`: where its AWS emulator listens, its
region and the credentials it accepts. With it, ``--outputs`` alone points every command at the
sandbox (:func:`sandbox_access`); ``--endpoint-url`` / ``--region`` still win.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from components.plan import resource_key

# arn:<partition>:events:<region>:<account>:rule/<bus>/<name> (rule/<name> on the default bus)
_EVENTS_ARN_RE = re.compile(
    r"^arn:[a-z-]+:events:(?P<region>[a-z0-9-]*):(?P<account>\d{12}):(?P<kind>[a-z-]+)/(?P<rest>.+)$"
)
# Any ARN's region (empty for global services), and an SQS queue URL's (https://sqs.<region>.amazonaws.com/...).
_ARN_REGION_RE = re.compile(r"^arn:[a-z-]+:[a-z0-9-]+:(?P<region>[a-z0-9-]*):")
_SQS_URL_REGION_RE = re.compile(r"^https://sqs\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/")


# The sandbox's own key in an outputs file (docs/sandbox.md): {"endpointUrl", "region", "accessKeyId", "secretAccessKey"}.
SANDBOX_KEY = "sandbox"
_LOCAL_ENDPOINT_RE = re.compile(r"^https?://(127\.0\.0\.1|localhost|\[::1\])(:\d{1,5})?/?$")


class OpsError(Exception):
    """Bad input or a precondition that does not hold; the message says what to change."""


@dataclass(frozen=True)
class DestinationRef:
    """One API destination of the stack, as the ``destinations`` output lists it."""

    tenant_id: str
    name: str
    rule_arn: str
    api_destination_arn: str
    connection_arn: str
    bus_name: str

    @property
    def label(self) -> str:
        return f"{self.tenant_id}/{self.name}"


@dataclass(frozen=True)
class StackOutputs:
    """What the tool needs to know about one deployed stack."""

    bus_name: str
    """The entry bus (``busName``): where redriven events go and what the archive records."""
    bus_arn: str | None = None
    dead_letter_queue_url: str | None = None
    destinations: tuple[DestinationRef, ...] = ()
    archive: str | None = None
    """Archive name or ARN (``archiveArn`` output or ``--archive``); found from the bus when absent."""
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def resource_prefix(self) -> str:
        """The prefix of every connection and API destination name of this stack (see provider.py)."""
        return resource_key(self.bus_name, max_length=24) + "-"

    def rule_labels(self) -> dict[str, str]:
        """rule ARN -> ``tenant/destination``, for reports."""
        return {d.rule_arn: d.label for d in self.destinations}

    def destination(self, label: str) -> DestinationRef:
        for destination in self.destinations:
            if destination.label == label:
                return destination
        known = ", ".join(d.label for d in self.destinations) or "none (pass --outputs)"
        raise OpsError(f"--destination {label!r}: no such destination in the stack outputs; known: {known}")

    def tenant_destinations(self, tenant_id: str) -> list[DestinationRef]:
        found = [d for d in self.destinations if d.tenant_id == tenant_id]
        if not found:
            known = ", ".join(sorted({d.tenant_id for d in self.destinations})) or "none (pass --outputs)"
            raise OpsError(f"--tenant {tenant_id!r}: the stack outputs list no destination for it; tenants: {known}")
        return found

    def regions(self) -> dict[str, str]:
        """region -> the first output that names it (every ARN and the queue URL carry the stack's)."""
        named: list[tuple[str, str | None]] = [
            ("busArn", self.bus_arn),
            ("deadLetterQueueUrl", self.dead_letter_queue_url),
            ("archiveArn", self.archive),
        ]
        for d in self.destinations:
            named += [(f"destinations {d.label} {key}", getattr(d, key)) for key in ("rule_arn", "connection_arn")]
        found: dict[str, str] = {}
        for where, value in named:
            region = region_of(value) if value else None
            if region:
                found.setdefault(region, f"{where} {value}")
        return found

    def require_queue_url(self) -> str:
        if not self.dead_letter_queue_url:
            raise OpsError("the dead-letter queue URL is unknown: pass --outputs outputs.json or --dlq-url")
        return self.dead_letter_queue_url


@dataclass(frozen=True)
class SandboxAccess:
    """How to reach the local sandbox an outputs file describes (its :data:`SANDBOX_KEY`)."""

    endpoint_url: str
    region: str
    access_key_id: str
    secret_access_key: str = field(repr=False)


def _read_outputs_file(path: str) -> Mapping[str, Any]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise OpsError(f"--outputs {path}: cannot read it ({error.strerror})") from error
    try:
        loaded = json.loads(text)
    except ValueError as error:
        raise OpsError(f"--outputs {path}: not JSON ({error}); create it with `pulumi stack output --json`") from error
    if not isinstance(loaded, Mapping):
        raise OpsError(f"--outputs {path}: must be a JSON object of stack outputs, got {type(loaded).__name__}")
    return loaded


def sandbox_access(path: str | None) -> SandboxAccess | None:
    """The sandbox an outputs file written by ``python -m sandbox up`` describes; ``None`` for a
    deployed stack's file (Pulumi exports no such key). Only loopback endpoints are accepted: the
    credentials it names are the sandbox's, never to be sent anywhere else."""
    if not path:
        return None
    value = _read_outputs_file(path).get(SANDBOX_KEY)
    if value is None:
        return None
    where = f"--outputs {path}: {SANDBOX_KEY}"
    if not isinstance(value, Mapping):
        raise OpsError(f"{where} must be an object with endpointUrl, region, accessKeyId, secretAccessKey")
    fields = {}
    for key in ("endpointUrl", "region", "accessKeyId", "secretAccessKey"):
        item = value.get(key)
        if not isinstance(item, str) or not item:
            raise OpsError(f"{where}.{key} must be a non-empty string, got {item!r}")
        fields[key] = item
    if not _LOCAL_ENDPOINT_RE.fullmatch(fields["endpointUrl"]):
        raise OpsError(
            f"{where}.endpointUrl must be a loopback http:// URL (the sandbox's), got {fields['endpointUrl']!r}"
        )
    return SandboxAccess(fields["endpointUrl"], fields["region"], fields["accessKeyId"], fields["secretAccessKey"])


def load_outputs(
    path: str | None,
    *,
    bus_name: str | None = None,
    bus_arn: str | None = None,
    dlq_url: str | None = None,
    archive: str | None = None,
) -> StackOutputs:
    """Read ``pulumi stack output --json`` from ``path`` (optional); flags win over the file."""
    raw: Mapping[str, Any] = _read_outputs_file(path) if path else {}
    name = bus_name or _string(raw, "busName", path)
    if not name:
        raise OpsError("the entry bus is unknown: pass --outputs outputs.json (busName) or --bus-name")
    return StackOutputs(
        bus_name=name,
        bus_arn=bus_arn or _string(raw, "busArn", path),
        dead_letter_queue_url=dlq_url or _string(raw, "deadLetterQueueUrl", path),
        destinations=_destinations(raw.get("destinations"), path),
        archive=archive or _string(raw, "archiveArn", path),
        extra=raw,
    )


def _string(raw: Mapping[str, Any], key: str, path: str | None) -> str | None:
    value = raw.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value or value == "[secret]":
        raise OpsError(f"--outputs {path}: {key} must be a non-empty string, got {value!r}")
    return value


_DESTINATION_KEYS = ("rule_arn", "api_destination_arn", "connection_arn", "bus_name")


def _destinations(value: Any, path: str | None) -> tuple[DestinationRef, ...]:
    if value is None:
        return ()
    if not isinstance(value, Mapping):
        raise OpsError(f"--outputs {path}: destinations must map tenant id -> destination name -> ARNs")
    found = []
    for tenant_id, by_name in value.items():
        if not isinstance(by_name, Mapping):
            raise OpsError(f"--outputs {path}: destinations[{tenant_id!r}] must map destination name -> ARNs")
        for name, arns in by_name.items():
            where = f"destinations[{tenant_id!r}][{name!r}]"
            if not isinstance(arns, Mapping) or any(not isinstance(arns.get(k), str) for k in _DESTINATION_KEYS):
                raise OpsError(f"--outputs {path}: {where} must hold {', '.join(_DESTINATION_KEYS)} as strings")
            found.append(
                DestinationRef(
                    tenant_id=str(tenant_id),
                    name=str(name),
                    rule_arn=arns["rule_arn"],
                    api_destination_arn=arns["api_destination_arn"],
                    connection_arn=arns["connection_arn"],
                    bus_name=arns["bus_name"],
                )
            )
    return tuple(found)


# --- ARNs -------------------------------------------------------------------------------------


def rule_location(rule_arn: str) -> tuple[str, str]:
    """(bus name, rule name) of an EventBridge rule ARN (``default`` for ``rule/<name>``)."""
    match = _EVENTS_ARN_RE.fullmatch(rule_arn)
    if not match or match["kind"] != "rule":
        raise OpsError(
            f"{rule_arn!r} is not an EventBridge rule ARN (arn:aws:events:<region>:<account>:rule/<bus>/<name>)"
        )
    parts = match["rest"].split("/")
    if len(parts) == 1:
        return "default", parts[0]
    return parts[0], parts[-1]


def rule_scope(rule_arn: str) -> tuple[str, str]:
    """(region, account) of an EventBridge rule ARN: where an event published to its bus lives."""
    match = _EVENTS_ARN_RE.fullmatch(rule_arn)
    if not match or match["kind"] != "rule":
        raise OpsError(f"{rule_arn!r} is not an EventBridge rule ARN")
    return match["region"], match["account"]


def region_of(arn_or_url: str) -> str | None:
    """The region an ARN or an SQS queue URL names; ``None`` when it names none (a local endpoint)."""
    match = _ARN_REGION_RE.match(arn_or_url) or _SQS_URL_REGION_RE.match(arn_or_url)
    return (match["region"] or None) if match else None


def resource_name(arn: str, kind: str) -> str:
    """The name inside a connection / api-destination / archive ARN (``<kind>/<name>[/<uuid>]``)."""
    match = _EVENTS_ARN_RE.fullmatch(arn)
    if not match or match["kind"] != kind:
        raise OpsError(f"{arn!r} is not an EventBridge {kind} ARN")
    return match["rest"].split("/")[0]


def bus_arn_for(entry_bus_arn: str, bus_name: str) -> str:
    """The ARN of another bus in the same account and region as ``entry_bus_arn``."""
    head, _, _ = entry_bus_arn.partition(":event-bus/")
    return f"{head}:event-bus/{bus_name}"
