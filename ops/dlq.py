"""Dead letters: reading the destinations' dead-letter queue, choosing messages, reporting a run.

EventBridge writes a failed event to the DLQ as the event's own JSON (``source``, ``detail-type``,
``detail``, ...) with message attributes describing the failure: ``RULE_ARN``, ``TARGET_ARN``,
``ERROR_CODE``, ``ERROR_MESSAGE``, ``EXHAUSTED_RETRY_CONDITION`` (``MaximumRetryAttempts`` or
``MaximumEventAgeInSeconds``, absent when the error was not retried) and ``RETRY_ATTEMPTS``.

Messages that are not a hookstack event (not JSON, nested deeper than :data:`MAX_BODY_DEPTH`, no
``detail.eventId``, ...) are never redriven: they are kept and reported. The run itself (what goes where, and when it stops) is
:mod:`ops.redrive`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from functions import bounded_json
from functions.events import MAX_REQUEST_BYTES, REDRIVE_MARKER_KEY, Event, entry_size, make_event, mark_for_redrive
from ops.queue_run import QueueRun

DLQ_ATTRIBUTES = (
    "RULE_ARN",
    "TARGET_ARN",
    "ERROR_CODE",
    "ERROR_MESSAGE",
    "EXHAUSTED_RETRY_CONDITION",
    "RETRY_ATTEMPTS",
)
UNKNOWN = "(unknown)"
# json.loads recurses once per level and raises RecursionError near Python's limit (1,000 frames,
# shared with the caller's stack); EventBridge takes events up to 1,000 levels deep. A body deeper
# than this is kept with the reason (handled by hand) instead of crashing every run that meets it.
MAX_BODY_DEPTH = 200


@dataclass(frozen=True)
class DeadLetter:
    """One DLQ message, parsed. ``problem`` says why it cannot be redriven (``None``: it can)."""

    message_id: str
    receipt_handle: str
    rule_arn: str | None
    target_arn: str | None
    error_code: str | None
    error_message: str | None
    exhausted_retry_condition: str | None
    retry_attempts: str | None
    sent_at: datetime | None
    event: Event | None
    problem: str | None
    sent_timestamp_ms: int | None = None
    """SQS ``SentTimestamp`` (epoch milliseconds, the queue's clock)."""

    @property
    def tenant_id(self) -> str | None:
        if self.event is None:
            return None
        tenant = self.event.data.get("tenantId")
        return None if tenant is None else str(tenant)

    @property
    def event_id(self) -> str | None:
        return None if self.event is None else self.event.event_id


def parse_message(message: Mapping[str, Any]) -> DeadLetter:
    """Read an SQS message as EventBridge writes it to a target's DLQ. Never raises on content."""
    attributes = message.get("MessageAttributes") or {}

    def attribute(name: str) -> str | None:
        value = attributes.get(name)
        return value.get("StringValue") if isinstance(value, Mapping) else None

    sent_at, sent_ms = None, None
    sent = (message.get("Attributes") or {}).get("SentTimestamp")
    if sent and str(sent).isdigit():
        sent_ms = int(sent)
        sent_at = datetime.fromtimestamp(sent_ms / 1000, tz=UTC)
    event, problem = _event(message.get("Body"))
    return DeadLetter(
        message_id=str(message["MessageId"]),
        receipt_handle=str(message["ReceiptHandle"]),
        rule_arn=attribute("RULE_ARN"),
        target_arn=attribute("TARGET_ARN"),
        error_code=attribute("ERROR_CODE"),
        error_message=attribute("ERROR_MESSAGE"),
        exhausted_retry_condition=attribute("EXHAUSTED_RETRY_CONDITION"),
        retry_attempts=attribute("RETRY_ATTEMPTS"),
        sent_at=sent_at,
        event=event,
        problem=problem,
        sent_timestamp_ms=sent_ms,
    )


def _event(body: Any) -> tuple[Event | None, str | None]:
    if not isinstance(body, str):
        return None, "the message has no body"
    try:
        envelope = bounded_json.loads(body, MAX_BODY_DEPTH)
    except bounded_json.TooDeep as error:
        return None, f"the body {error}: this tool cannot redrive it (publish it again by hand)"
    except ValueError:
        return None, "the body is not JSON (not an event EventBridge wrote)"
    if not isinstance(envelope, Mapping):
        return None, "the body is not a JSON object (not an EventBridge event)"
    source, detail_type, detail = envelope.get("source"), envelope.get("detail-type"), envelope.get("detail")
    if not isinstance(source, str) or not isinstance(detail_type, str):
        return None, "the body has no string source / detail-type (not an EventBridge event)"
    if not isinstance(detail, Mapping):
        return None, "the event's detail is not a JSON object"
    event_id = detail.get("eventId")
    if not isinstance(event_id, str) or not event_id:
        # Publishing it would need a new id, and receivers could no longer deduplicate it.
        return None, "the event has no detail.eventId (outside hookstack's event contract)"
    marker = detail.get(REDRIVE_MARKER_KEY)
    if REDRIVE_MARKER_KEY in detail and (not isinstance(marker, str) or not marker):
        # Only a redrive sets it, always to a destination name: someone else published this.
        return None, (
            f"the event's detail.{REDRIVE_MARKER_KEY} is {repr(marker)[:80]}, not a destination name "
            "(outside the event contract)"
        )
    try:
        # tenant_id=None keeps detail.tenantId exactly as it was (type included). A marker (the
        # event was redriven before) is carried aside: make_event refuses it in the data.
        data = {k: v for k, v in detail.items() if k != REDRIVE_MARKER_KEY}
        event = mark_for_redrive(make_event(source, detail_type, data, event_id=event_id), marker)
    except ValueError as error:
        return None, f"the event breaks the event contract: {error}"
    size = entry_size(event.entry("-"))
    if size > MAX_REQUEST_BYTES:
        return None, f"the event is {size} bytes; PutEvents takes at most {MAX_REQUEST_BYTES}"
    return event, None


@dataclass(frozen=True)
class RedriveFilter:
    """Which messages a redrive selects: every given criterion must match (empty: any)."""

    rule_arns: frozenset[str] = frozenset()
    tenant_ids: frozenset[str] = frozenset()
    error_codes: frozenset[str] = frozenset()

    def matches(self, letter: DeadLetter) -> bool:
        if self.rule_arns and letter.rule_arn not in self.rule_arns:
            return False
        if self.error_codes and letter.error_code not in self.error_codes:
            return False
        # A message whose body cannot be read has no known tenant: it is selected (and reported)
        # rather than silently skipped, since it may well belong to the tenant asked for.
        return not self.tenant_ids or letter.event is None or letter.tenant_id in self.tenant_ids


@dataclass
class RedriveReport(QueueRun):
    """What a redrive run saw and did (the counts every dead-letter run shares: :class:`QueueRun`)."""

    bus_name: str
    all_rules: bool = False
    scanned: int = 0
    redrivable: int = 0
    published_events: int = 0
    by_rule: Counter[str] = field(default_factory=Counter)
    by_tenant: Counter[str] = field(default_factory=Counter)
    by_error_code: Counter[str] = field(default_factory=Counter)

    def count(self, letter: DeadLetter) -> None:
        self.selected += 1
        self.by_rule[letter.rule_arn or UNKNOWN] += 1
        self.by_tenant[letter.tenant_id or UNKNOWN] += 1
        self.by_error_code[letter.error_code or UNKNOWN] += 1
        self.note_sent_at(letter.sent_at)

    def keep(self, letter: DeadLetter, reason: str) -> None:
        self.kept.append({"messageId": letter.message_id, "eventId": letter.event_id or UNKNOWN, "reason": reason})

    def progress_line(self) -> str:
        return (
            f"redrive: looked at {self.looked_at} of {self.present_at_start} message(s) present at start, "
            f"selected {self.selected}, published {self.published_events}, deleted {self.deleted}, "
            f"left {len(self.kept)}, arrived since start {self.arrived_after_start} ({self.elapsed_seconds:.1f} s)"
        )

    def as_dict(self, rule_labels: Mapping[str, str] | None = None) -> dict[str, Any]:
        labels = rule_labels or {}
        return {
            "mode": "execute" if self.execute else "dry-run",
            "bus": self.bus_name,
            "allRules": self.all_rules,
            "startedAt": self.started_at.isoformat() if self.started_at else None,
            "presentAtStart": self.present_at_start,
            "lookedAt": self.looked_at,
            "arrivedAfterStart": self.arrived_after_start,
            "scanned": self.scanned,
            "selected": self.selected,
            "redrivable": self.redrivable,
            "publishedEvents": self.published_events,
            "deleted": self.deleted,
            "byRule": {_rule_label(arn, labels): n for arn, n in self.by_rule.most_common()},
            "byTenant": dict(self.by_tenant.most_common()),
            "byErrorCode": dict(self.by_error_code.most_common()),
            "oldestSentAt": self.oldest_sent_at.isoformat() if self.oldest_sent_at else None,
            "kept": list(self.kept),
            "warnings": list(self.warnings),
            "stopped": self.stopped,
            "unfinished": self.unfinished,
            "elapsedSeconds": round(self.elapsed_seconds, 3),
            "aborted": self.aborted,
        }


def _rule_label(rule_arn: str, labels: Mapping[str, str]) -> str:
    label = labels.get(rule_arn)
    return f"{rule_arn} ({label})" if label else rule_arn
