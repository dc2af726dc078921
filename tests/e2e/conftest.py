"""Drive the sandbox like a user: a stack file, `python -m sandbox up`, and the state file it writes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from sandbox.receiver import Receiver

ROOT = Path(__file__).resolve().parents[2]
FRESH_KEY = "fresh-key"  # what tenant 5's endpoint accepts; the stack file deploys a stale one
# Tenant 7's worker endpoint signs with this (given, so tests verify with it directly).
WORKER_SIGNING_SECRET = "whsec_" + "ZTJlLXdvcmtlci1zaWduaW5nLXNlY3JldC0zMmJ5dGVz"


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


def take_observed_events(
    state: dict[str, Any],
    accept: Callable[[dict[str, Any]], bool],
    done: Callable[[list[dict[str, Any]]], bool],
    timeout: float,
) -> list[dict[str, Any]]:
    """The events on the sandbox's observer queue that ``accept`` takes (deleted), in arrival order,
    once ``done`` says they are enough or at ``timeout``. Other tests' events stay hidden while this
    looks, then are released: released at once, the oldest ten would be all a receive returns, and
    ours would never be seen behind them."""
    sqs = state_client(state, "sqs")
    found: list[dict[str, Any]] = []
    held: list[str] = []
    deadline = time.monotonic() + timeout
    try:
        while not done(found) and time.monotonic() < deadline:
            for message in sqs.receive_message(
                QueueUrl=state["events_queue_url"],
                MaxNumberOfMessages=10,
                WaitTimeSeconds=1,
                VisibilityTimeout=int(timeout) + 10,
            ).get("Messages", []):
                event = json.loads(message["Body"])
                if accept(event):
                    found.append(event)
                    sqs.delete_message(QueueUrl=state["events_queue_url"], ReceiptHandle=message["ReceiptHandle"])
                else:  # another test's event: leave it, hidden until this returns
                    held.append(message["ReceiptHandle"])
        return found
    finally:
        for handle in held:
            sqs.change_message_visibility(QueueUrl=state["events_queue_url"], ReceiptHandle=handle, VisibilityTimeout=0)


def ops_sandbox_options(state: dict[str, Any]) -> list[str]:
    """``python -m ops`` options for the sandbox: JSON report, its region and endpoint."""
    return ["--output", "json", "--region", state["region"], "--endpoint-url", state["aws_endpoint"]]


def run_ops_process(args: list[str]) -> subprocess.CompletedProcess[str]:
    """``python -m ops ARGS`` as an operator runs it (its own process), output captured."""
    return subprocess.run(
        [sys.executable, "-m", "ops", *args], check=False, capture_output=True, text=True, cwd=ROOT, timeout=60
    )


@pytest.fixture(scope="session")
def receiver() -> Iterator[Receiver]:
    server = Receiver(oauth_client_secret="e2e-oauth-secret")
    server.start()
    yield server
    server.stop()


# A fixed P-256 test key (not a secret): the sandbox's SendGrid source verifies with its public half.
SENDGRID_E2E_KEY = 0x6B1E2F0C9A3D4E5F60718293A4B5C6D7E8F9011223344556677889900AABBCCD


def sendgrid_public_key() -> str:
    """SendGrid's "verification key" form: base64 of the DER SubjectPublicKeyInfo."""
    import base64

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    public = ec.derive_private_key(SENDGRID_E2E_KEY, ec.SECP256R1()).public_key()
    der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode()


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
                    # tests/e2e/test_runbook.py: an endpoint that stopped accepting the deployed key.
                    "id": "5",
                    "destinations": [
                        {
                            "name": "locked",
                            "url": f"{receiver_url}/require/x-api-key/{FRESH_KEY}/t5/locked",
                            "auth": {"type": "apiKey", "header": "x-api-key", "value": "stale-key"},
                        }
                    ],
                },
                {
                    # tests/e2e/test_runbook.py: replays limited to one destination and a time window.
                    "id": "6",
                    "destinations": [
                        {"name": "replayed", "url": f"{receiver_url}/t6/replayed", "auth": {"type": "none"}},
                        {"name": "bystander", "url": f"{receiver_url}/t6/bystander", "auth": {"type": "none"}},
                    ],
                },
                {
                    # tests/e2e/test_endpoints.py: the endpoint model on both engines.
                    "id": "7",
                    "destinations": [
                        {
                            "name": "crm",
                            "url": f"{receiver_url}/t7/crm",
                            "engine": "worker",
                            "eventTypes": ["widget.*"],
                            "signing": {"scheme": "v1", "secret": WORKER_SIGNING_SECRET},
                            "auth": {"type": "apiKey", "header": "x-api-key", "value": "e2e-worker-key"},
                            "headers": {"x-team": "billing"},
                            "transform": {
                                "paths": {
                                    "name": "$.detail.widgetName",
                                    "id": "$.detail.eventId",
                                    "type": "$.detail-type",
                                },
                                "template": '{"text": "Widget <name> created", "eventId": "<id>", "type": <type>}',
                            },
                            "timeoutSeconds": 20,
                        },
                        *(
                            {
                                "name": f"big-{engine.lower()}",
                                "url": f"{receiver_url}/t7/big-{engine.lower()}",
                                "engine": engine,
                                "eventTypes": ["invoice.*"],
                                "filter": {"detail": {"amount": [{"numeric": [">", 100]}]}},
                                "auth": {"type": "none"},
                            }
                            for engine in ("apiDestination", "worker")
                        ),
                    ],
                },
                {
                    # tests/e2e/test_protection.py: worker endpoints with v1a, OAuth, a rate limit, a breaker.
                    "id": "8",
                    "destinations": [
                        {
                            "name": "ledger",
                            "url": f"{receiver_url}/t8/ledger",
                            "eventTypes": ["ledger.entry"],
                            "signing": {"scheme": "v1a"},
                            "auth": {"type": "none"},
                        },
                        {
                            "name": "tokens",
                            "url": f"{receiver_url}/t8/tokens",
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
                            "url": f"{receiver_url}/t8/paced",
                            "engine": "worker",
                            "eventTypes": ["paced.tick"],
                            "auth": {"type": "none"},
                            "rateLimitPerSecond": 2,
                        },
                        {
                            "name": "fragile",
                            "url": f"{receiver_url}/flaky/5/t8/fragile",
                            "engine": "worker",
                            "eventTypes": ["fragile.event"],
                            "auth": {"type": "none"},
                        },
                    ],
                },
                {
                    # tests/e2e/test_operations.py: an endpoint that answers 410 (disabled at once), one that
                    # succeeds, one that keeps failing (pending), and two subscribed to operational events.
                    "id": "9",
                    "destinations": [
                        *(
                            {
                                "name": name,
                                "url": f"{receiver_url}{path}",
                                "engine": "worker",
                                "eventTypes": ["order.*"],
                                "auth": {"type": "none"},
                            }
                            for name, path in (
                                ("dying", "/status/410/t9/dying"),
                                ("fine", "/t9/fine"),
                                ("stalling", "/status/500/t9/stalling"),
                            )
                        ),
                        {
                            "name": "watcher",
                            "url": f"{receiver_url}/t9/watcher",
                            "eventTypes": ["endpoint.*"],
                            "auth": {"type": "none"},
                        },
                        {
                            "name": "watcher-worker",
                            "url": f"{receiver_url}/t9/watcher-worker",
                            "engine": "worker",
                            "eventTypes": ["endpoint.disabled"],
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
                # Visibility 6 x 10 s, which the sandbox's time scale (0.01) makes 0 s: a failing message
                # reaches the DLQ in milliseconds (tests/e2e/test_inbound_redrive.py).
                "enrichmentTimeoutSeconds": 10,
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
                    # tests/e2e/test_inbound_kinds.py: a generic-HMAC source (Square's recipe, which signs the
                    # URL the sandbox publishes) and SendGrid (a public key: SENDGRID_E2E_KEY signs).
                    {
                        "name": "square",
                        "kind": "hmac",
                        "secret": "e2e-square-signature-key",
                        "eventTypePath": "type",
                        "orderingKey": "merchant_id",
                        "hmac": {
                            "header": "X-Square-HmacSha256-Signature",
                            "algorithm": "sha256",
                            "encoding": "base64",
                            "signedContent": "{url}{body}",
                        },
                    },
                    {"name": "sendgrid", "kind": "sendgrid", "secret": sendgrid_public_key()},
                ],
            },
            "hookstack:aurora": {"enabled": True},
            # tests/e2e/test_tracing.py: a published traceparent reaches worker endpoints.
            "hookstack:tracing": {"propagate": True},
        }
    }


EXAMPLES_STACK = ROOT / "examples" / "stack.yaml"
EXAMPLES_RECEIVER = "http://127.0.0.1:8765"  # where examples/stack.yaml points its destinations


def with_examples(stack: dict[str, Any], example_receiver_url: str) -> dict[str, Any]:
    """``stack`` plus the tenants and inbound sources of ``examples/stack.yaml`` (its destinations on
    the example receiver the tests run), so the examples run against the session's sandbox."""
    examples = yaml.safe_load(EXAMPLES_STACK.read_text().replace(EXAMPLES_RECEIVER, example_receiver_url))["config"]
    config = stack["config"]
    config["hookstack:tenants"] += examples["hookstack:tenants"]
    config["hookstack:consumer"]["sources"] += examples["hookstack:consumer"]["sources"]
    return stack


@pytest.fixture(scope="session")
def example_receiver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """``examples/receiver.py`` running as a user runs it, with the secrets of ``examples/stack.yaml``;
    yields its URL and the file its JSON lines go to."""
    from sandbox.aws import free_port

    examples = yaml.safe_load(EXAMPLES_STACK.read_text())["config"]["hookstack:tenants"]
    port = free_port()
    output = tmp_path_factory.mktemp("example-receiver") / "receiver.jsonl"
    with output.open("w") as sink:
        process = subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "examples" / "receiver.py"),
                f"--port={port}",
                f"--signing-secret={examples[0]['destinations'][0]['auth']['secret']}",
                f"--api-key={examples[1]['destinations'][0]['auth']['value']}",
            ],
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while "listening" not in output.read_text():
            assert process.poll() is None and time.monotonic() < deadline, output.read_text()
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}", output
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="session")
def sandbox_state(
    receiver: Receiver, example_receiver: tuple[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    directory = tmp_path_factory.mktemp("sandbox")
    config = directory / "Pulumi.e2e.yaml"
    config.write_text(yaml.safe_dump(with_examples(stack_file(receiver.url), example_receiver[0]), sort_keys=False))
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
            "--log-format",
            "json",
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
    state["_config"] = str(config)
    state["_log"] = str(directory / "sandbox.log")
    state["_state_file"] = str(state_file)  # what examples/ scripts take as --state-file
    start_slow_scenarios(state)
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
        assert not Path(state["outputs_file"]).exists(), "the outputs file must be removed on shutdown"
        _assert_no_stray_processes(state)


BREAKER_EVENT_IDS = tuple(f"evt_fragile_{n}" for n in range(4))


def publish_to_tenant_8(state: dict[str, Any], event_type: str, *event_ids: str) -> None:
    from functions.events import make_event, publish

    events = [make_event("e2e", event_type, {"n": i}, tenant_id="8", event_id=e) for i, e in enumerate(event_ids)]
    publish(state_client(state, "events"), events, state["bus_names"][0])


def start_slow_scenarios(state: dict[str, Any]) -> None:
    """Publish, as soon as the sandbox is up, the events of scenarios that mostly wait on retry delays
    (the breaker's: about 15 s of scaled backoff), so the wait overlaps the other e2e tests of this
    worker instead of adding to the suite's wall time; their tests then check the outcome."""
    publish_to_tenant_8(state, "fragile.event", *BREAKER_EVENT_IDS)


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
