"""Order per FIFO message group, with a poison message, and the inbound redrive putting it back.

The real ingest and enrichment handlers on moto; the Pipe is played one step at a time (batch size
1: receive one message, enrich, then delete it, or leave it in flight when the enrichment fails), and
a visibility timeout running out is played by making the failed message visible again. moto's FIFO
receive holds back a group while one of its messages is in flight and moves a message to the
dead-letter queue at the receive after its ``maxReceiveCount``-th, as SQS does.
(A receive with ``VisibilityTimeout=0`` is no peek in moto 5.2.5: the group's next receive then skips
its head, unlike SQS; so nothing here peeks at the main queue while the Pipe works on it.)

docs/consumer.md "Ordering" states what these tests show: other groups are never held up by a
failing message; the later messages of its group wait until it reaches the dead-letter queue, then
proceed in order; a redriven message goes back into its own group, behind what arrived since.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

from functions.inbound import enrich, ingest
from functions.inbound.envelope import message_group_id
from functions.inbound.kinds import KIND_NAMES
from functions.inbound.payload import parse_payload
from ops.inbound_redrive import redrive_inbound
from sandbox.sqs_worker import sqs_record
from tests.functions.inbound import signers
from tests.functions.inbound.conftest import InboundStack, function_url_event, status

CONSUMER_DOC = Path(__file__).resolve().parents[3] / "docs" / "consumer.md"
MAX_RECEIVE_COUNT = 5  # the fixture's redrive policy (the config's minimum)


def post_github(stack: InboundStack, delivery: str, repository: int, *, size: int = 0) -> bytes:
    body = json.dumps({"after": delivery, "repository": {"id": repository}, "pad": "x" * size}).encode()
    request = signers.github(body, "gh-current")
    request = dataclasses.replace(request, headers={**request.headers, "x-github-delivery": delivery})
    assert status(ingest.handler(function_url_event("/github", request))) == 200
    return body


class Pipe:
    """The Pipe, one message at a time; ``done`` lists (group, deliveryId) in the order enriched."""

    def __init__(self, stack: InboundStack) -> None:
        self.sqs = stack.client("sqs")
        self.queue_url = stack.queue_url
        self.queue_arn = self.sqs.get_queue_attributes(QueueUrl=stack.queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        self.done: list[tuple[str, str]] = []
        self.in_flight: dict[str, Any] | None = None

    def step(self) -> str:
        """``delivered``, ``failed`` or ``nothing`` (every group with messages is held)."""
        messages = self.sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=1, VisibilityTimeout=180, MessageSystemAttributeNames=["All"]
        ).get("Messages", [])
        if not messages:
            return "nothing"
        (message,) = messages
        try:
            (item,) = enrich.handler([sqs_record(message, self.queue_arn)])
        except enrich.PayloadMissingError:
            self.in_flight = message
            return "failed"
        self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        self.done.append((message["Attributes"]["MessageGroupId"], item["detail"]["deliveryId"]))
        return "delivered"

    def time_out(self) -> None:
        """The failed message's visibility timeout runs out: it is visible again."""
        assert self.in_flight is not None
        self.sqs.change_message_visibility(
            QueueUrl=self.queue_url, ReceiptHandle=self.in_flight["ReceiptHandle"], VisibilityTimeout=0
        )
        self.in_flight = None


def dead_letters(stack: InboundStack) -> list[tuple[str, str]]:
    """(group, deliveryId) of the dead-letter queue's messages (made visible again)."""
    messages = stack.client("sqs").receive_message(
        QueueUrl=stack.dlq_url, MaxNumberOfMessages=10, VisibilityTimeout=0, MessageSystemAttributeNames=["All"]
    )
    return [
        (m["Attributes"]["MessageGroupId"], json.loads(m["Body"])["deliveryId"]) for m in messages.get("Messages", [])
    ]


def test_a_poison_message_holds_only_its_group_until_it_dead_letters_and_redrive_puts_it_back(
    inbound_stack: InboundStack,
) -> None:
    s3 = inbound_stack.client("s3")
    # W is claim-checked (above the 1000-byte threshold); its payload disappears: the enrichment fails.
    poison_body = post_github(inbound_stack, "W", 1, size=2000)
    (key,) = inbound_stack.objects()
    s3.delete_object(Bucket=inbound_stack.bucket, Key=key)
    for delivery, repository in (("A", 1), ("B", 1), ("C", 2)):
        post_github(inbound_stack, delivery, repository)
    pipe = Pipe(inbound_stack)

    assert pipe.step() == "failed"  # W, the head of github:1
    assert pipe.step() == "delivered"  # C: github:2 is not held up by W
    assert pipe.step() == "nothing"  # A and B wait behind W, in flight
    for _ in range(MAX_RECEIVE_COUNT - 1):
        pipe.time_out()
        assert pipe.step() == "failed"
    assert dead_letters(inbound_stack) == []
    pipe.time_out()
    assert pipe.step() == "delivered"  # this receive moved W to the dead-letter queue; A follows
    assert dead_letters(inbound_stack) == [("github:1", "W")]
    assert pipe.step() == "delivered"
    assert pipe.done == [("github:2", "C"), ("github:1", "A"), ("github:1", "B")]

    # A later message of the group, then the fix (the payload is back) and the redrive.
    post_github(inbound_stack, "D", 1)
    s3.put_object(Bucket=inbound_stack.bucket, Key=key, Body=poison_body)
    report = redrive_inbound(
        inbound_stack.client("sqs"), inbound_stack.queue_url, inbound_stack.dlq_url, execute=True, wait_seconds=0
    )
    assert (report.sent, report.deleted, report.kept) == (1, 1, [])
    assert dead_letters(inbound_stack) == []

    while pipe.step() == "delivered":
        pass
    # W went back into github:1, behind D which arrived while W was dead-lettered.
    assert pipe.done[3:] == [("github:1", "D"), ("github:1", "W")]


def post_shopify(stack: InboundStack, webhook_id: str, *, size: int = 0) -> None:
    body = json.dumps({"admin_graphql_api_id": f"gid://shopify/Order/{webhook_id}", "pad": "x" * size}).encode()
    request = signers.shopify(body, "shop-secret")
    request = dataclasses.replace(request, headers={**request.headers, "x-shopify-webhook-id": webhook_id})
    assert status(ingest.handler(function_url_event("/shopify", request))) == 200


def test_without_an_ordering_key_a_failing_message_holds_its_whole_source_and_only_it(
    inbound_stack: InboundStack,
) -> None:
    """The default of every kind: the fixture's shopify source sets no orderingKey, so its webhooks
    of different orders share the group ``shopify`` and wait behind a failing one; github does not."""
    post_shopify(inbound_stack, "S1", size=2000)  # claim-checked; its payload disappears
    (key,) = inbound_stack.objects()
    inbound_stack.client("s3").delete_object(Bucket=inbound_stack.bucket, Key=key)
    post_shopify(inbound_stack, "S2")
    post_github(inbound_stack, "G", 7)
    pipe = Pipe(inbound_stack)

    assert pipe.step() == "failed"  # S1
    assert pipe.step() == "delivered"  # G
    assert pipe.step() == "nothing"  # S2, another order's webhook, waits: same group
    for _ in range(MAX_RECEIVE_COUNT - 1):
        pipe.time_out()
        assert pipe.step() == "failed"
    pipe.time_out()
    assert pipe.step() == "delivered"  # S1 dead-lettered: S2 proceeds
    assert pipe.done == [("github:7", "G"), ("shopify", "S2")]
    assert dead_letters(inbound_stack) == [("shopify", "S1")]


# --- the order per kind: docs/consumer.md "Order per kind" ------------------------------------------
# Payloads as the providers' documentation shows them (trimmed to the fields that matter), for every
# kind the table lists; a kind in the registry without one fails the test below.
SAMPLES: dict[str, list[tuple[str, bytes]]] = {
    "github": [
        ("application/json", b'{"action": "opened", "repository": {"id": 1296269, "full_name": "octocat/Hello-World"}}')
    ],
    "stripe": [
        (
            "application/json",
            b'{"id": "evt_1", "created": 1680064028, "type": "invoice.paid", '
            b'"data": {"object": {"id": "in_1", "object": "invoice", "customer": "cus_1"}}}',
        )
    ],
    "shopify": [
        (
            "application/json",
            b'{"id": 820982911946154508, "admin_graphql_api_id": "gid://shopify/Order/820982911946154508", '
            b'"updated_at": "2026-01-01T00:00:00-05:00"}',
        )
    ],
    "slack": [
        (
            "application/json",
            b'{"type": "event_callback", "team_id": "T123ABC456", "event_time": 1234567890, '
            b'"event": {"type": "message", "channel": "C123ABC456"}}',
        )
    ],
    "twilio": [
        (
            "application/x-www-form-urlencoded",
            b"AccountSid=AC123&CallSid=CA123&CallStatus=completed&MessageSid=SM123&SequenceNumber=2",
        )
    ],
    "standard": [
        ("application/json", b'{"type": "invoice.paid", "timestamp": "2026-01-01T00:00:00Z", "data": {"id": "inv_1"}}')
    ],
    "hmac": [
        (  # Linear
            "application/json",
            b'{"action": "create", "type": "Issue", "createdAt": "2020-01-23T12:53:18.084Z", '
            b'"data": {"id": "2174add1-f7c8-44e3-bbf3-2d60b5ea8bc9"}, "webhookTimestamp": 1676056940508}',
        ),
        (  # Paddle
            "application/json",
            b'{"event_id": "evt_01h", "event_type": "transaction.paid", "occurred_at": "2024-04-12T10:18:49Z", '
            b'"data": {"id": "txn_01h"}}',
        ),
        (  # Intercom
            "application/json",
            b'{"type": "notification_event", "topic": "conversation.user.created", "created_at": 1392731331, '
            b'"data": {"type": "notification_event_data", "item": {"type": "conversation", "id": "147"}}}',
        ),
        (  # Zoom
            "application/json",
            b'{"event": "meeting.started", "event_ts": 1626230691572, '
            b'"payload": {"account_id": "AAAAAABBBB", "object": {"id": "1234567890"}}}',
        ),
    ],
    "mailgun": [
        (
            "application/json",
            b'{"signature": {"timestamp": "1529006854", "token": "a8ce0edb2dd8301dee6c2405235584e45aa91d1e9f979f3de0", '
            b'"signature": "d2271d12299f6592d9d44cd9d250f0704e4674c30d79d07c47a66f95ce71cf55"}, "event-data": {"event": '
            b'"delivered", "timestamp": 1521472262.908181, "id": "CPgfbmQMTCKtHW6uIWtuVe", '
            b'"message": {"headers": {"message-id": "20130503182626.18666.16540@example.com"}}}}',
        )
    ],
    "sendgrid": [
        (
            "application/json",
            b'[{"email": "a@example.com", "timestamp": 1513299569, "event": "processed", "sg_event_id": "e1"}]',
        )
    ],
    "discord": [
        (
            "application/json",
            b'{"version": 1, "application_id": "1234567765431056709", "type": 1, "event": {"type": '
            b'"APPLICATION_AUTHORIZED", "timestamp": "2024-10-18T14:42:53.064834", "data": {"scopes": []}}}',
        )
    ],
    "msgraph": [
        (
            "application/json",
            b'{"value": [{"subscriptionId": "7f105c7d-2dc5-4530-97cd-4e7ae6534c07", "changeType": "created", '
            b'"resource": "Users/u/Messages/m", "clientState": "secretClientValue"}]}',
        )
    ],
}


def documented_rows() -> dict[str, tuple[str, list[str]]]:
    """kind -> (its default group, the orderingKey paths to set) in the per-kind table of docs/consumer.md."""
    text = CONSUMER_DOC.read_text()
    section = text[text.index("#### Order per kind") :]
    table = section[section.index("\n|") + 1 :]
    table = table[: table.index("\n\n")]
    rows: dict[str, tuple[str, list[str]]] = {}
    for line in table.splitlines()[2:]:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        rows[cells[0].strip("`")] = (cells[1], re.findall(r"`([^`]+)`", cells[3]))
    return rows


def test_every_registered_kind_is_documented_and_defaults_to_one_group_per_source() -> None:
    rows = documented_rows()
    for kind in KIND_NAMES:  # the registry: a kind added there needs a row and a sample here
        assert kind in rows, f"docs/consumer.md has no ordering row for the kind {kind!r}"
        assert rows[kind][0] == "`<source>`", (kind, rows[kind][0])
        assert kind in SAMPLES, f"no documented payload of the kind {kind!r} in SAMPLES"
        for content_type, body in SAMPLES[kind]:
            assert message_group_id("my-source", None, parse_payload(body, content_type)) == "my-source"


def test_the_documented_ordering_keys_find_a_group_in_each_providers_payload() -> None:
    rows = documented_rows()
    for kind in KIND_NAMES:
        payloads = [parse_payload(body, content_type) for content_type, body in SAMPLES[kind]]
        for key in rows[kind][1]:
            groups = {message_group_id(kind, key, payload) for payload in payloads} - {kind}
            assert groups, f"{kind}: orderingKey {key!r} finds no value in the provider's payload"
            assert all(g.startswith(f"{kind}:") and len(g) > len(kind) + 1 for g in groups), (kind, key, groups)


def test_standard_webhooks_have_no_recommended_key_and_order_by_source() -> None:
    assert documented_rows()["standard"][1] == []
