"""Consume inbound webhooks as events, with your own rule and queue on the entry bus.

    python examples/consume_inbound.py --state-file .sandbox/examples.json --source shop \
        --secret whsec_aG9va3N0YWNrLWV4YW1wbGVzLXNob3Atc291cmNlLWtleQ==

hookstack verifies each webhook a source sends (here a Standard Webhooks sender, signed below with
the official library, as the sender would), deduplicates it, keeps it in order per ordering key and
puts it on the entry bus as an event with ``source`` = ``<provider.eventSource>.<source name>``
(``hookstack.shop``; the state file lists them as ``inbound_event_sources``). Anything of yours
subscribes with a rule; here an SQS queue:

1. a queue, and a queue policy letting EventBridge send to it for this rule only
   (``aws:SourceArn``; AWS drops the events otherwise: the sandbox does not check it);
2. a rule on the entry bus matching that ``source``, targeting the queue;
3. a signed webhook posted to the source's URL, and the event read back from the queue.

In a real deployment, declare 1 and 2 in your own Pulumi or CloudFormation code, on the stack output
``busName``; this script does it with boto3 (idempotent, safe to run again).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import boto3
import requests
from standardwebhooks.webhooks import Webhook

QUEUE_NAME = "example-inbound-events"
RULE_NAME = "example-inbound-events"
WAIT_SECONDS = 30


def subscribe(events: Any, sqs: Any, bus: str, source: str) -> str:
    """Rule + queue + queue policy; returns the queue URL."""
    queue_url = sqs.create_queue(QueueName=QUEUE_NAME)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    rule_arn = events.put_rule(Name=RULE_NAME, EventBusName=bus, EventPattern=json.dumps({"source": [source]}))[
        "RuleArn"
    ]
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "events.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}},
            }
        ],
    }
    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": json.dumps(policy)})
    events.put_targets(Rule=RULE_NAME, EventBusName=bus, Targets=[{"Id": "queue", "Arn": queue_arn}])
    return str(queue_url)


def send_webhook(url: str, secret: str, payload: dict[str, Any]) -> str:
    """What the sender does: sign the raw body (Standard Webhooks) and POST it; returns its id."""
    message_id = f"msg_{uuid.uuid4().hex}"
    body = json.dumps(payload)
    now = datetime.now(tz=UTC)
    headers = {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(message_id, now, body),
    }
    answer = requests.post(url, data=body, headers=headers, timeout=15)
    answer.raise_for_status()  # 2xx: hookstack holds it (acknowledged webhooks are never lost)
    return message_id


def wait_for_event(sqs: Any, queue_url: str, marker: str) -> dict[str, Any]:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        for message in sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
            "Messages", []
        ):
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            # detail: eventId (stable across the sender's retries), deliveryId, eventType, payload, ...
            event: dict[str, Any] = json.loads(message["Body"])
            if marker in message["Body"]:
                return event
    raise SystemExit(f"no event with {marker} on {QUEUE_NAME} within {WAIT_SECONDS} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--state-file", default=".sandbox/examples.json")
    parser.add_argument("--source", default="shop", help="the inbound source's name in the stack file")
    parser.add_argument("--secret", required=True, help="the source's whsec_ secret (consumer.sources[].secret)")
    args = parser.parse_args(argv)
    with open(args.state_file, encoding="utf-8") as file:
        state = json.load(file)
    aws = {
        "endpoint_url": state["aws_endpoint"],
        "region_name": state["region"],
        "aws_access_key_id": "sandbox",
        "aws_secret_access_key": "sandbox",
    }
    events, sqs = boto3.client("events", **aws), boto3.client("sqs", **aws)
    event_source = state["inbound_event_sources"][args.source]
    queue_url = subscribe(events, sqs, state["bus_names"][0], event_source)
    order = f"order-{uuid.uuid4().hex[:8]}"
    message_id = send_webhook(state["inbound"][args.source], args.secret, {"type": "order.paid", "order": order})
    event = wait_for_event(sqs, queue_url, order)
    print(
        json.dumps(
            {
                "webhook": message_id,
                "source": event["source"],
                "detail-type": event["detail-type"],
                "detail": event["detail"],
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
