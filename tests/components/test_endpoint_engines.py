"""Moving a destination between engines (docs/endpoints.md): the plan before and after changing
``engine``. The destination keeps its name, routing and fields; only what delivers it changes: the
provider plan's API destination (connection, rule, target) on one side, the delivery table's
``cfg_<name>`` items on the other (what ``SignedDelivery`` and the sandbox write as they are).
Pure functions: the components declare exactly these (tests/components/test_provider.py,
test_delivery.py)."""

from __future__ import annotations

import json
from typing import Any

from components.specs.delivery import auth_secret, endpoint_options
from components.stack import Stack, load_stack
from functions.delivery import store

FILTER = {"detail": {"amount": [{"numeric": [">", 100]}]}}


def planned(engine: str) -> Stack:
    crm = {
        "name": "crm",
        "url": "https://crm.example.com/hooks",
        "engine": engine,
        "eventTypes": ["invoice.*"],
        "filter": FILTER,
        "auth": {"type": "apiKey", "header": "x-api-key", "value": "key-crm-123"},
        "headers": {"x-team": "billing"},
    }
    return load_stack({"tenants": [{"id": "acme", "destinations": [crm]}]}, stack="dev")


def worker_items(stack: Stack) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """The definition and secrets items of each config-declared worker endpoint."""
    return [
        (
            store.config_endpoint_item(tenant.id, d.name, d.url, d.event_types, d.enabled, endpoint_options(d)),
            store.config_secret_item(tenant.id, d.name, "whsec_generated", None, auth_secret(d)),
        )
        for tenant, d in stack.config.signed_destinations()
    ]


def test_moving_a_destination_from_api_destination_to_worker_and_back() -> None:
    before = planned("apiDestination")
    (api_destination,) = before.plan.destinations
    assert (api_destination.tenant_id, api_destination.name) == ("acme", "crm")
    assert api_destination.event_pattern["detail-type"] == [{"prefix": "invoice."}]
    assert api_destination.event_pattern["detail"]["amount"] == FILTER["detail"]["amount"]
    assert api_destination.auth.parameters["key"] == "x-api-key"
    assert dict(api_destination.auth.headers) == {"x-team": "billing"}
    assert worker_items(before) == []

    after = planned("worker")
    assert after.plan.destinations == ()  # no connection, API destination, rule or target
    assert after.plan.delivery_rule_patterns == before.plan.delivery_rule_patterns  # every tenant event
    ((definition, secrets),) = worker_items(after)
    assert definition["endpointId"] == {"S": "cfg_crm"}
    assert definition["eventTypes"] == {"L": [{"S": "invoice.*"}]}
    assert json.loads(definition["filter"]["S"]) == FILTER
    assert definition["auth"]["M"] == {"type": {"S": "apiKey"}, "header": {"S": "x-api-key"}}
    assert definition["headers"]["M"] == {"x-team": {"S": "billing"}}
    assert "key-crm-123" not in json.dumps(definition)  # the key lives in the secrets item only
    assert secrets["authSecret"] == {"S": "key-crm-123"}

    again = planned("apiDestination")  # and back: the same API destination again
    assert again.plan.destinations == before.plan.destinations and worker_items(again) == []
