"""Inbound fixtures: the consumer's stores created in moto, and function URL events.

``inbound_stack`` creates what the component would (one secret per source, the dedupe table with TTL,
the FIFO queue with its FIFO dead-letter queue, the payload bucket), sets the ``CONSUMER_*`` variables
the component sets, and resets the handlers' lazily created clients so they are built inside the mock.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest

from functions.inbound import enrich, ingest
from functions.inbound.settings import EnrichSettings, IngestSettings
from functions.inbound.verify import SignedRequest
from tests.functions.inbound.recipes import RECIPES, SQUARE_URL
from tests.functions.inbound.signers import TWILIO_URL, discord_public_key, sendgrid_public_key, whsec

EVENTS = Path(__file__).resolve().parent.parent.parent / "events" / "inbound"
_SESSION: list[Any] = []


def shared_session() -> Any:
    """One boto3 session for every test: its model cache makes a client ~10x cheaper to create.

    Created after moto is imported, so moto's request hook is part of it.
    """
    if not _SESSION:
        import moto  # noqa: F401  (registers moto's botocore hook before the session copies the handlers)

        _SESSION.append(boto3.session.Session())
    return _SESSION[0]


SOURCES: dict[str, dict[str, Any]] = {
    "github": {"kind": "github", "orderingKey": "repository.id", "current": "gh-current"},
    "stripe": {"kind": "stripe", "orderingKey": "data.object.customer", "current": "whsec_stripe"},
    "twilio": {"kind": "twilio", "current": "tw-token", "publicUrl": TWILIO_URL},
    "slack": {"kind": "slack", "current": "slack-secret"},
    "shopify": {"kind": "shopify", "current": "shop-secret"},
    "standard": {"kind": "standard", "current": whsec(b"std"), "eventTypePath": "type"},
    # Issue 14: generic-HMAC recipes, public-key providers, Microsoft Graph.
    "linear": {"kind": "hmac", "current": "lin-secret", "hmac": RECIPES["linear"], "eventTypePath": "type"},
    "paddle": {"kind": "hmac", "current": "pdl-secret", "hmac": RECIPES["paddle"], "eventTypePath": "event_type"},
    "square": {"kind": "hmac", "current": "sq-key", "hmac": RECIPES["square"], "publicUrl": SQUARE_URL},
    "zoom": {"kind": "hmac", "current": "zoom-secret", "hmac": RECIPES["zoom"], "eventTypePath": "event"},
    "dropbox": {"kind": "hmac", "current": "dbx-secret", "hmac": RECIPES["dropbox"]},
    "sendgrid": {"kind": "sendgrid", "current": sendgrid_public_key()},
    "discord": {"kind": "discord", "current": discord_public_key()},
    "msgraph": {"kind": "msgraph", "current": "graph-client-state"},
    "mailgun": {"kind": "mailgun", "current": "mg-signing-key"},
    # dedupe: off (functions/inbound/dedupe.py): every request its own event, no ledger.
    "dropbox-sync": {"kind": "hmac", "current": "dbx-secret", "hmac": RECIPES["dropbox"], "dedupe": "off"},
    "graph-sync": {"kind": "msgraph", "current": "graph-client-state", "dedupe": "off"},
}


@dataclass
class InboundStack:
    queue_url: str
    dlq_url: str
    table: str
    bucket: str
    secret_ids: dict[str, str]
    env: dict[str, str] = field(default_factory=dict)

    clients: dict[str, Any] = field(default_factory=dict)

    def client(self, service: str) -> Any:
        if service not in self.clients:
            self.clients[service] = shared_session().client(service)
        return self.clients[service]

    def set_secret(self, source: str, current: str, previous: str | None = None) -> None:
        spec = SOURCES[source]
        value = {"current": current, "previous": previous, "publicUrl": spec.get("publicUrl", f"https://x/{source}")}
        self.client("secretsmanager").put_secret_value(SecretId=self.secret_ids[source], SecretString=json.dumps(value))

    def messages(self) -> list[dict[str, Any]]:
        """Everything on the FIFO queue (received, then made visible again)."""
        sqs = self.client("sqs")
        found: list[dict[str, Any]] = []
        for _ in range(20):
            batch = sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=10, AttributeNames=["All"], VisibilityTimeout=0
            ).get("Messages", [])
            new = [m for m in batch if m["MessageId"] not in {f["MessageId"] for f in found}]
            if not new:
                break
            found.extend(new)
        return found

    def objects(self) -> list[str]:
        listing = self.client("s3").list_objects_v2(Bucket=self.bucket)
        return [item["Key"] for item in listing.get("Contents", [])]

    def ledger(self, key: str) -> dict[str, Any] | None:
        item = self.client("dynamodb").get_item(TableName=self.table, Key={"pk": {"S": key}}).get("Item")
        return None if item is None else {k: next(iter(v.values())) for k, v in item.items()}


def create_stack(monkeypatch: pytest.MonkeyPatch, threshold: int = 1000, *, share_session: bool = True) -> InboundStack:
    sqs = shared_session().client("sqs")
    dlq_url = sqs.create_queue(QueueName="inbound-dlq.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    queue_url = sqs.create_queue(
        QueueName="inbound.fifo",
        Attributes={
            "FifoQueue": "true",
            "ContentBasedDeduplication": "false",
            "VisibilityTimeout": "180",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 5}),
        },
    )["QueueUrl"]
    dynamodb = shared_session().client("dynamodb")
    dynamodb.create_table(
        TableName="inbound-ledger",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.update_time_to_live(
        TableName="inbound-ledger", TimeToLiveSpecification={"Enabled": True, "AttributeName": "expiresAt"}
    )
    s3 = shared_session().client("s3")
    s3.create_bucket(Bucket="inbound-payloads")
    secretsmanager = shared_session().client("secretsmanager")
    secret_ids = {}
    sources_env = {}
    for name, spec in SOURCES.items():
        value = {"current": spec["current"], "previous": None, "publicUrl": spec.get("publicUrl", f"https://x/{name}")}
        arn = secretsmanager.create_secret(Name=f"inbound/{name}", SecretString=json.dumps(value))["ARN"]
        secret_ids[name] = arn
        sources_env[name] = {
            "kind": spec["kind"],
            "secretId": f"inbound/{name}",  # the component passes secret names (shorter than ARNs)
            "orderingKey": spec.get("orderingKey"),
            "eventTypePath": spec.get("eventTypePath"),
            "hmac": spec.get("hmac"),
            "dedupe": spec.get("dedupe"),
        }
    env = {
        "CONSUMER_SOURCES": json.dumps(sources_env),
        "CONSUMER_TABLE_NAME": "inbound-ledger",
        "CONSUMER_QUEUE_URL": queue_url,
        "CONSUMER_BUCKET_NAME": "inbound-payloads",
        "CONSUMER_CLAIM_CHECK_THRESHOLD_BYTES": str(threshold),
        "CONSUMER_DEDUPE_TTL_SECONDS": "3600",
        "CONSUMER_SECRET_TTL_SECONDS": "300",
        "CONSUMER_MAX_TARGET_ITEM_BYTES": str(256 * 1024),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("CONSUMER_EVENT_SOURCE", raising=False)  # tests that need one set it
    ingest.reset()
    enrich.reset()
    if share_session:
        # What runtime() would build at the first request, from the shared session.
        ingest._state.set(ingest.Runtime(IngestSettings.from_environ(env), session=shared_session()))
        enrich._state.set(enrich.Runtime(EnrichSettings.from_environ(env), session=shared_session()))
    return InboundStack(
        queue_url=queue_url,
        dlq_url=dlq_url,
        table="inbound-ledger",
        bucket="inbound-payloads",
        secret_ids=secret_ids,
        env=env,
        clients={"sqs": sqs, "dynamodb": dynamodb, "secretsmanager": secretsmanager, "s3": s3},
    )


@pytest.fixture
def inbound_stack(aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[InboundStack]:
    stack = create_stack(monkeypatch)
    yield stack
    ingest.reset()
    enrich.reset()


def function_url_event(
    path: str,
    request: SignedRequest,
    *,
    method: str = "POST",
    base64_body: bool = False,
) -> dict[str, Any]:
    """A Lambda function URL event (payload format 2.0), built from the stored sample."""
    event = json.loads((EVENTS / "function_url_event.json").read_text())
    event["rawPath"] = path
    event["requestContext"]["http"]["path"] = path
    event["requestContext"]["http"]["method"] = method
    event["rawQueryString"] = request.query
    event["headers"] = {**event["headers"], **dict(request.headers)}
    if base64_body:
        event["body"] = base64.b64encode(request.body).decode()
        event["isBase64Encoded"] = True
    else:
        event["body"] = request.body.decode("utf-8")
        event["isBase64Encoded"] = False
    return event


def status(response: Mapping[str, Any]) -> int:
    return int(response["statusCode"])


def body_of(response: Mapping[str, Any]) -> dict[str, Any]:
    return dict(json.loads(response["body"]))
