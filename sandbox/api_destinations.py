"""Emulate EventBridge API destinations: rule -> transformed body -> HTTP with the connection's auth.

moto matches rules but cannot call API destinations with their auth (docs/sandbox.md), so each
destination's rule is created in moto with an SQS queue as its target (the real pattern engine
decides what matches) and this emulator takes it from there, as AWS would:

- the body is the destination's input transformer applied to the event (``functions.transform``,
  AWS semantics), or the whole event;
- the connection's authorization: the API key header, ``Authorization: Basic``, or an OAuth 2.0
  client-credentials token fetched from the authorization endpoint (cached, refreshed on 401),
  plus the connection's invocation headers and the headers EventBridge itself sends;
- ``invocationRateLimitPerSecond`` (excess waits, nothing is dropped), a 5 s HTTP timeout;
- the target's retry policy: 401, 407, 409, 429, 5xx, timeouts and connection errors are retried
  with exponential backoff (``Retry-After`` honoured) until ``maxAttempts`` retries or
  ``maxEventAgeSeconds``; other 4xx fail at once; then the ORIGINAL event goes to the dead-letter
  queue with the attributes EventBridge sets (``RULE_ARN``, ``TARGET_ARN``, ``ERROR_CODE``,
  ``ERROR_MESSAGE``, ``EXHAUSTED_RETRY_CONDITION``, ``RETRY_ATTEMPTS``).

Waits are multiplied by ``time_scale`` so a day of retries can be watched in seconds.
"""

from __future__ import annotations

import base64
import json
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import requests

from components.config import Secret
from components.plan import ApiDestinationPlan
from functions import transform
from sandbox.sqs_worker import PollingThread, receive

HTTP_TIMEOUT_SECONDS = 5.0
RETRYABLE_STATUS = frozenset({401, 407, 409, 429})
EVENTBRIDGE_HEADERS = {
    "User-Agent": "Amazon/EventBridge/ApiDestinations",
    "Content-Type": "application/json; charset=utf-8",
    "Accept": "*/*",
}


def _reveal(value: Any) -> str:
    return value.reveal() if isinstance(value, Secret) else str(value)


@dataclass
class Outcome:
    delivered: bool
    attempts: int
    status: int | None
    error_code: str | None = None
    error_message: str | None = None
    exhausted: str | None = None


@dataclass
class DestinationStats:
    delivered: int = 0
    dead_lettered: int = 0
    attempts: int = 0
    statuses: list[int] = field(default_factory=list)


class TokenBucket:
    def __init__(self, rate_per_second: int) -> None:
        self.interval = 1.0 / rate_per_second
        self._next = time.monotonic()
        self._lock = threading.Lock()

    def wait(self) -> None:
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next)
            self._next = slot + self.interval
        delay = slot - now
        if delay > 0:
            time.sleep(delay)


class ApiDestinationWorker(PollingThread):
    """Delivers what one destination's rule matched (messages of its queue in moto)."""

    def __init__(
        self,
        plan: ApiDestinationPlan,
        *,
        sqs: Any,
        queue_url: str,
        dead_letter_queue_url: str,
        rule_arn: str,
        target_arn: str,
        time_scale: float = 1.0,
        concurrency: int = 4,
    ) -> None:
        self.plan = plan
        self.sqs = sqs
        self.queue_url = queue_url
        self.dead_letter_queue_url = dead_letter_queue_url
        self.rule_arn = rule_arn
        self.target_arn = target_arn
        self.time_scale = time_scale
        self.stats = DestinationStats()
        self._bucket = TokenBucket(plan.rate_limit_per_second)
        self._token: tuple[str, float] | None = None
        self._token_lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix=f"apidest-{plan.key}")
        super().__init__(self._poll, name=f"apidest-{plan.key}")
        self._session = requests.Session()

    def stop(self) -> None:
        super().stop()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _poll(self) -> None:
        while not self.stopping.is_set():
            messages = receive(
                self.sqs, self.queue_url, self.stopping, MaxNumberOfMessages=10, VisibilityTimeout=43_200
            )
            for message in messages:
                self._pool.submit(self._handle, message)

    def _handle(self, message: dict[str, Any]) -> None:
        event = json.loads(message["Body"])
        outcome = self.deliver(event)
        if not outcome.delivered:
            self._dead_letter(message["Body"], outcome)
        self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])

    # -- one event ------------------------------------------------------------------------------

    def body_for(self, event: dict[str, Any]) -> str:
        if self.plan.transform is None:
            return json.dumps(event, separators=(",", ":"))
        return transform.apply(
            self.plan.transform.template,
            self.plan.transform.paths,
            event,
            rule_arn=self.rule_arn,
            rule_name=self.rule_arn.rsplit("/", 1)[-1],
        )

    def deliver(self, event: dict[str, Any]) -> Outcome:
        body = self.body_for(event).encode("utf-8")
        started = time.monotonic()
        max_age = self.plan.retry.max_event_age_seconds * self.time_scale
        attempt = 0
        while True:
            attempt += 1
            self._bucket.wait()
            status, retry_after, error = self._attempt(body)
            self.stats.attempts += 1
            if status is not None:
                self.stats.statuses.append(status)
            if status is not None and 200 <= status < 300:
                self.stats.delivered += 1
                return Outcome(True, attempt, status)
            retryable = status is None or status in RETRYABLE_STATUS or status >= 500
            code = f"SDK.HttpStatus{status}" if status is not None else "SDK.ConnectionError"
            message = error or f"The API destination answered {status}"
            if not retryable:
                return self._failed(attempt, status, code, message, None)
            if attempt > self.plan.retry.max_attempts:
                return self._failed(attempt, status, code, message, "MaximumRetryAttempts")
            delay = (
                retry_after if retry_after is not None else min(60.0, 2.0 ** (attempt - 1)) * random.uniform(0.5, 1.0)  # noqa: S311 (jitter, not a secret)
            )
            delay *= self.time_scale
            if time.monotonic() - started + delay > max_age:
                return self._failed(attempt, status, code, message, "MaximumEventAgeInSeconds")
            if self.stopping.wait(delay):
                return self._failed(attempt, status, code, "sandbox stopped", None)

    def _failed(self, attempts: int, status: int | None, code: str, message: str, exhausted: str | None) -> Outcome:
        self.stats.dead_lettered += 1
        return Outcome(False, attempts, status, code, message, exhausted)

    def _attempt(self, body: bytes) -> tuple[int | None, float | None, str | None]:
        headers = dict(EVENTBRIDGE_HEADERS)
        headers.update(dict(self.plan.auth.headers))
        try:
            headers.update(self._authorization())
            response = self._session.request(
                self.plan.method,
                self.plan.url,
                data=body,
                headers=headers,
                timeout=HTTP_TIMEOUT_SECONDS,
                allow_redirects=False,
            )
        except requests.Timeout:
            return None, None, "Timeout: no response within 5 s"
        except requests.RequestException as error:
            return None, None, f"{type(error).__name__}: {error}"
        if response.status_code == 401 and self.plan.auth.authorization_type == "OAUTH_CLIENT_CREDENTIALS":
            with self._token_lock:
                self._token = None  # fetch a new token on the retry
        retry_after = None
        if response.status_code == 429 and response.headers.get("Retry-After", "").isdigit():
            retry_after = float(response.headers["Retry-After"])
        return response.status_code, retry_after, None

    def _authorization(self) -> dict[str, str]:
        auth = self.plan.auth
        params = auth.parameters
        if auth.authorization_type == "API_KEY":
            return {str(params["key"]): _reveal(params["value"])}
        if auth.authorization_type == "BASIC":
            pair = f"{params['username']}:{_reveal(params['password'])}".encode()
            return {"Authorization": "Basic " + base64.b64encode(pair).decode()}
        return {"Authorization": f"Bearer {self._oauth_token()}"}

    def _oauth_token(self) -> str:
        with self._token_lock:
            if self._token and self._token[1] > time.monotonic():
                return self._token[0]
            params = self.plan.auth.parameters
            pair = f"{params['client_id']}:{_reveal(params['client_secret'])}".encode()
            response = self._session.request(
                params["http_method"],
                params["authorization_endpoint"],
                data=dict(params["body_parameters"]),
                headers={"Authorization": "Basic " + base64.b64encode(pair).decode()},
                timeout=HTTP_TIMEOUT_SECONDS,
            )
            response.raise_for_status()
            document = response.json()
            self._token = (document["access_token"], time.monotonic() + float(document.get("expires_in", 3600)) - 30)
            return self._token[0]

    def _dead_letter(self, original: str, outcome: Outcome) -> None:
        attributes = {
            "RULE_ARN": self.rule_arn,
            "TARGET_ARN": self.target_arn,
            "ERROR_CODE": outcome.error_code or "",
            "ERROR_MESSAGE": outcome.error_message or "",
            "RETRY_ATTEMPTS": str(max(0, outcome.attempts - 1)),
        }
        if outcome.exhausted:
            attributes["EXHAUSTED_RETRY_CONDITION"] = outcome.exhausted
        self.sqs.send_message(
            QueueUrl=self.dead_letter_queue_url,
            MessageBody=original,
            MessageAttributes={k: {"DataType": "String", "StringValue": v} for k, v in attributes.items() if v},
        )
