"""The delivery table: one DynamoDB table, its keys and indexes (shared by the code and the component).

Items (``pk`` / ``sk``):

=====================  ==============================  ===========================================
item                   pk                              sk
=====================  ==============================  ===========================================
endpoint definition    ``T#<tenant>``                  ``EP#<endpointId>``
endpoint state         ``T#<tenant>``                  ``ST#<endpointId>`` (disable, failures)
endpoint secrets       ``T#<tenant>``                  ``SK#<endpointId>`` (never returned by reads
                                                       of endpoints: a separate item)
tenant covered         ``T#<tenant>``                  ``RULE`` (written by Pulumi when
                                                       ``delivery.apiTenants`` is ``listed``: the
                                                       delivery rule sends this tenant's events)
message                ``M#<tenant>#<eventId>``        ``MSG`` (the exact body sent, TTL)
delivery               ``M#<tenant>#<eventId>``        ``D#<endpointId>`` (status, history, TTL)
attempt                ``A#<tenant>``                  ``<time>#<attemptId>`` (TTL; the attempt that
                                                       ended a delivery without a delivery item also
                                                       carries the delivery, and the message when the
                                                       task brought it: :mod:`~.store.deliveries`)
=====================  ==============================  ===========================================

Indexes (sparse: only items carrying the attributes are in them):

- ``byEndpoint`` (``gsi1pk`` = ``A#<tenant>#<endpointId>``, ``gsi1sk`` = ``<time>#<attemptId>``):
  an endpoint's attempts, newest first. Projects everything.
- ``failed`` (``gsi2pk`` = ``F#<tenant>#<endpointId>``, ``gsi2sk`` = ``<failedAt>#<eventId>``):
  deliveries that ended failed, for "replay every failed message since". Keys only.
- ``byEvent`` (``gsi3pk`` = ``M#<tenant>#<eventId>``, ``gsi3sk`` = ``<endpointId>#<run>``): the
  attempts that delivered a run at its first try and so ended it without a delivery item (the
  worker's cheapest path: one write per delivery); the worker asks it whether a task's run is done,
  the API finds those deliveries through it. Keys only.
- ``recent`` (``gsi4pk`` = ``R#<tenant>``, ``gsi4sk`` = ``<changedAt>#<endpointId>#<eventId>``): a
  tenant's deliveries by the time of their last status change (the run's start, then its end), for
  ``GET /tenants/{t}/deliveries`` and ``/stats`` (:mod:`functions.delivery.store.recent`). Projects
  the few attributes those read (:data:`RECENT_ATTRIBUTES`): an attempt's own writes (count, history,
  next attempt) change none of them, so the index costs one write at the start and two at the end
  of each run (its key moves), none per retry.

Endpoint definitions declared in the stack config are written by Pulumi (``aws.dynamodb.TableItem``);
their state lives in the separate ``ST#`` item so a ``pulumi up`` never resets a disable or a failure
count, and the worker never touches an item Pulumi owns.

The TTL attribute (``expiresAt``, epoch seconds) is not a key attribute and so is not declared in
the table's attribute definitions (declaring it makes an endless diff).
"""

from __future__ import annotations

from typing import Any

PK, SK = "pk", "sk"
TTL_ATTRIBUTE = "expiresAt"
BY_ENDPOINT_INDEX = "byEndpoint"
FAILED_INDEX = "failed"
BY_EVENT_INDEX = "byEvent"
RECENT_INDEX = "recent"
INDEX_KEYS = {
    BY_ENDPOINT_INDEX: ("gsi1pk", "gsi1sk"),
    FAILED_INDEX: ("gsi2pk", "gsi2sk"),
    BY_EVENT_INDEX: ("gsi3pk", "gsi3sk"),
    RECENT_INDEX: ("gsi4pk", "gsi4sk"),
}
INDEX_PROJECTIONS = {
    BY_ENDPOINT_INDEX: "ALL",
    FAILED_INDEX: "KEYS_ONLY",
    BY_EVENT_INDEX: "KEYS_ONLY",
    RECENT_INDEX: "INCLUDE",
}
# What the recent index carries besides the keys (set at a run's start or end only).
RECENT_ATTRIBUTES = ("endpointId", "eventId", "eventType", "status", "run", "createdAt", "finishedAt", "failedReason")
INDEX_NON_KEY_ATTRIBUTES = {RECENT_INDEX: RECENT_ATTRIBUTES}
KEY_ATTRIBUTES = (PK, SK, "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk", "gsi3pk", "gsi3sk", "gsi4pk", "gsi4sk")

ENDPOINT_PREFIX, STATE_PREFIX, SECRET_PREFIX = "EP#", "ST#", "SK#"
MESSAGE_SK = "MSG"
COVERED_SK = "RULE"
DELIVERY_PREFIX = "D#"


def tenant_pk(tenant_id: str) -> str:
    return f"T#{tenant_id}"


def endpoint_key(tenant_id: str, endpoint_id: str) -> dict[str, str]:
    return {PK: tenant_pk(tenant_id), SK: f"{ENDPOINT_PREFIX}{endpoint_id}"}


def covered_tenant_key(tenant_id: str) -> dict[str, str]:
    """The marker item of a tenant the delivery rule covers (``delivery.apiTenants: listed``)."""
    return {PK: tenant_pk(tenant_id), SK: COVERED_SK}


def state_key(tenant_id: str, endpoint_id: str) -> dict[str, str]:
    return {PK: tenant_pk(tenant_id), SK: f"{STATE_PREFIX}{endpoint_id}"}


def secret_key(tenant_id: str, endpoint_id: str) -> dict[str, str]:
    return {PK: tenant_pk(tenant_id), SK: f"{SECRET_PREFIX}{endpoint_id}"}


def message_pk(tenant_id: str, event_id: str) -> str:
    return f"M#{tenant_id}#{event_id}"


def message_key(tenant_id: str, event_id: str) -> dict[str, str]:
    return {PK: message_pk(tenant_id, event_id), SK: MESSAGE_SK}


def delivery_key(tenant_id: str, event_id: str, endpoint_id: str) -> dict[str, str]:
    return {PK: message_pk(tenant_id, event_id), SK: f"{DELIVERY_PREFIX}{endpoint_id}"}


def attempts_pk(tenant_id: str) -> str:
    return f"A#{tenant_id}"


def endpoint_attempts_pk(tenant_id: str, endpoint_id: str) -> str:
    return f"A#{tenant_id}#{endpoint_id}"


def failed_pk(tenant_id: str, endpoint_id: str) -> str:
    return f"F#{tenant_id}#{endpoint_id}"


def failed_sk(failed_at: str, event_id: str) -> str:
    """``<failedAt>#<eventId>``: the ``failed`` index orders an endpoint's failures by time."""
    return f"{failed_at}#{event_id}"


def failed_event_id(sort_key: str) -> str:
    """The event id of a :func:`failed_sk` (time stamps hold no ``#``)."""
    return sort_key.split("#", 1)[1]


def run_done_sk(endpoint_id: str, run: int) -> str:
    """``<endpointId>#<run>`` (run zero-padded): the ``byEvent`` sort key of a run delivered without a
    delivery item (endpoint ids hold no ``#``)."""
    return f"{endpoint_id}#{run:06d}"


def recent_pk(tenant_id: str) -> str:
    return f"R#{tenant_id}"


def recent_sk(changed_at: str, endpoint_id: str, event_id: str) -> str:
    """``<changedAt>#<endpointId>#<eventId>``: the recent index orders a tenant's deliveries by time."""
    return f"{changed_at}#{endpoint_id}#{event_id}"


def create_table_request(table_name: str) -> dict[str, Any]:
    """``CreateTable`` arguments matching the deployed table (tests and the local sandbox use it)."""
    indexes = []
    for index, (hash_key, range_key) in INDEX_KEYS.items():
        indexes.append(
            {
                "IndexName": index,
                "KeySchema": [
                    {"AttributeName": hash_key, "KeyType": "HASH"},
                    {"AttributeName": range_key, "KeyType": "RANGE"},
                ],
                "Projection": {
                    "ProjectionType": INDEX_PROJECTIONS[index],
                    **(
                        {"NonKeyAttributes": list(INDEX_NON_KEY_ATTRIBUTES[index])}
                        if index in INDEX_NON_KEY_ATTRIBUTES
                        else {}
                    ),
                },
            }
        )
    return {
        "TableName": table_name,
        "BillingMode": "PAY_PER_REQUEST",
        "KeySchema": [{"AttributeName": PK, "KeyType": "HASH"}, {"AttributeName": SK, "KeyType": "RANGE"}],
        "AttributeDefinitions": [{"AttributeName": name, "AttributeType": "S"} for name in KEY_ATTRIBUTES],
        "GlobalSecondaryIndexes": indexes,
    }
