"""Drive the sandbox like a user: a stack file, `python -m sandbox up`, and the state file it writes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from sandbox.receiver import Receiver

ROOT = Path(__file__).resolve().parents[2]


def state_client(state: dict[str, Any], service: str) -> Any:
    """A boto3 client for the sandbox the state file describes (any credentials do)."""
    import boto3

    return boto3.client(
        service,
        endpoint_url=state["aws_endpoint"],
        region_name=state["region"],
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )


@pytest.fixture(scope="session")
def receiver() -> Iterator[Receiver]:
    server = Receiver(oauth_client_secret="e2e-oauth-secret")
    server.start()
    yield server
    server.stop()


def stack_file(receiver_url: str) -> dict[str, Any]:
    """A stack file in the Pulumi.<stack>.yaml schema, destinations on the test's receiver."""
    return {
        "config": {
            "aws:region": "us-east-1",
            "hookstack:tenants": [
                {
                    "id": "1",
                    "destinations": [
                        {
                            "name": "crm",
                            "url": f"{receiver_url}/t1/crm",
                            "eventTypes": ["widget.created"],
                            "auth": {
                                "type": "apiKey",
                                "header": "x-api-key",
                                "value": {"secure": "v1:not-decryptable-here"},
                            },
                            "transform": {
                                "paths": {"name": "$.detail.widgetName", "id": "$.detail.eventId"},
                                "template": '{"text": "Widget <name> created", "eventId": "<id>"}',
                            },
                        },
                        {"name": "audit", "url": f"{receiver_url}/t1/audit", "auth": {"type": "signed"}},
                    ],
                },
                {
                    "id": "2",
                    "destinations": [
                        {
                            "name": "erp",
                            "url": f"{receiver_url}/t2/erp",
                            "auth": {"type": "basic", "username": "hookstack", "password": "plain-local-password"},
                        },
                        {
                            "name": "analytics",
                            "url": f"{receiver_url}/flaky/1/t2/analytics",
                            "auth": {
                                "type": "oauth",
                                "authorizationEndpoint": f"{receiver_url}/oauth/token",
                                "clientId": "sandbox",
                                "clientSecret": "e2e-oauth-secret",
                            },
                        },
                    ],
                },
                {
                    "id": "3",
                    "destinations": [
                        {
                            "name": "broken",
                            "url": f"{receiver_url}/status/500/t3",
                            "auth": {"type": "none"},
                            "retry": {"maxAttempts": 2, "maxEventAgeSeconds": 600},
                        },
                        {"name": "rejects", "url": f"{receiver_url}/status/400/t3", "auth": {"type": "none"}},
                    ],
                },
                {
                    # tests/e2e/test_redrive.py: one destination that keeps failing, one healthy.
                    "id": "4",
                    "destinations": [
                        {
                            "name": "failing",
                            "url": f"{receiver_url}/status/500/t4",
                            "auth": {"type": "none"},
                            "eventTypes": ["order.created"],
                            "retry": {"maxAttempts": 1, "maxEventAgeSeconds": 600},
                        },
                        {"name": "healthy", "url": f"{receiver_url}/t4/healthy", "auth": {"type": "none"}},
                    ],
                },
                {
                    # tests/e2e/test_protection.py: worker endpoints with v1a, OAuth, a rate limit, a breaker.
                    "id": "5",
                    "destinations": [
                        {
                            "name": "ledger",
                            "url": f"{receiver_url}/t5/ledger",
                            "eventTypes": ["ledger.entry"],
                            "signing": {"scheme": "v1a"},
                            "auth": {"type": "none"},
                        },
                        {
                            "name": "tokens",
                            "url": f"{receiver_url}/t5/tokens",
                            "engine": "worker",
                            "eventTypes": ["token.use"],
                            "auth": {
                                "type": "oauth",
                                "authorizationEndpoint": f"{receiver_url}/oauth/token",
                                "clientId": "sandbox",
                                "clientSecret": "e2e-oauth-secret",
                                "scope": "e2e-worker",
                            },
                        },
                        {
                            "name": "paced",
                            "url": f"{receiver_url}/t5/paced",
                            "engine": "worker",
                            "eventTypes": ["paced.tick"],
                            "auth": {"type": "none"},
                            "rateLimitPerSecond": 2,
                        },
                        {
                            "name": "fragile",
                            "url": f"{receiver_url}/flaky/5/t5/fragile",
                            "engine": "worker",
                            "eventTypes": ["fragile.event"],
                            "auth": {"type": "none"},
                        },
                    ],
                },
            ],
            # Not the default: every publisher must honour it (inbound events are e2e.<source>).
            "hookstack:provider": {"eventSource": "e2e"},
            # A breaker that opens after 3 failed attempts and rests 1 s (tests/e2e/test_protection.py).
            "hookstack:delivery": {"breakerFailureThreshold": 3, "breakerCooldownSeconds": 1},
            "hookstack:consumer": {
                "claimCheckThresholdBytes": 10000,
                "sources": [
                    {"name": "github", "kind": "github", "secret": {"secure": "v1:x"}, "orderingKey": "repository.id"},
                    {
                        "name": "stripe",
                        "kind": "stripe",
                        "secret": "whsec_e2e_stripe",
                        "orderingKey": "data.object.customer",
                    },
                    {"name": "twilio", "kind": "twilio", "secret": "e2e-twilio-token"},
                    {"name": "std", "kind": "standard", "secret": {"secure": "v1:x"}},
                ],
            },
            "hookstack:aurora": {"enabled": True},
        }
    }


@pytest.fixture(scope="session")
def sandbox_state(receiver: Receiver, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    directory = tmp_path_factory.mktemp("sandbox")
    config = directory / "Pulumi.e2e.yaml"
    config.write_text(yaml.safe_dump(stack_file(receiver.url), sort_keys=False))
    state_file = directory / "state.json"
    log = (directory / "sandbox.log").open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sandbox",
            "up",
            "--config",
            str(config),
            "--state-file",
            str(state_file),
            "--time-scale",
            "0.01",
        ],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    deadline = time.monotonic() + 90
    while not state_file.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            log.flush()
            process.kill()
            pytest.fail(f"sandbox did not start:\n{(directory / 'sandbox.log').read_text()[-4000:]}")
        time.sleep(0.2)
    state = json.loads(state_file.read_text())
    state["_pid"] = process.pid
    try:
        yield state
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            pytest.fail("sandbox did not stop on SIGTERM within 30 s")
        log.close()
        assert process.returncode == 0, (directory / "sandbox.log").read_text()[-4000:]
        assert not state_file.exists(), "the state file must be removed on shutdown"
        _assert_no_stray_processes(state)


def _assert_no_stray_processes(state: dict[str, Any]) -> None:
    """After shutdown, no PostgreSQL started for this sandbox may still run."""
    import psutil

    socket_dir = state["postgres_dsn"].split("host=", 1)[1].split("&", 1)[0]
    deadline = time.monotonic() + 10
    while True:
        stray = [
            p
            for p in psutil.process_iter(["name", "cmdline"])
            if p.info["name"] == "postgres" and any(socket_dir in part for part in (p.info["cmdline"] or []))
        ]
        if not stray or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert not stray, f"postgres still running after the sandbox stopped: {[p.pid for p in stray]}"
