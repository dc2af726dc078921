"""One attempt against a local receiver: pinned address, no redirects, a hard deadline, truncation.

Only loopback is ever contacted (allowed through ``allowed_cidrs`` as the sandbox does).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from functions.delivery import sender, ssrf
from tests.functions.delivery.receiver import Receiver, Reply
from tests.functions.delivery.test_ssrf import FakeResolver

LOOPBACK = ssrf.parse_networks(["127.0.0.0/8"])


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


def test_posts_body_and_headers_to_the_vetted_address_with_the_name_as_host(receiver: Receiver) -> None:
    resolver = FakeResolver({"hooks.example.test": ["127.0.0.1"]})
    url = f"http://hooks.example.test:{receiver.port}/hook?x=1"

    response = sender.post(url, b'{"a":1}', {"webhook-id": "evt_1"}, timeout=5, allowed=LOOPBACK, resolver=resolver)

    assert response.status == 200 and response.body == b"ok" and response.address == "127.0.0.1"
    (request,) = receiver.requests
    assert request.path == "/hook?x=1"
    assert request.headers["host"] == f"hooks.example.test:{receiver.port}"
    assert request.headers["webhook-id"] == "evt_1"
    assert request.body == b'{"a":1}'
    assert resolver.calls == ["hooks.example.test"]


def test_dns_is_checked_again_on_every_attempt_so_a_rebind_is_refused(receiver: Receiver) -> None:
    answers = [["127.0.0.1"], ["10.0.0.1"]]

    def rebinding(host: str, port: int, *args: object) -> list[tuple]:
        return FakeResolver({host: answers.pop(0)})(host, port)

    url = f"http://hooks.example.test:{receiver.port}/hook"
    first = sender.post(url, b"{}", {}, timeout=5, allowed=LOOPBACK, resolver=rebinding)
    second = sender.post(url, b"{}", {}, timeout=5, allowed=LOOPBACK, resolver=rebinding)

    assert first.status == 200
    assert second.status is None and second.error_kind == "blocked" and "10.0.0.1" in (second.error or "")
    assert len(receiver.requests) == 1


@pytest.mark.parametrize(
    "answer", ["::ffff:0:a9fe:a9fe", "::a9fe:a9fe", "64:ff9b::a9fe:a9fe", "2002:a9fe:a9fe::1", "3fff::1"]
)
def test_a_name_resolving_to_an_ipv6_form_of_a_refused_address_is_never_contacted(
    answer: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_connection(*args: object, **kwargs: object) -> None:
        raise AssertionError("the sender connected")

    monkeypatch.setattr(socket, "create_connection", no_connection)
    resolver = FakeResolver({"hooks.example.test": [answer]})

    response = sender.post("https://hooks.example.test/hook", b"{}", {}, timeout=5, resolver=resolver)

    assert response.status is None and response.error_kind == "blocked" and answer in (response.error or "")


def test_redirects_are_returned_not_followed(receiver: Receiver) -> None:
    receiver.script("/moved", Reply(302, headers={"Location": receiver.url("/elsewhere")}))

    response = sender.post(receiver.url("/moved"), b"{}", {}, timeout=5, allowed=LOOPBACK)

    assert response.status == 302
    assert response.headers["location"].endswith("/elsewhere")
    assert [r.path for r in receiver.requests] == ["/moved"]


def test_a_slow_endpoint_times_out_at_the_deadline(receiver: Receiver) -> None:
    receiver.script("/slow", Reply(200, delay=3))
    started = time.monotonic()

    response = sender.post(receiver.url("/slow"), b"{}", {}, timeout=0.5, allowed=LOOPBACK)

    assert response.status is None and response.error_kind == "timeout"
    assert time.monotonic() - started < 2


def test_a_receiver_that_trickles_bytes_cannot_outlast_the_deadline() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    stop = threading.Event()

    def trickle() -> None:
        connection, _ = listener.accept()
        with connection:
            connection.recv(65536)
            for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok":
                if stop.is_set():
                    return
                try:
                    connection.sendall(bytes([byte]))
                except OSError:
                    return
                time.sleep(0.1)  # each byte well within a per-read timeout, the whole far beyond it

    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    started = time.monotonic()
    try:
        response = sender.post(f"http://127.0.0.1:{port}/", b"{}", {}, timeout=0.6, allowed=LOOPBACK)
    finally:
        stop.set()
        listener.close()
    assert response.error_kind == "timeout"
    assert time.monotonic() - started < 1.5


def _answer_once(raw: bytes) -> int:
    """A port whose one connection is answered with ``raw`` (after the request's first bytes)."""
    listener = socket.create_server(("127.0.0.1", 0))

    def answer() -> None:
        connection, _ = listener.accept()
        with connection, listener:
            connection.recv(65536)
            connection.sendall(raw)

    threading.Thread(target=answer, daemon=True).start()
    return int(listener.getsockname()[1])


@pytest.mark.parametrize("interim", [b"102 Processing", b"103 Early Hints", b"100 Continue", b"199 Whatever"])
def test_interim_1xx_answers_are_skipped_to_the_final_one(interim: bytes) -> None:
    # RFC 9110 15.2: a client must accept interim responses it did not ask for; the final one counts.
    raw = b"HTTP/1.1 " + interim + b"\r\nLink: </a>\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n"
    response = sender.post(f"http://127.0.0.1:{_answer_once(raw)}/", b"{}", {}, timeout=2, allowed=LOOPBACK)
    assert (response.status, response.error) == (204, None)


def test_101_switching_protocols_is_a_final_answer_not_a_success() -> None:
    raw = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
    response = sender.post(f"http://127.0.0.1:{_answer_once(raw)}/", b"{}", {}, timeout=2, allowed=LOOPBACK)
    assert response.status == 101


def test_the_response_body_is_truncated_to_the_limit(receiver: Receiver) -> None:
    receiver.script("/big", Reply(500, body=b"x" * 10_000))

    response = sender.post(receiver.url("/big"), b"{}", {}, timeout=5, allowed=LOOPBACK, max_response_bytes=100)

    assert response.status == 500 and response.body == b"x" * 100 and response.truncated


def test_a_refused_address_is_never_connected_to() -> None:
    resolver = FakeResolver({"hooks.example.test": ["10.0.0.1"]})

    response = sender.post("https://hooks.example.test/", b"{}", {}, timeout=5, resolver=resolver)

    assert response.error_kind == "blocked" and response.address is None


def test_a_closed_port_is_a_connection_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    response = sender.post(f"http://127.0.0.1:{port}/", b"{}", {}, timeout=2, allowed=LOOPBACK)
    assert response.error_kind == "connection"


def test_an_unresolvable_host_is_a_dns_error_that_is_retried() -> None:
    response = sender.post("https://nowhere.example.test/", b"{}", {}, timeout=2, resolver=FakeResolver({}))
    assert response.error_kind == "dns"


def test_a_dns_lookup_that_hangs_is_cut_off_at_the_deadline() -> None:
    # A tenant's name served by a slow authoritative server: the lookup is part of the attempt's time.
    released = threading.Event()

    def hanging(*args: object) -> list[tuple[object, ...]]:
        released.wait(10)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", 443))]

    started = time.monotonic()
    response = sender.post("https://slow-dns.example.com/", b"{}", {}, timeout=0.3, resolver=hanging)
    released.set()
    assert time.monotonic() - started < 1.5
    assert response.error_kind == "dns"
    assert "0.3 s" in (response.error or "")


@pytest.mark.parametrize("path", ["/caf\u00e9", "/x?q=\u00fc", "/\u2028", "/\ud800"])
def test_a_url_that_is_not_ascii_fails_as_a_request_that_cannot_be_sent(receiver: Receiver, path: str) -> None:
    # Such a URL may be stored from before the guard refused it: no exception, nothing sent, a final failure.
    response = sender.post(receiver.url(path), b"{}", {}, timeout=5, allowed=LOOPBACK)

    assert (response.status, response.error_kind, response.address) == (None, "request", None)
    assert (response.error or "").startswith("request cannot be sent: url must be ASCII")
    assert receiver.requests == []


# Any character at all, lone surrogates and controls included.
ANY_TEXT = st.text(alphabet=st.characters(exclude_categories=()), max_size=40)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tail=ANY_TEXT, whole=ANY_TEXT)
def test_the_sender_never_raises_for_any_url(receiver: Receiver, tail: str, whole: str) -> None:
    resolver = FakeResolver({"hooks.example.test": ["127.0.0.1"]})
    for url in (receiver.url("/") + tail, f"http://hooks.example.test:{receiver.port}/{tail}", whole):
        response = sender.post(url, b"{}", {}, timeout=2, allowed=LOOPBACK, resolver=resolver)
        assert (response.status is None) == (response.error_kind is not None)


def test_a_header_ending_in_a_newline_is_not_sent() -> None:
    """The last guard against header injection checks names and values whole (``$`` took "v\\n")."""
    assert sender._header_problem({"x-ok": "v"}) is None
    assert "characters HTTP cannot carry" in (sender._header_problem({"x-ok": "v\n"}) or "")
    assert "not an HTTP token" in (sender._header_problem({"x-ok\n": "v"}) or "")
