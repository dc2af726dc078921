"""Inbound redrive: move messages from the inbound FIFO dead-letter queue back to the FIFO queue.

Done by hand (receive, ``SendMessage``, delete) rather than with SQS's ``StartMessageMoveTask``,
which offers no dry run, no selection, no count limit, runs asynchronously and is not emulated by
moto (so neither the sandbox nor the tests could run it); docs/runbook.md §10 compares the two.

Order. The dead-letter queue is itself FIFO: ``ReceiveMessage`` hands out each message group's
messages oldest first and no more of a group while one of them is in flight. The run sends them
one at a time in that order, each into its own ``MessageGroupId``, so every group keeps its order;
a redriven message joins the tail of its group (after messages that arrived since it failed). When a
message of a group cannot be sent (or must stay), the rest of that group stays too in this run: sent
on, they would overtake it.

No duplicates. Each dead-letter message is sent at most once per run and deleted only after
``SendMessage`` succeeded. Its ``MessageDeduplicationId`` is derived from the dead-letter message's
own ``MessageId`` (:func:`redrive_deduplication_id`): a second send of the same dead letter within
SQS's 5-minute window (a retried call, a run repeated after a failed delete) is absorbed by the
queue. It is deliberately not the ingest's id (sha256 of source and delivery): a dead letter sent
back within 5 minutes of the original send, or of an earlier redrive of the same delivery, would be
silently discarded by SQS under that id, and then deleted from the dead-letter queue: lost. (A FIFO
dead-letter queue does not even keep the original id: SQS replaces it with the original message id.)
Copies (same group and body as a message this run already sent: a dead letter of an earlier run's
send that failed again) are not sent a second time in the run, and not deleted either: that send may
have been one SQS discarded (an earlier run sent the same dead letter within 5 minutes and could not
delete it), in which case the copy is the only one left. It stays, its group stops there, and the
next run sends it (same ``eventId``: consumers deduplicate on it).

Stopping. As ``ops redrive``: the run's workload is what the dead-letter queue held at its start;
messages whose ``SentTimestamp`` is later (a redriven message that failed again: a FIFO dead-letter
queue stamps a message when it moves in) are left for a later run, and the run ends once it looked
at every message present at start, when nothing more can be received, after ``IDLE_BATCHES``
receives of only newer messages, at ``max_messages`` selected, or at ``time_limit`` seconds.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ops.outputs import OpsError
from ops.queue_run import (
    DEFAULT_TIME_LIMIT_SECONDS,
    STOP_EMPTY,
    QueueRun,
    Receives,
    delete_messages,
    release,
)

__all__ = ["DEFAULT_TIME_LIMIT_SECONDS", "InboundRedriveReport", "InboundSelection", "redrive_inbound"]

DEDUPLICATION_PREFIX = "redrive-"
# How many moved messages the report lists one by one (it counts all of them).
LISTED_MESSAGES = 1000
_SYSTEM_ATTRIBUTES = ["SentTimestamp", "MessageGroupId", "MessageDeduplicationId", "ApproximateReceiveCount"]


def redrive_deduplication_id(dead_letter_message_id: str) -> str:
    """The ``MessageDeduplicationId`` a dead letter is sent back with: the same for every send of
    that dead letter, different from every id the ingest uses (64 hex digits) and from any other
    dead letter's."""
    return DEDUPLICATION_PREFIX + hashlib.sha256(dead_letter_message_id.encode()).hexdigest()


def group_source(group: str) -> str:
    """The source name a message group belongs to: groups are ``<source>`` or ``<source>:<value>``
    (source names never contain ``:``)."""
    return group.split(":", 1)[0]


@dataclass(frozen=True)
class InboundSelection:
    """Which dead letters a run moves: every given criterion must match (empty: all)."""

    sources: frozenset[str] = frozenset()
    groups: frozenset[str] = frozenset()

    def matches(self, group: str) -> bool:
        if self.groups and group not in self.groups:
            return False
        return not self.sources or group_source(group) in self.sources


@dataclass
class InboundRedriveReport(QueueRun):
    """What an inbound redrive run saw and did (the counts every dead-letter run shares: :class:`QueueRun`)."""

    queue_url: str
    dead_letter_queue_url: str
    sent: int = 0
    copies: int = 0
    """Dead letters identical to one sent in this run (group and body): left for the next run."""
    by_group: Counter[str] = field(default_factory=Counter)
    by_source: Counter[str] = field(default_factory=Counter)
    moved: list[dict[str, str]] = field(default_factory=list)

    def count(self, letter: _DeadLetter) -> None:
        self.selected += 1
        self.by_group[letter.group] += 1
        self.by_source[group_source(letter.group)] += 1
        self.note_sent_at(letter.sent_at)

    def keep(self, letter: _DeadLetter, reason: str) -> None:
        self.kept.append(
            {"messageId": letter.message_id, "group": letter.group, "eventId": letter.event_id, "reason": reason}
        )

    def progress_line(self) -> str:
        return (
            f"inbound redrive: looked at {self.looked_at} of {self.present_at_start} message(s) present at start, "
            f"selected {self.selected}, sent {self.sent}, deleted {self.deleted}, left {len(self.kept)}, "
            f"arrived since start {self.arrived_after_start} ({self.elapsed_seconds:.1f} s)"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "mode": "execute" if self.execute else "dry-run",
            "queueUrl": self.queue_url,
            "deadLetterQueueUrl": self.dead_letter_queue_url,
            "startedAt": self.started_at.isoformat() if self.started_at else None,
            "presentAtStart": self.present_at_start,
            "lookedAt": self.looked_at,
            "arrivedAfterStart": self.arrived_after_start,
            "selected": self.selected,
            "sent": self.sent,
            "deleted": self.deleted,
            "copies": self.copies,
            "byGroup": dict(self.by_group.most_common()),
            "bySource": dict(self.by_source.most_common()),
            "oldestSentAt": self.oldest_sent_at.isoformat() if self.oldest_sent_at else None,
            "moved": list(self.moved),
            "kept": list(self.kept),
            "warnings": list(self.warnings),
            "stopped": self.stopped,
            "unfinished": self.unfinished,
            "elapsedSeconds": round(self.elapsed_seconds, 3),
            "aborted": self.aborted,
        }


@dataclass(frozen=True)
class _DeadLetter:
    message_id: str
    receipt_handle: str
    body: str
    group: str
    sent_timestamp_ms: int | None
    attributes: Mapping[str, Any]
    """Message attributes, in the shape ``SendMessage`` takes."""

    @property
    def sent_at(self) -> datetime | None:
        return None if self.sent_timestamp_ms is None else datetime.fromtimestamp(self.sent_timestamp_ms / 1000, UTC)

    @property
    def event_id(self) -> str:
        """The envelope's ``eventId`` for reports (``?`` when the body is no envelope)."""
        try:
            value = json.loads(self.body).get("eventId")
        except (ValueError, AttributeError):
            return "?"
        return value if isinstance(value, str) else "?"

    @property
    def identity(self) -> str:
        return hashlib.sha256(f"{len(self.group)}:{self.group}".encode() + self.body.encode()).hexdigest()


def _dead_letter(message: Mapping[str, Any]) -> _DeadLetter:
    system = message.get("Attributes") or {}
    sent = system.get("SentTimestamp")
    attributes = {}
    for name, value in (message.get("MessageAttributes") or {}).items():
        kept = {k: value[k] for k in ("DataType", "StringValue", "BinaryValue") if k in value}
        attributes[name] = kept
    return _DeadLetter(
        message_id=str(message["MessageId"]),
        receipt_handle=str(message["ReceiptHandle"]),
        body=str(message.get("Body", "")),
        group=str(system.get("MessageGroupId") or ""),
        sent_timestamp_ms=int(sent) if sent is not None and str(sent).isdigit() else None,
        attributes=attributes,
    )


def check_queues(sqs: Any, queue_url: str, dead_letter_queue_url: str) -> None:
    """Both queues FIFO, and the queue's redrive policy naming the dead-letter queue: messages go
    back to the queue they came from, never to another one."""
    if queue_url == dead_letter_queue_url:
        raise OpsError(f"the queue and the dead-letter queue are the same ({queue_url})")
    wanted = ["FifoQueue", "QueueArn", "RedrivePolicy"]
    queue = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=wanted)["Attributes"]
    dead = sqs.get_queue_attributes(QueueUrl=dead_letter_queue_url, AttributeNames=wanted)["Attributes"]
    for url, attributes in ((queue_url, queue), (dead_letter_queue_url, dead)):
        if attributes.get("FifoQueue") != "true":
            raise OpsError(f"{url} is not a FIFO queue: inbound webhooks use a FIFO queue and a FIFO dead-letter queue")
    try:
        target = json.loads(queue.get("RedrivePolicy") or "{}").get("deadLetterTargetArn")
    except (ValueError, AttributeError):
        target = None
    if target != dead.get("QueueArn"):
        raise OpsError(
            f"{queue_url} does not dead-letter to {dead_letter_queue_url} (its redrive policy names "
            f"{target or 'no queue'}): pass the inbound queue and its own dead-letter queue "
            "(outputs inboundQueueName and inboundDeadLetterQueueName)"
        )


def redrive_inbound(
    sqs: Any,
    queue_url: str,
    dead_letter_queue_url: str,
    *,
    execute: bool = False,
    selection: InboundSelection | None = None,
    max_messages: int | None = None,
    wait_seconds: int = 2,
    visibility_timeout: int = 300,
    time_limit: float = DEFAULT_TIME_LIMIT_SECONDS,
    progress: Callable[[InboundRedriveReport], None] | None = None,
    clock: Callable[[], float] = time.time,
    monotonic: Callable[[], float] = time.monotonic,
) -> InboundRedriveReport:
    """Look at the dead-letter queue as it was at the start; with ``execute``, send each selected
    message back into its group of ``queue_url`` and delete it once sent. See the module docstring."""
    selection = selection or InboundSelection()
    report = InboundRedriveReport(execute=execute, queue_url=queue_url, dead_letter_queue_url=dead_letter_queue_url)
    check_queues(sqs, queue_url, dead_letter_queue_url)
    started_ms = int(clock() * 1000)
    report.started_at = datetime.fromtimestamp(started_ms / 1000, tz=UTC)
    began = monotonic()
    deadline = began + time_limit
    held: dict[str, str] = {}  # message id -> receipt handle, made visible again at the end
    sent_identities: set[str] = set()
    idle = 0
    receives = Receives(
        sqs, dead_letter_queue_url, wait_seconds, visibility_timeout, deadline, monotonic, _SYSTEM_ATTRIBUTES
    )
    try:
        if not receives.start(report):
            return report
        while not report.aborted and (messages := receives.next(report, max_messages, idle)) is not None:
            looked_at = report.looked_at
            letters = []
            for message in messages:  # every one held first: a failure below must not leave any hidden
                held[str(message["MessageId"])] = str(message["ReceiptHandle"])
                letters.append(_dead_letter(message))
            context = _Run(queue_url, dead_letter_queue_url, selection, max_messages, started_ms, held, sent_identities)
            _move_batch(sqs, letters, report, context)
            idle = 0 if report.looked_at > looked_at else idle + 1
            report.elapsed_seconds = monotonic() - began
            if progress is not None:
                progress(report)
    finally:
        release(sqs, dead_letter_queue_url, held, report)
        report.elapsed_seconds = monotonic() - began
    if report.stopped == STOP_EMPTY and report.looked_at < report.present_at_start:
        report.warnings.append(
            f"a FIFO queue hands out no more messages of a group while one of them is held: this dry run saw the "
            f"first messages of each group ({report.looked_at} of {report.present_at_start}); --execute moves them all"
            if not execute
            else f"looked at {report.looked_at} of {report.present_at_start} message(s) present at start: the others "
            "were held by another reader (a run or dry run under way) or miscounted by SQS's approximate count; "
            "run again once no other run is under way"
        )
    return report


@dataclass(frozen=True)
class _Run:
    """What every batch of one run shares."""

    queue_url: str
    dead_letter_queue_url: str
    selection: InboundSelection
    max_messages: int | None
    started_ms: int
    held: dict[str, str]
    """message id -> receipt handle of the dead letters this run holds (made visible again at its end)."""
    sent_identities: set[str]
    """Group and body digests of the messages this run sent."""


def _move_batch(sqs: Any, letters: Sequence[_DeadLetter], report: InboundRedriveReport, run: _Run) -> None:
    """Send, in order, the selected messages of one receive; delete those sent."""
    # Groups of which a message stays in this run: the group's later messages must stay too.
    stopped_groups: set[str] = set()
    done: list[_DeadLetter] = []
    try:
        for letter in letters:
            if not letter.group:
                report.looked_at += 1
                report.keep(letter, "no MessageGroupId: not a message of a FIFO queue")
                continue
            if letter.sent_timestamp_ms is not None and letter.sent_timestamp_ms > run.started_ms:
                report.arrived_after_start += 1
                stopped_groups.add(letter.group)
                continue
            report.looked_at += 1
            limit = run.max_messages
            if not run.selection.matches(letter.group) or (limit is not None and report.selected >= limit):
                stopped_groups.add(letter.group)  # held until the end: FIFO gives no more of the group anyway
                continue
            report.count(letter)
            if letter.group in stopped_groups:
                report.keep(
                    letter,
                    f"an earlier message of group {letter.group} stays in the queue; sent, this one would overtake it",
                )
                continue
            if not report.execute:
                continue
            if letter.identity in run.sent_identities:
                # Not sent twice in one run; not deleted either: if SQS discarded that send as a repeat of an
                # earlier run's (5-minute deduplication), this copy is the only one left.
                report.copies += 1
                stopped_groups.add(letter.group)
                report.keep(
                    letter,
                    "identical to a message sent in this run: not sent twice in one run; left for the next run "
                    "(that send may have been discarded as a repeat of an earlier run's)",
                )
                continue
            try:
                response = sqs.send_message(
                    QueueUrl=run.queue_url,
                    MessageBody=letter.body,
                    MessageGroupId=letter.group,
                    MessageDeduplicationId=redrive_deduplication_id(letter.message_id),
                    **({"MessageAttributes": dict(letter.attributes)} if letter.attributes else {}),
                )
            except (BotoCoreError, ClientError) as error:
                # Every later send would most likely fail the same way (permissions, KMS): stop here.
                report.aborted = f"SendMessage failed: {error}"
                report.keep(letter, report.aborted)
                break
            report.sent += 1
            run.sent_identities.add(letter.identity)
            done.append(letter)
            if len(report.moved) < LISTED_MESSAGES:
                report.moved.append(
                    {
                        "messageId": letter.message_id,
                        "group": letter.group,
                        "eventId": letter.event_id,
                        "newMessageId": str(response.get("MessageId", "")),
                    }
                )
    finally:
        # Also when interrupted (Ctrl-C): what was sent is deleted, so the next run does not send it again.
        _delete(sqs, run.dead_letter_queue_url, done, report, run.held)


def _delete(
    sqs: Any, queue_url: str, letters: Sequence[_DeadLetter], report: InboundRedriveReport, held: dict[str, str]
) -> None:
    for letter, reason in delete_messages(sqs, queue_url, letters, report, held):
        report.keep(
            letter,
            f"sent, but DeleteMessage failed ({reason}): a later run sends it again (absorbed by the queue "
            "within 5 minutes of this send; later, consumers deduplicate on eventId)",
        )
