"""Emulate EventBridge API destinations: rule -> transformed body -> HTTP with the connection's auth.

moto matches rules but cannot call API destinations with their auth (docs/sandbox.md), so each
destination's rule is created in moto with an SQS queue as its target (the real pattern engine
decides what matches) and this emulator takes it from there, as AWS would:

- the body is the destination's input transformer applied to the event (``functions.transform``,
  AWS semantics), or the whole event;
- the connection's authorization, read from the connection itself at every attempt (so ``ops
  reauthorize`` takes effect at once): the API key header, ``Authorization: Basic``, or an OAuth
  2.0 client-credentials token fetched from the authorization endpoint (cached, refreshed on 401),
  plus the connection's invocation headers and the headers EventBridge itself sends;
- de-authorization as EventBridge does it: a 401 or 407 from a Basic or API-key destination, or
  a failed OAuth token request, sets the connection ``DEAUTHORIZED`` (its API destination
  ``INACTIVE``); until it is updated (``UpdateConnection``, ``python -m ops reauthorize``) no
  request is sent, the invocations fail and are retried, then dead-lettered;
- ``invocationRateLimitPerSecond`` (excess waits, nothing is dropped), a 5 s HTTP timeout;
- the target's retry policy: 401, 407, 409, 429, 5xx, timeouts and connection errors are retried
  with exponential backoff (``Retry-After`` honoured) until ``maxAttempts`` retries or
  ``maxEventAgeSeconds``, counted from the event's ingestion (when the rule put it in the queue)
  and checked before every attempt, the first included: an event that waited out its age behind
  the rate limit is dead-lettered without an attempt; other 4xx fail at once; then the ORIGINAL
  event goes to the dead-letter queue with the attributes EventBridge sets (``RULE_ARN``,
  ``TARGET_ARN``, ``ERROR_CODE``, ``ERROR_MESSAGE``, ``EXHAUSTED_RETRY_CONDITION``, ``RETRY_ATTEMPTS``).

Every attempt, retry, de-authorization and dead letter is logged through :mod:`functions.logs` in
the delivery worker's shape (``delivery attempt`` with ``tenantId``, ``eventId``, ``endpointId``
(here ``tenant/destination``), ``attempt``, ``outcome``, ``statusCode``, ``latencyMs``,
``errorKind``, ``nextAttemptInSeconds``, in EventBridge's unscaled seconds). Waits and the event
age are multiplied by ``time_scale`` so a day of retries can be watched in seconds.
"""

from __future__ import annotations

import base64
import json
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

import requests

from components.config import Secret
from components.plan import ApiDestinationPlan
from functions import logs, transform
from sandbox.sqs_worker import PollingThread, receive

HTTP_TIMEOUT_SECONDS = 5.0
RETRYABLE_STATUS = frozenset({401, 407, 409, 429})
# EventBridge de-authorizes a Basic or API-key connection on these (docs: De-authorizing connections).
DEAUTHORIZING_STATUS = frozenset({401, 407})
AUTHORIZED = "AUTHORIZED"
EVENTBRIDGE_HEADERS = {
    "User-Agent": "Amazon/EventBridge/ApiDestinations",
    "Content-Type": "application/json; charset=utf-8",
    "Accept": "*/*",
}
# The delivery worker's words for an attempt's outcome in its logs (functions/delivery/attempt.py).
SUCCEEDED, RETRYING, FAILED = "succeeded", "retrying", "failed"
# The sandbox's own ERROR_CODEs where no HTTP attempt was made (AWS documents none for these).
NOT_AUTHORIZED_CODE = "ConnectionNotAuthorized"
AGE_EXCEEDED_CODE = "EventAgeExceeded"


def _reveal(value: Any) -> str:
    return value.reveal() if isinstance(value, Secret) else str(value)


def connection_auth_parameters(destination: ApiDestinationPlan) -> dict[str, Any]:
    """The ``AuthParameters`` of the destination's connection, as ``CreateConnection`` takes them."""
    auth = destination.auth
    params = auth.parameters
    result: dict[str, Any]
    if auth.authorization_type == "API_KEY":
        result = {"ApiKeyAuthParameters": {"ApiKeyName": params["key"], "ApiKeyValue": _reveal(params["value"])}}
    elif auth.authorization_type == "BASIC":
        result = {"BasicAuthParameters": {"Username": params["username"], "Password": _reveal(params["password"])}}
    else:
        result = {
            "OAuthParameters": {
                "ClientParameters": {"ClientID": params["client_id"], "ClientSecret": _reveal(params["client_secret"])},
                "AuthorizationEndpoint": params["authorization_endpoint"],
                "HttpMethod": params["http_method"],
                "OAuthHttpParameters": {
                    "BodyParameters": [
                        {"Key": k, "Value": v, "IsValueSecret": False} for k, v in params["body_parameters"]
                    ]
                },
            }
        }
    if auth.headers:
        result["InvocationHttpParameters"] = {
            "HeaderParameters": [{"Key": k, "Value": v, "IsValueSecret": False} for k, v in auth.headers]
        }
    return result


class Connection(Protocol):
    """What the emulator needs of an EventBridge connection (:class:`sandbox.moto_events.ConnectionHandle`)."""

    name: str

    @property
    def state(self) -> str: ...
    @property
    def revision(self) -> int: ...
    def auth_parameters(self) -> dict[str, Any]: ...
    def deauthorize(self, reason: str) -> bool: ...


class StaticConnection:
    """A connection held here (tests): the given auth parameters, de-authorized in memory."""

    def __init__(self, name: str, auth_parameters: dict[str, Any]) -> None:
        self.name = name
        self.state = AUTHORIZED
        self.revision = 0
        self.reason = ""
        self._auth_parameters = auth_parameters

    def auth_parameters(self) -> dict[str, Any]:
        return self._auth_parameters

    def deauthorize(self, reason: str) -> bool:
        changed, self.state, self.reason = self.state == AUTHORIZED, "DEAUTHORIZED", reason
        return changed


class NotAuthorized(Exception):
    """The connection cannot authorize a request (de-authorized, or its OAuth token request failed)."""


@dataclass
class Outcome:
    delivered: bool
    attempts: int
    status: int | None
    error_code: str | None = None
    error_message: str | None = None
    exhausted: str | None = None
    stopped: bool = False  # the sandbox stopped first: neither delivered nor dead-lettered


@dataclass
class Attempt:
    status: int | None
    retry_after: float | None = None
    error: str | None = None
    error_kind: str | None = None  # as the worker logs it: timeout, connection, deauthorized
    latency_ms: int = 0

    @property
    def code(self) -> str:
        if self.status is not None:
            return f"SDK.HttpStatus{self.status}"
        return NOT_AUTHORIZED_CODE if self.error_kind == "deauthorized" else "SDK.ConnectionError"

    @property
    def message(self) -> str:
        return self.error or f"The API destination answered {self.status}"


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

    def wait(self, deadline: float | None = None, stopping: threading.Event | None = None) -> bool:
        """Wait for the next slot; ``False`` at once (taking no slot) if it comes after ``deadline``
        (``time.monotonic()`` terms): an event that cannot be sent in time must not hold others up."""
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next)
            if deadline is not None and slot > deadline:
                return False
            self._next = slot + self.interval
        delay = slot - now
        if delay > 0:
            if stopping is not None:
                stopping.wait(delay)
            else:
                time.sleep(delay)
        return True


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
        connection: Connection | None = None,
        time_scale: float = 1.0,
        concurrency: int = 4,
    ) -> None:
        self.plan = plan
        self.sqs = sqs
        self.queue_url = queue_url
        self.dead_letter_queue_url = dead_letter_queue_url
        self.rule_arn = rule_arn
        self.target_arn = target_arn
        self.connection: Connection = connection or StaticConnection(plan.key, connection_auth_parameters(plan))
        self.time_scale = time_scale
        self.label = f"{plan.tenant_id}/{plan.name}"
        self.stats = DestinationStats()
        self._bucket = TokenBucket(plan.rate_limit_per_second)
        self._token: tuple[str, float, int] | None = None  # (token, expiry, connection revision)
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
                self.sqs,
                self.queue_url,
                self.stopping,
                MaxNumberOfMessages=10,
                VisibilityTimeout=43_200,
                AttributeNames=["SentTimestamp"],
            )
            for message in messages:
                self._pool.submit(self._handle, message)

    def _handle(self, message: dict[str, Any]) -> None:
        event = json.loads(message["Body"])
        # The rule put the event in the queue when it was ingested: its age counts from then.
        sent = (message.get("Attributes") or {}).get("SentTimestamp")
        outcome = self.deliver(event, ingested_at=int(sent) / 1000 if sent else None)
        if outcome.stopped:
            return  # the sandbox is stopping: nothing more is sent, nothing is dead-lettered
        if not outcome.delivered:
            self._dead_letter(message["Body"], outcome, event)
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

    def deliver(self, event: dict[str, Any], *, ingested_at: float | None = None) -> Outcome:
        """Attempt ``event`` until it is delivered, fails for good or outlives ``maxEventAgeSeconds``
        (scaled) since ``ingested_at`` (epoch seconds; now when not given)."""
        body = self.body_for(event).encode("utf-8")
        ids = _event_ids(event)
        max_age = self.plan.retry.max_event_age_seconds * self.time_scale
        expires = (ingested_at if ingested_at is not None else time.time()) + max_age
        attempt, last = 0, None
        while True:
            # Before every attempt, the first too: a backlog behind the rate limit ages events.
            remaining = expires - time.time()
            if remaining <= 0 or not self._bucket.wait(time.monotonic() + remaining, self.stopping):
                return self._expired(ids, attempt, last, max_age)
            if self.stopping.is_set():
                return Outcome(False, attempt, None, stopped=True)
            attempt += 1
            last = self._attempt(body)
            self.stats.attempts += 1
            if last.status is not None:
                self.stats.statuses.append(last.status)
            if last.status is not None and 200 <= last.status < 300:
                self.stats.delivered += 1
                self._log_attempt(ids, attempt, SUCCEEDED, last, None)
                return Outcome(True, attempt, last.status)
            status = last.status
            retryable = status is None or status in RETRYABLE_STATUS or status >= 500
            if not retryable:
                return self._failed(ids, attempt, last, None)
            if attempt > self.plan.retry.max_attempts:
                return self._failed(ids, attempt, last, "MaximumRetryAttempts")
            delay = (
                last.retry_after
                if last.retry_after is not None
                else min(60.0, 2.0 ** (attempt - 1)) * random.uniform(0.5, 1.0)  # noqa: S311 (jitter, not a secret)
            )
            if time.time() + delay * self.time_scale > expires:
                return self._failed(ids, attempt, last, "MaximumEventAgeInSeconds")
            # Logged in EventBridge's seconds, as the worker logs its schedule; waited scaled.
            self._log_attempt(ids, attempt, RETRYING, last, round(delay, 3))
            if self.stopping.wait(delay * self.time_scale):
                return Outcome(False, attempt, status, stopped=True)

    def _failed(self, ids: dict[str, Any], attempts: int, last: Attempt, exhausted: str | None) -> Outcome:
        self._log_attempt(ids, attempts, FAILED, last, None)
        self.stats.dead_lettered += 1
        return Outcome(False, attempts, last.status, last.code, last.message, exhausted)

    def _expired(self, ids: dict[str, Any], attempts: int, last: Attempt | None, max_age: float) -> Outcome:
        """Past ``maxEventAgeSeconds`` before an attempt could be made (waiting for the rate limit)."""
        self.stats.dead_lettered += 1
        if last is not None:
            return Outcome(False, attempts, last.status, last.code, last.message, "MaximumEventAgeInSeconds")
        message = (
            f"Not attempted: the event outlived maxEventAgeSeconds ({self.plan.retry.max_event_age_seconds} s, "
            f"{max_age:g} s at time scale {self.time_scale:g}) waiting for the rate limit "
            f"({self.plan.rate_limit_per_second}/s)"
        )
        return Outcome(False, 0, None, AGE_EXCEEDED_CODE, message, "MaximumEventAgeInSeconds")

    def _log_attempt(
        self, ids: dict[str, Any], attempt: int, outcome: str, result: Attempt, next_in: float | None
    ) -> None:
        logs.info(
            "delivery attempt",
            **ids,
            endpointId=self.label,
            attempt=attempt,
            outcome=outcome,
            statusCode=result.status,
            latencyMs=result.latency_ms,
            errorKind=result.error_kind,
            nextAttemptInSeconds=next_in,
        )

    def _attempt(self, body: bytes) -> Attempt:
        started = time.monotonic()

        def elapsed() -> int:
            return int((time.monotonic() - started) * 1000)

        try:
            parameters, headers = self._authorization()
        except NotAuthorized as error:
            return Attempt(None, error=str(error), error_kind="deauthorized", latency_ms=elapsed())
        request_headers = dict(EVENTBRIDGE_HEADERS)
        request_headers.update(headers)
        for header in (parameters.get("InvocationHttpParameters") or {}).get("HeaderParameters") or []:
            request_headers[str(header["Key"])] = str(header.get("Value", ""))
        request_headers.update(self._credential_headers(parameters))
        try:
            response = self._session.request(
                self.plan.method,
                self.plan.url,
                data=body,
                headers=request_headers,
                timeout=HTTP_TIMEOUT_SECONDS,
                allow_redirects=False,
            )
        except requests.Timeout:
            return Attempt(None, error="Timeout: no response within 5 s", error_kind="timeout", latency_ms=elapsed())
        except requests.RequestException as error:
            return Attempt(
                None, error=f"{type(error).__name__}: {error}", error_kind="connection", latency_ms=elapsed()
            )
        status = response.status_code
        if status == 401 and self.plan.auth.authorization_type == "OAUTH_CLIENT_CREDENTIALS":
            with self._token_lock:
                self._token = None  # fetch a new token on the retry
        elif status in DEAUTHORIZING_STATUS:
            self._deauthorize(f"the endpoint answered {status} to the connection's credential", status)
        retry_after = None
        header = response.headers.get("Retry-After", "")
        if status == 429 and header.isascii() and header.isdigit():  # not "²": isdigit() holds, float() raises
            retry_after = float(header)
        return Attempt(status, retry_after, latency_ms=elapsed())

    def _deauthorize(self, reason: str, status: int | None) -> None:
        if self.connection.deauthorize(reason):
            logs.warning(
                "connection deauthorized",
                connection=self.connection.name,
                endpointId=self.label,
                statusCode=status,
                reason=reason,
            )

    def _authorization(self) -> tuple[dict[str, Any], dict[str, str]]:
        """The connection's current auth parameters and, for OAuth, the bearer header."""
        if self.connection.state != AUTHORIZED:
            raise NotAuthorized(
                f"The connection {self.connection.name} is {self.connection.state}: no request is sent until "
                "it is re-authorized (python -m ops reauthorize, docs/runbook.md section 4)"
            )
        parameters = self.connection.auth_parameters()
        if "OAuthParameters" in parameters:
            return parameters, {"Authorization": f"Bearer {self._oauth_token(parameters['OAuthParameters'])}"}
        return parameters, {}

    @staticmethod
    def _credential_headers(parameters: dict[str, Any]) -> dict[str, str]:
        if "ApiKeyAuthParameters" in parameters:
            key = parameters["ApiKeyAuthParameters"]
            return {str(key["ApiKeyName"]): str(key["ApiKeyValue"])}
        if "BasicAuthParameters" in parameters:
            basic = parameters["BasicAuthParameters"]
            pair = f"{basic['Username']}:{basic['Password']}".encode()
            return {"Authorization": "Basic " + base64.b64encode(pair).decode()}
        return {}

    def _oauth_token(self, oauth: dict[str, Any]) -> str:
        revision = self.connection.revision
        with self._token_lock:
            if self._token and self._token[1] > time.monotonic() and self._token[2] == revision:
                return self._token[0]
            client = oauth.get("ClientParameters") or {}
            pair = f"{client.get('ClientID')}:{client.get('ClientSecret')}".encode()
            body = {
                p["Key"]: p.get("Value", "")
                for p in (oauth.get("OAuthHttpParameters") or {}).get("BodyParameters") or []
            }
            try:
                response = self._session.request(
                    oauth.get("HttpMethod") or "POST",
                    oauth["AuthorizationEndpoint"],
                    data=body,
                    headers={"Authorization": "Basic " + base64.b64encode(pair).decode()},
                    timeout=HTTP_TIMEOUT_SECONDS,
                )
                response.raise_for_status()
                document = response.json()
                token = document["access_token"]
                expires_in = float(document.get("expires_in", 3600))
            except (requests.RequestException, ValueError, KeyError, TypeError) as error:
                # EventBridge de-authorizes an OAuth connection whose token it cannot get.
                reason = f"the OAuth token request failed: {type(error).__name__}: {error}"[:300]
                self._deauthorize(reason, getattr(getattr(error, "response", None), "status_code", None))
                raise NotAuthorized(f"The connection {self.connection.name}: {reason}") from None
            self._token = (str(token), time.monotonic() + expires_in - 30, revision)
            return self._token[0]

    def _dead_letter(self, original: str, outcome: Outcome, event: dict[str, Any]) -> None:
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
        logs.warning(
            "delivery dead-lettered",
            **_event_ids(event),
            endpointId=self.label,
            errorCode=outcome.error_code,
            exhaustedRetryCondition=outcome.exhausted,
            retryAttempts=int(attributes["RETRY_ATTEMPTS"]),
        )


def _event_ids(event: dict[str, Any]) -> dict[str, Any]:
    detail = event.get("detail")
    detail = detail if isinstance(detail, dict) else {}
    return {"tenantId": detail.get("tenantId"), "eventId": detail.get("eventId")}
