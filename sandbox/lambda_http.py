"""Serve a Lambda handler over local HTTP the way a function URL or an HTTP API does.

Each request becomes a payload format 2.0 event (``rawPath``, ``rawQueryString``, lower-cased
``headers`` with repeated values comma-joined, ``requestContext.http``, ``body`` base64-encoded
unless the content type is text, ``isBase64Encoded``), and the handler's response is mapped back:
``{"statusCode", "headers", "body", "isBase64Encoded", "cookies"}``, or any other JSON value as a
200 ``application/json`` body (function URLs do that). Requests over 6 MB get 413 before the
handler runs, like a function URL. Once :meth:`LambdaHttpServer.stop_accepting` is called (the
sandbox is stopping), every new request gets 503 with ``Retry-After`` and the handler never runs,
so nothing is acknowledged that the sandbox would then drop; requests already in the handler finish.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

MAX_REQUEST_BYTES = 6 * 1024 * 1024
# How often a server's accept loop looks for shutdown(): stopping waits for it (socketserver's 0.5 s).
SHUTDOWN_POLL_SECONDS = 0.05
STOPPING_RETRY_AFTER_SECONDS = 30  # what a sender is told to wait while the sandbox stops
TEXT_TYPES = (
    "text/",
    "application/json",
    "application/xml",
    "application/javascript",
    "application/x-www-form-urlencoded",
)

Handler = Callable[[dict[str, Any], Any], Any]


@dataclass
class GateDecision:
    """What a server's gate (an authorizer and CORS in front of the handler) decided for one request."""

    response: tuple[int, dict[str, str], bytes] | None = None
    """Answer this without running the handler (preflight, 401, 403, no such route)."""
    authorizer: dict[str, Any] | None = None
    """``requestContext.authorizer`` of the handler's event."""
    headers: dict[str, str] = field(default_factory=dict)
    """Added to the handler's response (CORS)."""


Gate = Callable[[str, str, dict[str, str]], GateDecision]


class LocalHttpServer(ThreadingHTTPServer):
    """The sandbox's HTTP servers: one thread per request, on a listen backlog that takes a burst.

    ``socketserver``'s backlog is 5: connections arriving faster than the accept loop takes them
    were reset (15 of 40 concurrent webhooks). 128 is ``SOMAXCONN``'s classic value; the kernel caps
    it at ``net.core.somaxconn``.
    """

    request_queue_size = 128
    daemon_threads = True


def load_handler(path: str) -> Handler:
    """The handler a Lambda function names, e.g. ``functions.inbound.ingest.handler``."""
    import importlib

    module, _, attribute = path.rpartition(".")
    handler: Handler = getattr(importlib.import_module(module), attribute)
    return handler


class LambdaContext:
    """The attributes handlers read from Lambda's context object."""

    def __init__(self, function_name: str, timeout_seconds: float = 30.0) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
        self.memory_limit_in_mb = 256
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "sandbox"
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def build_event(
    method: str,
    target: str,
    headers: list[tuple[str, str]],
    body: bytes,
    *,
    domain: str,
    source_ip: str = "127.0.0.1",
    route_key: str = "$default",
    path_parameters: dict[str, str] | None = None,
    stage: str = "$default",
) -> dict[str, Any]:
    parts = urlsplit(target)
    merged: dict[str, str] = {}
    for name, value in headers:
        key = name.lower()
        merged[key] = f"{merged[key]},{value}" if key in merged else value
    content_type = merged.get("content-type", "").lower()
    is_text = any(content_type.startswith(t) for t in TEXT_TYPES)
    if body and is_text:
        try:
            body_field: str | None = body.decode("utf-8")
            encoded = False
        except UnicodeDecodeError:
            body_field, encoded = base64.b64encode(body).decode(), True
    elif body:
        body_field, encoded = base64.b64encode(body).decode(), True
    else:
        body_field, encoded = None, False
    now = time.time()
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": parts.path or "/",
        "rawQueryString": parts.query,
        "headers": merged,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": domain.split(".", maxsplit=1)[0],
            "domainName": domain,
            "domainPrefix": domain.split(".", maxsplit=1)[0],
            "http": {
                "method": method,
                "path": parts.path or "/",
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": merged.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": route_key,
            "stage": stage,
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": encoded,
    }
    if parts.query:
        from urllib.parse import parse_qsl

        query: dict[str, str] = {}
        for key, value in parse_qsl(parts.query, keep_blank_values=True):
            query[key] = f"{query[key]},{value}" if key in query else value
        event["queryStringParameters"] = query
    if "cookie" in merged:
        event["cookies"] = [c.strip() for c in merged["cookie"].split(";")]
    if path_parameters:
        event["pathParameters"] = path_parameters
    if body_field is not None:
        event["body"] = body_field
    return event


def response_parts(result: Any) -> tuple[int, dict[str, str], bytes]:
    if isinstance(result, dict) and "statusCode" in result:
        headers = {str(k): str(v) for k, v in (result.get("headers") or {}).items()}
        body = result.get("body") or ""
        data = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode()
        return int(result["statusCode"]), headers, data
    return 200, {"content-type": "application/json"}, json.dumps(result).encode()


class LambdaHttpServer:
    """A threaded HTTP server on 127.0.0.1 that invokes ``handler`` per request."""

    def __init__(
        self,
        handler: Handler,
        *,
        function_name: str,
        router: Callable[[str, str], tuple[str, dict[str, str]] | None] | None = None,
        timeout_seconds: float = 30.0,
        on_invoke: Callable[[dict[str, Any], int, float], None] | None = None,
        gate: Gate | None = None,
    ) -> None:
        self.handler = handler
        self.gate = gate
        self.function_name = function_name
        self.router = router
        self.timeout_seconds = timeout_seconds
        self.on_invoke = on_invoke
        self.accepting = threading.Event()
        self.accepting.set()
        self._in_flight = 0
        self._idle = threading.Condition()
        self._server = LocalHttpServer(("127.0.0.1", 0), self._request_handler())
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(SHUTDOWN_POLL_SECONDS,), name=f"http-{function_name}", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop_accepting(self) -> None:
        """From now on answer 503 + ``Retry-After`` without running the handler."""
        self.accepting.clear()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no request is in the handler; ``False`` if one still is after ``timeout`` s."""
        with self._idle:
            return self._idle.wait_for(lambda: self._in_flight == 0, timeout=timeout)

    def stop(self) -> None:
        if self._thread.is_alive():  # shutdown() waits for serve_forever, forever if it never ran
            self._server.shutdown()
            self._thread.join(timeout=5)
        self._server.server_close()

    def _request_handler(self) -> type[BaseHTTPRequestHandler]:
        outer = self

        class RequestHandler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_REQUEST_BYTES:
                    self._reply(413, {"content-type": "application/json"}, b'{"message":"Request Entity Too Large"}')
                    self.close_connection = True
                    return
                body = self.rfile.read(length) if length else b""
                with outer._idle:
                    accepted = outer.accepting.is_set()
                    outer._in_flight += accepted
                if not accepted:
                    headers = {"content-type": "application/json", "retry-after": str(STOPPING_RETRY_AFTER_SECONDS)}
                    body = b'{"message":"Service Unavailable: the sandbox is stopping"}'
                    self._reply(503, headers, body, close=True)
                    return
                try:
                    self._invoke(body)
                finally:
                    with outer._idle:
                        outer._in_flight -= 1
                        outer._idle.notify_all()

            def _invoke(self, body: bytes) -> None:
                decision = GateDecision()
                if outer.gate is not None:
                    decision = outer.gate(self.command, self.path, {k.lower(): v for k, v in self.headers.items()})
                    if decision.response is not None:
                        self._reply(*decision.response)
                        return
                route_key, path_parameters = "$default", dict[str, str]()
                if outer.router is not None:
                    routed = outer.router(self.command, urlsplit(self.path).path)
                    if routed is None:
                        self._reply(404, {"content-type": "application/json"}, b'{"message":"Not Found"}')
                        return
                    route_key, path_parameters = routed
                event = build_event(
                    self.command,
                    self.path,
                    list(self.headers.items()),
                    body,
                    domain=f"127.0.0.1:{outer.port}",
                    source_ip=self.client_address[0],
                    route_key=route_key,
                    path_parameters=path_parameters or None,
                )
                if decision.authorizer is not None:
                    event["requestContext"]["authorizer"] = decision.authorizer
                started = time.perf_counter()
                try:
                    result = outer.handler(event, LambdaContext(outer.function_name, outer.timeout_seconds))
                    status, headers, data = response_parts(result)
                except Exception:
                    traceback.print_exc()
                    status, headers, data = (
                        502,
                        {"content-type": "application/json"},
                        b'{"message":"Internal Server Error"}',
                    )
                if outer.on_invoke is not None:
                    outer.on_invoke(event, status, time.perf_counter() - started)
                self._reply(status, {**headers, **decision.headers}, data)

            def _reply(self, status: int, headers: dict[str, str], data: bytes, *, close: bool = False) -> None:
                self.send_response(status)
                for key, value in headers.items():
                    if key.lower() not in ("content-length", "connection"):
                        self.send_header(key, value)
                if close:
                    self.send_header("Connection", "close")
                    self.close_connection = True
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

            def do_OPTIONS(self) -> None:
                if outer.gate is None:  # only a gated server (CORS) answers preflight
                    self.send_error(501)
                    return
                self._handle()

        return RequestHandler
