"""The API destination emulator (sandbox/api_destinations.py) as EventBridge behaves: event age counted
from ingestion and checked before every attempt, de-authorization on 401/407 and failed token
requests, and a log record per attempt in the delivery worker's shape."""

from __future__ import annotations

import contextlib
import io
import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import wait
from typing import Any

import pytest

from sandbox.api_destinations import ApiDestinationWorker, StaticConnection, connection_auth_parameters
from sandbox.receiver import Receiver
from sandbox.runtime import local_stack


class FakeSqs:
    """Records what the worker dead-letters and deletes."""

    def __init__(self) -> None:
        self.dead_letters: list[dict[str, Any]] = []
        self.deleted: list[str] = []
        self._lock = threading.Lock()

    def send_message(self, **request: Any) -> None:
        with self._lock:
            attributes = {k: v["StringValue"] for k, v in request["MessageAttributes"].items()}
            self.dead_letters.append({"body": json.loads(request["MessageBody"]), **attributes})

    def delete_message(self, **request: Any) -> None:
        with self._lock:
            self.deleted.append(request["ReceiptHandle"])


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    server = Receiver(oauth_client_secret="right")
    server.start()
    yield server
    server.stop()


def worker_for(destination: dict[str, Any], *, time_scale: float = 0.01) -> tuple[ApiDestinationWorker, FakeSqs]:
    plan = local_stack({"tenants": [{"id": "7", "destinations": [destination]}]}).plan.destinations[0]
    sqs = FakeSqs()
    worker = ApiDestinationWorker(
        plan,
        sqs=sqs,
        queue_url="q",
        dead_letter_queue_url="dlq",
        rule_arn="arn:aws:events:us-east-1:123456789012:rule/b/r",
        target_arn="arn:aws:events:us-east-1:123456789012:api-destination/d/x",
        connection=StaticConnection("c", connection_auth_parameters(plan)),
        time_scale=time_scale,
    )
    return worker, sqs


def message(event_id: str, sent: float) -> dict[str, Any]:
    body = {"id": event_id, "detail-type": "t", "source": "s", "detail": {"tenantId": "7", "eventId": event_id}}
    return {"Body": json.dumps(body), "ReceiptHandle": event_id, "Attributes": {"SentTimestamp": str(int(sent * 1000))}}


def test_a_backlog_behind_the_rate_limit_is_dead_lettered_at_its_age_never_delivered_late(receiver: Receiver) -> None:
    """The drill of issue 13: 6 s scaled age, a backlog, deliveries 20 s later. Here: 0.6 s, 5/s."""
    worker, sqs = worker_for(
        {
            "name": "slow",
            "url": f"{receiver.url}/backlog/slow",
            "auth": {"type": "none"},
            "rateLimitPerSecond": 5,
            "retry": {"maxEventAgeSeconds": 60},  # x 0.01 = 0.6 s
        }
    )
    ingested = time.time()
    futures = [worker._pool.submit(worker._handle, message(f"evt_{i}", ingested)) for i in range(10)]
    stale = message("evt_stale", ingested - 1.0)  # already older than its age when the emulator takes it
    futures.append(worker._pool.submit(worker._handle, stale))
    wait(futures, timeout=10)

    delivered = receiver.received("/backlog/slow")
    assert delivered and all(r["time"] - ingested <= 0.6 + 0.1 for r in delivered), [
        r["time"] - ingested for r in delivered
    ]
    assert len(delivered) + len(sqs.dead_letters) == 11 and len(sqs.deleted) == 11
    assert "evt_stale" not in {json.loads(r["body"])["detail"]["eventId"] for r in delivered}
    for dead in sqs.dead_letters:  # never attempted: no HTTP status, no retry
        assert dead["EXHAUSTED_RETRY_CONDITION"] == "MaximumEventAgeInSeconds", dead
        assert (dead["ERROR_CODE"], dead["RETRY_ATTEMPTS"]) == ("EventAgeExceeded", "0")
        assert "rate limit" in dead["ERROR_MESSAGE"]


def test_a_401_deauthorizes_the_connection_and_nothing_is_sent_until_it_is_updated(receiver: Receiver) -> None:
    path = "/require/x-api-key/good/deauth"
    worker, sqs = worker_for(
        {
            "name": "locked",
            "url": receiver.url + path,
            "auth": {"type": "apiKey", "header": "x-api-key", "value": "bad"},
        }
    )
    connection = worker.connection
    assert isinstance(connection, StaticConnection)
    done = worker._pool.submit(worker._handle, message("evt_401", time.time()))
    deadline = time.monotonic() + 5
    while connection.state == "AUTHORIZED" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert connection.state == "DEAUTHORIZED" and "401" in connection.reason
    time.sleep(0.3)  # several retries at this time scale
    assert [r["status"] for r in receiver.received(path)] == [401]

    connection._auth_parameters = {"ApiKeyAuthParameters": {"ApiKeyName": "x-api-key", "ApiKeyValue": "good"}}
    connection.state = "AUTHORIZED"  # what UpdateConnection does (sandbox/moto_events.py)
    done.result(timeout=10)
    assert [r["status"] for r in receiver.received(path)] == [401, 200]
    assert sqs.dead_letters == []


def test_an_oauth_token_request_that_fails_deauthorizes_without_calling_the_endpoint(receiver: Receiver) -> None:
    worker, _ = worker_for(
        {
            "name": "oauth",
            "url": f"{receiver.url}/oauth-target/x",
            "auth": {
                "type": "oauth",
                "authorizationEndpoint": f"{receiver.url}/oauth/token",
                "clientId": "sandbox",
                "clientSecret": "wrong",
            },
            "retry": {"maxAttempts": 1},
        }
    )
    outcome = worker.deliver({"detail": {"tenantId": "7", "eventId": "evt_oauth"}})
    assert not outcome.delivered
    assert worker.connection.state == "DEAUTHORIZED"
    assert (outcome.error_code, outcome.exhausted) == ("ConnectionNotAuthorized", "MaximumRetryAttempts")
    assert receiver.received("/oauth-target") == []


def test_every_attempt_retry_and_dead_letter_is_logged_in_the_workers_shape(receiver: Receiver) -> None:
    worker, _ = worker_for(
        {
            "name": "down",
            "url": f"{receiver.url}/status/503/logs",
            "auth": {"type": "none"},
            "retry": {"maxAttempts": 2},
        }
    )
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        worker._handle(message("evt_logged", time.time()))
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    attempts = [r for r in records if r["message"] == "delivery attempt"]
    assert [(r["attempt"], r["outcome"], r["statusCode"]) for r in attempts] == [
        (1, "retrying", 503),
        (2, "retrying", 503),
        (3, "failed", 503),
    ]
    assert all(r["tenantId"] == "7" and r["eventId"] == "evt_logged" and r["endpointId"] == "7/down" for r in attempts)
    assert all(isinstance(r["latencyMs"], int) for r in attempts)
    assert [r["nextAttemptInSeconds"] is not None for r in attempts] == [True, True, False]
    (dead,) = [r for r in records if r["message"] == "delivery dead-lettered"]
    assert (dead["level"], dead["errorCode"], dead["retryAttempts"]) == ("WARNING", "SDK.HttpStatus503", 2)
    assert dead["exhaustedRetryCondition"] == "MaximumRetryAttempts"
