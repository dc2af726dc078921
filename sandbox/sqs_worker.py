"""Emulate a Lambda event source mapping: poll an SQS queue, call the handler with SQS batches.

As AWS does: a batch of at most ``batch_size`` records in Lambda's SQS event shape; with
``ReportBatchItemFailures`` only the records named in ``batchItemFailures`` stay in the queue (a
handler exception leaves the whole batch); FIFO queues deliver one group in order and moto holds a
group back while one of its messages is in flight. A failed record becomes visible again after
the queue's visibility timeout (optionally compressed by the sandbox's time factor, for handlers
that do not set the visibility of failed records themselves).
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from sandbox.lambda_http import LambdaContext

Handler = Callable[[dict[str, Any], Any], Any]


def sqs_record(message: dict[str, Any], queue_arn: str, region: str = "us-east-1") -> dict[str, Any]:
    """An SQS message as Lambda (and EventBridge Pipes) hand it to a function."""
    attributes = dict(message.get("Attributes") or {})
    message_attributes = {}
    for name, value in (message.get("MessageAttributes") or {}).items():
        message_attributes[name] = {
            "stringValue": value.get("StringValue"),
            "binaryValue": value.get("BinaryValue"),
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": value.get("DataType", "String"),
        }
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": attributes,
        "messageAttributes": message_attributes,
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


def receive(sqs: Any, queue_url: str, stop: threading.Event, **options: Any) -> list[dict[str, Any]]:
    """One long poll (1 s) of ``queue_url``; an error (the server going away at shutdown, a blip)
    yields no messages after a short pause, so pollers keep going as AWS's would."""
    try:
        messages: list[dict[str, Any]] = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=1, **options).get(
            "Messages", []
        )
    except Exception:
        if not stop.is_set():
            time.sleep(0.2)
        return []
    return messages


class PollingThread:
    """A daemon thread that runs ``loop`` until :meth:`stop`: how every poller of the sandbox runs.

    ``loop`` checks :attr:`stopping` between polls; :meth:`stop` sets it and waits for the thread.
    """

    def __init__(self, loop: Callable[[], None], *, name: str) -> None:
        self.stopping = threading.Event()
        self._thread = threading.Thread(target=loop, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.stopping.set()
        if self._thread.is_alive():  # also called when start() never ran (a failed sandbox start)
            self._thread.join(timeout=10)


class QueueWorker(PollingThread):
    """One poller thread per mapping; stops when :meth:`stop` is called."""

    def __init__(
        self,
        sqs: Any,
        queue_url: str,
        handler: Handler,
        *,
        name: str,
        batch_size: int = 10,
        time_scale: float = 1.0,
        failure_visibility_seconds: float | None = None,
        on_batch: Callable[[list[dict[str, Any]], dict[str, Any] | None, float], None] | None = None,
        wrap: Callable[[list[dict[str, Any]]], Any] | None = None,
    ) -> None:
        self.sqs = sqs
        self.queue_url = queue_url
        self.queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        self.handler = handler
        self.name = name
        self.batch_size = batch_size
        self.time_scale = time_scale
        self.failure_visibility_seconds = failure_visibility_seconds
        self.on_batch = on_batch
        # Lambda gets {"Records": [...]}; a Pipe enrichment gets the bare list.
        self.wrap = wrap or (lambda records: {"Records": records})
        self.batches = 0
        self.errors = 0
        super().__init__(self._run, name=f"sqs-{name}")

    def _run(self) -> None:
        while not self.stopping.is_set():
            messages = receive(
                self.sqs,
                self.queue_url,
                self.stopping,
                MaxNumberOfMessages=self.batch_size,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
            if messages:
                try:
                    self.process(messages)
                except Exception:
                    traceback.print_exc()

    def process(self, messages: list[dict[str, Any]]) -> None:
        records = [sqs_record(m, self.queue_arn) for m in messages]
        started = time.perf_counter()
        response: Any = None
        failed: set[str]
        try:
            response = self.handler(self.wrap(records), LambdaContext(self.name))
            failed = (
                {item["itemIdentifier"] for item in (response or {}).get("batchItemFailures", [])}
                if isinstance(response, dict)
                else set()
            )
        except Exception:
            traceback.print_exc()
            self.errors += 1
            failed = {r["messageId"] for r in records}
        self.batches += 1
        done = [m for m in messages if m["MessageId"] not in failed]
        for start in range(0, len(done), 10):
            chunk = done[start : start + 10]
            self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)],
            )
        if self.failure_visibility_seconds is not None:
            # Only for handlers that leave retry timing to the queue: AWS itself changes nothing, a
            # failed record waits for the queue's visibility timeout, which the sandbox compresses.
            visibility = max(0, int(self.failure_visibility_seconds * self.time_scale))
            for message in messages:
                if message["MessageId"] in failed:
                    self.sqs.change_message_visibility(
                        QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=visibility
                    )
        if self.on_batch is not None:
            self.on_batch(records, response if isinstance(response, dict) else None, time.perf_counter() - started)
