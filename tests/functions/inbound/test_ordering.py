"""Order per FIFO message group, with a poison message, and the inbound redrive putting it back.

The real ingest and enrichment handlers on moto; the Pipe is played one step at a time (batch size
1: receive one message, enrich, then delete it, or leave it in flight when the enrichment fails), and
a visibility timeout running out is played by making the failed message visible again. moto's FIFO
receive holds back a group while one of its messages is in flight and moves a message to the
dead-letter queue at the receive after its ``maxReceiveCount``-th, as SQS does.

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


# --- the orderingKey each kind's documentation recommends -------------------------------------------
# Payloads as the providers' documentation shows them (trimmed to the fields that matter).
SAMPLES: dict[str, tuple[str, bytes]] = {
    "github": (
        "application/json",
        b'{"action": "opened", "repository": {"id": 1296269, "full_name": "octocat/Hello-World"}}',
    ),
    "stripe": (
        "application/json",
        b'{"id": "evt_1", "type": "invoice.paid", "data": {"object": {"id": "in_1", "object": "invoice", "customer": "cus_1"}}}',
    ),
    "shopify": (
        "application/json",
        b'{"id": 820982911946154508, "admin_graphql_api_id": "gid://shopify/Order/820982911946154508", "email": "jon@example.com"}',
    ),
    "slack": (
        "application/json",
        b'{"type": "event_callback", "team_id": "T123ABC456", "event": {"type": "message", "channel": "C123ABC456"}}',
    ),
    "twilio": (
        "application/x-www-form-urlencoded",
        b"AccountSid=AC123&CallSid=CA123&CallStatus=completed&MessageSid=SM123",
    ),
    "standard": (
        "application/json",
        b'{"type": "invoice.paid", "timestamp": "2026-01-01T00:00:00Z", "data": {"id": "inv_1"}}',
    ),
}


def documented_keys() -> dict[str, list[str]]:
    """kind -> the orderingKey paths the per-kind table of docs/consumer.md recommends."""
    text = CONSUMER_DOC.read_text()
    section = text[text.index("#### `orderingKey` per kind") :]
    section = section[: section.index("\n\n", section.index("|"))]
    keys: dict[str, list[str]] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        kind = cells[0].strip("`")
        if kind in KIND_NAMES:
            keys[kind] = re.findall(r"`([^`]+)`", cells[1])
    return keys


def test_the_documented_ordering_keys_find_a_group_in_each_providers_payload() -> None:
    keys = documented_keys()
    assert set(SAMPLES) <= set(keys), "every kind with a sample has a row in docs/consumer.md"
    for kind, (content_type, body) in SAMPLES.items():
        payload = parse_payload(body, content_type)
        for key in keys[kind]:
            group = message_group_id(kind, key, payload)
            assert group.startswith(f"{kind}:") and len(group) > len(kind) + 1, (kind, key, group)


def test_standard_webhooks_have_no_recommended_key_and_order_by_source() -> None:
    assert documented_keys()["standard"] == []
    content_type, body = SAMPLES["standard"]
    assert message_group_id("std", None, parse_payload(body, content_type)) == "std"
