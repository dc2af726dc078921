"""The tenant portal in the sandbox: ``portal/`` served over local HTTP as ``TenantPortal`` serves it.

The same files with the same content types (:func:`components.specs.portal.portal_files`), the same
``config.json`` shape pointing at the sandbox's self-service API, and the same security headers
CloudFront adds (:func:`components.specs.portal.security_headers`), so a page that breaks the CSP
breaks here too. The API server answers CORS for this server's origin, as the HTTP API's CORS
configuration answers the deployed portal's. Nothing here imports Pulumi.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlsplit

from components.config import PortalSettings
from components.specs.portal import (
    CACHE_CONTROL,
    CONFIG_CACHE_CONTROL,
    CONFIG_FILE,
    CONTENT_TYPES,
    INDEX_DOCUMENT,
    origin,
    portal_config,
    portal_files,
    security_headers,
)
from sandbox.lambda_http import SHUTDOWN_POLL_SECONDS, LocalHttpServer


class LocalPortal:
    """``delivery``: the delivery part, whose self-service API the portal calls (its URL goes in
    config.json, and its CORS configuration gets this server's origin)."""

    def __init__(self, settings: PortalSettings, delivery: Callable[[], Any]) -> None:
        self.settings = settings
        self.delivery = delivery
        self.files: dict[str, tuple[bytes, str, str]] = {}
        self.headers: dict[str, str] = {}
        self._server = LocalHttpServer(("127.0.0.1", 0), self._request_handler())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(SHUTDOWN_POLL_SECONDS,), name="http-portal", daemon=True
        )

    def create(self) -> None:
        delivery = self.delivery()
        delivery.self_service_gate.allowed_origins.append(self.url)
        api_url = delivery.self_service_server.url
        for key, path, content_type in portal_files():
            self.files[key] = (path.read_bytes(), content_type, CACHE_CONTROL)
        config = portal_config(api_url, self.settings).encode()
        self.files[CONFIG_FILE] = (config, CONTENT_TYPES[".json"], CONFIG_CACHE_CONTROL)
        self.headers = dict(security_headers(origin(api_url), self.settings.frame_ancestors))

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout=5)
        self._server.server_close()

    def state(self) -> dict[str, Any]:
        return {"portal_url": f"{self.url}/"}

    def _request_handler(self) -> type[BaseHTTPRequestHandler]:
        outer = self

        class RequestHandler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                self._serve(send_body=True)

            def do_HEAD(self) -> None:
                self._serve(send_body=False)

            def _serve(self, *, send_body: bool) -> None:
                # A lookup by key, never a file system path: nothing outside portal/ can be named.
                key = urlsplit(self.path).path.lstrip("/") or INDEX_DOCUMENT
                found = outer.files.get(key)
                status, (data, content_type, cache) = (
                    (200, found) if found else (404, (b"not found\n", "text/plain", "no-store"))
                )
                self.send_response(status)
                for name, value in outer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", content_type)
                self.send_header("Cache-Control", cache)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if send_body:
                    self.wfile.write(data)

        return RequestHandler
