"""Reads and writes of the delivery table (layout in :mod:`functions.delivery.schema`).

:class:`DeliveryTable` binds the DynamoDB client and the table name once; its reads and writes are
split by resource:

- :mod:`~.dynamo`: item encoding, time stamps and TTLs, cursors, batched reads (``TableBase``);
- :mod:`~.endpoints`: definitions and delivery state (disables, consecutive failures);
- :mod:`~.endpoint_options`: how the worker delivers (method, auth, headers, transform, filter...);
- :mod:`~.secrets`: signing secrets and rotation;
- :mod:`~.messages`: the stored bodies;
- :mod:`~.deliveries`: one item per event and endpoint: claim, attempt results, failed-since;
- :mod:`~.attempts`: one item per HTTP attempt;
- :mod:`~.recent`: a tenant's deliveries by time, and their counts (the reporting routes);
- :mod:`~.config_items`: the items Pulumi (and the sandbox) write for config-declared destinations.
"""

from __future__ import annotations

from functions.delivery.store.attempts import AttemptRecord, AttemptsTable
from functions.delivery.store.config_items import (
    config_endpoint_id,
    config_endpoint_item,
    config_secret_item,
    covered_tenant_item,
    is_config_endpoint_id,
)
from functions.delivery.store.deliveries import MAX_HISTORY_ENTRIES, DeliveryContext, delivery_to_api
from functions.delivery.store.dynamo import (
    Conflict,
    InvalidCursor,
    from_item,
    iso,
    parse_time,
    to_item,
    ttl,
    unique,
)
from functions.delivery.store.endpoint_options import EndpointAuth, EndpointOptions, auth_from, options_from
from functions.delivery.store.endpoints import REMOVE, Endpoint, EndpointsTable
from functions.delivery.store.messages import Message, MessagesTable, message_fields, message_of
from functions.delivery.store.protection import ProtectionTable
from functions.delivery.store.recent import RecentTable
from functions.delivery.store.secrets import SecretsTable, SigningSecrets
from functions.delivery.store.tokens import TokensTable


class DeliveryTable(
    EndpointsTable, SecretsTable, MessagesTable, ProtectionTable, TokensTable, AttemptsTable, RecentTable
):
    """The delivery table, bound to a DynamoDB client and the table's name: every read and write."""


__all__ = [
    "MAX_HISTORY_ENTRIES",
    "REMOVE",
    "AttemptRecord",
    "Conflict",
    "DeliveryContext",
    "DeliveryTable",
    "Endpoint",
    "EndpointAuth",
    "EndpointOptions",
    "InvalidCursor",
    "Message",
    "SigningSecrets",
    "auth_from",
    "config_endpoint_id",
    "config_endpoint_item",
    "config_secret_item",
    "covered_tenant_item",
    "delivery_to_api",
    "from_item",
    "is_config_endpoint_id",
    "iso",
    "message_fields",
    "message_of",
    "options_from",
    "parse_time",
    "to_item",
    "ttl",
    "unique",
]
