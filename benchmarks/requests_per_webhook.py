"""AWS requests, and so cost, per webhook: counted on the sandbox with moto's request recorder.

For each flow, one webhook goes through the real functions in the sandbox while moto records every
request. Requests the functions make are counted (the sandbox's own emulation of AWS services is
tagged in its User-Agent and left out); what AWS itself does per event (rule matching, the API
destination call, the event source mapping, the Pipe) is priced per event from the list prices in
``PRICES``. The relay's database statements (RDS Data API calls when deployed) are counted on
the local database connection.

Inbound flows are measured in two windows: the ingest function's requests (the Pipe is held until
the ingest has answered) and the rest, so the cost at ingest and to an event on the bus are both
measured. ``--json FILE`` also writes the recorded counts; ``--baseline FILE`` (such counts from an
earlier version, re-priced here with the same prices) adds the before/after table of the inbound
pipeline. Usage: ``python -m benchmarks.requests_per_webhook [--json FILE] [--baseline FILE]``.
"""

from __future__ import annotations

import argparse
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "docs" / "benchmarks" / "requests-per-webhook.md"
# The counts recorded by this benchmark on the version before issue #14's ledger change (claim,
# complete and content claims), run at commit 678339b: the "before" of the inbound table.
BASELINE = ROOT / "docs" / "benchmarks" / "requests-per-webhook-baseline.json"

# us-east-1 list prices in dollars per million requests/events, from each service's AWS pricing page.
PRICES = {
    "events:PutEvents": 1.00,
    "sqs": 0.40,
    "sqs-fifo": 0.50,
    "s3:PUT": 5.00,
    "s3:GET": 0.40,
    "dynamodb-write": 0.625,
    "dynamodb-read": 0.125,
    # An eventually consistent read takes half a read request unit (up to 4 KB).
    "dynamodb-read-eventual": 0.0625,
    # S3 Express One Zone (directory bucket) requests, priced for the claim-check store option.
    "s3express:PUT": 1.13,
    "s3express:GET": 0.03,
    "secretsmanager:GetSecretValue": 5.00,
    "data-api": 0.35,
    "lambda-request": 0.20,
    "api-destination": 0.20,
    "pipes": 0.40,
}
DYNAMODB_WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}
# How an eventually consistent DynamoDB read is listed (the action with this suffix).
EVENTUAL = " (eventually consistent)"
# The AWS-side charges of every inbound flow: (label, dollars per million).
INBOUND_CHARGES = [
    ("Pipe event", 0.40),
    ("Lambda request (enrichment)", 0.20),
    ("EventBridge event (Pipe target)", 1.00),
]
INGEST_REQUEST = ("Lambda request (ingest)", 0.20)
# The worker path's AWS-side charges, counted per flow from what the sandbox's pipeline received:
# the delivery rule's SQS message per event on the events queue, a Lambda request per invocation.
EVENTS_QUEUE_MESSAGE = "delivery rule -> events queue"
FANOUT_REQUEST, WORKER_REQUEST = "fan-out Lambda request", "worker Lambda request"
WORKER_PATH_CHARGES = {EVENTS_QUEUE_MESSAGE: PRICES["sqs"], FANOUT_REQUEST: 0.20, WORKER_REQUEST: 0.20}


def price(action: str, fifo_queues: set[str]) -> float:
    service, _, name = action.partition(":")
    if action in PRICES:
        return PRICES[action]
    if service == "dynamodb":
        if name in DYNAMODB_WRITES:
            return PRICES["dynamodb-write"]
        return PRICES["dynamodb-read-eventual"] if name.endswith(EVENTUAL) else PRICES["dynamodb-read"]
    if service == "sqs":
        return PRICES["sqs-fifo"] if fifo_queues else PRICES["sqs"]
    return 0.0


def count_requests(recording: list[dict[str, Any]]) -> dict[str, int]:
    """Requests by ``service:Action`` (sandbox.aws.classify), DynamoDB reads split by consistency."""
    from sandbox.aws import classify

    counts: dict[str, int] = {}
    for entry in recording:
        body = str(entry.get("body") or "")
        # Reads are eventually consistent unless the request asks otherwise (DynamoDB API).
        eventual = '"ConsistentRead": true' not in body and '"ConsistentRead":true' not in body
        for action, count in classify([entry]).items():
            read = action.startswith("dynamodb:") and action.partition(":")[2] not in DYNAMODB_WRITES
            key = action + EVENTUAL if read and eventual else action
            counts[key] = counts.get(key, 0) + count
    return dict(sorted(counts.items()))


def cost(calls: dict[str, int], *, fifo: bool, prices: dict[str, str] | None = None) -> float:
    """Dollars per million of ``calls``; ``prices`` re-prices actions (``s3:PUT`` -> ``s3express:PUT``)."""
    queues = {"fifo"} if fifo else set()
    renamed = prices or {}
    return sum(price(renamed.get(action, action), queues) * count for action, count in calls.items())


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


@dataclass
class Flow:
    """One measured flow: the requests the functions made, and what AWS charges per event."""

    name: str
    calls: dict[str, int]
    statements: int
    charges: list[tuple[str, float]]
    ingest_calls: dict[str, int] | None = None
    """Inbound flows: the ingest function's own requests (also counted in ``calls``)."""

    @property
    def inbound(self) -> bool:
        return self.ingest_calls is not None

    def function_cost(self, prices: dict[str, str] | None = None) -> float:
        return cost(self.calls, fifo=self.inbound, prices=prices) + self.statements * PRICES["data-api"]

    def total(self, prices: dict[str, str] | None = None) -> float:
        return self.function_cost(prices) + sum(amount for _, amount in self.charges)

    def worker_path(self) -> float:
        """What the worker pipeline costs beside the event: the requests the functions make, the
        delivery rule's SQS messages and the fan-out and worker Lambda requests (not the inbound
        flows' or the relay's own Lambda request, nor API destination invocations)."""
        charges = sum(amount for label, amount in self.charges if label.partition(" x")[0] in WORKER_PATH_CHARGES)
        return self.function_cost() + charges

    def at_ingest(self, prices: dict[str, str] | None = None) -> float:
        return cost(self.ingest_calls or {}, fifo=True, prices=prices) + INGEST_REQUEST[1]

    def to_json(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "ingest_calls": self.ingest_calls,
            "statements": self.statements,
            "charges": [list(charge) for charge in self.charges],
        }

    @classmethod
    def from_json(cls, name: str, document: dict[str, Any]) -> Flow:
        return cls(
            name,
            dict(document["calls"]),
            int(document["statements"]),
            [(str(label), float(amount)) for label, amount in document["charges"]],
            None if document.get("ingest_calls") is None else dict(document["ingest_calls"]),
        )


# The inbound flows of the before/after table (the issue's "1 KB verified, deduplicated, ordered
# webhook": Stripe signs a timestamp and its event id; GitHub is deduplicated on its signed body).
STRIPE_1KB = "inbound Stripe webhook, 1 KB (inline)"
# The outgoing flows of the worker-path table (issue #12 item 7).
COVERED_TENANT = "2s"
API_ONLY_COVERED = "outgoing event -> 2 API destinations, tenant covered by the delivery rule (tenant 2s: selfService)"
API_ONLY_LISTED = "outgoing event -> 2 API destinations, tenant not covered (tenant 2, apiTenants: listed)"
SIGNED = "outgoing event -> signed delivery (tenant 1 audit) + 1 API destination"
GITHUB_1KB = "inbound GitHub webhook, 1 KB (inline)"
GITHUB_50KB = "inbound GitHub webhook, 50 KB (claim-checked)"
# The same recorded requests with the claim-checked payload in an S3 Express One Zone directory
# bucket (consumer.payloadStore: s3express): only the S3 prices differ.
EXPRESS = {"s3:PUT": "s3express:PUT", "s3:GET": "s3express:GET"}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.requests_per_webhook")
    parser.add_argument("--json", type=Path, help="also write the recorded counts to this file")
    parser.add_argument("--baseline", type=Path, default=BASELINE, help="counts of the version to compare with")
    arguments = parser.parse_args(argv)
    flows = measure_flows()
    if arguments.json:
        arguments.json.write_text(json.dumps({f.name: f.to_json() for f in flows}, indent=2) + "\n")
    baseline: list[Flow] = []
    if arguments.baseline and arguments.baseline.exists():
        document = json.loads(arguments.baseline.read_text())
        baseline = [Flow.from_json(name, flow) for name, flow in document.items()]
    text = report(flows, baseline)
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(text)
    print(text, end="")


def measure_flows() -> list[Flow]:
    os.environ["MOTO_RECORDER_FILEPATH"] = tempfile.mktemp(prefix="hookstack-recording-")
    sys.stdout.flush()
    log = open(os.devnull, "w")  # noqa: SIM115 - the functions' logs are not part of the figures
    console, sys.stdout = sys.stdout, log

    import psycopg
    import requests

    from functions.delivery.settings import FanoutSettings
    from functions.events import make_event, publish
    from sandbox.aws import client as sandbox_client
    from sandbox.demo import demo_stack
    from sandbox.receiver import Receiver
    from sandbox.runtime import Sandbox, local_stack

    counter = StatementCounter()
    counter.install()
    receiver = Receiver()
    receiver.start()
    raw = demo_stack(receiver.url, receiver.oauth_client_secret)
    # delivery.apiTenants: listed, so tenant 2 (API destinations only) is outside the worker pipeline;
    # tenant 2s has the same destinations but selfService: true, so it pays what every tenant paid
    # under apiTenants: all (the default, and the only behaviour before #12): both are measured.
    raw["delivery"] = {**raw.get("delivery", {}), "apiTenants": "listed"}
    tenant_2 = next(t for t in raw["tenants"] if t["id"] == "2")
    raw["tenants"].append({**json.loads(json.dumps(tenant_2)), "id": COVERED_TENANT, "selfService": True})
    # The deployed fan-out's endpoint cache, so the figures are what AWS would bill.
    sandbox = Sandbox(local_stack(raw), time_scale=1.0, endpoint_cache_seconds=FanoutSettings.endpoint_cache_seconds)
    sandbox.start()
    state = sandbox.state()
    bus = state["bus_names"][0]
    # The producer's PutEvents is the "EventBridge event" charge below: its client is not counted.
    events = sandbox_client("events", state["aws_endpoint"])
    sources = {s["name"]: s["secret"] for s in raw["consumer"]["sources"]}
    flows: list[Flow] = []
    pipeline = worker_path_counter(sandbox.parts["delivery"])
    consumer: Any = sandbox.parts["consumer"]
    # The Pipe waits while an ingest is being measured, so that window holds the ingest's requests only.
    pipe_open = threading.Event()
    pipe_open.set()
    enrich = consumer.enrich

    def enrich_after_ingest(records: Any, context: Any) -> Any:
        pipe_open.wait(30)
        return enrich(records, context)

    consumer.enrich = enrich_after_ingest

    def measure(
        name: str,
        action: Callable[[], None],
        settle: Callable[[], object],
        service_charges: list[tuple[str, float]],
        *,
        inbound: bool = False,
    ) -> None:
        time.sleep(1.5)  # let idle polling settle
        before = counter.count
        pipeline.clear()
        ingest_calls: dict[str, int] | None = None
        if inbound:
            pipe_open.clear()
            sandbox.moto.start_recording()
            action()
            ingest_calls = count_requests(sandbox.moto.stop_recording())
            sandbox.moto.start_recording()
            pipe_open.set()
        else:
            sandbox.moto.start_recording()
            action()
        settle()
        time.sleep(1.0)
        calls = count_requests(sandbox.moto.stop_recording())
        if ingest_calls is not None:
            calls = {a: calls.get(a, 0) + ingest_calls.get(a, 0) for a in sorted({*calls, *ingest_calls})}
        charges = [*service_charges, *pipeline.charges()]
        flows.append(Flow(name, calls, counter.count - before, charges, ingest_calls))

    def publish_one(tenant: str, event_type: str, data: dict[str, Any]) -> str:
        event_id = f"evt_{uuid.uuid4().hex}"
        publish(events, [make_event("bench", event_type, data, tenant_id=tenant, event_id=event_id)], bus)
        return event_id

    # 1. one event to two API destinations (erp, Basic auth; analytics, OAuth): a tenant the delivery
    # rule covers (selfService, or any tenant under apiTenants: all), then one it does not (tenant 2)
    holder: dict[str, str] = {}

    def publish_for(tenant: str) -> Callable[[], None]:
        return lambda: holder.update(id=publish_one(tenant, "widget.updated", {"widgetName": "x"}))

    for tenant, name in ((COVERED_TENANT, API_ONLY_COVERED), ("2", API_ONLY_LISTED)):
        measure(
            name,
            publish_for(tenant),
            lambda: receiver.wait_for("/tenant-2/erp", 1, containing=holder["id"], timeout=30),
            [("EventBridge event", 1.00), ("API destination invocations x2", 0.40)],
        )
    # 2. one event delivered signed to one config-declared endpoint (tenant 1 audit; also its crm API destination)
    measure(
        SIGNED,
        lambda: holder.update(id=publish_one("1", "widget.created", {"widgetName": "y"})),
        lambda: receiver.wait_for("/tenant-1/audit", 1, containing=holder["id"], timeout=30),
        [("EventBridge event", 1.00), ("API destination invocation", 0.20)],
    )

    # 3.-5. inbound webhooks: a body of about ``size`` bytes, posted once (answered 200 "accepted")
    def post(source: str, body: bytes, headers: dict[str, str]) -> None:
        response = requests.post(
            state["inbound"][source], data=body, timeout=15, headers={"Content-Type": "application/json", **headers}
        )
        assert response.status_code == 200 and response.json()["status"] == "accepted", response.text

    def github(size: int) -> Callable[[], None]:
        def send() -> None:
            delivery = str(uuid.uuid4())
            body = json.dumps({"repository": {"id": 1}, "delivery": delivery, "padding": "p" * size}).encode()
            signature = "sha256=" + hmac.new(sources["github"].encode(), body, hashlib.sha256).hexdigest()
            headers = {"X-Hub-Signature-256": signature, "X-GitHub-Event": "push", "X-GitHub-Delivery": delivery}
            post("github", body, headers)

        return send

    def stripe(size: int) -> Callable[[], None]:
        def send() -> None:
            document = {
                "id": f"evt_{uuid.uuid4().hex}",
                "type": "invoice.paid",
                "data": {"object": {"customer": "cus_1", "padding": "p" * size}},
            }
            body = json.dumps(document).encode()
            timestamp = int(time.time())
            signed = f"{timestamp}.".encode() + body
            signature = hmac.new(sources["stripe"].encode(), signed, hashlib.sha256).hexdigest()
            post("stripe", body, {"Stripe-Signature": f"t={timestamp},v1={signature}"})

        return send

    def inbound_done() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and consumer.processed < processed_target[0]:
            time.sleep(0.05)

    # Warm the ingest function (its secret cache) first: Secrets Manager is read once per instance.
    processed_target = [consumer.processed + 2]
    github(10)()
    stripe(10)()
    inbound_done()
    charges = [INGEST_REQUEST, *INBOUND_CHARGES]
    for name, send in ((STRIPE_1KB, stripe(1000)), (GITHUB_1KB, github(1000)), (GITHUB_50KB, github(50_000))):
        processed_target[0] += 1
        measure(name, send, inbound_done, charges, inbound=True)

    # 6. a database write
    def write() -> None:
        name = f"bench-{uuid.uuid4().hex[:8]}"
        holder["id"] = name
        with psycopg.connect(state["postgres_dsn"], autocommit=True) as connection:
            connection.execute("CALL create_widget(1, %s)", (name,))

    measure(
        "database write -> relay -> bus (CALL create_widget)",
        write,
        lambda: receiver.wait_for("/tenant-1/crm", 1, containing=holder["id"], timeout=30),
        [("Lambda request (relay, async invoke)", 0.20), ("API destination invocation (crm)", 0.20)],
    )
    sandbox.stop()
    receiver.stop()
    sys.stdout = console
    return flows


class WorkerPathCounter:
    """Counts what reaches the worker pipeline: events on the events queue (one SQS message from the
    delivery rule each) and fan-out and worker invocations (one Lambda request each)."""

    def __init__(self) -> None:
        self.counts = dict.fromkeys(WORKER_PATH_CHARGES, 0)
        self._lock = threading.Lock()

    def clear(self) -> None:
        with self._lock:
            self.counts = dict.fromkeys(WORKER_PATH_CHARGES, 0)

    def count(self, label: str, n: int) -> None:
        with self._lock:
            self.counts[label] += n

    def charges(self) -> list[tuple[str, float]]:
        with self._lock:
            return [
                (label if n == 1 else f"{label} x{n}", WORKER_PATH_CHARGES[label] * n)
                for label, n in self.counts.items()
                if n
            ]


def worker_path_counter(delivery: Any) -> WorkerPathCounter:
    """Wraps the sandbox's fan-out and worker pollers (``LocalDelivery.workers``) to count them."""
    counter = WorkerPathCounter()
    fanout, worker = delivery.workers

    def counted(poller: Any, invocation: str, records: str | None) -> None:
        handler = poller.handler

        def wrapped(event: Any, context: Any) -> Any:
            counter.count(invocation, 1)
            if records is not None:
                counter.count(records, len(event.get("Records", [])))
            return handler(event, context)

        poller.handler = wrapped

    counted(fanout, FANOUT_REQUEST, EVENTS_QUEUE_MESSAGE)
    counted(worker, WORKER_REQUEST, None)
    return counter


def listed(calls: dict[str, int]) -> str:
    return ", ".join(f"{action} x{count}" for action, count in calls.items()) or "none"


def report(flows: list[Flow], baseline: list[Flow]) -> str:
    lines = [
        "# AWS requests and cost per webhook",
        "",
        "Written by `python -m benchmarks.requests_per_webhook`: one webhook per flow through the sandbox,",
        'every request the functions make counted by moto\'s recorder. "Per million" multiplies by the',
        "us-east-1 list prices of the AWS pricing pages (Lambda duration and data transfer not included; the",
        "relay's statements are priced as RDS Data API calls at $0.35 per million; an eventually consistent",
        "DynamoDB read is half a read unit). Functions are warm (their Secrets Manager cache filled); a cold",
        "instance adds one GetSecretValue ($5 per million).",
        "",
        "| flow | requests the functions make | DB statements | their cost per million | AWS-side charges per million | total per million |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for flow in flows:
        service_cost = sum(amount for _, amount in flow.charges)
        lines.append(
            f"| {flow.name} | {listed(flow.calls)} | {flow.statements} | ${flow.function_cost():.2f} "
            f"| ${service_cost:.2f} | ${flow.total():.2f} |"
        )
    lines += ["", "AWS-side charges counted per flow:", ""]
    for flow in flows:
        lines.append(f"- {flow.name}: " + "; ".join(f"{label} ${amount:.2f}" for label, amount in flow.charges))
    lines += worker_path_report(flows)
    lines += inbound_report(flows, baseline)
    lines += [
        "",
        "Notes: Secrets Manager is read once per function instance and cached (not per webhook, so it",
        "does not appear after the first request); a claim-checked payload adds one S3 PUT ($5 per",
        "million, the largest single item; $1.13 in an S3 Express One Zone directory bucket, whose per-GB",
        "and storage charges docs/consumer.md weighs against it) and one GET;",
        "the delivery rule sends a tenant's events to the worker pipeline only when it covers the",
        "tenant (`delivery.apiTenants`, see the worker-path table). The Pipe's and the event source",
        "mappings' own SQS receive and delete requests are not in these figures (before or after). The",
        "signed-delivery and inbound component docs break these down further.",
    ]
    return "\n".join(lines) + "\n"


# Issue #12 item 7's targets for the worker path, beside the $1.00 event (tests/functions/delivery/test_cost.py).
SIGNED_DELIVERY_TARGET = 2.50
API_ONLY_TARGET = 0.00


def worker_path_report(flows: list[Flow]) -> list[str]:
    """What the worker pipeline costs per flow (its requests, the rule's SQS message, its Lambda requests)."""
    rows = [
        (API_ONLY_COVERED, "what every API-only tenant paid before `delivery.apiTenants` (and pays under `all`)", None),
        (
            API_ONLY_LISTED,
            "`delivery.apiTenants: listed`, tenant without worker endpoint or `selfService`",
            API_ONLY_TARGET,
        ),
        (SIGNED, "the signed delivery (the API destination's $0.20 is not in it)", SIGNED_DELIVERY_TARGET),
    ]
    by_name = {flow.name: flow for flow in flows}
    lines = [
        "",
        "## Worker path: what the delivery pipeline costs beside the event",
        "",
        "The requests the fan-out and the worker make, the delivery rule's SQS message per event on the events",
        "queue and one Lambda request per fan-out and worker invocation, all counted in the run above (one",
        "event per invocation: under load the events queue and the tasks queue hand batches of up to 10 to one",
        "invocation, which divides the Lambda requests, not the rest).",
        "",
        "| flow | case | worker-path charges counted | worker path per million | target (issue #12) |",
        "|---|---|---|---:|---:|",
    ]
    for name, case, target in rows:
        flow = by_name.get(name)
        if flow is None:
            continue
        counted = [label for label, _ in flow.charges if label.partition(" x")[0] in WORKER_PATH_CHARGES]
        wanted = "" if target is None else f"<= ${target:.2f}"
        lines.append(f"| {name} | {case} | {', '.join(counted) or 'none'} | ${flow.worker_path():.2f} | {wanted} |")
    return lines


def inbound_report(flows: list[Flow], baseline: list[Flow]) -> list[str]:
    """The inbound pipeline at ingest and to an event on the bus, before (``baseline``) and now."""
    now = {flow.name: flow for flow in flows if flow.inbound}
    before = {flow.name: flow for flow in baseline if flow.inbound}
    lines = [
        "",
        "## Inbound: at ingest and to an event on the bus",
        "",
        "At ingest: the ingest function's Lambda request and the requests it makes (measured while the",
        "Pipe is held); to the bus: plus the Pipe event, the enrichment's request and what it makes, and",
        "the EventBridge event. Before: the same benchmark run on the claim/complete ledger (commit",
        f"678339b; its recorded counts are `{BASELINE.relative_to(ROOT)}`), priced with the same prices.",
        "",
        "| webhook | before: ingest requests | before: at ingest | before: to the bus | now: ingest requests | now: at ingest | now: to the bus |",
        "|---|---|---:|---:|---|---:|---:|",
    ]
    rows: list[tuple[str, str, dict[str, str] | None]] = [
        (STRIPE_1KB, STRIPE_1KB, None),
        (GITHUB_1KB, GITHUB_1KB, None),
        (GITHUB_50KB, GITHUB_50KB + ", S3 Standard", None),
        (
            GITHUB_50KB,
            GITHUB_50KB + ", S3 Express One Zone (`payloadStore: s3express`: the same requests at its request prices)",
            EXPRESS,
        ),
    ]
    for name, label, prices in rows:
        if name not in now:
            continue
        flow, old = now[name], before.get(name)
        was = (
            f"{listed(old.ingest_calls or {})} | ${old.at_ingest(prices):.2f} | ${old.total(prices):.2f}"
            if old is not None
            else "not measured | | "
        )
        lines.append(
            f"| {label} | {was} | {listed(flow.ingest_calls or {})} | ${flow.at_ingest(prices):.2f} "
            f"| ${flow.total(prices):.2f} |"
        )
    return lines


if __name__ == "__main__":
    main()
