"""The endpoint model on API-created endpoints: every field through the API (validation naming the
field, GET returning them, secrets never), and the worker applying them: auth, static headers,
transform, method, per-endpoint timeout, event-type wildcards, payload filters, events without
``detail.eventId``."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from functions import whsec
from functions.delivery import schema, store
from functions.delivery.store import DeliveryTable
from tests.functions.delivery.conftest import TABLE, DeliveryStack, bus_event
from tests.functions.delivery.receiver import Receiver, Reply

URL = "https://hooks.example.com/webhooks"
TRANSFORM = {
    "paths": {"name": "$.detail.widgetName", "id": "$.detail.eventId", "source": "$.source"},
    "template": '{"text": "Widget <name> created", "eventId": "<id>", "from": <source>}',
}


def test_every_field_round_trips_and_secrets_are_never_returned(stack: DeliveryStack) -> None:
    created = stack.create_endpoint(
        "1",
        URL,
        engine="worker",
        method="PUT",
        signing={"scheme": "v1"},
        auth={"type": "apiKey", "header": "x-api-key", "value": "key-123"},
        headers={"x-team": "billing"},
        transform=TRANSFORM,
        eventTypes=["invoice.*", "order.created"],
        filter={"detail": {"amount": [{"numeric": [">", 100]}]}},
        rateLimitPerSecond=10,
        timeoutSeconds=15,
    )
    status, fetched = stack.api("GET", f"/tenants/1/endpoints/{created['id']}")
    assert status == 200
    assert {k: fetched[k] for k in ("engine", "method", "signing", "auth", "headers", "transform", "filter")} == {
        "engine": "worker",
        "method": "PUT",
        "signing": {"scheme": "v1"},
        "auth": {"type": "apiKey", "header": "x-api-key"},
        "headers": {"x-team": "billing"},
        "transform": TRANSFORM,
        "filter": {"detail": {"amount": [{"numeric": [">", 100]}]}},
    }
    assert (fetched["eventTypes"], fetched["rateLimitPerSecond"], fetched["timeoutSeconds"]) == (
        ["invoice.*", "order.created"],
        10,
        15,
    )
    listed = stack.api("GET", "/tenants/1/endpoints")[1]
    assert "key-123" not in json.dumps(fetched) + json.dumps(listed) + json.dumps(created)
    assert created["secret"] not in json.dumps(fetched) + json.dumps(listed)
    # Stored apart, in the secrets item no read of an endpoint returns.
    item = stack.dynamodb.get_item(TableName=TABLE, Key=store.to_item(schema.secret_key("1", created["id"])))["Item"]
    assert item["authSecret"] == {"S": "key-123"}


def test_an_endpoint_without_the_new_fields_reads_with_their_defaults(stack: DeliveryStack) -> None:
    created = stack.create_endpoint("1", URL)
    assert {k: created[k] for k in ("engine", "method", "auth", "headers", "transform", "filter")} == {
        "engine": "worker",
        "method": "POST",
        "auth": {"type": "none"},
        "headers": {},
        "transform": None,
        "filter": None,
    }
    assert (created["rateLimitPerSecond"], created["timeoutSeconds"], created["signing"]) == (
        None,
        None,
        {"scheme": "v1"},
    )
    definition = stack.dynamodb.get_item(TableName=TABLE, Key=store.to_item(schema.endpoint_key("1", created["id"])))
    assert not set(definition["Item"]) & set(store.EndpointOptions().item_attributes())  # nothing stored


OAUTH = {
    "type": "oauth",
    "authorizationEndpoint": "https://other.example.com/token",
    "clientId": "hookstack",
    "clientSecret": "oauth-secret",
    "scope": "webhooks",
}
BAD_FIELDS: list[tuple[dict[str, Any], str, str]] = [
    ({"engine": "apiDestination"}, "engine", "stack config"),
    ({"engine": "lambda"}, "engine", "must be 'worker'"),
    ({"method": "GET"}, "method", "POST, PUT, PATCH"),
    ({"signing": {"scheme": "v2"}}, "signing.scheme", "v1, v1a"),
    ({"signing": {"secret": "whsec_x"}}, "signing.secret", "base64"),
    ({"signing": {"previousSecret": "whsec_" + "A" * 32}}, "signing.previousSecret", "needs signing.secret"),
    ({"signing": {"colour": "v1"}}, "signing.colour", "unknown field"),
    ({"auth": {"type": "oauth"}}, "auth.authorizationEndpoint", "is required"),
    ({"auth": {"type": "signed"}}, "auth.type", "apiKey, basic, bearer, none"),
    ({"auth": "apiKey"}, "auth", "object"),
    ({"auth": {"type": "apiKey", "header": "webhook-id", "value": "k"}}, "auth.header", "reserved"),
    ({"auth": {"type": "apiKey", "header": "bad header", "value": "k"}}, "auth.header", "header name"),
    ({"auth": {"type": "apiKey", "header": "x-api-key", "value": "k\r\nx: y"}}, "auth.value", "visible ASCII"),
    ({"auth": {"type": "apiKey", "header": "x-api-key"}}, "auth.value", "1-512"),
    ({"auth": {"type": "basic", "username": "a:b", "password": "p"}}, "auth.username", "':'"),
    ({"auth": {"type": "basic", "username": "a"}}, "auth.password", "1-512"),
    ({"auth": {"type": "bearer"}}, "auth.token", "1-505"),
    ({"auth": {"type": "bearer", "token": "t", "header": "x"}}, "auth.header", "unknown field"),
    ({"headers": {"Content-Type": "text/plain"}}, "headers.Content-Type", "reserved"),
    ({"headers": {"Host": "evil.example.com"}}, "headers.Host", "reserved"),
    ({"headers": {"webhook-signature": "v1,x"}}, "headers.webhook-signature", "reserved"),
    (
        {"auth": {"type": "bearer", "token": "t"}, "headers": {"authorization": "x"}},
        "headers.authorization",
        "set by the endpoint's auth",
    ),
    (
        {"auth": {"type": "apiKey", "header": "X-Api-Key", "value": "k"}, "headers": {"x-api-key": "x"}},
        "headers.x-api-key",
        "set by the endpoint's auth",
    ),
    ({"headers": {"x-team": "caf\u00e9"}}, "headers.x-team", "visible ASCII"),
    ({"headers": {f"x-{i}": "v" for i in range(21)}}, "headers", "at most 20"),
    ({"headers": ["x"]}, "headers", "object"),
    ({"transform": {"paths": {}, "template": '"<aws.events.rule-arn>"'}}, "transform.template", "API destination"),
    ({"transform": {"paths": {"n": "detail.n"}, "template": "<n>"}}, "transform.paths.n", "JSONPath"),
    ({"transform": {"paths": {"n": "$.n"}}}, "transform.template", "required"),
    ({"transform": {"paths": {}, "template": "<nope>"}}, "transform.template", "neither a key"),
    ({"filter": {"detail": {"x": [{"contains": "a"}]}}}, "filter.detail.x[0]", "unsupported operator"),
    ({"filter": {"detail": {"tenantId": ["2"]}}}, "filter.detail.tenantId", "reserved"),
    ({"filter": {}}, "filter", "non-empty"),
    ({"filter": {"detail-type": ["a"]}, "eventTypes": ["a"]}, "filter.detail-type", "eventTypes"),
    ({"eventTypes": ["inv*"]}, "eventTypes[0]", "'.*'"),
    ({"eventTypes": ["*"]}, "eventTypes[0]", "'.*'"),
    ({"rateLimitPerSecond": 0}, "rateLimitPerSecond", "1 to 300"),
    ({"rateLimitPerSecond": 301}, "rateLimitPerSecond", "1 to 300"),
    ({"rateLimitPerSecond": True}, "rateLimitPerSecond", "whole number"),
    ({"timeoutSeconds": 61}, "timeoutSeconds", "1 to 60"),
    ({"timeoutSeconds": 0.5}, "timeoutSeconds", "whole number"),
    ({"retry": {"maxAttempts": 1}}, "retry", "unknown field"),
]


def test_create_refuses_each_bad_field_naming_it(stack: DeliveryStack) -> None:
    # One moto table for every case (a fixture per case costs most of a second).
    wrong = []
    for fields, field, text in BAD_FIELDS:
        status, document = stack.api("POST", "/tenants/1/endpoints", {"url": URL, **fields})
        error = (document or {}).get("error") or {}
        if status != 400 or error.get("field") != field or text not in error.get("message", ""):
            wrong.append((fields, status, document))
    assert wrong == []
    assert stack.api("GET", "/tenants/1/endpoints")[1]["data"] == []


def test_update_replaces_removes_and_revalidates(stack: DeliveryStack) -> None:
    created = stack.create_endpoint("1", URL, headers={"x-api-key": "static"}, transform=TRANSFORM)
    path = f"/tenants/1/endpoints/{created['id']}"
    # The new auth would set a header the endpoint already sends statically: refused, nothing changed.
    status, document = stack.api("PATCH", path, {"auth": {"type": "apiKey", "header": "x-api-key", "value": "k"}})
    assert (status, document["error"]["field"]) == (400, "headers.x-api-key")
    status, updated = stack.api(
        "PATCH",
        path,
        {"auth": {"type": "bearer", "token": "tok"}, "headers": None, "transform": None, "timeoutSeconds": 30},
    )
    assert status == 200, updated
    assert (updated["auth"], updated["headers"], updated["transform"], updated["timeoutSeconds"]) == (
        {"type": "bearer"},
        {},
        None,
        30,
    )
    secrets = DeliveryTable(stack.dynamodb, TABLE).delivery_context("1", "x", created["id"]).secrets
    assert secrets is not None and secrets.auth_secret == "tok"
    status, updated = stack.api("PATCH", path, {"auth": {"type": "none"}, "timeoutSeconds": None})
    assert status == 200 and updated["auth"] == {"type": "none"} and updated["timeoutSeconds"] is None
    secrets = DeliveryTable(stack.dynamodb, TABLE).delivery_context("1", "x", created["id"]).secrets
    assert secrets is not None and secrets.auth_secret is None and secrets.current == created["secret"]
    status, document = stack.api("PATCH", path, {"signing": {"secret": "whsec_" + "A" * 32}})
    assert (status, document["error"]["field"]) == (400, "signing.secret") and "rotate-secret" in document["error"][
        "message"
    ]


def test_config_endpoints_refuse_option_changes(stack: DeliveryStack) -> None:
    stack.dynamodb.put_item(TableName=TABLE, Item=store.config_endpoint_item("1", "audit", URL, [], True))
    stack.dynamodb.put_item(TableName=TABLE, Item=store.config_secret_item("1", "audit", "whsec_" + "A" * 32))
    status, document = stack.api("PATCH", "/tenants/1/endpoints/cfg_audit", {"headers": {"x-team": "a"}})
    assert (status, document["error"]["code"], document["error"]["field"]) == (409, "managed_by_config", "headers")


# --- the worker applies them ------------------------------------------------------------------------


def test_auth_headers_transform_and_signature_reach_the_receiver(stack: DeliveryStack, receiver: Receiver) -> None:
    endpoint = stack.create_endpoint(
        "1",
        receiver.url("/crm"),
        method="PUT",
        auth={"type": "apiKey", "header": "x-api-key", "value": "key-123"},
        headers={"x-team": "billing"},
        transform=TRANSFORM,
    )
    event = bus_event("1", "widget.created", {"widgetName": "W1"}, event_id="evt_t1")
    assert stack.publish(event) == {"batchItemFailures": []}
    stack.drain()

    (request,) = receiver.to("/crm")
    assert request.method == "PUT"
    assert (request.headers["x-api-key"], request.headers["x-team"]) == ("key-123", "billing")
    # The body is the template filled from the whole event ($.source comes from the stored envelope),
    # and the signature covers exactly those bytes.
    assert Webhook(endpoint["secret"]).verify(request.body, request.headers) == {
        "text": "Widget W1 created",
        "eventId": "evt_t1",
        "from": "hookstack",
    }
    assert request.headers["webhook-id"] == "evt_t1"


def test_a_transform_that_multiplies_the_event_fails_without_building_the_body(
    stack: DeliveryStack, receiver: Receiver
) -> None:
    # 1,300 copies of a 50 KB detail would be a 65 MB body (700 MB at the event size limit): the
    # worker would run out of memory for every task of its batch. It fails as a request not sent.
    template = "[" + ",".join(["<all>"] * 1300) + "]"
    endpoint = stack.create_endpoint(
        "1", receiver.url("/bomb"), transform={"paths": {"all": "$"}, "template": template}
    )
    stack.publish(bus_event("1", "widget.created", {"blob": "x" * 50_000}, event_id="evt_bomb"))
    stack.drain()
    assert receiver.to("/bomb") == []
    status, message = stack.api("GET", "/tenants/1/messages/evt_bomb")
    assert status == 200
    (delivery,) = [d for d in message["deliveries"] if d["endpointId"] == endpoint["id"]]
    assert (delivery["status"], delivery["attempts"]) == ("failed", 1)
    status, attempts = stack.api("GET", f"/tenants/1/endpoints/{endpoint['id']}/attempts")
    assert status == 200
    assert "transformed body is larger than 262144 bytes" in json.dumps(attempts)


@pytest.mark.parametrize(
    ("auth", "expected"),
    [
        ({"type": "bearer", "token": "tok-1"}, "Bearer tok-1"),
        ({"type": "basic", "username": "u", "password": "p:w"}, "Basic " + base64.b64encode(b"u:p:w").decode()),
    ],
)
def test_bearer_and_basic_auth(stack: DeliveryStack, receiver: Receiver, auth: dict[str, Any], expected: str) -> None:
    stack.create_endpoint("1", receiver.url("/auth"), auth=auth)
    stack.publish(bus_event("1", "widget.created"))
    stack.drain()
    (request,) = receiver.to("/auth")
    assert request.headers["authorization"] == expected


def test_an_endpoint_timeout_replaces_the_stack_default(stack: DeliveryStack, receiver: Receiver) -> None:
    # DELIVERY_TIMEOUT_SECONDS is 1 in these tests (a 1.5 s reply times out: test_pipeline).
    receiver.script("/slow", Reply(200, delay=1.2))
    endpoint = stack.create_endpoint("1", receiver.url("/slow"), timeoutSeconds=5)
    stack.publish(bus_event("1", "widget.created", event_id="evt_slow"))
    stack.drain()
    status, message = stack.api("GET", "/tenants/1/messages/evt_slow")
    assert status == 200
    (delivery,) = [d for d in message["deliveries"] if d["endpointId"] == endpoint["id"]]
    assert (delivery["status"], delivery["attempts"]) == ("succeeded", 1)


def test_event_type_wildcards_and_payload_filters_in_the_fan_out(stack: DeliveryStack, receiver: Receiver) -> None:
    stack.create_endpoint("1", receiver.url("/invoices"), eventTypes=["invoice.*"])
    stack.create_endpoint("1", receiver.url("/big"), filter={"detail": {"amount": [{"numeric": [">", 100]}]}})
    stack.create_endpoint(
        "1",
        receiver.url("/eu-big-invoices"),
        eventTypes=["invoice.*"],
        filter={"detail": {"amount": [{"numeric": [">", 100]}], "region": [{"prefix": "eu-"}]}},
    )
    stack.publish(
        bus_event("1", "invoice.paid", {"amount": 150, "region": "eu-west"}, event_id="evt_a"),
        bus_event("1", "invoice.paid", {"amount": 50, "region": "eu-west"}, event_id="evt_b"),
        bus_event("1", "order.created", {"amount": 500}, event_id="evt_c"),
        bus_event("1", "invoice", {"amount": 500, "region": "eu-north"}, event_id="evt_d"),
    )
    stack.drain()

    def ids(path: str) -> set[str]:
        return {r.headers["webhook-id"] for r in receiver.to(path)}

    assert ids("/invoices") == {"evt_a", "evt_b"}  # "invoice" itself is not under "invoice.*"
    assert ids("/big") == {"evt_a", "evt_c", "evt_d"}
    assert ids("/eu-big-invoices") == {"evt_a"}
    # An event no endpoint takes is not stored.
    assert stack.api("GET", "/tenants/1/messages/evt_x")[0] == 404


def test_an_event_without_an_event_id_is_delivered_under_its_eventbridge_id(
    stack: DeliveryStack, receiver: Receiver
) -> None:
    endpoint = stack.create_endpoint("1", receiver.url("/plain"))
    event = bus_event("1", "widget.created", {"widgetName": "W2"})
    del event["detail"]["eventId"]
    assert stack.publish(event) == {"batchItemFailures": []}
    stack.publish(event)  # the events queue redelivers it: the same id, one delivery
    stack.drain()

    (request,) = receiver.to("/plain")
    assert request.headers["webhook-id"] == event["id"]
    payload = Webhook(endpoint["secret"]).verify(request.body, request.headers)
    assert payload["data"] == {"widgetName": "W2", "tenantId": "1"}
    assert stack.api("GET", f"/tenants/1/messages/{event['id']}")[0] == 200


def test_a_v1a_endpoint_without_its_private_key_fails_the_attempt_without_sending(
    stack: DeliveryStack, receiver: Receiver
) -> None:
    endpoint = stack.create_endpoint("1", receiver.url("/v1a"))
    # Switched to v1a behind the API's back: no key pair was made.
    DeliveryTable(stack.dynamodb, TABLE).update_endpoint("1", endpoint["id"], {"signingScheme": "v1a"}, 0)
    stack.publish(bus_event("1", "widget.created", event_id="evt_v1a"))
    stack.drain()
    assert receiver.to("/v1a") == []
    (letter,) = stack.dead_letters()
    assert "request cannot be sent" in letter["lastError"] and "v1a private key" in letter["lastError"]


def test_a_config_endpoint_removed_by_pulumi_up_dead_letters_its_pending_retries(
    stack: DeliveryStack, receiver: Receiver
) -> None:
    """Moving a destination to engine apiDestination deletes its worker endpoint item: its retries in
    flight end failed with a dead letter carrying the payload, never silently cancelled."""
    receiver.script("/moving", Reply(500))
    secret = whsec.generate()
    stack.dynamodb.put_item(
        TableName=TABLE, Item=store.config_endpoint_item("1", "moving", receiver.url("/moving"), [], True)
    )
    stack.dynamodb.put_item(TableName=TABLE, Item=store.config_secret_item("1", "moving", secret))
    stack.publish(bus_event("1", "widget.created", {"widgetName": "W9"}, event_id="evt_moving"))
    stack.run_worker(stack.receive_tasks())  # attempt 1 fails: a retry is pending
    for key in (schema.endpoint_key("1", "cfg_moving"), schema.secret_key("1", "cfg_moving")):
        stack.dynamodb.delete_item(TableName=TABLE, Key=store.to_item(key))  # what pulumi up does

    stack.drain()

    assert len(receiver.to("/moving")) == 1
    (letter,) = stack.dead_letters()
    assert letter["endpointId"] == "cfg_moving" and "removed from the stack config" in letter["reason"]
    assert letter["payload"]["data"]["widgetName"] == "W9"
    status, message = stack.api("GET", "/tenants/1/messages/evt_moving")
    assert status == 200 and message["deliveries"][0]["status"] == "failed"
