"""Stopping without dropping what was acknowledged: refuse new requests, then drain.

On SIGINT/SIGTERM ``sandbox up`` first makes every function URL and HTTP API answer 503 with
``Retry-After`` (the sender keeps the webhook and retries it later, as from a deployed endpoint
under maintenance), then waits for the requests already in a handler to finish and for the
inbound queue to empty through the Pipe: every webhook answered 2xx is then on the bus. Only then
do the parts stop. The wait is bounded (:data:`DRAIN_TIMEOUT_SECONDS`, or a second Ctrl-C); what
is left (and the deliveries still being retried, which may take hours) is reported, not silently
dropped.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sandbox.runtime import Sandbox

DRAIN_TIMEOUT_SECONDS = 30.0
POLL_SECONDS = 0.1
_COUNTS = ("ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed")


def queued(sqs: Any, url: str) -> int:
    """Messages in the queue, visible, in flight or delayed (moto's counts are exact)."""
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=list(_COUNTS))["Attributes"]
    return sum(int(attributes.get(name, 0)) for name in _COUNTS)


def drain(sandbox: Sandbox, timeout: float = DRAIN_TIMEOUT_SECONDS, hurry: threading.Event | None = None) -> str:
    """Refuse new requests, wait for accepted ones to be on the bus (until ``timeout`` s or ``hurry``);
    returns one line saying how it went."""
    hurry = hurry or threading.Event()
    from sandbox.aws import client

    started = time.monotonic()
    deadline = started + timeout
    sandbox.stop_accepting()
    busy = [s.function_name for s in sandbox.http_servers() if not s.wait_idle(max(0.0, deadline - time.monotonic()))]
    state = sandbox.state()
    inbound_url = state.get("inbound_queue_url")
    sqs = client("sqs", sandbox.endpoint)
    left = 0
    if inbound_url:
        while (left := queued(sqs, inbound_url)) and time.monotonic() < deadline and not hurry.wait(POLL_SECONDS):
            pass
    others = sum(queued(sqs, url) for url in _delivery_queues(sandbox))
    seconds = time.monotonic() - started
    parts = []
    if busy:
        parts.append(f"requests still running in {', '.join(busy)}")
    if left:
        parts.append(f"{left} accepted inbound webhook(s) not yet on the bus")
    if not parts:
        parts.append("every accepted webhook is on the bus" if inbound_url else "no request in flight")
    if others:
        parts.append(f"{others} event(s) still being delivered or retried stop with the sandbox")
    verdict = "drained" if not busy and not left else "drain cut short" if hurry.is_set() else "drain timed out"
    return f"{verdict} in {seconds:.1f} s: " + "; ".join(parts)


def _delivery_queues(sandbox: Sandbox) -> list[str]:
    """Queues whose messages are deliveries under way (API destinations, signed deliveries)."""
    urls = []
    if sandbox.provider is not None:
        urls += [worker.queue_url for worker in sandbox.provider.workers.values()]
    delivery = sandbox.parts.get("delivery")
    for key in ("events", "tasks"):
        url = getattr(delivery, "urls", {}).get(key)
        if url:
            urls.append(url)
    return urls
