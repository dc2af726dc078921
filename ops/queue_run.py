"""What every dead-letter run shares (``ops redrive`` and ``ops inbound redrive``): its workload is
the queue as it was at its start, it stops by itself, and it leaves no message hidden behind it.

:class:`QueueRun` holds a run's counts; :func:`stop_reason` says when the run ends (see
:mod:`ops.redrive`); :func:`delete_messages` deletes what a run moved and :func:`release` makes
what it held visible again. Each run owns what differs: how a message is read, selected and sent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import KW_ONLY, dataclass, field
from datetime import datetime
from typing import Any, Protocol, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

SQS_BATCH = 10
# Receives in a row that brought no message present at the start: what is left arrived since.
IDLE_BATCHES = 3
DEFAULT_TIME_LIMIT_SECONDS = 240
STOP_LOOKED_AT_ALL = "looked at every message present at start"
STOP_EMPTY = "no message left to receive"
STOP_MAX = "--max reached"
STOP_TIME = "time limit reached: run again for the rest"
STOP_ONLY_NEW = "only messages that arrived after the start were left"


@dataclass
class QueueRun:
    """The counts and outcome every dead-letter run reports."""

    execute: bool
    _: KW_ONLY
    started_at: datetime | None = None
    present_at_start: int = 0
    """Messages in the queue (visible and in flight) when the run started: its whole workload."""
    looked_at: int = 0
    """Messages present at start that this run received and looked at."""
    arrived_after_start: int = 0
    """Messages sent after the run started (e.g. a redriven message failing again): left for later."""
    selected: int = 0
    deleted: int = 0
    kept: list[dict[str, str]] = field(default_factory=list)
    """Selected messages left in the queue, each with the reason."""
    warnings: list[str] = field(default_factory=list)
    oldest_sent_at: datetime | None = None
    stopped: str = ""
    """Why the run ended (every message present at start looked at, queue empty, --max, time limit)."""
    unfinished: bool = False
    """The run ended (time limit) before it looked at everything present at start."""
    elapsed_seconds: float = 0.0
    aborted: str | None = None

    def note_sent_at(self, sent_at: datetime | None) -> None:
        """Count a selected message's ``SentTimestamp`` towards the oldest one reported."""
        if sent_at and (self.oldest_sent_at is None or sent_at < self.oldest_sent_at):
            self.oldest_sent_at = sent_at

    @property
    def complete(self) -> bool:
        """Every selected message was moved and deleted (execute) / could be (dry run), and the run
        looked at everything it had to."""
        return not self.kept and self.aborted is None and not self.unfinished


def stop_reason(run: QueueRun, max_messages: int | None, idle: int, late: bool) -> str:
    """Why the run stops before its next receive (``""``: it goes on)."""
    if max_messages is not None and run.selected >= max_messages:
        return STOP_MAX
    if run.looked_at >= run.present_at_start:
        return STOP_LOOKED_AT_ALL
    if idle >= IDLE_BATCHES:
        return STOP_ONLY_NEW
    if late:
        return STOP_TIME
    return ""


@dataclass(frozen=True)
class Receives:
    """How a run receives from the queue it works on: each receive waits no longer than the run may
    still take, and holds its messages for ``visibility_timeout``."""

    sqs: Any
    queue_url: str
    wait_seconds: int
    visibility_timeout: int
    deadline: float
    monotonic: Callable[[], float]
    system_attributes: Sequence[str]

    def start(self, run: QueueRun) -> bool:
        """Count the run's workload (``present_at_start``); ``False``: it could not (``aborted``)."""
        try:
            run.present_at_start = queue_size(self.sqs, self.queue_url)
        except (BotoCoreError, ClientError) as error:
            run.aborted = f"GetQueueAttributes failed: {error}"
            return False
        return True

    def next(self, run: QueueRun, max_messages: int | None, idle: int) -> list[dict[str, Any]] | None:
        """The next receive's messages; ``None`` when the run ends (``stopped`` or ``aborted`` says why)."""
        run.stopped = stop_reason(run, max_messages, idle, self.monotonic() >= self.deadline)
        if run.stopped:
            run.unfinished = run.stopped == STOP_TIME
            return None
        try:
            messages: list[dict[str, Any]] = self.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=SQS_BATCH,
                WaitTimeSeconds=min(self.wait_seconds, max(0, int(self.deadline - self.monotonic()))),
                VisibilityTimeout=self.visibility_timeout,
                MessageAttributeNames=["All"],
                MessageSystemAttributeNames=list(self.system_attributes),
            ).get("Messages", [])
        except (BotoCoreError, ClientError) as error:
            # E.g. OverLimit (120,000 messages in flight): report what was done so far.
            run.aborted = f"ReceiveMessage failed: {error}"
            return None
        if not messages:
            run.stopped = STOP_EMPTY
            return None
        return messages


def queue_size(sqs: Any, queue_url: str) -> int:
    """Messages in the queue, visible and in flight (SQS's approximate counts)."""
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes.get("ApproximateNumberOfMessages", 0)) + int(
        attributes.get("ApproximateNumberOfMessagesNotVisible", 0)
    )


class Received(Protocol):
    @property
    def message_id(self) -> str: ...

    @property
    def receipt_handle(self) -> str: ...


ReceivedT = TypeVar("ReceivedT", bound=Received)


def delete_messages(
    sqs: Any, queue_url: str, messages: Sequence[ReceivedT], run: QueueRun, held: dict[str, str]
) -> list[tuple[ReceivedT, str]]:
    """Delete ``messages``, counted in ``run.deleted`` and no longer ``held``; the ones not deleted,
    each with the reason (the caller keeps them in its report)."""
    not_deleted: list[tuple[ReceivedT, str]] = []
    for chunk in chunks(messages, SQS_BATCH):
        entries = [{"Id": str(i), "ReceiptHandle": message.receipt_handle} for i, message in enumerate(chunk)]
        try:
            response = sqs.delete_message_batch(QueueUrl=queue_url, Entries=entries)
        except (BotoCoreError, ClientError) as error:
            not_deleted.extend((message, str(error)) for message in chunk)
            continue
        failures = {f["Id"]: f for f in response.get("Failed", [])}
        for i, message in enumerate(chunk):
            failure = failures.get(str(i))
            if failure is None:
                run.deleted += 1
                held.pop(message.message_id, None)
            else:
                not_deleted.append((message, f"{failure.get('Code', '')} {failure.get('Message', '')}".strip()))
    return not_deleted


def release(sqs: Any, queue_url: str, held: dict[str, str], run: QueueRun) -> None:
    """Make the messages this run held visible again right away (not after the timeout)."""
    for chunk in chunks(list(held.values()), SQS_BATCH):
        entries = [{"Id": str(i), "ReceiptHandle": handle, "VisibilityTimeout": 0} for i, handle in enumerate(chunk)]
        try:
            failed = sqs.change_message_visibility_batch(QueueUrl=queue_url, Entries=entries).get("Failed", [])
        except (BotoCoreError, ClientError) as error:
            run.warnings.append(
                f"could not make {len(chunk)} message(s) visible again ({error}); they reappear after the visibility timeout"
            )
            continue
        if failed:
            run.warnings.append(
                f"could not make {len(failed)} message(s) visible again; they reappear after the visibility timeout"
            )


def chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
