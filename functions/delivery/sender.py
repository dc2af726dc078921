"""One HTTP attempt to a webhook endpoint: vetted address, hard deadline, no redirects.

:func:`post` resolves the host once through the SSRF guard, then connects to a vetted address itself
(TLS still verifies the certificate for the host name, and SNI and ``Host`` carry the name), so DNS
cannot be rebound between the check and the connection. The whole attempt (DNS, connect, TLS, request,
response headers, body) shares one deadline: a timer shuts the socket down when it passes, so a
receiver that trickles bytes cannot hold a worker longer than the timeout. Redirects are returned as
they are (never followed). Only the first ``max_response_bytes`` of the body are read.
"""

from __future__ import annotations

import contextlib
import http.client
import re
import socket
import ssl
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import field
from typing import Any

from functions.delivery import ssrf
from functions.records import record

_KEPT_HEADERS = ("retry-after", "location", "content-type")
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_HEADER_VALUE = re.compile(r"^(?:[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?)?$")
_tls_context: ssl.SSLContext | None = None


@record
class Response:
    """What one attempt produced: a status, or an error that happened before any status."""

    status: int | None
    latency_ms: int
    body: bytes = b""
    truncated: bool = False
    headers: Mapping[str, str] = field(default_factory=dict)
    """Lower-case names; only ``retry-after``, ``location`` and ``content-type`` are kept."""
    error: str | None = None
    error_kind: str | None = None
    """``blocked`` (SSRF guard), ``request`` (a header or URL that cannot be sent), ``dns``, ``timeout``,
    ``connection``, ``tls`` or ``protocol``."""
    address: str | None = None
    """The IP address connected to."""


def tls_context() -> ssl.SSLContext:
    global _tls_context
    if _tls_context is None:
        context = ssl.create_default_context()
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        _tls_context = context
    return _tls_context


def post(
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    timeout: float,
    allowed: Sequence[ssrf.IPNetwork] = (),
    max_response_bytes: int = 4096,
    resolver: ssrf.Resolver | None = None,
    context: ssl.SSLContext | None = None,
    method: str = "POST",
) -> Response:
    """Send ``body`` to ``url`` (``POST``, or the endpoint's ``PUT`` / ``PATCH``); never raises for a
    URL, a header, the network or HTTP (the problem is in the result: ``request`` for what cannot be
    sent, ``blocked`` for what the guard refuses)."""
    started = time.monotonic()
    deadline = started + timeout

    def elapsed_ms() -> int:
        return int((time.monotonic() - started) * 1000)

    problem = _header_problem(headers)
    if problem is not None:
        # No retry can fix it, and http.client would raise mid-request: fail before connecting.
        return Response(None, elapsed_ms(), error=f"request cannot be sent: {problem}", error_kind="request")
    try:
        target, addresses = ssrf.check_url(url, allowed, _within(resolver or socket.getaddrinfo, deadline, timeout))
    except ssrf.Unresolvable as error:
        return Response(None, elapsed_ms(), error=str(error), error_kind="dns")
    except ssrf.UnsendableUrl as error:
        # A URL stored before the guard refused it (not ASCII): http.client would raise mid-request.
        return Response(None, elapsed_ms(), error=f"request cannot be sent: url {error}", error_kind="request")
    except ssrf.UnsafeUrl as error:
        return Response(None, elapsed_ms(), error=f"blocked by the SSRF guard: {error}", error_kind="blocked")

    sock: socket.socket | None = None
    address = None
    last_error: OSError | None = None
    for candidate in addresses:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        try:
            sock = socket.create_connection((str(candidate), target.port), timeout=remaining)
            address = str(candidate)
            break
        except OSError as error:
            last_error = error
    if sock is None:
        if last_error is None or isinstance(last_error, TimeoutError):
            return Response(None, elapsed_ms(), error=f"connect timed out after {timeout:g} s", error_kind="timeout")
        return Response(None, elapsed_ms(), error=f"connect failed: {_describe(last_error)}", error_kind="connection")

    timed_out = threading.Event()
    raw_socket = sock

    def expire() -> None:
        timed_out.set()
        with contextlib.suppress(OSError):
            raw_socket.shutdown(socket.SHUT_RDWR)

    timer = threading.Timer(max(0.0, deadline - time.monotonic()), expire)
    timer.daemon = True
    timer.start()
    connection: http.client.HTTPConnection | None = None
    try:
        if target.scheme == "https":
            server_name = str(target.literal) if target.literal is not None else target.host
            sock = (context or tls_context()).wrap_socket(sock, server_hostname=server_name)
        sock.settimeout(max(0.001, deadline - time.monotonic()))
        connection = http.client.HTTPConnection(target.host, target.port, timeout=timeout)
        connection.response_class = _FinalResponse
        connection.sock = sock
        connection.putrequest(method, target.request_target, skip_host=True, skip_accept_encoding=True)
        connection.putheader("Host", target.host_header)
        for name, value in headers.items():
            connection.putheader(name, value)
        connection.putheader("Content-Length", str(len(body)))
        connection.putheader("Connection", "close")
        connection.endheaders(body)
        response = connection.getresponse()
        content = response.read(max_response_bytes + 1) if max_response_bytes >= 0 else b""
        truncated = len(content) > max_response_bytes
        kept = {name: response.getheader(name) or "" for name in _KEPT_HEADERS if response.getheader(name)}
        return Response(
            status=response.status,
            latency_ms=elapsed_ms(),
            body=content[:max_response_bytes],
            truncated=truncated,
            headers=kept,
            address=address,
        )
    except Exception as error:
        if timed_out.is_set() or isinstance(error, TimeoutError):
            return Response(
                None, elapsed_ms(), error=f"timed out after {timeout:g} s", error_kind="timeout", address=address
            )
        if isinstance(error, ssl.SSLError):
            return Response(
                None, elapsed_ms(), error=f"TLS failed: {_describe(error)}", error_kind="tls", address=address
            )
        if isinstance(error, http.client.HTTPException):
            return Response(
                None,
                elapsed_ms(),
                error=f"invalid HTTP response: {_describe(error)}",
                error_kind="protocol",
                address=address,
            )
        if isinstance(error, OSError):
            return Response(
                None,
                elapsed_ms(),
                error=f"connection failed: {_describe(error)}",
                error_kind="connection",
                address=address,
            )
        raise
    finally:
        timer.cancel()
        if connection is not None:
            connection.close()
        else:
            sock.close()


class _FinalResponse(http.client.HTTPResponse):
    """Skips every interim answer (1xx but 101), not only ``100 Continue`` as http.client does: RFC 9110
    15.2 has a client accept ones it did not ask for (``102 Processing``, ``103 Early Hints``), and the
    final answer is the attempt's result. An endless series stops at the attempt's deadline."""

    def _read_status(self) -> tuple[str, int, str]:
        version, status, reason = super()._read_status()  # type: ignore[misc]  # private, not in typeshed
        if 102 <= status <= 199:
            return version, http.client.CONTINUE, reason  # begin() skips its headers and reads on
        return version, status, reason


def _within(lookup: ssrf.Resolver, deadline: float, timeout: float) -> ssrf.Resolver:
    """``lookup`` bounded by the attempt's deadline: the OS resolver has its own, longer timeouts, and a
    tenant's name may be served slowly on purpose. A lookup cut off goes on in its daemon thread."""

    def bounded(*args: Any) -> Sequence[tuple[Any, ...]]:
        outcome: list[Sequence[tuple[Any, ...]] | BaseException] = []

        def run() -> None:
            try:
                outcome.append(lookup(*args))
            except BaseException as error:  # handed to the caller's thread below
                outcome.append(error)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        thread.join(max(0.0, deadline - time.monotonic()))
        if not outcome:
            raise TimeoutError(f"DNS lookup timed out after {timeout:g} s")
        answer = outcome[0]
        if isinstance(answer, BaseException):
            raise answer
        return answer

    return bounded


def _header_problem(headers: Mapping[str, str]) -> str | None:
    """Why a header cannot go on the wire as is (names: RFC 9110 tokens; values: visible ASCII and
    inner spaces, so no CR/LF injection and nothing a receiver could re-encode before verifying)."""
    for name, value in headers.items():
        if not _TOKEN.fullmatch(name):
            return f"header name {name[:64]!r} is not an HTTP token"
        if not _HEADER_VALUE.fullmatch(value):
            return f"header {name} has characters HTTP cannot carry as is (control, non-ASCII or edge spaces)"
    return None


def _describe(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    return text[:300]
