"""The sandbox's local HTTP servers answer a burst of concurrent connections, none reset."""

from __future__ import annotations

import threading
import urllib.request
from collections import Counter
from collections.abc import Callable

import pytest

from sandbox.lambda_http import LambdaHttpServer
from sandbox.receiver import Receiver

CONCURRENT = 64  # the review's reproduction used 40; socketserver's default backlog of 5 reset some


def burst(url: str, count: int) -> Counter[object]:
    """``count`` POSTs released at once (a barrier), each on its own connection: status or error per request."""
    start = threading.Barrier(count)
    outcomes: Counter[object] = Counter()
    lock = threading.Lock()

    def post() -> None:
        start.wait()
        request = urllib.request.Request(url, data=b"{}", method="POST", headers={"content-type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                outcome: object = answer.status
        except OSError as error:
            outcome = type(error).__name__
        with lock:
            outcomes[outcome] += 1

    threads = [threading.Thread(target=post) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return outcomes


@pytest.mark.parametrize("server", ["function URL", "receiver"])
def test_a_burst_of_concurrent_requests_is_answered_in_full(server: str) -> None:
    make: Callable[[], LambdaHttpServer | Receiver] = {
        "function URL": lambda: LambdaHttpServer(
            lambda _event, _context: {"statusCode": 200, "body": "ok"}, function_name="t"
        ),
        "receiver": Receiver,
    }[server]
    running = make()
    running.start()
    try:
        assert burst(f"{running.url}/burst", CONCURRENT) == Counter({200: CONCURRENT})
    finally:
        running.stop()


def test_once_stopping_new_requests_get_503_with_retry_after_and_requests_in_the_handler_finish() -> None:
    """``sandbox up`` on SIGINT: nothing new is acknowledged, nothing acknowledged is cut off."""
    import requests

    entered, release = threading.Event(), threading.Event()
    calls: list[str] = []

    def handler(event: dict[str, object], _context: object) -> dict[str, object]:
        calls.append(str(event["rawPath"]))
        if event["rawPath"] == "/slow":
            entered.set()
            release.wait(10)
        return {"statusCode": 200, "body": "ok"}

    server = LambdaHttpServer(handler, function_name="t", router=lambda _method, path: ("GET /{x}", {"x": path}))
    server.start()
    try:
        slow: dict[str, int] = {}
        in_flight = threading.Thread(
            target=lambda: slow.update(status=requests.get(f"{server.url}/slow", timeout=10).status_code)
        )
        in_flight.start()
        assert entered.wait(5)
        server.stop_accepting()
        refused = requests.post(f"{server.url}/new", data=b"{}", timeout=10)
        assert (refused.status_code, refused.headers["Retry-After"], refused.headers["Connection"]) == (
            503,
            "30",
            "close",
        )
        assert not server.wait_idle(0.1)  # the slow request is still in the handler
        release.set()
        in_flight.join(10)
        assert server.wait_idle(5)
        assert slow == {"status": 200}
        assert calls == ["/slow"]  # the refused request never reached the handler
    finally:
        release.set()
        server.stop()


def test_every_session_reads_botocore_s_models_through_one_loader() -> None:
    """sandbox.aws.share_botocore_models (installed by the sandbox and by tests/conftest.py): sessions
    share the loader, so a second session's client parses no model again, and installing it twice
    keeps the one loader."""
    import boto3

    from sandbox.aws import share_botocore_models

    share_botocore_models()
    first, second = boto3.session.Session(), boto3.session.Session()
    loader = first._session.get_component("data_loader")
    assert second._session.get_component("data_loader") is loader
    share_botocore_models()
    assert boto3.session.Session()._session.get_component("data_loader") is loader
    first.client("sqs", region_name="us-east-1")
    cached = len(loader._cache)
    second.client("sqs", region_name="us-east-1")
    assert len(loader._cache) == cached  # the second client found everything in the cache
