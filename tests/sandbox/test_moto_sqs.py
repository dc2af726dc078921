"""sandbox/moto_sqs.py: moto's FIFO queues deduplicate sends for 5 minutes, as AWS documents."""

from __future__ import annotations

import threading
from typing import Any

import boto3
import pytest

from sandbox.moto_sqs import install_fifo_deduplication


@pytest.fixture
def sqs(aws: None, monkeypatch: pytest.MonkeyPatch) -> Any:
    install_fifo_deduplication(monkeypatch.setattr)
    return boto3.client("sqs")


def fifo(sqs: Any, name: str = "q.fifo", **attributes: str) -> str:
    return str(sqs.create_queue(QueueName=name, Attributes={"FifoQueue": "true", **attributes})["QueueUrl"])


def drain(sqs: Any, url: str) -> list[str]:
    bodies = []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            bodies.append(message["Body"])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return bodies


def test_an_id_is_remembered_after_its_message_was_received_and_deleted(sqs: Any) -> None:
    """moto alone forgets it with the message; AWS keeps it for 5 minutes."""
    url = fifo(sqs)
    sqs.send_message(QueueUrl=url, MessageBody="first", MessageGroupId="g", MessageDeduplicationId="d")
    assert drain(sqs, url) == ["first"]
    answer = sqs.send_message(QueueUrl=url, MessageBody="again", MessageGroupId="g", MessageDeduplicationId="d")
    assert answer["MessageId"]  # accepted, as AWS answers a deduplicated send...
    assert drain(sqs, url) == []  # ...and not delivered


def test_an_id_is_free_again_after_five_minutes(sqs: Any) -> None:
    url = fifo(sqs)
    sqs.send_message(QueueUrl=url, MessageBody="first", MessageGroupId="g", MessageDeduplicationId="d")
    assert drain(sqs, url) == ["first"]
    from moto.sqs.models import sqs_backends

    queue = sqs_backends["123456789012"]["us-east-1"].get_queue("q.fifo")
    accepted = queue.__dict__["_hookstack_accepted_deduplication_ids"]
    accepted.update({key: at - 300 for key, at in accepted.items()})  # five minutes ago
    sqs.send_message(QueueUrl=url, MessageBody="later", MessageGroupId="g", MessageDeduplicationId="d")
    assert drain(sqs, url) == ["later"]


def test_concurrent_sends_of_one_id_deliver_one_message(sqs: Any) -> None:
    url = fifo(sqs)
    start = threading.Barrier(12)

    def send(index: int) -> None:
        start.wait()
        sqs.send_message(QueueUrl=url, MessageBody=str(index), MessageGroupId="g", MessageDeduplicationId="same")

    threads = [threading.Thread(target=send, args=(i,)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(drain(sqs, url)) == 1


def test_scopes_content_based_ids_and_other_queues(sqs: Any) -> None:
    grouped = fifo(sqs, "grouped.fifo", DeduplicationScope="messageGroup", FifoThroughputLimit="perMessageGroupId")
    for group in ("a", "b", "a"):  # scoped to the message group
        sqs.send_message(QueueUrl=grouped, MessageBody=group, MessageGroupId=group, MessageDeduplicationId="d")
    assert sorted(drain(sqs, grouped)) == ["a", "b"]
    content = fifo(sqs, "content.fifo", ContentBasedDeduplication="true")
    for body in ("x", "y", "x"):
        sqs.send_message(QueueUrl=content, MessageBody=body, MessageGroupId="g")
    assert drain(sqs, content) == ["x", "y"]
    standard = str(sqs.create_queue(QueueName="standard")["QueueUrl"])
    for _ in range(2):
        sqs.send_message(QueueUrl=standard, MessageBody="s")
    assert len(drain(sqs, standard)) == 2


def test_a_message_moving_to_its_dead_letter_queue_is_not_dropped(sqs: Any) -> None:
    import json

    dlq = fifo(sqs, "dlq.fifo")
    arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    url = fifo(sqs, RedrivePolicy=json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": 1}))
    sqs.send_message(QueueUrl=dlq, MessageBody="sent to the DLQ", MessageGroupId="g", MessageDeduplicationId="d")
    assert drain(sqs, dlq) == ["sent to the DLQ"]  # its id is remembered by the DLQ for 5 minutes
    sqs.send_message(QueueUrl=url, MessageBody="poison", MessageGroupId="g", MessageDeduplicationId="d")
    sqs.receive_message(QueueUrl=url, VisibilityTimeout=0)
    sqs.receive_message(QueueUrl=url)  # the second receive moves it to the DLQ
    assert drain(sqs, dlq) == ["poison"]  # a move is not a send: never dropped
