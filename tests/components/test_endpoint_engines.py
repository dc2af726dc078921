"""Moving a destination between engines (docs/endpoints.md): the program declared before and after
changing ``engine``, under Pulumi mocks. The destination keeps its name, routing and fields; only
the resources that deliver it change."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest

from tests import harness
from tests.harness import Program, contains_text

API_DESTINATION = "aws:cloudwatch/eventApiDestination:EventApiDestination"
CONNECTION = "aws:cloudwatch/eventConnection:EventConnection"
RULE = "aws:cloudwatch/eventRule:EventRule"
TABLE_ITEM = "aws:dynamodb/tableItem:TableItem"
FILTER = {"detail": {"amount": [{"numeric": [">", 100]}]}}


@pytest.fixture(autouse=True)
def random_bytes_in_mocks(monkeypatch: pytest.MonkeyPatch) -> None:
    original = harness._computed

    def computed(typ: str, logical: str, inputs: Any) -> dict[str, Any]:
        state = original(typ, logical, inputs)
        if typ == "random:index/randomBytes:RandomBytes":
            raw = hashlib.sha256(logical.encode()).digest()[: int(inputs["length"])]
            state.update(base64=base64.b64encode(raw).decode(), hex=raw.hex())
        return state

    monkeypatch.setattr(harness, "_computed", computed)


def stack(engine: str) -> dict[str, Any]:
    crm = {
        "name": "crm",
        "url": "https://crm.example.com/hooks",
        "engine": engine,
        "eventTypes": ["invoice.*"],
        "filter": FILTER,
        "auth": {"type": "apiKey", "header": "x-api-key", "value": "key-crm-123"},
        "headers": {"x-team": "billing"},
    }
    return {"tenants": [{"id": "acme", "destinations": [crm]}]}


def _crm_rules(program: Program) -> list[Any]:
    return [r for r in program.of_type(RULE) if "crm" in r.name]


def test_moving_a_destination_from_api_destination_to_worker(program) -> None:
    before: Program = program(stack("apiDestination"), secret_keys=["tenants[0].destinations[0].auth.value"])
    (api_destination,) = before.of_type(API_DESTINATION)
    assert api_destination["invocationEndpoint"] == "https://crm.example.com/hooks"
    (rule,) = _crm_rules(before)
    pattern = rule.json("eventPattern")
    assert pattern["detail-type"] == [{"prefix": "invoice."}]
    assert pattern["detail"]["tenantId"] == ["acme"] and pattern["detail"]["amount"] == FILTER["detail"]["amount"]
    assert [i for i in before.of_type(TABLE_ITEM) if "crm" in i.name] == []

    after: Program = program(stack("worker"), secret_keys=["tenants[0].destinations[0].auth.value"])
    assert after.of_type(API_DESTINATION) == [] and after.of_type(CONNECTION) == []
    assert _crm_rules(after) == []  # the delivery rule (every tenant event) takes it to the fan-out
    items = {i.name.rsplit("-", 1)[-1]: i for i in after.of_type(TABLE_ITEM) if "crm" in i.name}
    assert set(items) == {"endpoint", "secret"}
    definition = json.loads(items["endpoint"]["item"])
    assert definition["endpointId"] == {"S": "cfg_crm"}
    assert definition["eventTypes"] == {"L": [{"S": "invoice.*"}]}
    assert json.loads(definition["filter"]["S"]) == FILTER
    assert definition["auth"]["M"] == {"type": {"S": "apiKey"}, "header": {"S": "x-api-key"}}
    assert "key-crm-123" not in json.dumps(definition)  # the key lives in the secrets item only
    assert not contains_text(items["endpoint"], "key-crm-123")
