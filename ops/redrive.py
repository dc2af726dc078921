"""Redrive: send dead-lettered events again, each only to the rule that dead-lettered it.

Where an event goes, and when it stays in the queue instead: :mod:`ops.targets` (the rule in its
``RULE_ARN``, marked so that only that rule takes it, after ``TestEventPattern`` says the rule still
matches it as published; ``all_rules``: every matching rule of the entry bus).

When the run stops, so that a destination that keeps failing cannot keep it going:

- Its workload is the queue as it was at the start: ``SentTimestamp`` after the start marks a
  message that arrived since (a redriven event that failed again, say); it is held, not redriven,
  and left for a later run. ``ApproximateNumberOfMessages`` (+ ``NotVisible``) at the start bounds
  the work: the run ends once it has looked at that many messages present at start, when the queue
  is empty, after ``IDLE_BATCHES`` receives that brought only new messages, at ``max_messages``
  selected, or at ``time_limit`` seconds.
- One event is published at most once per rule in a run (``eventId`` + rule ARN), whatever the
  number of its copies in the queue; other copies stay in the queue, reported.

Safety, as before: a message is deleted only after ``PutEvents`` accepted its event (per entry,
:func:`functions.events.publish`); a dry run publishes and deletes nothing; messages a run held are
made visible again at its end.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from functions.events import MAX_REQUEST_BYTES, PublishError, entry_size, publish
from ops.dlq import DeadLetter, RedriveFilter, RedriveReport, parse_message
from ops.queue_run import (  # noqa: F401 (the stop reasons are also read as redrive.STOP_*)
    DEFAULT_TIME_LIMIT_SECONDS,
    IDLE_BATCHES,
    SQS_BATCH,
    STOP_EMPTY,
    STOP_LOOKED_AT_ALL,
    STOP_MAX,
    STOP_ONLY_NEW,
    STOP_TIME,
    Receives,
    delete_messages,
    release,
)
from ops.targets import RedriveTarget, RuleTargets


def redrive(
    sqs: Any,
    events: Any,
    queue_url: str,
    bus_name: str,
    *,
    execute: bool = False,
    selection: RedriveFilter | None = None,
    max_messages: int | None = None,
    target_bus: str | None = None,
    all_rules: bool = False,
    wait_seconds: int = 2,
    visibility_timeout: int = 300,
    time_limit: float = DEFAULT_TIME_LIMIT_SECONDS,
    progress: Callable[[RedriveReport], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.time,
    monotonic: Callable[[], float] = time.monotonic,
) -> RedriveReport:
    """Look at the DLQ as it was at the start; with ``execute``, send each selected event again to
    the rule that dead-lettered it and delete its message once accepted. See the module docstring."""
    selection = selection or RedriveFilter()
    report = RedriveReport(execute=execute, bus_name=bus_name, all_rules=all_rules)
    targets = RuleTargets(events, entry_bus=bus_name, target_bus=target_bus, all_rules=all_rules)
    started_ms = int(clock() * 1000)
    report.started_at = datetime.fromtimestamp(started_ms / 1000, tz=UTC)
    began = monotonic()
    deadline = began + time_limit
    held: dict[str, str] = {}  # message id -> latest receipt handle, released at the end
    seen: set[str] = set()
    claimed: set[tuple[str, str]] = set()  # (eventId, rule ARN) sent, or being sent, in this run
    idle = 0
    receives = Receives(sqs, queue_url, wait_seconds, visibility_timeout, deadline, monotonic, ["SentTimestamp"])
    try:
        if not receives.start(report):
            return report
        while (messages := receives.next(report, max_messages, idle)) is not None:
            batch: list[tuple[DeadLetter, RedriveTarget]] = []
            looked_at = report.looked_at
            fresh = []
            for message in messages:
                message_id = str(message["MessageId"])
                if message_id in seen and message_id not in held:
                    continue
                # Held until published and deleted, released at the end (all of the batch first:
                # a failed call below ends the run, and the rest of the batch must not stay hidden).
                held[message_id] = str(message["ReceiptHandle"])
                if message_id not in seen:  # else held by this run and visible again (timeout ran out)
                    seen.add(message_id)
                    fresh.append(message)
            for message in fresh:
                letter = parse_message(message)
                report.scanned += 1
                if letter.sent_timestamp_ms is not None and letter.sent_timestamp_ms > started_ms:
                    report.arrived_after_start += 1
                    continue
                report.looked_at += 1
                target = _select(letter, report, selection, max_messages, targets, claimed, now=datetime.now(UTC))
                if target is not None and execute:
                    batch.append((letter, target))
            idle = 0 if report.looked_at > looked_at else idle + 1
            if batch:
                _publish_and_delete(sqs, events, queue_url, batch, report, held, sleep)
            report.elapsed_seconds = monotonic() - began
            if progress is not None:
                progress(report)
            if report.aborted:
                break
    except (BotoCoreError, ClientError) as error:
        # DescribeRule or TestEventPattern (e.g. no permission): nothing more is sent.
        report.aborted = f"checking a rule failed: {error}"
    finally:
        release(sqs, queue_url, held, report)
        report.elapsed_seconds = monotonic() - began
    return report


def _select(
    letter: DeadLetter,
    report: RedriveReport,
    selection: RedriveFilter,
    max_messages: int | None,
    targets: RuleTargets,
    claimed: set[tuple[str, str]],
    *,
    now: datetime,
) -> RedriveTarget | None:
    """The target of a message present at start that this run redrives, else ``None`` (kept)."""
    if (max_messages is not None and report.selected >= max_messages) or not selection.matches(letter):
        return None
    report.count(letter)
    if letter.problem is not None or letter.event is None:
        report.keep(letter, letter.problem or "no event")
        return None
    target = targets.resolve(letter)
    if isinstance(target, str):
        report.keep(letter, target)
        return None
    size = entry_size(target.event_for(letter.event).entry(target.bus))
    if size > MAX_REQUEST_BYTES:
        report.keep(
            letter, f"with the redrive marker the event is {size} bytes; PutEvents takes at most {MAX_REQUEST_BYTES}"
        )
        return None
    identity = (letter.event.event_id, target.rule_arn)
    if identity in claimed:
        # Another copy of an event this run already sends to that rule: never twice in one run.
        report.keep(letter, "this run already redrives the same event (eventId) to the same rule; left for a later run")
        return None
    mismatch = targets.mismatch(target, letter.event, now=now)
    if mismatch is not None:
        report.keep(letter, mismatch)
        return None
    claimed.add(identity)
    report.redrivable += 1
    return target


def _publish_and_delete(
    sqs: Any,
    events: Any,
    queue_url: str,
    batch: Sequence[tuple[DeadLetter, RedriveTarget]],
    report: RedriveReport,
    held: dict[str, str],
    sleep: Callable[[float], None],
) -> None:
    # One publish per (bus, rule): eventIds are unique within it (``claimed``), so the entries
    # that PutEvents refused map back to their messages.
    groups: dict[tuple[str, str], list[tuple[DeadLetter, RedriveTarget]]] = {}
    for letter, target in batch:
        groups.setdefault((target.bus, target.rule_arn), []).append((letter, target))
    pending = list(groups.items())
    for index, ((bus, _), members) in enumerate(pending):
        failed: dict[str, str] = {}
        try:
            publish(
                events, [target.event_for(letter.event) for letter, target in members if letter.event], bus, sleep=sleep
            )
        except PublishError as error:
            failed = {
                event_id: f"PutEvents entry failed: {code} {message}".strip()
                for event_id, code, message in error.failed
            }
        except (BotoCoreError, ClientError) as error:
            # Nothing more is known to be accepted: keep the rest and stop (the next call would fail too).
            report.aborted = f"PutEvents call failed: {error}"
            for _, rest in pending[index:]:
                for letter, _target in rest:
                    report.keep(letter, report.aborted)
            return
        accepted = []
        for letter, _target in members:
            assert letter.event is not None
            if letter.event.event_id in failed:
                report.keep(letter, failed[letter.event.event_id])
            else:
                report.published_events += 1
                accepted.append(letter)
        _delete(sqs, queue_url, accepted, report, held)


def _delete(
    sqs: Any, queue_url: str, letters: Sequence[DeadLetter], report: RedriveReport, held: dict[str, str]
) -> None:
    for letter, reason in delete_messages(sqs, queue_url, letters, report, held):
        report.keep(letter, f"published, but DeleteMessage failed ({reason}): a later redrive sends it again")
