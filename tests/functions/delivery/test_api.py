"""The subscription API against moto: endpoint CRUD, validation, secrets, pagination, config endpoints."""

from __future__ import annotations

import base64
import json
import os
import time
from typing import Any

import pytest

from components.config import TENANT_ID_RE
from functions import whsec
from functions.delivery import api, schema, store
from functions.delivery.api import endpoints as api_endpoints
from functions.delivery.settings import ApiSettings, SettingsError
from functions.delivery.store import DeliveryTable
from tests.functions.delivery.conftest import TABLE, DeliveryStack, configure

URL = "https://hooks.example.com/webhooks"


def test_tenant_id_rule_matches_the_stack_config() -> None:
    assert api.TENANT_ID_RE.pattern == TENANT_ID_RE.pattern


def test_create_returns_the_secret_once_and_reads_never_do(stack: DeliveryStack) -> None:
    created = stack.create_endpoint("1", URL, eventTypes=["widget.created"], description="CRM")

    assert created["secret"].startswith("whsec_")
    whsec.key(created["secret"])
    assert created["id"].startswith("ep_") and created["tenantId"] == "1"
    assert (created["url"], created["eventTypes"], created["description"]) == (URL, ["widget.created"], "CRM")
    assert created["enabled"] is True and created["managedBy"] == "api"

    status, fetched = stack.api("GET", f"/tenants/1/endpoints/{created['id']}")
    assert status == 200 and "secret" not in fetched
    assert fetched == {k: v for k, v in created.items() if k != "secret"}
    status, listed = stack.api("GET", "/tenants/1/endpoints")
    assert status == 200 and [e["id"] for e in listed["data"]] == [created["id"]]
    assert created["secret"] not in str(listed)


def test_endpoints_are_per_tenant(stack: DeliveryStack) -> None:
    created = stack.create_endpoint("1", URL)
    assert stack.api("GET", f"/tenants/2/endpoints/{created['id']}")[0] == 404
    assert stack.api("GET", "/tenants/2/endpoints")[1]["data"] == []


@pytest.mark.parametrize(
    ("body", "field", "text"),
    [
        ({}, "url", "required"),
        ({"url": "http://hooks.example.com/"}, "url", "https"),
        ({"url": "https://10.0.0.1/"}, "url", "private"),
        ({"url": "https://169.254.169.254/latest"}, "url", "metadata"),
        ({"url": "https://[::ffff:0:a9fe:a9fe]/latest"}, "url", "metadata"),
        ({"url": "https://[::FFFF:0:169.254.169.254]/"}, "url", "metadata"),
        ({"url": "https://[3fff::1]/"}, "url", "documentation"),
        ({"url": "https://translated.example.com/"}, "url", "metadata"),
        ({"url": "https://unknown.example.com/"}, "url", "does not resolve"),
        ({"url": 5}, "url", "https"),
        ({"url": URL, "eventTypes": "widget.created"}, "eventTypes", "list"),
        ({"url": URL, "eventTypes": ["ok", ""]}, "eventTypes[1]", "1-128"),
        ({"url": URL, "eventTypes": ["a", "a"]}, "eventTypes[1]", "repeats"),
        ({"url": URL, "description": "x" * 501}, "description", "500"),
        ({"url": URL, "description": "red \x1b[31m alert"}, "description", "control characters"),
        ({"url": URL, "description": "bell\x07"}, "description", "control characters"),
        ({"url": URL, "secret": "whsec_x"}, "secret", "unknown field"),
    ],
)
def test_create_rejects_bad_input_naming_the_field(stack: DeliveryStack, body: dict, field: str, text: str) -> None:
    status, document = stack.api("POST", "/tenants/1/endpoints", body)
    assert status == 400
    assert document["error"]["field"] == field
    assert text.lower() in document["error"]["message"].lower()


def test_malformed_requests_get_clear_errors(stack: DeliveryStack) -> None:
    assert stack.api("POST", "/tenants/1/endpoints", raw_body="{nope")[1]["error"]["field"] == "body"
    assert (
        stack.api("POST", "/tenants/1/endpoints", raw_body="[1]")[1]["error"]["message"] == "body must be a JSON object"
    )
    assert stack.api("GET", "/tenants/bad tenant/endpoints")[1]["error"]["field"] == "tenantId"
    assert stack.api("GET", "/tenants/1/nothing")[0] == 404
    status, document = stack.api("PUT", "/tenants/1/endpoints")
    assert status == 405 and "GET, POST" in document["error"]["message"]
    assert stack.api("GET", "/tenants/1/endpoints", query={"limit": "0"})[1]["error"]["field"] == "limit"
    assert stack.api("GET", "/tenants/1/endpoints/ep_nope")[0] == 404


@pytest.mark.parametrize("limit", ["\u00b2", "\u0663", "9" * 5000, "0" * 5000 + "5", "+5", "5 "])
def test_a_limit_that_is_not_ascii_digits_from_1_to_100_is_a_400_naming_it(stack: DeliveryStack, limit: str) -> None:
    # "²".isdigit() holds but int("²") raises; 5,000 digits pass isdigit but exceed int()'s digit limit.
    status, document = stack.api("GET", "/tenants/1/endpoints", query={"limit": limit})
    assert status == 400 and document["error"]["field"] == "limit", document


def test_base64_encoded_bodies_are_accepted(stack: DeliveryStack) -> None:
    status, document = stack.api("POST", "/tenants/1/endpoints", {"url": URL}, base64_body=True)
    assert status == 201 and document["url"] == URL


def test_update_changes_fields_and_rechecks_the_url(stack: DeliveryStack) -> None:
    endpoint = stack.create_endpoint("1", URL)
    path = f"/tenants/1/endpoints/{endpoint['id']}"

    status, updated = stack.api(
        "PATCH", path, {"url": "https://other.example.com/x", "eventTypes": ["a.b"], "description": "new"}
    )
    assert status == 200
    assert (updated["url"], updated["eventTypes"], updated["description"]) == (
        "https://other.example.com/x",
        ["a.b"],
        "new",
    )
    status, document = stack.api("PATCH", path, {"url": "https://192.168.0.1/"})
    assert status == 400 and document["error"]["field"] == "url"
    status, document = stack.api("PATCH", path, {"url": "https://[64:ff9b::a9fe:a9fe]/"})
    assert status == 400 and "metadata" in document["error"]["message"]
    assert stack.api("PATCH", path, {})[1]["error"]["field"] == "body"
    assert stack.api("PATCH", path, {"enabled": "no"})[1]["error"]["field"] == "enabled"


def test_disable_and_enable_are_visible_and_enable_clears_failures(stack: DeliveryStack) -> None:
    endpoint = stack.create_endpoint("1", URL)
    path = f"/tenants/1/endpoints/{endpoint['id']}"
    DeliveryTable(stack.dynamodb, TABLE).record_failed_message("1", endpoint["id"], time.time())

    disabled = stack.api("PATCH", path, {"enabled": False})[1]
    assert disabled["enabled"] is False and disabled["disabledReason"] == "manual" and disabled["disabledAt"]
    assert disabled["consecutiveFailures"] == 1
    enabled = stack.api("PATCH", path, {"enabled": True})[1]
    assert enabled["enabled"] is True and enabled["disabledReason"] is None and enabled["consecutiveFailures"] == 0


def test_delete_removes_the_endpoint_and_its_secret(stack: DeliveryStack) -> None:
    endpoint = stack.create_endpoint("1", URL)
    path = f"/tenants/1/endpoints/{endpoint['id']}"

    assert stack.api("DELETE", path) == (204, None)
    assert stack.api("GET", path)[0] == 404
    assert "Item" not in stack.dynamodb.get_item(
        TableName=TABLE, Key=store.to_item(schema.secret_key("1", endpoint["id"]))
    )
    assert stack.api("DELETE", path)[0] == 404


def test_rotation_returns_a_new_secret_and_keeps_the_old_one_for_the_overlap(stack: DeliveryStack) -> None:
    endpoint = stack.create_endpoint("1", URL)
    before = time.time()

    status, rotated = stack.api("POST", f"/tenants/1/endpoints/{endpoint['id']}/rotate-secret")

    assert status == 200 and rotated["secret"] != endpoint["secret"] and rotated["secret"].startswith("whsec_")
    secrets = DeliveryTable(stack.dynamodb, TABLE).delivery_context("1", "evt_x", endpoint["id"]).secrets
    assert secrets is not None
    assert secrets.active(time.time()) == [rotated["secret"], endpoint["secret"]]
    assert secrets.previous_expires_at is not None
    assert 24 * 3600 - 5 <= secrets.previous_expires_at - before <= 24 * 3600 + 5
    assert secrets.active(before + 24 * 3600 + 10) == [rotated["secret"]]
    assert rotated["previousSecretValidUntil"] == store.iso(secrets.previous_expires_at)


def test_rotation_overlap_is_configurable_and_zero_drops_the_old_secret(
    stack: DeliveryStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure(monkeypatch, ROTATION_OVERLAP_HOURS="0")
    endpoint = stack.create_endpoint("1", URL)

    rotated = stack.api("POST", f"/tenants/1/endpoints/{endpoint['id']}/rotate-secret")[1]

    secrets = DeliveryTable(stack.dynamodb, TABLE).delivery_context("1", "evt_x", endpoint["id"]).secrets
    assert secrets is not None and secrets.active(time.time()) == [rotated["secret"]]
    assert rotated["previousSecretValidUntil"] is None


def test_rotation_accepts_a_chosen_secret_only_if_valid(stack: DeliveryStack) -> None:
    endpoint = stack.create_endpoint("1", URL)
    path = f"/tenants/1/endpoints/{endpoint['id']}/rotate-secret"
    chosen = "whsec_" + base64.b64encode(b"k" * 24).decode()

    assert stack.api("POST", path, {"secret": chosen})[1]["secret"] == chosen
    status, document = stack.api("POST", path, {"secret": "whsec_short"})
    assert (
        status == 400 and document["error"]["field"] == "secret" and "whsec_short" not in document["error"]["message"]
    )


def test_listing_paginates_without_repeats_and_cursors_stay_in_their_tenant(stack: DeliveryStack) -> None:
    created = [stack.create_endpoint("1", URL)["id"] for _ in range(5)]
    stack.create_endpoint("2", URL)

    seen, cursor, pages = [], None, 0
    while True:
        query = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        status, page = stack.api("GET", "/tenants/1/endpoints", query=query)
        assert status == 200 and len(page["data"]) <= 2
        seen += [e["id"] for e in page["data"]]
        pages += 1
        cursor = page["nextCursor"]
        if not cursor:
            break
    assert seen == sorted(created) and pages == 3
    first = stack.api("GET", "/tenants/1/endpoints", query={"limit": "2"})[1]["nextCursor"]
    status, document = stack.api("GET", "/tenants/2/endpoints", query={"cursor": first})
    assert status == 400 and document["error"]["field"] == "cursor"
    assert stack.api("GET", "/tenants/1/endpoints", query={"cursor": "%%%"})[0] == 400


def _cursor(key: dict[str, str]) -> str:
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "key",
    [
        {"pk": "T#1"},  # no sort key: DynamoDB (and moto) refuse the start key
        {"pk": "T#1", "sk": ""},  # an empty key value
        {"pk": "T#1", "sk": "EP#ep_0", "gsi1pk": "A#1#ep_0"},  # another key's attribute as well
    ],
)
def test_a_forged_cursor_of_the_right_tenant_is_a_400_naming_it(stack: DeliveryStack, key: dict[str, str]) -> None:
    stack.create_endpoint("1", URL)
    status, document = stack.api("GET", "/tenants/1/endpoints", query={"cursor": _cursor(key)})
    assert status == 400 and document["error"]["field"] == "cursor", document


def test_a_cursor_dynamodb_finds_outside_the_query_is_an_invalid_cursor() -> None:
    """A cursor of a listing with another ``since`` lies outside the key condition: DynamoDB answers a
    ValidationException (moto does not check that; a stub client plays DynamoDB)."""
    from botocore.exceptions import ClientError

    from functions.delivery.store import InvalidCursor
    from functions.delivery.store.dynamo import query_from

    class Refusing:
        def query(self, **request: Any) -> dict[str, Any]:
            assert request["ExclusiveStartKey"] == {"pk": {"S": "R"}}
            message = "The provided starting key is outside query boundaries based on provided conditions"
            raise ClientError({"Error": {"Code": "ValidationException", "Message": message}}, "Query")

    with pytest.raises(InvalidCursor):
        query_from(Refusing(), {"TableName": TABLE}, {"pk": {"S": "R"}})


def test_a_tenant_has_a_bounded_number_of_endpoints(stack: DeliveryStack, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(api_endpoints, "MAX_ENDPOINTS_PER_TENANT", 2)
    stack.create_endpoint("1", URL)
    stack.create_endpoint("1", URL)
    status, document = stack.api("POST", "/tenants/1/endpoints", {"url": URL})
    assert status == 409 and document["error"]["code"] == "limit_exceeded"


def test_creates_racing_past_the_count_do_not_exceed_the_bound(
    stack: DeliveryStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two creates at 99 both count 99 and both create: the one that finds more than the bound after
    its write removes its endpoint and answers 409 (here the first count is stale, as a racer's is)."""
    monkeypatch.setattr(api_endpoints, "MAX_ENDPOINTS_PER_TENANT", 2)
    stack.create_endpoint("1", URL)
    stack.create_endpoint("1", URL)
    real = DeliveryTable.count_endpoints
    counts: list[int] = []

    def stale_first(table: DeliveryTable, tenant_id: str) -> int:
        counts.append(real(table, tenant_id))
        return counts[-1] - 1 if len(counts) == 1 else counts[-1]

    monkeypatch.setattr(DeliveryTable, "count_endpoints", stale_first)
    status, document = stack.api("POST", "/tenants/1/endpoints", {"url": URL})
    assert status == 409 and document["error"]["code"] == "limit_exceeded"
    monkeypatch.setattr(DeliveryTable, "count_endpoints", real)
    assert len(stack.api("GET", "/tenants/1/endpoints")[1]["data"]) == 2


def _seed_config_endpoint(stack: DeliveryStack, *, enabled: bool = True) -> str:
    secret = whsec.generate()
    stack.dynamodb.put_item(
        TableName=TABLE, Item=store.config_endpoint_item("1", "audit", URL, ["widget.created"], enabled)
    )
    stack.dynamodb.put_item(TableName=TABLE, Item=store.config_secret_item("1", "audit", secret))
    return secret


def test_config_declared_endpoints_are_listed_but_only_enabled_can_change(stack: DeliveryStack) -> None:
    _seed_config_endpoint(stack)
    path = "/tenants/1/endpoints/cfg_audit"

    status, endpoint = stack.api("GET", path)
    assert status == 200 and endpoint["managedBy"] == "config" and endpoint["name"] == "audit"
    for method, suffix, body in (("PATCH", "", {"url": URL}), ("DELETE", "", None), ("POST", "/rotate-secret", None)):
        status, document = stack.api(method, path + suffix, body)
        assert status == 409 and document["error"]["code"] == "managed_by_config", (method, suffix)
    assert stack.api("PATCH", path, {"enabled": False})[1]["disabledReason"] == "manual"
    assert stack.api("PATCH", path, {"enabled": True})[1]["enabled"] is True


def test_a_config_endpoint_disabled_in_config_cannot_be_enabled_through_the_api(stack: DeliveryStack) -> None:
    _seed_config_endpoint(stack, enabled=False)
    endpoint = stack.api("GET", "/tenants/1/endpoints/cfg_audit")[1]
    assert endpoint["enabled"] is False and endpoint["disabledReason"] == "config"
    assert stack.api("PATCH", "/tenants/1/endpoints/cfg_audit", {"enabled": True})[0] == 409


def test_unknown_messages_are_404(stack: DeliveryStack) -> None:
    assert stack.api("GET", "/tenants/1/messages/evt_none")[0] == 404
    assert stack.api("POST", "/tenants/1/messages/evt_none/resend")[0] == 404


def test_replay_validates_its_input(stack: DeliveryStack) -> None:
    endpoint = stack.create_endpoint("1", URL)
    path = f"/tenants/1/endpoints/{endpoint['id']}/replay"
    assert stack.api("POST", path, {})[1]["error"]["field"] == "since"
    assert stack.api("POST", path, {"since": "yesterday"})[1]["error"]["field"] == "since"
    assert stack.api("POST", path, {"since": "2026-01-01T00:00:00"})[1]["error"]["field"] == "since"
    assert stack.api("POST", path, {"since": "2026-01-01T00:00:00Z", "limit": 0})[1]["error"]["field"] == "limit"
    # Valid ISO 8601 whose UTC instant is in year 0 or 10000 selects nothing (was a 500 writing it as a time).
    for edge in ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"):
        assert stack.api("POST", path, {"since": edge}) == (202, {"queued": 0, "eventIds": [], "nextCursor": None})


def test_internal_errors_do_not_leak_details(stack: DeliveryStack, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret detail whsec_abc")

    monkeypatch.setattr(DeliveryTable, "list_endpoints", boom)
    status, document = stack.api("GET", "/tenants/1/endpoints")
    assert status == 500 and "whsec_abc" not in str(document) and "request id" in document["error"]["message"]


def test_missing_environment_is_named(stack: DeliveryStack, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DELIVERY_TABLE_NAME")
    with pytest.raises(SettingsError, match="DELIVERY_TABLE_NAME"):
        ApiSettings.from_environ(os.environ)


# -- hostile JSON: nesting and size never turn into a 500 --------------------------------------------


@pytest.mark.parametrize(
    ("raw_body", "status", "text"),
    [
        ("[" * 60_000, 400, "deeper than 32 levels"),  # fits the 64 KB limit: json.loads would recurse
        ('{"url": ' + "[" * 30_000 + "]" * 30_000 + "}", 400, "deeper than 32 levels"),
        (
            '{"url": "https://hooks.example.com/", "description": "' + '[\\"' * 20_000 + '"}',
            400,
            "description",
        ),  # text, not nesting
        ("[" * 100_000, 413, "at most 65536 bytes"),
        (
            '{"url": "https://hooks.example.com/", "eventTypes": [' + ",".join(['"a"'] * 15_000) + "]}",
            400,
            "at most 100",
        ),
        ("[" + ",".join(["0"] * 30_000) + "]", 400, "JSON object"),
        ('{"url": ' + "1" * 60_000 + "}", 400, "JSON object"),  # past Python's int-digits limit
    ],
    ids=[
        "depth-60000",
        "nested-value",
        "brackets-in-string",
        "depth-100000",
        "huge-array-field",
        "huge-array-body",
        "huge-number",
    ],
)
def test_hostile_json_bodies_get_a_4xx_naming_the_problem(
    stack: DeliveryStack, raw_body: str, status: int, text: str
) -> None:
    for encoded in (False, True):
        code, document = stack.api("POST", "/tenants/1/endpoints", raw_body=raw_body, base64_body=encoded)
        assert code == status, document
        assert text in document["error"]["message"]


def test_nesting_up_to_the_limit_is_still_parsed(stack: DeliveryStack) -> None:
    assert api.MAX_BODY_DEPTH == 32
    deep_but_allowed = '{"url": "' + URL + '", "description": ' + "[" * 31 + "]" * 31 + "}"
    code, document = stack.api("POST", "/tenants/1/endpoints", raw_body=deep_but_allowed)
    assert code == 400 and document["error"]["field"] == "description"  # parsed, then refused as a non-string


def test_a_hostile_cursor_is_a_400_not_a_500(stack: DeliveryStack) -> None:
    nested = base64.urlsafe_b64encode(b"[" * 5000).decode()
    status, document = stack.api("GET", "/tenants/1/endpoints", query={"cursor": nested})
    assert status == 400 and document["error"]["field"] == "cursor"
    endpoint = stack.create_endpoint("1", URL)
    status, document = stack.api(
        "POST", f"/tenants/1/endpoints/{endpoint['id']}/replay", {"since": "2026-01-01T00:00:00Z", "cursor": nested}
    )
    assert status == 400 and document["error"]["field"] == "cursor"


# -- text the API cannot store or send (review 10, items 3, 5 and 12) ------------------------------


@pytest.mark.parametrize(
    ("url", "text"),
    [
        (
            "https://hooks.example.com/caf\u00e9",
            "must be ASCII, but has '\u00e9' at position 29 (percent-encode the path and "
            "query as UTF-8 and write an international host name in its xn-- form: https://hooks.example.com/caf%C3%A9)",
        ),
        ("https://b\u00fccher.example.com/", "xn-- form: https://xn--bcher-kva.example.com/)"),
        ("https://169\u3002254\u3002169\u3002254/", "metadata"),
        ("https://10\u30020\u30020\u30021/", "private"),
        # loopback is exempt here (DELIVERY_ALLOWED_CIDRS, as in the sandbox): refused for not being ASCII
        ("https://\uff11\uff12\uff17.\uff10.\uff10.\uff11/", "xn-- form: https://127.0.0.1/)"),
    ],
)
def test_a_url_that_is_not_ascii_is_refused_on_create_and_update(stack: DeliveryStack, url: str, text: str) -> None:
    status, document = stack.api("POST", "/tenants/1/endpoints", {"url": url})
    assert (status, document["error"]["field"]) == (400, "url") and text in document["error"]["message"]
    created = stack.create_endpoint("1", URL)
    status, document = stack.api("PATCH", f"/tenants/1/endpoints/{created['id']}", {"url": url})
    assert (status, document["error"]["field"]) == (400, "url") and text in document["error"]["message"]
    assert stack.api("GET", "/tenants/1/endpoints")[1]["data"] == [{k: v for k, v in created.items() if k != "secret"}]


LONE = '"\\ud800"'  # a JSON escape json.loads turns into a lone surrogate


@pytest.mark.parametrize(
    ("method", "suffix", "raw", "field"),
    [
        ("POST", "", '{"url": "https://hooks.example.com/", "description": ' + LONE + "}", "description"),
        ("POST", "", '{"url": "https://hooks.example.com/", "eventTypes": ["a.b", "a\\udfff"]}', "eventTypes[1]"),
        ("POST", "", '{"url": "https://hooks.example.com/\\ud800"}', "url"),
        ("POST", "", '{"url": "https://hooks.example.com/", "\\ud800": 1}', "body"),
        ("PATCH", "/{id}", '{"description": ' + LONE + "}", "description"),
        ("PATCH", "/{id}", '{"eventTypes": [' + LONE + "]}", "eventTypes[0]"),
        ("POST", "/{id}/rotate-secret", '{"secret": ' + LONE + "}", "secret"),
        ("POST", "/{id}/replay", '{"since": ' + LONE + "}", "since"),
    ],
)
def test_a_lone_surrogate_in_any_body_field_is_a_400_naming_it(
    stack: DeliveryStack, method: str, suffix: str, raw: str, field: str
) -> None:
    created = stack.create_endpoint("1", URL, description="kept")
    status, document = stack.api(method, "/tenants/1/endpoints" + suffix.format(id=created["id"]), raw_body=raw)
    assert (status, document["error"]["field"]) == (400, field), document
    assert "Unicode" in document["error"]["message"]
    assert stack.api("GET", f"/tenants/1/endpoints/{created['id']}")[1]["description"] == "kept"
    assert len(stack.api("GET", "/tenants/1/endpoints")[1]["data"]) == 1


def test_a_lone_surrogate_in_the_query_or_path_is_a_400_naming_it(stack: DeliveryStack) -> None:
    status, document = stack.api("GET", "/tenants/1/endpoints", query={"cursor": "\ud800"})
    assert (status, document["error"]["field"]) == (400, "cursor")
    status, document = stack.api("GET", "/tenants/1/endpoints", query={"\udfff": "1"})
    assert (status, document["error"]["field"]) == (400, "query")
    status, document = stack.api("GET", "/tenants/1\ud800/endpoints")
    assert (status, document["error"]["field"]) == (400, "path")


def test_text_outside_the_basic_plane_is_kept(stack: DeliveryStack) -> None:
    # A surrogate pair is one character (U+1F600): valid text, stored and returned as sent.
    status, created = stack.api(
        "POST", "/tenants/1/endpoints", raw_body='{"url": "' + URL + '", "description": "\\ud83d\\ude00 ok"}'
    )
    assert status == 201 and created["description"] == "\U0001f600 ok"
    assert stack.api("GET", f"/tenants/1/endpoints/{created['id']}")[1]["description"] == "\U0001f600 ok"
