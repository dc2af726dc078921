"""The AWS side of the sandbox: a moto server on loopback, and clients pointed at it."""

from __future__ import annotations

import socket
from typing import Any

import boto3
import requests

REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class MotoServer:
    """moto's server in a thread of this process, listening on 127.0.0.1 only."""

    def __init__(self, port: int | None = None) -> None:
        from moto.server import ThreadedMotoServer

        self.port = port or free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)

    def start(self) -> None:
        self._server.start()

    def stop(self) -> None:
        self._server.stop()


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
        "AWS_ACCESS_KEY_ID": "sandbox",
        "AWS_SECRET_ACCESS_KEY": "sandbox",
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
        aws_access_key_id="sandbox",
        aws_secret_access_key="sandbox",  # noqa: S106 - moto accepts any credentials
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
