"""The AWS side of the sandbox: a moto server on loopback, and clients pointed at it."""

from __future__ import annotations

import socket
import threading
from typing import Any

import boto3
import requests

from sandbox.lambda_http import SHUTDOWN_POLL_SECONDS

REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account
# What the sandbox's own clients sign with, and what its outputs file hands to ``python -m ops``
# (moto checks no signature: any credentials work, these are no secret).
CREDENTIALS = ("sandbox", "sandbox")


def share_botocore_models() -> None:
    """One botocore loader per data path for every boto3 session of this process (idempotent).

    The sandbox runs every function in one process, each role with a session of its own (and the
    tests give each test a fresh one under moto), and each session's loader parsed botocore's service
    models, endpoints and partitions again (about 70 ms a session with two clients). The models are
    read-only to botocore and its loader caches them, so one loader serves every session. In Lambda
    each function is a process of its own with one session: this changes nothing there.
    """
    import botocore.loaders
    import botocore.session

    if getattr(botocore.session.create_loader, "shared_by_hookstack", False):
        return
    loaders: dict[str | None, botocore.loaders.Loader] = {}
    create = botocore.loaders.create_loader
    lock = threading.Lock()

    def shared_loader(search_path_string: str | None = None) -> botocore.loaders.Loader:
        with lock:
            if search_path_string not in loaders:
                loaders[search_path_string] = create(search_path_string)
            return loaders[search_path_string]

    shared_loader.shared_by_hookstack = True  # type: ignore[attr-defined]
    botocore.session.create_loader = shared_loader


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class MotoServer:
    """moto's server in a thread of this process, listening on 127.0.0.1 only.

    Like moto's ``ThreadedMotoServer``, except that the socket is bound in :meth:`start` itself: a
    busy port raises ``OSError`` there (``ThreadedMotoServer`` binds in its thread, which exits,
    and then waits forever), and port 0 (the default) lets the system pick a free port without a
    race.
    """

    def __init__(self, port: int = 0) -> None:
        self.port = port
        self._httpd: Any = None
        self._thread: threading.Thread | None = None

    @property
    def endpoint(self) -> str:
        if not self.port:
            raise RuntimeError("the moto server has no port until it is started")
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        from moto.moto_api._internal import moto_api_backend
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
        from werkzeug.serving import make_server

        from sandbox.moto_events import install_eventbridge_fidelity
        from sandbox.moto_sqs import install_fifo_deduplication

        # moto keeps its accounts in this process, not in the server: start from an empty one, as a
        # sandbox started earlier in the same process (a test, the demo) left its resources there.
        moto_api_backend.reset()
        install_eventbridge_fidelity()  # where moto differs from EventBridge (sandbox/moto_events.py)
        install_fifo_deduplication()  # as AWS documents it; the inbound ingest relies on it (sandbox/moto_sqs.py)
        # Bound here, so that a busy port raises OSError (werkzeug would print and sys.exit(1)).
        listener = socket.create_server(("127.0.0.1", self.port))
        try:
            application = DomainDispatcherApplication(create_backend_app)
            self._httpd = make_server(
                "127.0.0.1",
                listener.getsockname()[1],
                application,
                threaded=True,
                request_handler=MotoRequestHandler,
                fd=listener.fileno(),
            )
        finally:
            listener.close()  # the server holds its own duplicate of the descriptor
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, args=(SHUTDOWN_POLL_SECONDS,), name="moto-server", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket; safe before start and twice."""
        httpd, thread, self._httpd, self._thread = self._httpd, self._thread, None, None
        if httpd is None:
            return
        if thread is not None and thread.is_alive():
            httpd.shutdown()  # returns once serve_forever has ended (it polls every SHUTDOWN_POLL_SECONDS)
            thread.join(timeout=10)
        httpd.server_close()

    # The recorder lists every AWS call made against the server (requests, and so cost, per flow).
    def start_recording(self) -> None:
        requests.post(f"{self.endpoint}/moto-api/recorder/reset-recording", timeout=10)
        requests.post(f"{self.endpoint}/moto-api/recorder/start-recording", timeout=10)

    def stop_recording(self) -> list[dict[str, Any]]:
        requests.post(f"{self.endpoint}/moto-api/recorder/stop-recording", timeout=10)
        text = requests.get(f"{self.endpoint}/moto-api/recorder/download-recording", timeout=10).text
        import json

        return [json.loads(line) for line in text.splitlines() if line.strip()]


def environment(endpoint: str) -> dict[str, str]:
    """Environment that points boto3 (and so every handler) at the sandbox."""
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": CREDENTIALS[0],
        "AWS_SECRET_ACCESS_KEY": CREDENTIALS[1],
        "AWS_SESSION_TOKEN": "sandbox",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_EC2_METADATA_DISABLED": "true",
    }


# The sandbox's own calls (emulating AWS services) carry this in their User-Agent, so that request
# counts per webhook can tell them from the calls the functions make.
SANDBOX_USER_AGENT = "hookstack-sandbox"


def client(service: str, endpoint: str) -> Any:
    from botocore.config import Config

    return boto3.client(
        service,
        endpoint_url=endpoint,
        config=Config(user_agent_extra=SANDBOX_USER_AGENT),
        region_name=REGION,
        aws_access_key_id=CREDENTIALS[0],
        aws_secret_access_key=CREDENTIALS[1],
    )


def classify(recording: list[dict[str, Any]], *, include_sandbox: bool = False) -> dict[str, int]:
    """Count recorded requests by ``service:Action`` (from the target header or query)."""
    counts: dict[str, int] = {}
    for entry in recording:
        headers = {k.lower(): v for k, v in (entry.get("headers") or {}).items()}
        if not include_sandbox and SANDBOX_USER_AGENT in headers.get("user-agent", ""):
            continue
        target = headers.get("x-amz-target", "")
        action = target.split(".")[-1] if target else ""
        host = headers.get("host", "")
        body = entry.get("body") or ""
        if not action and isinstance(body, str) and "Action=" in body:
            action = body.split("Action=", 1)[1].split("&", 1)[0]
        if not action:
            action = f"{entry.get('method', '')} {entry.get('uri', '')}".strip()
        service = _service(headers, host)
        key = f"{service}:{action}"
        counts[key] = counts.get(key, 0) + 1
    return dict(sorted(counts.items()))


def _service(headers: dict[str, str], host: str) -> str:
    auth = headers.get("authorization", "")
    if "Credential=" in auth:
        scope = auth.split("Credential=", 1)[1].split(",", 1)[0].split("/")
        if len(scope) >= 4:
            return scope[3]
    return host or "?"
