"""The event-type catalog in the delivery table: one item, written by Pulumi (``aws.dynamodb.TableItem``)
and the sandbox from ``hookstack:eventTypes``, read by the subscription API (``GET /event-types``,
the endpoint checks, test events).

The catalog is stored as one JSON text attribute (``catalog``) rather than as DynamoDB maps: a
schema's numbers and keys come back exactly as written (no ``Decimal``, no empty-set rules), and one
``GetItem`` reads it. No item = no catalog (any event type may be subscribed to: the behaviour
without ``hookstack:eventTypes``). Its size is bounded well under DynamoDB's 400 KB item limit.
"""

from __future__ import annotations

import json
from typing import Any

from functions.delivery import schema
from functions.delivery.store.dynamo import to_item
from functions.events import EventCatalog

CATALOG_KEY = {schema.PK: "CATALOG", schema.SK: "EVENT_TYPES"}
# The whole catalog as compact JSON: under DynamoDB's 400 KB item limit with room for the keys.
MAX_CATALOG_BYTES = 256 * 1024
MAX_EVENT_TYPES = 500
MAX_DESCRIPTION_CHARS = 1000
# The event type of a test event when the requested type has no example (or there is no catalog).
TEST_EVENT_TYPE = "hookstack.test"


def catalog_json(catalog: EventCatalog) -> str:
    return json.dumps(catalog.to_json(), separators=(",", ":"), sort_keys=True)


def catalog_item(catalog: EventCatalog) -> dict[str, Any]:
    """The catalog's item (DynamoDB JSON, as ``TableItem`` and ``PutItem`` take it)."""
    return to_item({**CATALOG_KEY, "catalog": catalog_json(catalog)})


def read_catalog(client: Any, table_name: str) -> EventCatalog | None:
    """The stored catalog, or ``None`` when the stack config declares none."""
    item = client.get_item(TableName=table_name, Key=to_item(CATALOG_KEY)).get("Item")
    if not item:
        return None
    return EventCatalog.from_json(item["catalog"]["S"])
