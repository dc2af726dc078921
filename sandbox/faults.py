"""Fault injection for rehearsals: the functions' AWS calls fail at given rates (``up --faults SPEC``).

``SPEC`` is a comma-separated list of ``SERVICE:OPERATION=RATE[:KIND]``, e.g.
``dynamodb:PutItem=0.05,sqs:SendMessage=0.02:throttle,s3:*=0.01:timeout``:

- ``SERVICE`` is a boto3 service name (``dynamodb``, ``sqs``, ``s3``, ``events``, ``secretsmanager``),
  ``OPERATION`` one of its API operations (``PutItem``) or ``*`` (every operation; a named one wins);
- ``RATE`` the share of requests that fail, above 0 and at most 1;
- ``KIND`` what goes wrong (default ``error``):
  ``error``    the service answers 500 (``InternalFailure``, DynamoDB ``InternalServerError``, S3 ``InternalError``);
  ``throttle`` it throttles (``ThrottlingException``, DynamoDB ``ProvisionedThroughputExceededException``,
               S3 ``SlowDown``);
  ``timeout``  the request reaches the emulator and takes effect, but its answer is lost: the client
               sees a read timeout at once (the wait itself is not spent), the hard case for idempotency.

Faults are injected per HTTP request, below botocore's retries (a ``before-send`` hook on every
client created while installed), so the functions' SDK retries them as it would AWS's answers;
what gives up after its retries fails as it would in AWS. Only the FUNCTIONS' calls are touched:
the sandbox's own clients (the emulated services' plumbing, tagged with
:data:`sandbox.aws.SANDBOX_USER_AGENT`) never fail. With ``--seed`` the decisions are
deterministic: the n-th request of each service operation fails or not by a hash of (seed,
service, operation, n), whatever the threads' timing.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import json
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from functions import logs
from sandbox.aws import SANDBOX_USER_AGENT

FAULT_KINDS = ("error", "throttle", "timeout")
DEFAULT_KIND = "error"
ANY_OPERATION = "*"
# (status, code) a service answers: throttling and server errors botocore's retry modes retry.
_THROTTLE = {"dynamodb": (400, "ProvisionedThroughputExceededException"), "s3": (503, "SlowDown")}
_ERROR = {"dynamodb": (500, "InternalServerError"), "s3": (500, "InternalError")}


class FaultSpecError(ValueError):
    """A ``--faults`` value that cannot be used; the message lists every problem."""


@dataclass(frozen=True)
class FaultRule:
    service: str
    operation: str  # an API operation name, or "*"
    rate: float
    kind: str = DEFAULT_KIND

    def __str__(self) -> str:
        return f"{self.service}:{self.operation}={self.rate:g}:{self.kind}"


def parse_faults(spec: str) -> tuple[FaultRule, ...]:
    """The rules of ``spec``; :class:`FaultSpecError` naming each bad entry and what is allowed."""
    import botocore.session

    session = botocore.session.get_session()
    services = set(session.get_available_services())
    problems: list[str] = []
    rules: dict[tuple[str, str], FaultRule] = {}
    entries = spec.split(",")
    for number, raw in enumerate(entries, 1):
        entry = raw.strip()
        where = f"entry {number} {entry!r}" if len(entries) > 1 else repr(entry)
        target, equals, value = entry.partition("=")
        service, colon, operation = target.strip().partition(":")
        service, operation = service.strip(), operation.strip()
        rate_text, _, kind = value.strip().partition(":")
        kind = kind.strip() or DEFAULT_KIND
        if not entry:
            problems.append(f"{where}: empty; give SERVICE:OPERATION=RATE[:KIND]")
            continue
        if not equals or not colon or not service or not operation:
            problems.append(f"{where}: expected SERVICE:OPERATION=RATE[:KIND], e.g. dynamodb:PutItem=0.05:throttle")
            continue
        if service not in services:
            problems.append(f"{where}: unknown service {service!r}{_suggest(service, services)}")
        elif operation != ANY_OPERATION and operation not in session.get_service_model(service).operation_names:
            known = session.get_service_model(service).operation_names
            problems.append(f"{where}: {service} has no operation {operation!r}{_suggest(operation, known)}")
        try:
            rate = float(rate_text)
        except ValueError:
            rate = float("nan")
        if not 0 < rate <= 1:  # also refuses nan
            problems.append(f"{where}: the rate must be a number above 0 and at most 1, got {rate_text.strip()!r}")
        if kind not in FAULT_KINDS:
            problems.append(f"{where}: the kind must be one of {', '.join(FAULT_KINDS)}, got {kind!r}")
        if (service, operation) in rules:
            problems.append(f"{where}: {service}:{operation} is given twice")
        if not problems:
            rules[(service, operation)] = FaultRule(service, operation, rate, kind)
    if problems:
        raise FaultSpecError("--faults: " + "; ".join(problems))
    return tuple(rules.values())


def _suggest(word: str, known: Any) -> str:
    close = difflib.get_close_matches(word, list(known), n=1)
    return f" (did you mean {close[0]}?)" if close else ""


class FaultInjector:
    """Decides, per request, whether it fails, and answers for the service when it does."""

    def __init__(self, rules: tuple[FaultRule, ...], seed: int = 0) -> None:
        self.rules = {(r.service, r.operation): r for r in rules}
        self.seed = seed
        self.injected: Counter[str] = Counter()  # "service:Operation kind" -> how many
        self._calls: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()

    def decide(self, service: str, operation: str) -> FaultRule | None:
        """The rule this request fails by, or ``None``: the n-th request of an operation decides alike for a seed."""
        rule = self.rules.get((service, operation)) or self.rules.get((service, ANY_OPERATION))
        if rule is None:
            return None
        with self._lock:
            number = self._calls[(service, operation)]
            self._calls[(service, operation)] += 1
        digest = hashlib.blake2b(f"{self.seed}:{service}:{operation}:{number}".encode(), digest_size=8).digest()
        if int.from_bytes(digest, "big") / 2**64 >= rule.rate:
            return None
        with self._lock:
            self.injected[f"{service}:{operation} {rule.kind}"] += 1
        return rule

    def before_send(self, request: Any, *, service: str, protocol: str, event_name: str = "", **_: Any) -> Any:
        """botocore ``before-send`` hook: ``None`` sends the request; a response or an error replaces it."""
        agent = request.headers.get("User-Agent") or b""
        if SANDBOX_USER_AGENT in (agent.decode() if isinstance(agent, bytes) else str(agent)):
            return None  # the sandbox's own plumbing: the emulated services never fail themselves
        operation = event_name.rsplit(".", 1)[-1]
        rule = self.decide(service, operation)
        if rule is None:
            return None
        logs.info("fault injected", service=service, operation=operation, kind=rule.kind)
        if rule.kind == "timeout":
            _send_and_lose_the_answer(request)
            from botocore.exceptions import ReadTimeoutError

            raise ReadTimeoutError(endpoint_url=request.url)
        return error_response(request.url, service, protocol, rule.kind)

    def summary(self) -> str:
        if not self.injected:
            return "no fault injected"
        return "faults injected: " + ", ".join(f"{key} x{count}" for key, count in sorted(self.injected.items()))


def error_response(url: str, service: str, protocol: str, kind: str) -> Any:
    """An error answer in the service's protocol, as botocore parses AWS's."""
    from botocore.awsrequest import AWSResponse, HeadersDict

    throttle = kind == "throttle"
    default = (429, "TooManyRequestsException") if protocol == "rest-json" else (400, "ThrottlingException")
    status, code = (_THROTTLE.get(service, default)) if throttle else _ERROR.get(service, (500, "InternalFailure"))
    message = f"injected by the sandbox (--faults): {code}"
    request_id = str(uuid.uuid4())
    headers = HeadersDict({"x-amzn-RequestId": request_id})
    if protocol == "rest-xml":
        body = f"<Error><Code>{code}</Code><Message>{message}</Message><RequestId>{request_id}</RequestId></Error>"
        headers["Content-Type"] = "application/xml"
    elif protocol in ("query", "ec2"):
        body = (
            f"<ErrorResponse><Error><Type>{'Sender' if status < 500 else 'Receiver'}</Type><Code>{code}</Code>"
            f"<Message>{message}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>"
        )
        headers["Content-Type"] = "text/xml"
    elif protocol == "rest-json":
        body = json.dumps({"message": message})
        headers.update({"Content-Type": "application/json", "x-amzn-ErrorType": code})
    else:  # json (and anything newer parses the JSON error shape)
        body = json.dumps({"__type": code, "message": message})
        headers["Content-Type"] = "application/x-amz-json-1.0"
    return AWSResponse(url, status, headers, _Raw(body.encode()))


class _Raw:
    """The raw stream AWSResponse reads its body from."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._data


def _send_and_lose_the_answer(request: Any) -> None:
    """Deliver the request (it takes effect), drop what the emulator answers."""
    import requests

    body = request.body
    if hasattr(body, "read"):
        position = body.tell() if hasattr(body, "tell") else None
        data = body.read()
        if position is not None:
            body.seek(position)  # botocore rewinds it again before its retry
        body = data
    headers = {k: (v.decode() if isinstance(v, bytes) else str(v)) for k, v in request.headers.items()}
    with contextlib.suppress(requests.RequestException):  # lost on the way: a timeout all the same
        requests.request(request.method, request.url, headers=headers, data=body, timeout=10)


@contextmanager
def injected(injector: FaultInjector) -> Iterator[FaultInjector]:
    """Hook ``injector`` into every botocore client created meanwhile (the functions create theirs
    at their first invocation, after the sandbox started)."""
    import botocore.session

    original: Callable[..., Any] = botocore.session.Session.create_client

    def create_client(session: Any, *args: Any, **kwargs: Any) -> Any:
        client = original(session, *args, **kwargs)
        model = client.meta.service_model
        client.meta.events.register(
            "before-send",
            _bound(injector, model.service_name, model.protocol),
            unique_id=f"hookstack-sandbox-faults-{id(injector)}",
        )
        return client

    botocore.session.Session.create_client = create_client
    try:
        yield injector
    finally:
        botocore.session.Session.create_client = original


def _bound(injector: FaultInjector, service: str, protocol: str) -> Callable[..., Any]:
    def hook(request: Any, **kwargs: Any) -> Any:
        return injector.before_send(request, service=service, protocol=protocol, **kwargs)

    return hook
