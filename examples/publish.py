"""Publish an event from an application, with ``functions.events.publish``.

    python examples/publish.py --tenant acme --type order.created --data '{"orderId": 7, "total": 120}'

``publish`` checks ``FailedEntryCount`` (PutEvents answers 200 even when entries failed), retries the
entries that can succeed later, and raises ``PublishError`` naming the ones that could not. Every
event gets an ``eventId`` (pass your own to make a retry of your own idempotent): receivers
deduplicate on it. Against the sandbox, the endpoint and the bus come from its state file; against
AWS, leave out ``--state-file`` and give ``--bus`` (the stack output ``busName``): boto3 then uses
your usual credentials and region. Outside this repository, ``pip install`` the publisher
(``publisher/README.md``): the import below is the same.
"""

from __future__ import annotations

import argparse
import json
import sys

import boto3

from functions.events import make_event, publish


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--state-file", help="a sandbox's state file (default: real AWS)")
    parser.add_argument("--bus", help="the entry bus (default: the sandbox's)")
    parser.add_argument("--tenant", required=True)
    parser.add_argument("--type", required=True, help="the event type (detail-type)")
    parser.add_argument("--data", default="{}", help="the event's fields, a JSON object")
    parser.add_argument("--event-id", help="default: a new evt_... id")
    parser.add_argument("--source", default="example.app")
    args = parser.parse_args(argv)

    if args.state_file:
        with open(args.state_file, encoding="utf-8") as file:
            state = json.load(file)
        # The sandbox accepts any credentials; these keep boto3 from looking for yours.
        events = boto3.client(
            "events",
            endpoint_url=state["aws_endpoint"],
            region_name=state["region"],
            aws_access_key_id="sandbox",
            aws_secret_access_key="sandbox",  # noqa: S106 (the sandbox accepts any credentials)
        )
        bus = args.bus or state["bus_names"][0]
    else:
        if not args.bus:
            parser.error("--bus is required without --state-file (the stack output busName)")
        events, bus = boto3.client("events"), args.bus
    event = make_event(args.source, args.type, json.loads(args.data), tenant_id=args.tenant, event_id=args.event_id)
    publish(events, [event], bus)
    print(json.dumps({"published": event.event_id, "bus": bus, "tenantId": event.tenant_id, "type": event.event_type}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
