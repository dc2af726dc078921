"""``python -m ops inbound redrive`` on moto: the inbound FIFO queue and its FIFO dead-letter queue.

moto fidelity this relies on (moto 5.2.5, checked in its source): a FIFO receive returns a group's
messages in the order they were sent and none of a group while one of its messages is in flight;
a dead letter keeps its ``MessageGroupId``; a FIFO send whose ``MessageDeduplicationId`` equals one
of a message still in the queue is accepted and discarded (AWS remembers ids for 5 minutes even
after a delete; moto only while the message is there). moto's ``SequenceNumber`` is random, so
nothing here may rely on it (the tool does not).
"""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from ops.aws import Clients
from ops.inbound_redrive import InboundSelection, redrive_deduplication_id, redrive_inbound
from ops.outputs import OpsError
from tests.ops.conftest import REGION, Result, session


@dataclass
class Queues:
    sqs: Any
    queue_url: str
    dlq_url: str
    tmp_path: Path

    def dead_letter(self, group: str, body: str | None = None) -> str:
        """A message in the dead-letter queue of ``group``; returns its body."""
        body = body if body is not None else json.dumps({"v": 1, "eventId": f"in_{uuid.uuid4().hex}"})
        self.sqs.send_message(
            QueueUrl=self.dlq_url, MessageBody=body, MessageGroupId=group, MessageDeduplicationId=uuid.uuid4().hex
        )
        return body

    def drain(self, url: str) -> list[tuple[str, str, str]]:
        """(group, body, deduplication id) of every message of ``url``, in FIFO order, deleting them."""
        found = []
        while True:
            messages = self.sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"]
            ).get("Messages", [])
            if not messages:
                return found
            for message in messages:
                attributes = message["Attributes"]
                found.append((attributes["MessageGroupId"], message["Body"], attributes["MessageDeduplicationId"]))
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])

    def depth(self, url: str) -> int:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])

    def run(self, *argv: str, sqs: Any = None, flags: bool = True) -> Result:
        from ops.cli import main

        clients = Clients(region=REGION, session=session())
        if sqs is not None:
            clients.__dict__["sqs"] = sqs  # cached_property: this client is used instead
        args = ["inbound", "redrive", *argv, "--wait-seconds", "0"]
        if flags:
            args += ["--queue", self.queue_url, "--dead-letter-queue", self.dlq_url]
        out, err = io.StringIO(), io.StringIO()
        with redirect_stdout(out), redirect_stderr(err):
            code = main(args, clients=clients)
        return Result(code, out.getvalue(), err.getvalue())


def create_queues(sqs: Any, name: str = "hookstack-inbound") -> tuple[str, str]:
    dlq_url = sqs.create_queue(QueueName=f"{name}-dlq.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    queue_url = sqs.create_queue(
        QueueName=f"{name}-queue.fifo",
        Attributes={
            "FifoQueue": "true",
            "ContentBasedDeduplication": "false",
            "DeduplicationScope": "messageGroup",
            "FifoThroughputLimit": "perMessageGroupId",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 5}),
        },
    )["QueueUrl"]
    return queue_url, dlq_url


@pytest.fixture
def queues(aws: None, tmp_path: Path) -> Iterator[Queues]:
    sqs = session().client("sqs")
    queue_url, dlq_url = create_queues(sqs)
    yield Queues(sqs, queue_url, dlq_url, tmp_path)


class FailingSqs:
    """The real client, but ``fail`` names calls that raise (after ``after`` successful ones)."""

    def __init__(self, sqs: Any, fail: str, after: int = 0) -> None:
        self._sqs, self._fail, self._after = sqs, fail, after

    def __getattr__(self, name: str) -> Any:
        call = getattr(self._sqs, name)
        if name != self._fail:
            return call

        def failing(**kwargs: Any) -> Any:
            if self._after > 0:
                self._after -= 1
                return call(**kwargs)
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "denied"}}, name)

        return failing


def test_dry_run_counts_per_group_and_moves_nothing(queues: Queues) -> None:
    for group in ("github:1", "github:1", "stripe:cus_1", "github"):
        queues.dead_letter(group)

    result = queues.run("--output", "json")

    assert result.code == 0, result.err
    report = result.json()
    assert (report["mode"], report["selected"], report["sent"], report["deleted"]) == ("dry-run", 4, 0, 0)
    assert report["byGroup"] == {"github:1": 2, "stripe:cus_1": 1, "github": 1}
    assert report["bySource"] == {"github": 3, "stripe": 1}
    assert (queues.depth(queues.dlq_url), queues.depth(queues.queue_url)) == (4, 0)
    assert "inbound redrive: looked at 4 of 4" in result.err  # progress on stderr


def test_execute_moves_every_group_back_in_order_into_its_own_group(queues: Queues) -> None:
    """More messages than one receive returns, interleaved over groups: each group keeps its order."""
    sent: dict[str, list[str]] = {"github:1": [], "github:2": [], "stripe": []}
    for i in range(14):
        group = list(sent)[i % 3] if i < 9 else "github:1"  # github:1 ends with a run of 5 more
        sent[group].append(queues.dead_letter(group))

    result = queues.run("--execute", "--output", "json")

    assert result.code == 0, result.out + result.err
    report = result.json()
    assert (report["sent"], report["deleted"], report["kept"], report["stopped"]) == (
        14,
        14,
        [],
        "looked at every message present at start",
    )
    moved = queues.drain(queues.queue_url)
    for group, bodies in sent.items():
        assert [body for g, body, _ in moved if g == group] == bodies, group
    assert queues.depth(queues.dlq_url) == 0
    # Each dead letter goes back under an id derived from its own message id: never the ingest's.
    listed = {m["newMessageId"]: m["messageId"] for m in report["moved"]}
    assert len(listed) == 14
    assert {dedup for _, _, dedup in moved} == {redrive_deduplication_id(m["messageId"]) for m in report["moved"]}
    # A second run finds nothing to do.
    again = queues.run("--execute", "--output", "json")
    assert (again.code, again.json()["sent"], again.json()["presentAtStart"]) == (0, 0, 0)


def test_selection_by_source_group_and_max(queues: Queues) -> None:
    github_1 = [queues.dead_letter("github:1") for _ in range(3)]
    github_2 = queues.dead_letter("github:2")
    queues.dead_letter("stripe:cus_1")

    only_stripe = queues.run("--execute", "--source", "stripe", "--output", "json").json()
    assert (only_stripe["sent"], only_stripe["bySource"]) == (1, {"stripe": 1})
    two_of_group = queues.run("--execute", "--group", "github:1", "--max", "2", "--output", "json").json()
    assert (two_of_group["sent"], two_of_group["stopped"]) == (2, "--max reached")

    moved = queues.drain(queues.queue_url)
    assert [(g, b) for g, b, _ in moved if g.startswith("github")] == [("github:1", b) for b in github_1[:2]]
    left = queues.drain(queues.dlq_url)
    assert sorted((g, b) for g, b, _ in left) == sorted([("github:1", github_1[2]), ("github:2", github_2)])


def test_messages_that_arrive_after_the_start_are_left_for_a_later_run(queues: Queues) -> None:
    from moto.sqs.models import sqs_backends

    old = queues.dead_letter("github:1")
    queues.dead_letter("github:1")
    queues.dead_letter("github:2")
    behind = queues.dead_letter("github:2")
    # github:1's second and github:2's first message dead-lettered after the run started (their
    # SentTimestamp is later). github:2's second one is older, but sent, it would overtake.
    messages = sqs_backends["123456789012"][REGION].get_queue("hookstack-inbound-dlq.fifo")._messages
    start_ms = max(int(m.sent_timestamp) for m in messages)
    for message in messages[1:3]:
        message.sent_timestamp = start_ms + 5000
    start = start_ms / 1000

    report = redrive_inbound(
        queues.sqs, queues.queue_url, queues.dlq_url, execute=True, wait_seconds=0, clock=lambda: start
    )

    assert (report.sent, report.arrived_after_start, report.aborted) == (1, 2, None)
    assert [(k["group"], k["reason"]) for k in report.kept] == [
        ("github:2", "an earlier message of group github:2 stays in the queue; sent, this one would overtake it")
    ]
    assert [b for _, b, _ in queues.drain(queues.queue_url)] == [old]
    assert [b for g, b, _ in queues.drain(queues.dlq_url) if g == "github:2"][1] == behind  # still behind


def test_a_failed_send_stops_the_run_and_keeps_the_rest_in_order(queues: Queues) -> None:
    bodies = [queues.dead_letter("github:1") for _ in range(3)]

    result = queues.run("--execute", "--output", "json", sqs=FailingSqs(queues.sqs, "send_message", after=1))

    assert result.code == 2, result.out
    report = result.json()
    assert (report["sent"], report["deleted"]) == (1, 1)
    assert report["aborted"].startswith("SendMessage failed")
    assert [b for _, b, _ in queues.drain(queues.queue_url)] == bodies[:1]
    assert [b for _, b, _ in queues.drain(queues.dlq_url)] == bodies[1:]  # visible again, still in order


def test_a_failed_delete_keeps_the_message_and_a_second_run_does_not_duplicate_it(queues: Queues) -> None:
    body = queues.dead_letter("github:1")

    first = queues.run("--execute", "--output", "json", sqs=FailingSqs(queues.sqs, "delete_message_batch"))
    assert first.code == 1, first.out + first.err
    assert first.json()["sent"] == 1 and "DeleteMessage failed" in first.json()["kept"][0]["reason"]
    assert queues.depth(queues.dlq_url) == 1  # never deleted unless the delete succeeded

    second = queues.run("--execute", "--output", "json")
    assert second.code == 0 and second.json()["deleted"] == 1
    # Sent twice under one deduplication id: the queue kept one copy.
    assert [b for _, b, _ in queues.drain(queues.queue_url)] == [body]


class AwsDeduplication:
    """The real client, with SQS's documented FIFO deduplication: a send repeating the
    ``MessageDeduplicationId`` of a message sent to the group within 5 minutes is accepted and
    discarded, even when that message was deleted or moved since (moto forgets the id then)."""

    def __init__(self, sqs: Any) -> None:
        self._sqs = sqs
        self.sent: dict[tuple[str, str, str], str] = {}
        self.discarded = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sqs, name)

    def send_message(self, **kwargs: Any) -> Any:
        key = (kwargs["QueueUrl"], kwargs["MessageGroupId"], kwargs["MessageDeduplicationId"])
        if key in self.sent:
            self.discarded += 1
            return {"MessageId": self.sent[key]}
        response = self._sqs.send_message(**kwargs)
        self.sent[key] = response["MessageId"]
        return response


def test_an_identical_copy_is_left_for_the_next_run_so_a_discarded_send_loses_nothing(queues: Queues) -> None:
    """A dead letter sent by a run that could not delete it fails again and dead-letters again: the DLQ
    holds the old message and its copy. A second run within 5 minutes sends the old one (SQS discards
    it: same deduplication id) and must not delete the copy as if its content had gone through."""
    aws = AwsDeduplication(queues.sqs)
    body = queues.dead_letter("github:1")
    queues.dead_letter("github:2", body)  # the same body in another group: not a copy
    first = queues.run("--execute", "--output", "json", sqs=FailingSqs(aws, "delete_message_batch"))
    assert first.json()["sent"] == 2 and queues.depth(queues.dlq_url) == 2
    # What the first run sent fails again and is back in the dead-letter queue, a copy behind the original.
    assert [(g, b) for g, b, _ in queues.drain(queues.queue_url)] == [("github:1", body), ("github:2", body)]
    queues.dead_letter("github:1", body)
    later = queues.dead_letter("github:1")

    second = queues.run("--execute", "--output", "json", sqs=aws)

    assert second.code == 1, second.out + second.err
    report = second.json()
    assert (report["sent"], report["copies"], aws.discarded) == (2, 1, 2)  # both originals discarded by SQS
    assert [k["reason"].split(";")[0] for k in report["kept"]] == [
        "identical to a message sent in this run: not sent twice in one run",
        "an earlier message of group github:1 stays in the queue",
    ]
    assert queues.drain(queues.queue_url) == []  # nothing went through in this run...
    third = queues.run("--execute", "--output", "json", sqs=aws)
    assert (third.code, third.json()["sent"]) == (0, 2)
    # ...and the next one sends the copy, then the group's later message: nothing lost, in order.
    assert [(g, b) for g, b, _ in queues.drain(queues.queue_url)] == [("github:1", body), ("github:1", later)]
    assert queues.depth(queues.dlq_url) == 0


def test_an_empty_dead_letter_queue_ends_at_once_without_receiving(queues: Queues) -> None:
    result = queues.run("--execute", "--output", "json", sqs=FailingSqs(queues.sqs, "receive_message"))

    assert result.code == 0, result.out + result.err
    report = result.json()
    assert (report["presentAtStart"], report["sent"], report["stopped"]) == (
        0,
        0,
        "looked at every message present at start",
    )


def test_messages_held_by_another_reader_are_left_and_said_so(queues: Queues) -> None:
    held = queues.dead_letter("github:1")
    queues.sqs.receive_message(QueueUrl=queues.dlq_url, MaxNumberOfMessages=1, VisibilityTimeout=300)  # another run
    free = queues.dead_letter("github:2")

    result = queues.run("--execute", "--output", "json")

    assert result.code == 0, result.out + result.err
    report = result.json()
    assert (report["sent"], report["stopped"]) == (1, "no message left to receive")
    assert report["warnings"] == [
        "looked at 1 of 2 message(s) present at start: the others were held by another reader (a run or dry run "
        "under way) or miscounted by SQS's approximate count; run again once no other run is under way"
    ]
    assert [b for _, b, _ in queues.drain(queues.queue_url)] == [free] and held != free


class InterruptedSqs:
    """The real client; ``send_message`` raises KeyboardInterrupt (Ctrl-C) after ``after`` sends."""

    def __init__(self, sqs: Any, after: int) -> None:
        self._sqs, self._after = sqs, after

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sqs, name)

    def send_message(self, **kwargs: Any) -> Any:
        if self._after == 0:
            raise KeyboardInterrupt
        self._after -= 1
        return self._sqs.send_message(**kwargs)


def test_an_interrupted_run_deletes_what_it_sent_and_a_second_run_sends_the_rest_once(queues: Queues) -> None:
    bodies = [queues.dead_letter("github:1") for _ in range(4)]

    with pytest.raises(KeyboardInterrupt):
        redrive_inbound(InterruptedSqs(queues.sqs, after=2), queues.queue_url, queues.dlq_url, execute=True)

    # The two sent are deleted (a later run does not send them again); the rest are visible at once.
    assert queues.depth(queues.dlq_url) == 2
    second = redrive_inbound(queues.sqs, queues.queue_url, queues.dlq_url, execute=True, wait_seconds=0)
    assert (second.sent, second.kept) == (2, [])
    assert [b for _, b, _ in queues.drain(queues.queue_url)] == bodies


def test_queues_come_from_the_outputs_by_name(queues: Queues) -> None:
    queues.dead_letter("github:1")
    outputs = queues.tmp_path / "outputs.json"
    outputs.write_text(
        json.dumps(
            {
                "busName": "hookstack-dev",
                "inboundQueueName": "hookstack-inbound-queue.fifo",
                "inboundDeadLetterQueueName": "hookstack-inbound-dlq.fifo",
            }
        )
    )

    result = queues.run("--execute", "--outputs", str(outputs), flags=False)

    assert result.code == 0, result.err
    assert "EXECUTED: sent 1 message(s)" in result.out
    assert queues.depth(queues.queue_url) == 1


@pytest.mark.parametrize(
    ("outputs", "flags", "message"),
    [
        (
            {"busName": "b"},
            [],
            "the stack outputs have no inboundQueueName (is the inbound consumer enabled?): pass --queue",
        ),
        (None, [], "no --outputs, so no inboundQueueName"),
    ],
)
def test_missing_queues_are_named(
    queues: Queues, outputs: dict[str, str] | None, flags: list[str], message: str
) -> None:
    args = flags
    if outputs is not None:
        path = queues.tmp_path / "o.json"
        path.write_text(json.dumps(outputs))
        args = [*flags, "--outputs", str(path)]

    result = queues.run(*args, flags=False)

    assert result.code == 2 and message in result.err, result.err


def test_an_unknown_source_is_refused_with_the_stacks_sources(queues: Queues) -> None:
    outputs = queues.tmp_path / "outputs.json"
    outputs.write_text(
        json.dumps({"busName": "b", "inboundUrls": {"github": "https://x/github", "stripe": "https://x/s"}})
    )

    result = queues.run("--source", "gihub", "--outputs", str(outputs))

    assert result.code == 2
    assert "--source 'gihub': the stack has no such inbound source; its sources: github, stripe" in result.err


def test_refuses_a_queue_that_does_not_dead_letter_to_that_queue(queues: Queues) -> None:
    other_queue, other_dlq = create_queues(queues.sqs, "other")
    standard = queues.sqs.create_queue(QueueName="standard")["QueueUrl"]

    crossed = queues.run("--queue", other_queue, "--dead-letter-queue", queues.dlq_url, flags=False)
    assert crossed.code == 2 and "does not dead-letter to" in crossed.err, crossed.err
    not_fifo = queues.run("--queue", queues.queue_url, "--dead-letter-queue", standard, flags=False)
    assert not_fifo.code == 2 and "is not a FIFO queue" in not_fifo.err, not_fifo.err
    with pytest.raises(OpsError, match="the same"):
        redrive_inbound(queues.sqs, other_dlq, other_dlq)


def test_a_queue_url_of_another_region_is_refused_before_any_call(queues: Queues) -> None:
    url = "https://sqs.eu-west-1.amazonaws.com/123456789012/q.fifo"

    result = queues.run("--queue", url, "--dead-letter-queue", url, flags=False)

    assert result.code == 2 and "is in eu-west-1" in result.err, result.err


def test_selection_matches_sources_by_group_prefix() -> None:
    selection = InboundSelection(sources=frozenset({"github"}))
    assert selection.matches("github") and selection.matches("github:1")
    assert not selection.matches("github-enterprise:1") and not selection.matches("stripe:github")
