"""A delivery stack in moto (table and queues made from the same definitions as the component), the
handlers wired to it through their environment, a local receiver, and helpers that play the parts
AWS plays: EventBridge (bus events on the events queue), the SQS event source mapping (batches,
``batchItemFailures``, visibility) and API Gateway (payload 2.0 events)."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from functions.delivery import api, fanout, runtime, schema, worker
from functions.delivery.api import endpoints as api_endpoints
from functions.runtime import Clients
from tests.functions.delivery.openapi_check import check_response
from tests.functions.delivery.receiver import Receiver
from tests.functions.delivery.test_ssrf import FakeResolver

TABLE = "hookstack-delivery-test"


def bus_event(
    tenant_id: str, event_type: str, data: Mapping[str, Any] | None = None, event_id: str | None = None
) -> dict[str, Any]:
    """An event as an EventBridge rule puts it on SQS (the hookstack contract in functions/events.py)."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": event_type,
        "source": "hookstack",
        "account": "123456789012",
        "time": "2026-01-01T00:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": {**(data or {}), "tenantId": tenant_id, "eventId": event_id or f"evt_{uuid.uuid4().hex}"},
    }


@dataclass
class DeliveryStack:
    dynamodb: Any
    sqs: Any
    tasks_url: str
    tasks_arn: str
    dead_letter_url: str
    events_url: str
    batches: list[dict[str, Any]] = field(default_factory=list)

    # -- API Gateway ---------------------------------------------------------------------------
    def api(
        self,
        method: str,
        path: str,
        body: Any = None,
        query: Mapping[str, str] | None = None,
        *,
        raw_body: str | None = None,
        base64_body: bool = False,
    ) -> tuple[int, Any]:
        import base64

        text = raw_body if raw_body is not None else (json.dumps(body) if body is not None else None)
        if base64_body and text is not None:
            text = base64.b64encode(text.encode()).decode()
        event = {
            "version": "2.0",
            "routeKey": "$default",
            "rawPath": path,
            "rawQueryString": "&".join(f"{k}={v}" for k, v in (query or {}).items()),
            "headers": {"content-type": "application/json"},
            "queryStringParameters": dict(query) if query else None,
            "requestContext": {
                "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "192.0.2.1"},
                "requestId": f"req-{uuid.uuid4().hex[:8]}",
                "authorizer": {"iam": {"userArn": "arn:aws:iam::123456789012:user/tester"}},
            },
            "body": text,
            "isBase64Encoded": base64_body,
        }
        response = api.handler(event, None)
        assert response["headers"]["content-type"] == "application/json"
        document = json.loads(response["body"]) if response["body"] else None
        check_response(method, path, response["statusCode"], document)  # the OpenAPI document tells the truth
        return response["statusCode"], document

    def create_endpoint(self, tenant_id: str, url: str, **fields: Any) -> dict[str, Any]:
        status, document = self.api("POST", f"/tenants/{tenant_id}/endpoints", {"url": url, **fields})
        assert status == 201, document
        return document

    # -- EventBridge -> events queue -> fan-out --------------------------------------------------
    def publish(self, *events: Mapping[str, Any]) -> dict[str, Any]:
        records = [
            {
                "messageId": str(uuid.uuid4()),
                "receiptHandle": "rh",
                "body": json.dumps(e),
                "attributes": {"ApproximateReceiveCount": "1"},
            }
            for e in events
        ]
        return fanout.handler({"Records": records}, None)

    # -- the SQS event source mapping of the worker ----------------------------------------------
    def receive_tasks(self) -> list[dict[str, Any]]:
        response = self.sqs.receive_message(
            QueueUrl=self.tasks_url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"], WaitTimeSeconds=0
        )
        return [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "eventSource": "aws:sqs",
                "eventSourceARN": self.tasks_arn,
            }
            for m in response.get("Messages", [])
        ]

    def run_worker(self, records: list[dict[str, Any]]) -> set[str]:
        """Invoke the worker with a batch and delete what it did not report failed (as ESM does)."""
        result = worker.handler({"Records": records}, None)
        self.batches.append(result)
        failed = {item["itemIdentifier"] for item in result["batchItemFailures"]}
        for record in records:
            if record["messageId"] not in failed:
                self.sqs.delete_message(QueueUrl=self.tasks_url, ReceiptHandle=record["receiptHandle"])
        return failed

    def drain(self, max_batches: int = 200) -> int:
        """Run the worker until the tasks queue has nothing visible (waits are scaled to zero)."""
        handled = 0
        for _ in range(max_batches):
            records = self.receive_tasks()
            if not records:
                return handled
            self.run_worker(records)
            handled += len(records)
        raise AssertionError("the tasks queue did not drain")

    def queued_tasks(self) -> int:
        attributes = self.sqs.get_queue_attributes(QueueUrl=self.tasks_url, AttributeNames=["All"])["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])

    def dead_letters(self) -> list[dict[str, Any]]:
        letters = []
        while True:
            response = self.sqs.receive_message(
                QueueUrl=self.dead_letter_url, MaxNumberOfMessages=10, VisibilityTimeout=600
            )
            messages = response.get("Messages", [])
            if not messages:
                return letters
            letters.extend(json.loads(m["Body"]) for m in messages)


class AtomicDynamoDB:
    """moto's conditional writes are not atomic across threads (DynamoDB's are, per item), and the
    worker sends a batch from several threads: serialising calls restores DynamoDB's guarantee."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._lock = threading.Lock()
        self.exceptions = client.exceptions

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if not callable(attribute):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                return attribute(*args, **kwargs)

        return call


class SharedDynamoDBSession:
    """The boto3 session the handlers' clients come from: the serialised DynamoDB client, real others."""

    def __init__(self, dynamodb: AtomicDynamoDB) -> None:
        self._dynamodb = dynamodb

    def client(self, service: str, config: Any = None) -> Any:
        import boto3

        return self._dynamodb if service == "dynamodb" else boto3.client(service, config=config)


@pytest.fixture
def stack(aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[DeliveryStack]:
    import boto3

    dynamodb = AtomicDynamoDB(boto3.client("dynamodb"))
    sqs = boto3.client("sqs")
    dynamodb.create_table(**schema.create_table_request(TABLE))
    dead_letter_url = sqs.create_queue(QueueName="delivery-dlq")["QueueUrl"]
    tasks_url = sqs.create_queue(QueueName="delivery-tasks", Attributes={"VisibilityTimeout": "60"})["QueueUrl"]
    events_url = sqs.create_queue(QueueName="delivery-events")["QueueUrl"]
    tasks_arn = sqs.get_queue_attributes(QueueUrl=tasks_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    environment = {
        "DELIVERY_TABLE_NAME": TABLE,
        "DELIVERY_TASKS_QUEUE_URL": tasks_url,
        "DELIVERY_DEAD_LETTER_QUEUE_URL": dead_letter_url,
        "DELIVERY_ALLOWED_CIDRS": "127.0.0.0/8",
        "DELIVERY_TIMEOUT_SECONDS": "1",
        "DELIVERY_TIME_SCALE": "0",
        "DELIVERY_ENDPOINT_CACHE_SECONDS": "0",
    }
    for name in (
        "DELIVERY_RETRY_SCHEDULE",
        "DELIVERY_DISABLE_AFTER_FAILURES",
        "DELIVERY_ROTATION_OVERLAP_HOURS",
        "DELIVERY_MAX_RECEIVES",
        "DELIVERY_MAX_RESPONSE_BYTES",
        "DELIVERY_HISTORY_TTL_DAYS",
    ):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(
        api_endpoints,
        "resolver",
        FakeResolver(
            {
                "hooks.example.com": ["93.184.216.34"],
                "other.example.com": ["93.184.216.35"],
                "translated.example.com": ["::ffff:0:a9fe:a9fe"],  # 169.254.169.254, IPv4-translated
            }
        ),
    )
    runtime.reset()
    runtime.clients.set(Clients(session=SharedDynamoDBSession(dynamodb)))
    yield DeliveryStack(dynamodb, sqs, tasks_url, tasks_arn, dead_letter_url, events_url)
    runtime.reset()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


def configure(monkeypatch: pytest.MonkeyPatch, **values: str) -> None:
    """Change delivery settings for one test (the handlers read them at their next invocation)."""
    for name, value in values.items():
        monkeypatch.setenv(f"DELIVERY_{name}", value)
    for handler in (api, fanout, worker):
        handler.reset()
