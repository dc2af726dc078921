"""Redrive: put the events of the destinations' dead-letter queue back on the bus.

EventBridge writes a failed event to the DLQ as the event's own JSON (``source``, ``detail-type``,
``detail``, ...) with message attributes describing the failure: ``RULE_ARN``, ``TARGET_ARN``,
``ERROR_CODE``, ``ERROR_MESSAGE``, ``EXHAUSTED_RETRY_CONDITION`` (``MaximumRetryAttempts`` or
``MaximumEventAgeInSeconds``, absent when the error was not retried) and ``RETRY_ATTEMPTS``.

Safety rules, in order of importance:

- A message is deleted only after ``PutEvents`` accepted its event (``FailedEntryCount`` checked
  per entry by :func:`functions.events.publish`). Anything else leaves it in the queue.
- A dry run (the default) publishes nothing and deletes nothing.
- Messages that are not a hookstack event (not JSON, no ``detail.eventId``, ...) are kept and
  reported; so is every message that was received but not selected.
- Events keep their ``source``, ``detail-type`` and ``detail`` (the same JSON value, ``eventId``
  included) so receivers deduplicate.

Messages are held invisible while a run lasts (so one run never sees a message twice) and made
visible again at the end when they stay in the queue.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from functions.events import MAX_REQUEST_BYTES, Event, PublishError, entry_size, make_event, publish

DLQ_ATTRIBUTES = (
    "RULE_ARN",
    "TARGET_ARN",
    "ERROR_CODE",
    "ERROR_MESSAGE",
    "EXHAUSTED_RETRY_CONDITION",
    "RETRY_ATTEMPTS",
)
SQS_BATCH = 10
UNKNOWN = "(unknown)"


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

    sent_at = None
    sent = (message.get("Attributes") or {}).get("SentTimestamp")
    if sent and str(sent).isdigit():
        sent_at = datetime.fromtimestamp(int(sent) / 1000, tz=UTC)
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
    )


def _event(body: Any) -> tuple[Event | None, str | None]:
    if not isinstance(body, str):
        return None, "the message has no body"
    try:
        envelope = json.loads(body)
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
    try:
        # tenant_id=None keeps detail.tenantId exactly as it was (type included).
        event = make_event(source, detail_type, detail, event_id=event_id)
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
class RedriveReport:
    """What a redrive run saw and did."""

    execute: bool
    bus_name: str
    scanned: int = 0
    selected: int = 0
    redrivable: int = 0
    published_events: int = 0
    deleted: int = 0
    by_rule: Counter[str] = field(default_factory=Counter)
    by_tenant: Counter[str] = field(default_factory=Counter)
    by_error_code: Counter[str] = field(default_factory=Counter)
    kept: list[dict[str, str]] = field(default_factory=list)
    """Selected messages left in the queue, each with the reason."""
    warnings: list[str] = field(default_factory=list)
    oldest_sent_at: datetime | None = None
    aborted: str | None = None

    def count(self, letter: DeadLetter) -> None:
        self.selected += 1
        self.by_rule[letter.rule_arn or UNKNOWN] += 1
        self.by_tenant[letter.tenant_id or UNKNOWN] += 1
        self.by_error_code[letter.error_code or UNKNOWN] += 1
        if letter.sent_at and (self.oldest_sent_at is None or letter.sent_at < self.oldest_sent_at):
            self.oldest_sent_at = letter.sent_at

    def keep(self, letter: DeadLetter, reason: str) -> None:
        self.kept.append({"messageId": letter.message_id, "eventId": letter.event_id or UNKNOWN, "reason": reason})

    @property
    def complete(self) -> bool:
        """Every selected message was redriven and deleted (execute) / could be (dry run)."""
        return not self.kept and self.aborted is None

    def as_dict(self, rule_labels: Mapping[str, str] | None = None) -> dict[str, Any]:
        labels = rule_labels or {}
        return {
            "mode": "execute" if self.execute else "dry-run",
            "bus": self.bus_name,
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
            "aborted": self.aborted,
        }


def _rule_label(rule_arn: str, labels: Mapping[str, str]) -> str:
    label = labels.get(rule_arn)
    return f"{rule_arn} ({label})" if label else rule_arn


def redrive(
    sqs: Any,
    events: Any,
    queue_url: str,
    bus_name: str,
    *,
    execute: bool = False,
    selection: RedriveFilter | None = None,
    max_messages: int | None = None,
    wait_seconds: int = 2,
    visibility_timeout: int = 300,
    sleep: Callable[[float], None] = time.sleep,
) -> RedriveReport:
    """Scan the DLQ; with ``execute``, re-publish the selected events to ``bus_name`` and delete
    each message once its event was accepted. See the module docstring for the guarantees."""
    selection = selection or RedriveFilter()
    report = RedriveReport(execute=execute, bus_name=bus_name)
    held: dict[str, str] = {}  # message id -> latest receipt handle, released at the end
    seen: set[str] = set()
    try:
        while max_messages is None or report.selected < max_messages:
            try:
                messages = sqs.receive_message(
                    QueueUrl=queue_url,
                    MaxNumberOfMessages=SQS_BATCH,
                    WaitTimeSeconds=wait_seconds,
                    VisibilityTimeout=visibility_timeout,
                    MessageAttributeNames=["All"],
                    MessageSystemAttributeNames=["SentTimestamp"],
                ).get("Messages", [])
            except (BotoCoreError, ClientError) as error:
                # E.g. OverLimit (120,000 messages in flight): report what was done so far.
                report.aborted = f"ReceiveMessage failed: {error}"
                break
            fresh = [m for m in messages if m["MessageId"] not in seen]
            for message in messages:
                if message["MessageId"] in seen and message["MessageId"] in held:
                    held[message["MessageId"]] = message["ReceiptHandle"]
            if not fresh:
                # Empty queue, or only messages this run already holds came back (their
                # visibility timeout ran out): either way nothing new is left to look at.
                break
            to_publish: list[DeadLetter] = []
            for message in fresh:
                seen.add(message["MessageId"])
                letter = parse_message(message)
                report.scanned += 1
                full = max_messages is not None and report.selected >= max_messages
                if full or not selection.matches(letter):
                    held[letter.message_id] = letter.receipt_handle
                    continue
                report.count(letter)
                if letter.problem is not None:
                    report.keep(letter, letter.problem)
                    held[letter.message_id] = letter.receipt_handle
                    continue
                report.redrivable += 1
                if execute:
                    to_publish.append(letter)
                else:
                    held[letter.message_id] = letter.receipt_handle
            if to_publish:
                _publish_and_delete(sqs, events, queue_url, bus_name, to_publish, report, held, sleep)
                if report.aborted:
                    break
    finally:
        _release(sqs, queue_url, held, report)
    return report


def _publish_and_delete(
    sqs: Any,
    events: Any,
    queue_url: str,
    bus_name: str,
    letters: Sequence[DeadLetter],
    report: RedriveReport,
    held: dict[str, str],
    sleep: Callable[[float], None],
) -> None:
    # The same event failing for two destinations of a tenant sits twice in the DLQ; one
    # PutEvents reaches both rules again, so publish it once and delete both messages after.
    unique: dict[str, Event] = {}
    for letter in letters:
        assert letter.event is not None
        unique.setdefault(_identity(letter.event), letter.event)
    failed: dict[str, str] = {}
    try:
        publish(events, list(unique.values()), bus_name, sleep=sleep)
    except PublishError as error:
        failed = {
            event_id: f"PutEvents entry failed: {code} {message}".strip() for event_id, code, message in error.failed
        }
    except (BotoCoreError, ClientError) as error:
        # Nothing is known to be accepted: keep all of them and stop (the next batch would fail too).
        report.aborted = f"PutEvents call failed: {error}"
        for letter in letters:
            report.keep(letter, report.aborted)
            held[letter.message_id] = letter.receipt_handle
        return
    report.published_events += sum(1 for e in unique.values() if e.event_id not in failed)
    accepted = []
    for letter in letters:
        assert letter.event is not None
        if letter.event.event_id in failed:
            report.keep(letter, failed[letter.event.event_id])
            held[letter.message_id] = letter.receipt_handle
        else:
            accepted.append(letter)
    _delete(sqs, queue_url, accepted, report)


def _identity(event: Event) -> str:
    return json.dumps([event.source, event.event_type, event.detail()], sort_keys=True, separators=(",", ":"))


def _delete(sqs: Any, queue_url: str, letters: Sequence[DeadLetter], report: RedriveReport) -> None:
    for chunk in _chunks(letters, SQS_BATCH):
        entries = [{"Id": str(i), "ReceiptHandle": letter.receipt_handle} for i, letter in enumerate(chunk)]
        try:
            response = sqs.delete_message_batch(QueueUrl=queue_url, Entries=entries)
        except (BotoCoreError, ClientError) as error:
            for letter in chunk:
                report.keep(letter, f"published, but DeleteMessage failed ({error}): a later redrive sends it again")
            continue
        failures = {f["Id"]: f for f in response.get("Failed", [])}
        for i, letter in enumerate(chunk):
            failure = failures.get(str(i))
            if failure is None:
                report.deleted += 1
            else:
                reason = f"{failure.get('Code', '')} {failure.get('Message', '')}".strip()
                report.keep(letter, f"published, but DeleteMessage failed ({reason}): a later redrive sends it again")


def _release(sqs: Any, queue_url: str, held: Mapping[str, str], report: RedriveReport) -> None:
    """Make the messages this run held visible again right away (not after the timeout)."""
    for chunk in _chunks(list(held.values()), SQS_BATCH):
        entries = [{"Id": str(i), "ReceiptHandle": handle, "VisibilityTimeout": 0} for i, handle in enumerate(chunk)]
        try:
            failed = sqs.change_message_visibility_batch(QueueUrl=queue_url, Entries=entries).get("Failed", [])
        except (BotoCoreError, ClientError) as error:
            report.warnings.append(
                f"could not make {len(chunk)} message(s) visible again ({error}); they reappear after the visibility timeout"
            )
            continue
        if failed:
            report.warnings.append(
                f"could not make {len(failed)} message(s) visible again; they reappear after the visibility timeout"
            )


def _chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
