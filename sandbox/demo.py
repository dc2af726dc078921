"""``python -m sandbox demo``: the whole system on this machine, every flow checked end to end.

Starts a local receiver and the sandbox for a stack whose destinations point at that receiver, then
runs the scripted flows. Each step prints what it did and how long it took; the command exits 0 only
if every step did what it should. Retry waits are compressed (``TIME_SCALE``) so a schedule of hours
takes seconds.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import sys
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

TIME_SCALE = 0.01
LOG_FILE = ".sandbox/demo-functions.log"
CONSOLE = sys.stdout


def say(text: str = "") -> None:
    """Demo output; the functions' own JSON logs go to LOG_FILE so this stays readable."""
    CONSOLE.write(text + "\n")
    CONSOLE.flush()


@dataclass
class Step:
    flow: str
    name: str
    ok: bool
    seconds: float
    detail: str


class Demo:
    def __init__(self) -> None:
        self.steps: list[Step] = []

    def step(self, flow: str, name: str, action: Callable[[], str]) -> None:
        started = time.perf_counter()
        try:
            detail = action()
            ok = True
        except Exception as error:  # a failed step is reported, the demo goes on
            detail = f"{type(error).__name__}: {error}"
            ok = False
            traceback.print_exc(file=sys.stdout)  # into the log file
        step = Step(flow, name, ok, time.perf_counter() - started, detail)
        self.steps.append(step)
        mark = "PASS" if ok else "FAIL"
        say(f"  [{mark}] {name} ({step.seconds * 1000:.0f} ms): {detail}")

    def summary(self) -> int:
        failed = [s for s in self.steps if not s.ok]
        say()
        say(f"{len(self.steps) - len(failed)}/{len(self.steps)} steps passed")
        for flow in dict.fromkeys(s.flow for s in self.steps):
            steps = [s for s in self.steps if s.flow == flow]
            status = "ok" if all(s.ok for s in steps) else "FAILED"
            say(f"  {flow}: {status} ({sum(s.seconds for s in steps):.1f} s)")
        return 1 if failed else 0


def demo_stack(receiver_url: str, oauth_secret: str) -> dict[str, Any]:
    """The demo's stack configuration, in the schema of Pulumi.<stack>.yaml (``hookstack:`` keys)."""
    return {
        "tenants": [
            {
                "id": "1",
                "destinations": [
                    {
                        "name": "crm",
                        "url": f"{receiver_url}/tenant-1/crm",
                        "eventTypes": ["widget.created"],
                        "auth": {"type": "apiKey", "header": "x-api-key", "value": secrets.token_urlsafe(16)},
                        "transform": {
                            "paths": {"name": "$.detail.widgetName", "id": "$.detail.eventId"},
                            "template": '{"text": "Widget <name> created", "eventId": "<id>"}',
                        },
                    },
                    {"name": "audit", "url": f"{receiver_url}/tenant-1/audit", "auth": {"type": "signed"}},
                ],
            },
            {
                "id": "2",
                "destinations": [
                    {
                        "name": "erp",
                        "url": f"{receiver_url}/tenant-2/erp",
                        "method": "PUT",
                        "auth": {"type": "basic", "username": "hookstack", "password": secrets.token_urlsafe(16)},
                    },
                    {
                        "name": "analytics",
                        "url": f"{receiver_url}/flaky/1/tenant-2/analytics",
                        "auth": {
                            "type": "oauth",
                            "authorizationEndpoint": f"{receiver_url}/oauth/token",
                            "clientId": "sandbox",
                            "clientSecret": oauth_secret,
                            "scope": "events.write",
                        },
                    },
                ],
            },
            {
                "id": "3",
                "destinations": [
                    {
                        "name": "status",
                        "url": f"{receiver_url}/status/500/tenant-3",
                        "auth": {"type": "none"},
                        "retry": {"maxAttempts": 3, "maxEventAgeSeconds": 3600},
                    },
                ],
            },
        ],
        "consumer": {
            "claimCheckThresholdBytes": 20_000,
            "sources": [
                {"name": "github", "kind": "github", "secret": secrets.token_hex(20), "orderingKey": "repository.id"},
                {
                    "name": "stripe",
                    "kind": "stripe",
                    "secret": "whsec_" + secrets.token_hex(16),
                    "orderingKey": "data.object.customer",
                },
                {"name": "twilio", "kind": "twilio", "secret": secrets.token_hex(16)},
            ],
        },
        "aurora": {"enabled": True, "sweepIntervalMinutes": 1, "sweepGraceSeconds": 60},
    }


def run_demo() -> int:
    from pathlib import Path

    global CONSOLE
    CONSOLE = sys.stdout
    Path(LOG_FILE).parent.mkdir(parents=True, exist_ok=True)
    with open(LOG_FILE, "w", encoding="utf-8") as log:
        sys.stdout = log
        try:
            return _run_demo()
        finally:
            sys.stdout = CONSOLE
            say(f"function logs: {LOG_FILE}")


def _run_demo() -> int:
    import boto3
    import psycopg
    import requests
    from standardwebhooks.webhooks import Webhook

    from functions.events import make_event, publish
    from sandbox.receiver import Receiver
    from sandbox.runtime import Sandbox, local_stack

    demo = Demo()
    receiver = Receiver()
    receiver.start()
    raw = demo_stack(receiver.url, receiver.oauth_client_secret)
    sandbox = Sandbox(local_stack(raw), time_scale=TIME_SCALE)
    started = time.perf_counter()
    say("hookstack sandbox demo: starting moto, PostgreSQL, the functions and a local receiver...")
    try:
        sandbox.start()
        state = sandbox.state()
        say(
            f"ready in {time.perf_counter() - started:.1f} s: AWS at {state['aws_endpoint']}, receiver at {receiver.url}"
        )
        say(
            f"  buses {state['bus_names']}, subscriptions API {state['subscriptions_api']}, inbound {sorted(state['inbound'])}"
        )
        bus = state["bus_names"][0]

        def client(service: str) -> Any:
            return boto3.client(
                service,
                endpoint_url=state["aws_endpoint"],
                region_name=state["region"],
                aws_access_key_id="sandbox",
                aws_secret_access_key="sandbox",  # noqa: S106 - moto's fake credentials
            )

        events, sqs = client("events"), client("sqs")
        audit_secret = sandbox.local_secrets["tenants[0].destinations[1].auth.secret"]

        def signed_payload(request: dict[str, Any], secret: str) -> dict[str, Any]:
            headers = {k: v for k, v in request["headers"].items() if k.startswith("webhook-")}
            return dict(Webhook(secret).verify(request["body"], headers))

        def expect(condition: bool, message: str) -> None:
            if not condition:
                raise AssertionError(message)

        def publish_one(source: str, event_type: str, detail: dict[str, Any], tenant_id: str, event_id: str) -> None:
            """Put one event on the entry bus, as an application publishing through hookstack would."""
            publish(events, [make_event(source, event_type, detail, tenant_id=tenant_id, event_id=event_id)], bus)

        # -- 1. outgoing through API destinations ----------------------------------------------
        flow = "outgoing: EventBridge API destinations"
        say()
        say(flow)

        def api_key_and_transform() -> str:
            publish_one("demo.app", "widget.created", {"widgetName": "Sprocket"}, "1", "evt_demo_1")
            (request,) = receiver.wait_for("/tenant-1/crm", 1, containing="evt_demo_1")
            body = json.loads(request["body"])
            expect(body == {"text": "Widget Sprocket created", "eventId": "evt_demo_1"}, f"unexpected body {body}")
            expect(
                request["headers"].get("x-api-key") == raw["tenants"][0]["destinations"][0]["auth"]["value"],
                "API key header missing",
            )
            return f"tenant 1 crm got {request['body']} with its x-api-key header"

        def basic_and_oauth() -> str:
            publish_one("demo.app", "widget.updated", {"widgetName": "Gear"}, "2", "evt_demo_2")
            (erp,) = receiver.wait_for("/tenant-2/erp", 1, containing="evt_demo_2")
            expect(
                erp["method"] == "PUT" and erp["headers"]["authorization"].startswith("Basic "),
                "Basic auth PUT expected",
            )
            analytics = receiver.wait_for("/flaky/1/tenant-2/analytics", 2, containing="evt_demo_2")
            expect([r["status"] for r in analytics][:2] == [503, 200], f"statuses {[r['status'] for r in analytics]}")
            expect(analytics[-1]["headers"]["authorization"].startswith("Bearer "), "OAuth bearer token expected")
            return "tenant 2 erp (Basic, PUT) delivered; analytics (OAuth token fetched) answered 503, retried, 200"

        def dead_letter() -> str:
            publish_one("demo.app", "widget.created", {"widgetName": "Doomed"}, "3", "evt_demo_3")
            attempts = receiver.wait_for("/status/500/tenant-3", 4, containing="evt_demo_3", timeout=30)
            expect(len(attempts) == 4, f"{len(attempts)} attempts, expected 1 + 3 retries")
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                for message in sqs.receive_message(
                    QueueUrl=state["dead_letter_queue_url"],
                    MaxNumberOfMessages=10,
                    MessageAttributeNames=["All"],
                    WaitTimeSeconds=1,
                ).get("Messages", []):
                    if json.loads(message["Body"])["detail"]["eventId"] == "evt_demo_3":
                        attributes = {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}
                        sqs.change_message_visibility(
                            QueueUrl=state["dead_letter_queue_url"],
                            ReceiptHandle=message["ReceiptHandle"],
                            VisibilityTimeout=0,
                        )
                        return f"4 attempts answered 500, then the event went to the DLQ ({attributes['ERROR_CODE']}, {attributes['EXHAUSTED_RETRY_CONDITION']})"
            raise AssertionError("the failed event never reached the dead-letter queue")

        demo.step(flow, "API key destination, input transformer", api_key_and_transform)
        demo.step(flow, "Basic and OAuth destinations, retry on 503", basic_and_oauth)
        demo.step(flow, "failing destination ends in the DLQ", dead_letter)

        # -- 2. signed deliveries ---------------------------------------------------------------
        flow = "outgoing: signed deliveries (Standard Webhooks)"
        say()
        say(flow)

        def config_endpoint() -> str:
            (request,) = receiver.wait_for("/tenant-1/audit", 1, containing="evt_demo_1", timeout=30)
            payload = signed_payload(request, audit_secret)
            expect(request["headers"]["webhook-id"] == "evt_demo_1", "webhook-id must be the stable event id")
            return f"tenant 1 audit got a {payload['type']} signed delivery; the official standardwebhooks library verified it"

        api = state["subscriptions_api"]

        def api_endpoint() -> str:
            created = requests.post(
                f"{api}/tenants/2/endpoints",
                json={"url": f"{receiver.url}/flaky/2/tenant-2/orders", "eventTypes": ["order.paid"]},
                timeout=15,
            )
            expect(created.status_code == 201, f"create answered {created.status_code}: {created.text}")
            endpoint = created.json()
            time.sleep(1.2)  # the fan-out caches endpoint lists for 1 s in the sandbox
            publish_one("demo.shop", "order.paid", {"total": 42}, "2", "evt_demo_4")
            deliveries = receiver.wait_for("/flaky/2/tenant-2/orders", 3, containing="evt_demo_4", timeout=60)
            expect(
                [r["status"] for r in deliveries][:3] == [503, 503, 200],
                f"statuses {[r['status'] for r in deliveries]}",
            )
            payload = signed_payload(deliveries[2], endpoint["secret"])
            endpoint_id = endpoint.get("endpointId") or endpoint.get("id")
            history: list[dict[str, Any]] = []
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and len(history) < 3:
                history = requests.get(f"{api}/tenants/2/endpoints/{endpoint_id}/attempts", timeout=15).json()["data"]
                time.sleep(0.3)
            statuses = [a.get("statusCode") for a in history[:3]]
            expect(statuses == [200, 503, 503], f"history {statuses}")
            return f"endpoint created through the API; 503, 503, then 200 on the retry schedule; {payload['type']} verified; history newest first {statuses}"

        def ssrf() -> str:
            response = requests.post(
                f"{api}/tenants/2/endpoints", json={"url": "https://169.254.169.254/latest/meta-data"}, timeout=15
            )
            expect(response.status_code == 400, f"answered {response.status_code}")
            return f"cloud metadata address refused: {response.json()['error']['message']}"

        demo.step(flow, "config-declared endpoint, verified signature", config_endpoint)
        demo.step(flow, "endpoint from the subscription API, retries, history", api_endpoint)
        demo.step(flow, "SSRF: private addresses refused", ssrf)

        # -- 3. database writes -------------------------------------------------------------------
        flow = "database: Aurora outbox -> relay -> webhooks"
        say()
        say(flow)
        dsn = state["postgres_dsn"]

        def create_widget() -> str:
            with psycopg.connect(dsn, autocommit=True) as connection:
                connection.execute("CALL create_widget(1, 'fooWidget')")
            (crm,) = receiver.wait_for("/tenant-1/crm", 1, containing="fooWidget", timeout=30)
            (audit,) = receiver.wait_for("/tenant-1/audit", 1, containing="fooWidget", timeout=30)
            body = json.loads(crm["body"])
            expect(body["text"] == "Widget fooWidget created", f"crm body {body}")
            expect(audit["headers"]["webhook-id"] == body["eventId"], "both deliveries must carry the same event id")
            signed_payload(audit, audit_secret)
            return f"CALL create_widget(1, 'fooWidget') -> crm got {crm['body']}; audit got it signed, same id"

        def rollback() -> str:
            with psycopg.connect(dsn) as connection:
                connection.execute("CALL create_widget(1, 'ghostWidget')")
                connection.rollback()
            with psycopg.connect(dsn, autocommit=True) as connection:
                connection.execute("CALL create_widget(1, 'laterWidget')")
            receiver.wait_for("/tenant-1/crm", 1, containing="laterWidget", timeout=30)
            receiver.wait_for("/tenant-1/audit", 1, containing="laterWidget", timeout=30)
            expect(
                not [r for r in receiver.received("/tenant-1") if "ghostWidget" in r["body"]],
                "a rolled-back write was delivered",
            )
            return "a rolled-back write sent nothing; the next committed write was delivered"

        def swept() -> str:
            with psycopg.connect(dsn, autocommit=True) as connection:
                connection.execute("UPDATE aws_lambda_double.behaviour SET fail_next = 1")
                connection.execute("CALL create_widget(1, 'sweptWidget')")
            started_wait = time.perf_counter()
            receiver.wait_for("/tenant-1/crm", 1, containing="sweptWidget", timeout=60)
            return f"aws_lambda.invoke failed at commit, the write committed anyway; the sweeper delivered it {time.perf_counter() - started_wait:.1f} s later"

        demo.step(flow, "CALL create_widget(1, 'fooWidget')", create_widget)
        demo.step(flow, "rollback sends nothing", rollback)
        demo.step(flow, "failed invoke, sweeper delivers", swept)

        # -- 4. inbound ---------------------------------------------------------------------------
        flow = "inbound: verify -> dedupe -> claim-check -> FIFO -> Pipe -> bus"
        say()
        say(flow)
        sources = {s["name"]: s["secret"] for s in raw["consumer"]["sources"]}

        def observed(predicate: Callable[[dict[str, Any]], bool], timeout: float = 30.0) -> list[dict[str, Any]]:
            found: list[dict[str, Any]] = []
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and not found:
                for message in sqs.receive_message(
                    QueueUrl=state["events_queue_url"], MaxNumberOfMessages=10, WaitTimeSeconds=1
                ).get("Messages", []):
                    event = json.loads(message["Body"])
                    if predicate(event):
                        found.append(event)
                        sqs.delete_message(QueueUrl=state["events_queue_url"], ReceiptHandle=message["ReceiptHandle"])
            return found

        def github() -> str:
            delivery = str(uuid.uuid4())
            body = json.dumps(
                {"ref": "refs/heads/main", "repository": {"id": 1296269, "full_name": "octo/hello"}}
            ).encode()
            signature = "sha256=" + hmac.new(sources["github"].encode(), body, hashlib.sha256).hexdigest()
            headers = {
                "Content-Type": "application/json",
                "X-Hub-Signature-256": signature,
                "X-GitHub-Event": "push",
                "X-GitHub-Delivery": delivery,
            }
            first = requests.post(state["inbound"]["github"], data=body, headers=headers, timeout=15)
            second = requests.post(state["inbound"]["github"], data=body, headers=headers, timeout=15)
            expect(
                (first.status_code, second.status_code) == (200, 200),
                f"answered {first.status_code}, {second.status_code}",
            )
            found = observed(lambda e: e["source"] == "hookstack.github" and e["detail"].get("deliveryId") == delivery)
            time.sleep(1.0)
            found += observed(lambda e: e["detail"].get("deliveryId") == delivery, timeout=1.5)
            expect(len(found) == 1, f"{len(found)} events for one delivery")
            return f"push verified, posted twice (a provider retry), one {found[0]['detail-type']} event on the bus"

        def bad_signature() -> str:
            response = requests.post(
                state["inbound"]["github"],
                data=b"{}",
                headers={
                    "X-Hub-Signature-256": "sha256=" + "0" * 64,
                    "X-GitHub-Event": "push",
                    "X-GitHub-Delivery": "x",
                },
                timeout=15,
            )
            expect(response.status_code == 401, f"answered {response.status_code}")
            return "forged signature answered 401, nothing enqueued"

        def stripe_large() -> str:
            event_id = f"evt_{uuid.uuid4().hex}"
            payload = json.dumps(
                {
                    "id": event_id,
                    "type": "invoice.paid",
                    "data": {"object": {"customer": "cus_demo", "notes": "n" * 50_000}},
                }
            )
            timestamp = int(time.time())
            signature = hmac.new(
                sources["stripe"].encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256
            ).hexdigest()
            response = requests.post(
                state["inbound"]["stripe"],
                data=payload,
                timeout=15,
                headers={"Content-Type": "application/json", "Stripe-Signature": f"t={timestamp},v1={signature}"},
            )
            expect(response.status_code == 200, f"answered {response.status_code}: {response.text}")
            (event,) = observed(
                lambda e: e["source"] == "hookstack.stripe" and e["detail"].get("deliveryId") == event_id
            )
            expect(len(event["detail"]["payload"]["data"]["object"]["notes"]) == 50_000, "payload not rehydrated")
            return f"{len(payload)} byte payload stored in S3 (threshold 20000), the pointer queued, rehydrated into {event['detail-type']}"

        def twilio() -> str:
            url = state["inbound"]["twilio"]
            params = {"MessageSid": f"SM{uuid.uuid4().hex}", "From": "+15550100", "Body": "hello"}
            data = url + "".join(f"{k}{params[k]}" for k in sorted(params))
            signature = base64.b64encode(
                hmac.new(sources["twilio"].encode(), data.encode(), hashlib.sha1).digest()
            ).decode()
            response = requests.post(
                url,
                data=urlencode(params),
                timeout=15,
                headers={"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature},
            )
            expect(response.status_code == 200, f"answered {response.status_code}: {response.text}")
            (event,) = observed(
                lambda e: (
                    e["source"] == "hookstack.twilio"
                    and e["detail"]["payload"].get("MessageSid") == params["MessageSid"]
                )
            )
            return f"form post signed over the public URL verified; {event['detail-type']} event on the bus"

        demo.step(flow, "GitHub push, verified, retried delivery deduplicated", github)
        demo.step(flow, "forged signature rejected", bad_signature)
        demo.step(flow, "large Stripe payload claim-checked to S3", stripe_large)
        demo.step(flow, "Twilio form post", twilio)
    finally:
        sandbox.stop()
        receiver.stop()
    code = demo.summary()
    say(f"total {time.perf_counter() - started:.1f} s; exit {code}")
    return code
