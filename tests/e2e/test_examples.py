"""Every script in examples/ runs, as a user runs it, against the session's sandbox.

The session's stack file includes the tenants and the inbound source of ``examples/stack.yaml``
(``with_examples`` in conftest.py), and ``examples/receiver.py`` runs as a subprocess on the URL their
destinations point at; each test executes an example script with ``--state-file`` and checks what
the receiver (or the script) saw.
"""

from __future__ import annotations

import ast
import http.client
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from functions.events import make_event, publish
from sandbox.runtime import load_local_config
from tests.e2e.conftest import EXAMPLES_STACK, ROOT, state_client

pytestmark = pytest.mark.e2e
EXAMPLES = ROOT / "examples"


def run(script: str, *args: str) -> str:
    """Run ``examples/<script>`` (Python or shell) from the repository root; its stdout."""
    command = [sys.executable, str(EXAMPLES / script)] if script.endswith(".py") else [str(EXAMPLES / script)]
    done = subprocess.run(
        [*command, *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert done.returncode == 0, f"{script} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def received(example_receiver: tuple[str, Path], predicate: Any, timeout: float = 30) -> dict[str, Any]:
    """The first JSON line the example receiver printed that ``predicate`` accepts (waits for it)."""
    deadline = time.monotonic() + timeout
    while True:
        lines = [json.loads(line) for line in example_receiver[1].read_text().splitlines() if line.startswith("{")]
        found = [line for line in lines if predicate(line)]
        if found:
            return found[0]
        assert time.monotonic() < deadline, f"nothing matched; the receiver printed {lines[-10:]}"
        time.sleep(0.1)


def example_config() -> dict[str, Any]:
    return dict(yaml.safe_load(EXAMPLES_STACK.read_text())["config"])


def test_the_example_stack_file_has_two_tenants_and_loads_as_the_sandbox_loads_it() -> None:
    stack, generated = load_local_config(str(EXAMPLES_STACK))
    assert [t.id for t in stack.config.tenants] == ["acme", "globex"]
    assert [s.name for s in stack.config.consumer.sources] == ["shop"]
    assert stack.config.aurora.enabled
    assert generated == {}  # every secret is given, so the receiver and the scripts know them


def test_the_walkthrough_links_and_names_only_what_exists() -> None:
    text = (EXAMPLES / "README.md").read_text()
    links = re.findall(r"\]\(([^)\s#]+)", text)
    assert len(links) >= 10
    assert [link for link in links if not (EXAMPLES / link).exists()] == []
    scripts = set(re.findall(r"examples/([\w.]+\.(?:py|sh|yaml))", text))
    assert scripts == {p.name for p in EXAMPLES.iterdir() if p.suffix in {".py", ".sh", ".yaml"}}


def test_the_examples_use_nothing_of_this_repository_but_the_published_event_contract() -> None:
    """What the scripts import from here must come with ``pip install ./publisher`` (functions.events)."""
    repository = {p.name for p in ROOT.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    used = set()
    for script in EXAMPLES.glob("*.py"):
        for node in ast.walk(ast.parse(script.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            names += [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            used |= {name for name in names if name.split(".")[0] in repository}
    assert used == {"functions.events"}


def test_publish_example_is_verified_by_the_example_receiver_for_each_tenant(
    sandbox_state: dict[str, Any], example_receiver: tuple[str, Path]
) -> None:
    state_file = sandbox_state["_state_file"]
    acme, globex = (f"evt_example_{tenant}_{uuid.uuid4().hex[:8]}" for tenant in ("acme", "globex"))
    data = '{"orderId": 7, "total": 120}'
    for tenant, event_id in (("acme", acme), ("globex", globex)):
        out = run(
            "publish.py",
            f"--state-file={state_file}",
            f"--tenant={tenant}",
            "--type=order.created",
            f"--data={data}",
            f"--event-id={event_id}",
        )
        assert json.loads(out)["published"] == event_id
    signed = received(example_receiver, lambda line: line.get("id") == acme)
    assert (signed["path"], signed["auth"], signed["type"]) == ("/acme/orders", "standard-webhooks", "order.created")
    assert signed["data"]["total"] == 120 and signed["data"]["tenantId"] == "acme"
    api_key = received(example_receiver, lambda line: line.get("id") == globex)
    assert (api_key["path"], api_key["auth"]) == ("/globex/crm", "api-key")
    assert api_key["data"] == {"kind": "order", "eventId": globex, "total": 120}  # the stack file's transform


def test_the_receiver_refuses_a_forged_delivery(example_receiver: tuple[str, Path]) -> None:
    forged = requests.post(
        f"{example_receiver[0]}/acme/orders",
        data=b'{"type":"order.created","data":{}}',
        headers={
            "webhook-id": "evt_forged",
            "webhook-timestamp": str(int(time.time())),
            "webhook-signature": "v1,AAAA",
        },
        timeout=10,
    )
    assert forged.status_code == 401
    wrong_key = requests.post(f"{example_receiver[0]}/globex/crm", json={}, headers={"x-api-key": "no"}, timeout=10)
    assert wrong_key.status_code == 401
    unsigned = requests.post(f"{example_receiver[0]}/acme/orders", json={"type": "order.created"}, timeout=10)
    assert unsigned.status_code == 401
    connection = http.client.HTTPConnection(example_receiver[0].removeprefix("http://"), timeout=10)
    connection.putrequest("POST", "/acme/orders")
    connection.putheader("Content-Length", str(1024 * 1024 + 1))  # refused before a byte of body is read
    connection.endheaders()
    assert connection.getresponse().status == 413
    connection.close()
    assert not [line for line in example_receiver[1].read_text().splitlines() if "evt_forged" in line]


@pytest.mark.skipif(shutil.which("aws") is None, reason="the AWS CLI is not installed (examples/README.md)")
def test_publish_with_the_aws_cli_example(sandbox_state: dict[str, Any], example_receiver: tuple[str, Path]) -> None:
    event_id = f"evt_cli_{uuid.uuid4().hex[:8]}"
    out = run("publish_cli.sh", sandbox_state["_state_file"], "acme", event_id)
    assert json.loads(out)["published"] == event_id
    delivered = received(example_receiver, lambda line: line.get("id") == event_id)
    assert delivered["data"]["total"] == 99


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_subscription_api_with_curl_example(sandbox_state: dict[str, Any], example_receiver: tuple[str, Path]) -> None:
    out = run("subscriptions.sh", sandbox_state["_state_file"], "globex", f"{example_receiver[0]}/globex/from-curl")
    lines = out.splitlines()
    created = json.loads(next(lines[i + 1] for i, line in enumerate(lines) if line.startswith("# create")))
    assert created["secret"].startswith("whsec_")
    assert '"enabled": false' in out.replace('"enabled":false', '"enabled": false')
    assert out.rstrip().endswith("204")
    listed = requests.get(f"{sandbox_state['subscriptions_api']}/tenants/globex/endpoints", timeout=10).json()["data"]
    assert created["id"] not in [e["id"] for e in listed]  # deleted by the script's last step


def test_subscription_api_with_the_sigv4_client_example(
    sandbox_state: dict[str, Any], example_receiver: tuple[str, Path]
) -> None:
    event_id = f"evt_sigv4_{uuid.uuid4().hex[:8]}"
    publish(
        state_client(sandbox_state, "events"),
        [make_event("example.app", "order.shipped", {}, tenant_id="acme", event_id=event_id)],
        sandbox_state["bus_names"][0],
    )
    received(example_receiver, lambda line: line.get("id") == event_id)
    message_url = f"{sandbox_state['subscriptions_api']}/tenants/acme/messages/{event_id}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:  # the worker records the attempt just after the receiver answers
        answer = requests.get(message_url, timeout=10).json()
        if [d["status"] for d in answer.get("deliveries", [])] == ["succeeded"]:
            break
        time.sleep(0.1)
    message = json.loads(
        run(
            "subscriptions_sigv4.py",
            f"--state-file={sandbox_state['_state_file']}",
            "--tenant=acme",
            "message",
            event_id,
        )
    )
    assert [d["status"] for d in message["deliveries"]] == ["succeeded"], message
    endpoints = json.loads(
        run("subscriptions_sigv4.py", f"--state-file={sandbox_state['_state_file']}", "--tenant=acme", "endpoints")
    )
    assert [e["managedBy"] for e in endpoints["data"]] == ["config"]


def test_the_sigv4_client_signs_for_execute_api() -> None:
    from botocore.credentials import Credentials

    spec = importlib.util.spec_from_file_location("subscriptions_sigv4", EXAMPLES / "subscriptions_sigv4.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    api = module.SubscriptionApi(
        "https://abc.execute-api.eu-west-1.amazonaws.com",
        "acme",
        Credentials("AKIDEXAMPLE", "secret", "token"),
        "eu-west-1",
    )
    request = api.signed("POST", "/endpoints", {"url": "https://example.com/hook"})
    assert request.url == "https://abc.execute-api.eu-west-1.amazonaws.com/tenants/acme/endpoints"
    authorization = request.headers["Authorization"]
    assert authorization.startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert "/eu-west-1/execute-api/aws4_request" in authorization
    assert request.headers["X-Amz-Security-Token"] == "token"
    assert request.body == b'{"url": "https://example.com/hook"}'  # the bytes that were signed


def test_consume_inbound_events_with_your_own_rule_and_queue_example(sandbox_state: dict[str, Any]) -> None:
    secret = example_config()["hookstack:consumer"]["sources"][0]["secret"]
    out = json.loads(
        run("consume_inbound.py", f"--state-file={sandbox_state['_state_file']}", "--source=shop", f"--secret={secret}")
    )
    assert out["source"] == sandbox_state["inbound_event_sources"]["shop"]
    assert out["detail"]["payload"]["order"].startswith("order-")
    assert out["detail"]["deliveryId"] == out["webhook"]  # the sender's webhook-id, verified


def test_an_aurora_write_becomes_a_webhook_example(
    sandbox_state: dict[str, Any], example_receiver: tuple[str, Path]
) -> None:
    total = 1000 + uuid.uuid4().int % 100000
    out = json.loads(
        run("aurora_write.py", f"--state-file={sandbox_state['_state_file']}", "--tenant=acme", f"--total={total}")
    )
    order_id = out["inserted"]["orderId"]
    delivered = received(
        example_receiver, lambda line: line.get("type") == "order.created" and line["data"].get("total") == total
    )
    assert delivered["path"] == "/acme/orders"
    assert delivered["data"]["orderId"] == order_id and delivered["id"] == delivered["data"]["eventId"]
    assert "cardNumber" not in delivered["data"]  # excluded by emit_events
