"""AWS requests, and so cost, per webhook: counted on the sandbox with moto's request recorder.

For each flow, one webhook goes through the real functions in the sandbox while moto records every
request. Requests the functions make are counted (the sandbox's own emulation of AWS services is
tagged in its User-Agent and left out); what AWS itself does per event (rule matching, the API
destination call, the event source mapping, the Pipe) is priced per event from the list prices in
``PRICES``. The relay's database statements (RDS Data API calls when deployed) are counted on
the local database connection. Usage: ``python -m benchmarks.requests_per_webhook``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "docs" / "benchmarks" / "requests-per-webhook.md"

# us-east-1 list prices in dollars per million requests/events, from each service's AWS pricing page.
PRICES = {
    "events:PutEvents": 1.00,
    "sqs": 0.40,
    "sqs-fifo": 0.50,
    "s3:PUT": 5.00,
    "s3:GET": 0.40,
    "dynamodb-write": 0.625,
    "dynamodb-read": 0.125,
    "secretsmanager:GetSecretValue": 5.00,
    "data-api": 0.35,
    "lambda-request": 0.20,
    "api-destination": 0.20,
    "pipes": 0.40,
}
DYNAMODB_WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}


def price(action: str, fifo_queues: set[str]) -> float:
    service, _, name = action.partition(":")
    if action in PRICES:
        return PRICES[action]
    if service == "dynamodb":
        return PRICES["dynamodb-write"] if name in DYNAMODB_WRITES else PRICES["dynamodb-read"]
    if service == "sqs":
        return PRICES["sqs-fifo"] if fifo_queues else PRICES["sqs"]
    return 0.0


class StatementCounter:
    """Counts relay database statements (each one RDS Data API call when deployed)."""

    def __init__(self) -> None:
        self.count = 0
        self._lock = threading.Lock()

    def install(self) -> None:
        from functions import outbox

        counter = self
        cls = outbox.PsycopgDatabase
        for method, calls in (("query", 1), ("execute", 1), ("transaction", 2)):  # Begin + Commit
            original = getattr(cls, method)

            def wrapped(self: Any, *args: Any, _original: Any = original, _calls: int = calls, **kwargs: Any) -> Any:
                if threading.current_thread().name.startswith("relay"):
                    with counter._lock:
                        counter.count += _calls
                return _original(self, *args, **kwargs)

            setattr(cls, method, wrapped)


def main() -> None:
    os.environ["MOTO_RECORDER_FILEPATH"] = tempfile.mktemp(prefix="hookstack-recording-")
    sys.stdout.flush()
    log = open(os.devnull, "w")  # noqa: SIM115 - the functions' logs are not part of the figures
    console, sys.stdout = sys.stdout, log

    import psycopg
    import requests

    from functions.delivery.settings import FanoutSettings
    from functions.events import make_event, publish
    from sandbox.aws import classify
    from sandbox.aws import client as sandbox_client
    from sandbox.demo import demo_stack
    from sandbox.receiver import Receiver
    from sandbox.runtime import Sandbox, local_stack

    counter = StatementCounter()
    counter.install()
    receiver = Receiver()
    receiver.start()
    raw = demo_stack(receiver.url, receiver.oauth_client_secret)
    # The deployed fan-out's endpoint cache, so the figures are what AWS would bill.
    sandbox = Sandbox(local_stack(raw), time_scale=1.0, endpoint_cache_seconds=FanoutSettings.endpoint_cache_seconds)
    sandbox.start()
    state = sandbox.state()
    bus = state["bus_names"][0]
    # The producer's PutEvents is the "EventBridge event" charge below: its client is not counted.
    events = sandbox_client("events", state["aws_endpoint"])
    sources = {s["name"]: s["secret"] for s in raw["consumer"]["sources"]}
    rows: list[tuple[str, dict[str, int], int, list[tuple[str, float]]]] = []

    def measure(
        name: str, action: Callable[[], None], settle: Callable[[], object], service_charges: list[tuple[str, float]]
    ) -> None:
        time.sleep(1.5)  # let idle polling settle
        before = counter.count
        sandbox.moto.start_recording()
        action()
        settle()
        time.sleep(1.0)
        calls = classify(sandbox.moto.stop_recording())
        rows.append((name, calls, counter.count - before, service_charges))

    def publish_one(tenant: str, event_type: str, data: dict[str, Any]) -> str:
        event_id = f"evt_{uuid.uuid4().hex}"
        publish(events, [make_event("bench", event_type, data, tenant_id=tenant, event_id=event_id)], bus)
        return event_id

    # 1. one event to one API destination (tenant 2, erp, Basic auth; tenant 2's other destination is OAuth)
    holder: dict[str, str] = {}
    measure(
        "outgoing event -> 2 API destinations (tenant 2)",
        lambda: holder.update(id=publish_one("2", "widget.updated", {"widgetName": "x"})),
        lambda: receiver.wait_for("/tenant-2/erp", 1, containing=holder["id"], timeout=30),
        [
            ("EventBridge event", 1.00),
            ("API destination invocations x2", 0.40),
            ("signed-delivery rule -> events queue", 0.40),
            ("fan-out Lambda request", 0.20),
        ],
    )
    # 2. one event delivered signed to one config-declared endpoint (tenant 1 audit; also its crm API destination)
    measure(
        "outgoing event -> signed delivery (tenant 1 audit) + 1 API destination",
        lambda: holder.update(id=publish_one("1", "widget.created", {"widgetName": "y"})),
        lambda: receiver.wait_for("/tenant-1/audit", 1, containing=holder["id"], timeout=30),
        [
            ("EventBridge event", 1.00),
            ("API destination invocation", 0.20),
            ("rule -> events queue", 0.40),
            ("fan-out + worker Lambda requests", 0.40),
        ],
    )

    # 3./4. inbound webhooks
    def github(size: int) -> Callable[[], None]:
        def post() -> None:
            delivery = str(uuid.uuid4())
            holder["id"] = delivery
            body = json.dumps({"repository": {"id": 1}, "padding": "p" * size}).encode()
            signature = "sha256=" + hmac.new(sources["github"].encode(), body, hashlib.sha256).hexdigest()
            response = requests.post(
                state["inbound"]["github"],
                data=body,
                timeout=15,
                headers={
                    "Content-Type": "application/json",
                    "X-Hub-Signature-256": signature,
                    "X-GitHub-Event": "push",
                    "X-GitHub-Delivery": delivery,
                },
            )
            assert response.status_code == 200, response.text

        return post

    def inbound_done() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and sandbox.parts["consumer"].processed < processed_target[0]:  # type: ignore[attr-defined]
            time.sleep(0.05)

    # Warm the ingest function (its secret cache) first: Secrets Manager is read once per instance.
    processed_target = [sandbox.parts["consumer"].processed + 1]  # type: ignore[attr-defined]
    github(10)()
    inbound_done()
    processed_target[0] += 1
    inbound_charges = [
        ("Lambda request (ingest)", 0.20),
        ("Pipe event", 0.40),
        ("Lambda request (enrichment)", 0.20),
        ("EventBridge event (Pipe target)", 1.00),
    ]
    measure("inbound GitHub webhook, 1 KB (inline)", github(1000), inbound_done, inbound_charges)
    processed_target[0] += 1
    measure("inbound GitHub webhook, 50 KB (claim-checked)", github(50_000), inbound_done, inbound_charges)

    # 5. a database write
    def write() -> None:
        name = f"bench-{uuid.uuid4().hex[:8]}"
        holder["id"] = name
        with psycopg.connect(state["postgres_dsn"], autocommit=True) as connection:
            connection.execute("CALL create_widget(1, %s)", (name,))

    measure(
        "database write -> relay -> bus (CALL create_widget)",
        write,
        lambda: receiver.wait_for("/tenant-1/crm", 1, containing=holder["id"], timeout=30),
        [
            ("Lambda request (relay, async invoke)", 0.20),
            ("API destination invocation (crm)", 0.20),
            ("rule -> events queue", 0.40),
            ("fan-out + worker Lambda requests", 0.40),
        ],
    )
    sandbox.stop()
    receiver.stop()
    sys.stdout = console

    lines = [
        "# AWS requests and cost per webhook",
        "",
        "Written by `python -m benchmarks.requests_per_webhook`: one webhook per flow through the sandbox,",
        'every request the functions make counted by moto\'s recorder. "Per million" multiplies by the',
        "us-east-1 list prices of the AWS pricing pages (Lambda duration and data transfer not included; the",
        "relay's statements are priced as RDS Data API calls at $0.35 per million). Functions are warm",
        "(their Secrets Manager cache filled); a cold instance adds one GetSecretValue ($5 per million).",
        "",
        "| flow | requests the functions make | DB statements | their cost per million | AWS-side charges per million | total per million |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for name, calls, statements, charges in rows:
        fifo = {"fifo"} if "inbound" in name else set()
        function_cost = (
            sum(price(action, fifo) * count for action, count in calls.items()) + statements * PRICES["data-api"]
        )
        service_cost = sum(amount for _, amount in charges)
        listed = ", ".join(f"{action} x{count}" for action, count in calls.items()) or "none"
        lines.append(
            f"| {name} | {listed} | {statements} | ${function_cost:.2f} | ${service_cost:.2f} | ${function_cost + service_cost:.2f} |"
        )
    lines += ["", "AWS-side charges counted per flow:", ""]
    for name, _, _, charges in rows:
        lines.append(f"- {name}: " + "; ".join(f"{label} ${amount:.2f}" for label, amount in charges))
    lines += [
        "",
        "Notes: Secrets Manager is read once per function instance and cached (not per webhook, so it",
        "does not appear after the first request); a claim-checked payload adds one S3 PUT ($5 per",
        "million, the largest single item) and one GET; the signed-delivery pipeline looks at every",
        "tenant event (one SQS message and a share of a fan-out invocation) even when the tenant has no",
        "signed endpoint. The signed-delivery and inbound component docs break these down further.",
    ]
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
