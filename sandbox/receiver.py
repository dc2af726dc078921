"""A local webhook receiver that records what destinations got, and misbehaves on request.

Paths choose the behaviour (everything else answers 200):

- ``/status/<code>/...``        always answers ``<code>`` (500, 410, 400 ...)
- ``/flaky/<n>/...``            answers 503 to the first ``n`` requests on that path, then 200
- ``/retry-after/<s>/...``      answers 429 with ``Retry-After: <s>`` once per path, then 200
- ``/slow/<seconds>/...``       waits, then answers 200 (timeouts)
- ``/require/<header>/<value>/...`` answers 401 unless the request's ``<header>`` is ``<value>``
  (a credential the endpoint stopped accepting: the connection de-authorizes until updated)
- ``/oauth/token``              an OAuth 2.0 client-credentials token endpoint (client ``sandbox``)

``GET /_received`` lists the recorded requests as JSON (``?path=<prefix>`` filters), ``DELETE
/_received`` forgets them. Requests to ``/_received`` and ``/oauth/token`` are not recorded as
deliveries; token requests are kept apart in ``tokens``.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sandbox.lambda_http import SHUTDOWN_POLL_SECONDS, LocalHttpServer

OAUTH_CLIENT_ID = "sandbox"


class Receiver:
    def __init__(self, oauth_client_secret: str | None = None) -> None:
        self.requests: list[dict[str, Any]] = []
        self.tokens: list[dict[str, Any]] = []
        self.oauth_client_secret = oauth_client_secret or secrets.token_urlsafe(24)
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._server = LocalHttpServer(("127.0.0.1", 0), self._handler())
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(SHUTDOWN_POLL_SECONDS,), name="receiver", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def received(self, prefix: str = "") -> list[dict[str, Any]]:
        with self._lock:
            return [r for r in self.requests if r["path"].startswith(prefix)]

    def wait_for(
        self,
        prefix: str,
        count: int = 1,
        timeout: float = 20.0,
        status: int | None = None,
        containing: str | None = None,
    ) -> list[dict[str, Any]]:
        """Block until ``count`` requests arrived under ``prefix`` (answered with ``status``, with
        ``containing`` in the body, when given); returns the matching requests, oldest first."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                matches = [
                    r
                    for r in self.requests
                    if r["path"].startswith(prefix)
                    and (status is None or r["status"] == status)
                    and (containing is None or containing in r["body"])
                ]
                if len(matches) >= count or time.monotonic() >= deadline:
                    return matches
                self._changed.wait(timeout=max(0.0, min(0.5, deadline - time.monotonic())))

    def _behaviour(self, path: str, headers: Any = None) -> tuple[int, dict[str, str], float]:
        parts = [p for p in path.split("/") if p]
        with self._lock:
            seen = self._counts.get(path, 0)
            self._counts[path] = seen + 1
        if len(parts) >= 2 and parts[0] == "status" and parts[1].isdigit():
            return int(parts[1]), {}, 0.0
        if len(parts) >= 2 and parts[0] == "flaky" and parts[1].isdigit():
            return (503, {}, 0.0) if seen < int(parts[1]) else (200, {}, 0.0)
        if len(parts) >= 2 and parts[0] == "retry-after" and parts[1].isdigit():
            return (429, {"Retry-After": parts[1]}, 0.0) if seen == 0 else (200, {}, 0.0)
        if len(parts) >= 2 and parts[0] == "slow":
            return 200, {}, float(parts[1])
        if len(parts) >= 3 and parts[0] == "require":
            presented = headers.get(parts[1]) if headers is not None else None
            return (200, {}, 0.0) if presented == parts[2] else (401, {"WWW-Authenticate": "ApiKey"}, 0.0)
        return 200, {}, 0.0

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        outer = self

        class RequestHandler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                if parts.path == "/_received":
                    if self.command == "DELETE":
                        with outer._lock:
                            outer.requests.clear()
                        self._send(204, b"")
                        return
                    prefix = parse_qs(parts.query).get("path", [""])[0]
                    self._send(200, json.dumps(outer.received(prefix)).encode())
                    return
                if parts.path == "/oauth/token":
                    self._token(body)
                    return
                status, headers, delay = outer._behaviour(parts.path, self.headers)
                if delay:
                    time.sleep(delay)
                try:
                    text: str | None = body.decode("utf-8")
                except UnicodeDecodeError:
                    text = None
                record = {
                    "time": time.time(),
                    "method": self.command,
                    "path": parts.path,
                    "query": parts.query,
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "body": text if text is not None else base64.b64encode(body).decode(),
                    "body_base64": text is None,
                    "status": status,
                }
                with outer._changed:
                    outer.requests.append(record)
                    outer._changed.notify_all()
                self._send(status, json.dumps({"received": True, "status": status}).encode(), headers)

            def _token(self, body: bytes) -> None:
                auth = self.headers.get("Authorization", "")
                form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
                client_id, client_secret = form.get("client_id"), form.get("client_secret")
                if auth.startswith("Basic "):
                    client_id, _, client_secret = base64.b64decode(auth[6:]).decode().partition(":")
                ok = client_id == OAUTH_CLIENT_ID and client_secret == outer.oauth_client_secret
                outer.tokens.append({"time": time.time(), "client_id": client_id, "granted": ok, "form": form})
                if not ok or form.get("grant_type") != "client_credentials":
                    self._send(401, b'{"error":"invalid_client"}')
                    return
                token = base64.urlsafe_b64encode(f"token-{time.time()}".encode()).decode()
                self._send(
                    200, json.dumps({"access_token": token, "token_type": "Bearer", "expires_in": 3600}).encode()
                )

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        return RequestHandler
