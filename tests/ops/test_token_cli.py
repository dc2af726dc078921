"""``python -m ops token``: its input checks, and the SigV4-signed mint call against a local API."""

from __future__ import annotations

import argparse
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from ops.aws import Clients
from ops.cli import main
from ops.token_cli import duration


def test_durations_are_seconds_or_suffixed_and_bounded() -> None:
    assert duration("3600") == duration("1h") == duration("60m") == 3600
    assert duration("90s") == 90 and duration("1d") == 86_400 and duration(" 2H ") == 7200
    for bad in ("59", "25h", "2d", "1.5h", "h", "-60", "1w", ""):
        with pytest.raises(argparse.ArgumentTypeError):
            duration(bad)


@pytest.fixture
def api() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A stand-in subscription API recording what it was sent."""
    seen: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen.append({"path": self.path, "body": body, "authorization": self.headers.get("Authorization", "")})
            data = json.dumps({"token": "a.b.c", "expiresAt": "2026-01-01T00:00:00Z"}).encode()
            self.send_response(201)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()
    server.server_close()


def _clients() -> Clients:
    return Clients(region="us-east-1", credentials=("AKIDEXAMPLE", "secret"))


def test_token_signs_the_mint_call_and_prints_only_the_token(
    api: tuple[str, list[dict[str, Any]]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url, seen = api
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({"subscriptionsApiUrl": url}))
    code = main(
        [
            "token",
            "--tenant",
            "acme",
            "--scopes",
            "endpoints:read, messages:read",
            "--expires",
            "30m",
            "--outputs",
            str(outputs),
        ],
        clients=_clients(),
    )
    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert printed.out == "a.b.c\n"
    (call,) = seen
    assert call["path"] == "/tenants/acme/tokens"
    assert call["body"] == {"scopes": ["endpoints:read", "messages:read"], "expiresInSeconds": 1800}
    assert call["authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert "/us-east-1/execute-api/aws4_request" in call["authorization"]
    assert main(["token", "--operator", "--api-url", url], clients=_clients()) == 0
    assert seen[1]["path"] == "/operator/tokens" and seen[1]["body"] == {"expiresInSeconds": 3600}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["token", "--tenant", "acme", "--api-url", "http://127.0.0.1:1"], "--scopes is required"),
        (
            ["token", "--tenant", "acme", "--scopes", "endpoints:admin", "--api-url", "http://127.0.0.1:1"],
            "endpoints:read",
        ),
        (["token", "--operator", "--scopes", "endpoints:read", "--api-url", "http://127.0.0.1:1"], "operator scope"),
        (["token", "--tenant", "acme", "--scopes", "endpoints:read"], "subscriptionsApiUrl"),
    ],
)
def test_bad_input_is_refused_before_any_call(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv, clients=_clients()) == 2
    assert message in capsys.readouterr().err
