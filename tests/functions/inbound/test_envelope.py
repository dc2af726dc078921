"""Envelope, identities, ordering groups and the Pipe target mapping (pure, no AWS)."""

from __future__ import annotations

import json
import re

import pytest

from functions.inbound import envelope as env
from functions.inbound import target
from functions.inbound.envelope import ClaimCheck, Envelope
from functions.inbound.payload import MalformedPayload, Payload, parse_payload

FIFO_ID = re.compile(r"^[\x21-\x7e]{1,128}$")


def make(body: bytes | None = b'{"a":1}', **changes: object) -> Envelope:
    fields: dict[str, object] = {
        "source": "github",
        "kind": "github",
        "delivery_key": "id:d-1",
        "event_type": "push",
        "received_at": "2026-01-01T00:00:00.000Z",
        "content_type": "application/json",
        "headers": {"x-github-event": "push"},
        "body": body,
    }
    fields.update(changes)
    return Envelope(**fields)  # type: ignore[arg-type]


# --- payload parsing -----------------------------------------------------------------------------


def test_payload_parsing_by_content_type() -> None:
    assert parse_payload(b'{"a": 1}', "application/json; charset=utf-8") == Payload({"a": 1}, "json")
    assert parse_payload(b'{"a": 1}', "application/vnd.api+json") == Payload({"a": 1}, "json")
    assert parse_payload(b"[1]", "") == Payload([1], "json")
    assert parse_payload(b"a=1&b=&a=2", "application/x-www-form-urlencoded") == Payload(
        {"a": ["1", "2"], "b": ""}, "form"
    )
    # GitHub and Slack may wrap JSON in a single `payload` form field.
    assert parse_payload(b"payload=%7B%22action%22%3A%22opened%22%7D", "application/x-www-form-urlencoded") == Payload(
        {"action": "opened"}, "json"
    )
    assert parse_payload(b"hello", "text/plain") == Payload("hello", "text")
    assert parse_payload(b"{not json", "text/plain") == Payload("{not json", "text")
    assert parse_payload(b"\xff\x00", "application/octet-stream") == Payload("/wA=", "base64")


def test_body_that_contradicts_its_content_type_is_malformed() -> None:
    with pytest.raises(MalformedPayload, match="not valid JSON although content-type is application/json"):
        parse_payload(b"{oops", "application/json")
    with pytest.raises(MalformedPayload, match="not UTF-8"):
        parse_payload(b"\xff", "application/json")


def test_a_number_past_python_s_digit_limit_is_named_in_the_payload_s_terms() -> None:
    with pytest.raises(MalformedPayload, match="a number has more than 4300 digits") as refused:
        parse_payload(b'{"n": -' + b"9" * 4301 + b"}", "application/json")
    assert "sys.set_int_max_str_digits" not in str(refused.value)
    assert parse_payload(b'{"n": -' + b"9" * 4300 + b"}", "application/json").value == {"n": -int("9" * 4300)}


@pytest.mark.parametrize(
    "body",
    [b'{"a": NaN}', b'{"a": -Infinity}', b'{"a": 1e400}', b"[" * 100_000 + b"]" * 100_000, b'{"a": "\\udfff x"}'],
)
def test_json_that_no_event_can_carry_is_malformed_when_declared_and_text_otherwise(body: bytes) -> None:
    """NaN, infinities and 1e400 parse in Python but have no JSON text (the event could never be
    published: acknowledged, then dead-lettered); nesting deeper than the parser's recursion limit
    raised RecursionError (a 500, retried forever), and so did an escaped lone surrogate (no UTF-8 for it)."""
    with pytest.raises(MalformedPayload, match="not valid JSON although content-type is application/json"):
        parse_payload(body, "application/json")
    assert parse_payload(body, "").encoding == "text"
    assert parse_payload(b'{"a": "\\ud83d\\ude00", "b": "\\\\ud800"}', "application/json").value == {
        "a": "\U0001f600",
        "b": "\\ud800",
    }


# --- identities ------------------------------------------------------------------------------------


def test_delivery_key_is_each_providers_id_in_the_id_namespace() -> None:
    json_payload = Payload({"id": "evt_1", "event_id": "Ev1"}, "json")
    assert env.delivery_key("github", {"x-github-delivery": "g-1"}, json_payload, b"") == "id:g-1"
    assert env.delivery_key("twilio", {"i-twilio-idempotency-token": "t-1"}, json_payload, b"") == "id:t-1"
    assert env.delivery_key("shopify", {"x-shopify-webhook-id": "s-1"}, json_payload, b"") == "id:s-1"
    assert env.delivery_key("standard", {"webhook-id": "msg_1"}, json_payload, b"") == "id:msg_1"
    assert env.delivery_key("standard", {"svix-id": "msg_2"}, json_payload, b"") == "id:msg_2"
    assert env.delivery_key("stripe", {}, json_payload, b"") == "id:evt_1"
    assert env.delivery_key("slack", {}, json_payload, b"") == "id:Ev1"
    # Consumers still see the provider's own id.
    assert make(delivery_key="id:g-1").delivery_id == "g-1"


def test_delivery_key_falls_back_to_a_body_hash() -> None:
    body = b"From=%2B1&Body=hi"
    first = env.delivery_key("twilio", {}, Payload({}, "form"), body)
    assert first == env.delivery_key("twilio", {}, Payload({}, "form"), body)
    assert first.startswith("body:") and first != env.delivery_key("twilio", {}, Payload({}, "form"), body + b"!")
    assert make(delivery_key=first).delivery_id == first


def test_twilio_fallback_key_covers_the_signed_query_so_empty_gets_differ() -> None:
    empty = Payload("", "text")
    first = env.delivery_key("twilio", {}, empty, b"", "MessageSid=SM1&MessageStatus=sent")
    second = env.delivery_key("twilio", {}, empty, b"", "MessageSid=SM2&MessageStatus=sent")
    assert first != second and first.startswith("body:") and second.startswith("body:")
    # No boundary games: the query's length is hashed with it.
    assert env.delivery_key("twilio", {}, empty, b"b", "a") != env.delivery_key("twilio", {}, empty, b"", "ab")
    # Other kinds do not sign the query: it cannot mint new keys for one signed body.
    assert env.delivery_key("github", {}, empty, b"{}", "x=1") == env.delivery_key("github", {}, empty, b"{}", "x=2")


def test_a_provider_id_can_never_equal_a_derived_key() -> None:
    body = b'{"zen": "hi"}'
    derived = env.delivery_key("github", {}, Payload({}, "json"), body)
    hostile = env.delivery_key("github", {"x-github-delivery": derived}, Payload({}, "json"), body)
    legacy = env.delivery_key(
        "github", {"x-github-delivery": f"sha256:{env.body_hash(body)}"}, Payload({}, "json"), body
    )
    assert len({derived, hostile, legacy}) == 3
    for one, other in ((derived, hostile), (derived, legacy)):
        assert env.event_id("github", one) != env.event_id("github", other)
        assert env.delivery_digest("github", one) != env.delivery_digest("github", other)
        assert env.dedupe_key("github", one) != env.dedupe_key("github", other)
    signed = env.content_key("push", body)
    assert signed.startswith("sig:")
    assert env.dedupe_key("github", signed) != env.dedupe_key("github", "id:" + signed)
    # A long key is hashed into a namespace of its own.
    long = "id:" + "x" * 5000
    assert env.dedupe_key("github", long) != env.dedupe_key("github", "id:hash:" + env.dedupe_key("github", long)[12:])


def test_content_key_is_the_signed_content_and_the_event_type() -> None:
    assert env.content_key("push", b"{}") == env.content_key("push", b"{}")
    assert env.content_key("push", b"{}") != env.content_key("push", b"{ }")
    assert env.content_key("orders/create", b"{}") != env.content_key("orders/paid", b"{}")
    assert env.content_key("a", b"b{}") != env.content_key("ab", b"{}")
    # Without an event type (GitHub: the body names its event), the content alone.
    assert env.content_key(None, b"{}") == env.content_key(None, b"{}") != env.content_key("push", b"{}")
    assert env.content_key(None, b"{}") != env.content_key(None, b"{ }")


def test_only_shopify_and_twilio_key_their_signed_content_on_the_event_type() -> None:
    from functions.inbound.kinds import SOURCE_KINDS

    assert {k.name for k in SOURCE_KINDS.values() if k.event_type_in_content_key} == {"shopify", "twilio"}
    assert all(k.signed_content is not None for k in SOURCE_KINDS.values() if k.event_type_in_content_key)


@pytest.mark.parametrize(
    ("kind", "header", "value"),
    [
        ("github", "x-github-event", "Push"),
        ("github", "x-github-event", "push\u200b"),
        ("github", "x-github-event", "push\xe2\x80\x8b"),  # the same, as latin-1 header text
        ("github", "x-github-event", "pull request"),
        ("github", "x-github-event", "p" * 129),
        ("shopify", "x-shopify-topic", "Orders/Create"),
        ("shopify", "x-shopify-topic", "orders/create\u00a0"),
    ],
)
def test_an_event_type_header_outside_the_providers_token_syntax_is_refused(kind: str, header: str, value: str) -> None:
    with pytest.raises(env.UnsignedEventTypeError, match=f"the {header} header must be the provider's event type"):
        env.event_type(kind, {header: value}, Payload({}, "json"), None)


def test_event_type_headers_in_the_providers_syntax_are_used_as_sent() -> None:
    for kind, header, value in (
        ("github", "x-github-event", "projects_v2_item"),
        ("github", "x-github-event", " push "),  # surrounding whitespace is HTTP's, not the value's
        ("shopify", "x-shopify-topic", "customer.tags_added"),
        ("shopify", "x-shopify-topic", "customers_email_marketing_consent/update"),
        ("github", "x-github-event", "p" * 128),
    ):
        assert env.event_type(kind, {header: value}, Payload({}, "json"), None) == value.strip()
    # Signed values (a configured path, a body field) are the sender's and are not held to the syntax.
    assert env.event_type("github", {"x-github-event": "Push"}, Payload({"t": "Any Thing"}, "json"), "t") == "Any Thing"
    assert env.event_type("stripe", {}, Payload({"type": "Invoice.Paid"}, "json"), None) == "Invoice.Paid"


def test_identities_are_stable_per_delivery_and_fit_aws_limits() -> None:
    assert env.event_id("github", "id:d-1") == env.event_id("github", "id:d-1")
    assert env.event_id("github", "id:d-1") != env.event_id("stripe", "id:d-1")
    digest = env.delivery_digest("github", "id:d-1")
    assert FIFO_ID.match(digest) and len(digest) == 64
    assert env.dedupe_key("github", "id:72d3162e-cc78") == "github#id:72d3162e-cc78"
    long_key = env.dedupe_key("github", "id:" + "x" * 5000)
    assert long_key.startswith("github#hash:") and len(long_key) < 100
    assert env.dedupe_key("github", "id:with space").startswith("github#hash:")


def test_event_type_prefers_configured_path_then_provider_header_or_field() -> None:
    payload = Payload({"type": "invoice.paid", "event": {"type": "app_mention"}, "MessageStatus": "sent"}, "json")
    assert env.event_type("stripe", {}, payload, None) == "invoice.paid"
    assert env.event_type("slack", {}, payload, None) == "app_mention"
    assert env.event_type("github", {"x-github-event": "pull_request"}, payload, None) == "pull_request"
    assert env.event_type("shopify", {"x-shopify-topic": "orders/create"}, payload, None) == "orders/create"
    assert env.event_type("twilio", {}, payload, "MessageStatus") == "sent"
    assert env.event_type("twilio", {}, payload, None) == "webhook"
    assert env.event_type("stripe", {}, Payload({"type": "x" * 300}, "json"), None) == "x" * 128


def test_message_group_follows_the_ordering_key_and_falls_back_to_the_source() -> None:
    payload = Payload({"repository": {"id": 1296269}, "data": {"object": {"customer": "cus_9"}}, "flag": True}, "json")
    assert env.message_group_id("github", "repository.id", payload) == "github:1296269"
    assert env.message_group_id("stripe", "data.object.customer", payload) == "stripe:cus_9"
    assert env.message_group_id("stripe", "data.object.missing", payload) == "stripe"
    assert env.message_group_id("stripe", None, payload) == "stripe"
    assert env.message_group_id("stripe", "data", payload) == "stripe"  # objects are not group keys
    assert env.message_group_id("x", "flag", payload) == "x:true"
    odd = Payload({"k": "ünïcode and spaces " * 20}, "json")
    group = env.message_group_id("src", "k", odd)
    assert FIFO_ID.match(group) and group.startswith("src:sha256:")
    assert group == env.message_group_id("src", "k", odd)


def test_lookup_walks_objects_and_list_indexes() -> None:
    document = {"a": [{"b": "x"}, {"b": "y"}]}
    assert env.lookup(document, "a.1.b") == "y"
    assert env.lookup(document, "a.5.b") is None
    assert env.lookup(document, "a.b") is None
    assert env.lookup("text", "a") is None


# --- envelopes -------------------------------------------------------------------------------------


def test_envelope_round_trips_text_binary_claim_check_and_query() -> None:
    for body in (b'{"a":"\xc3\xa9"}', b"\xff\xfe\x00binary"):
        parsed = env.parse_envelope(make(body).serialize())
        assert parsed.body == body and parsed.claim_check is None
        assert parsed.event_id == make(body).event_id and parsed.delivery_key == "id:d-1"
    pointer = ClaimCheck(bucket="b", key="payloads/github/abc", size=10, sha256="0" * 64)
    parsed = env.parse_envelope(make(None, claim_check=pointer).serialize())
    assert parsed.claim_check == pointer and parsed.body is None
    twilio = make(b"", kind="twilio", source="twilio", query="MessageSid=SM1&MessageStatus=sent")
    document = json.loads(twilio.serialize())
    assert document["query"] == "MessageSid=SM1&MessageStatus=sent"
    assert env.parse_envelope(twilio.serialize()) == twilio
    assert "query" not in json.loads(make().serialize())


def test_envelopes_written_before_namespaces_still_parse_with_namespaced_keys() -> None:
    """Messages in flight during the upgrade carry no deliveryKey; they must not fail the Pipe."""
    document = json.loads(make().serialize())
    del document["deliveryKey"]
    assert env.parse_envelope(json.dumps(document)).delivery_key == "id:d-1"
    document["deliveryId"] = "sha256:" + "a" * 64
    assert env.parse_envelope(json.dumps(document)).delivery_key == "body:" + "a" * 64
    document["deliveryKey"] = "evil:1"
    with pytest.raises(ValueError, match="deliveryKey must start with id: or body:"):
        env.parse_envelope(json.dumps(document))


def test_foreign_messages_are_rejected_with_a_reason() -> None:
    with pytest.raises(ValueError, match="not JSON"):
        env.parse_envelope("nope")
    with pytest.raises(ValueError, match="not a version 1 inbound envelope"):
        env.parse_envelope('{"hello": 1}')
    with pytest.raises(ValueError, match="lacks deliveryId"):
        env.parse_envelope(
            json.dumps(
                {
                    "v": 1,
                    "source": "s",
                    "kind": "github",
                    "eventType": "e",
                    "receivedAt": "t",
                    "body": {"encoding": "text", "data": ""},
                }
            )
        )


def test_claim_check_above_threshold_or_when_the_message_would_not_fit() -> None:
    assert not env.needs_claim_check(make(b"x" * 100), 100)
    assert env.needs_claim_check(make(b"x" * 101), 100)
    assert env.needs_claim_check(make(b"x"), 0)
    # Below the threshold but JSON escaping makes the message exceed 256 KiB: claim-check anyway.
    escaped = b"\x01" * 200_000  # each control character becomes \u0001 (6 bytes)
    assert env.needs_claim_check(make(escaped), 240_000)


# --- the Pipe target mapping ------------------------------------------------------------------------


def test_target_item_carries_source_detail_type_time_and_parsed_payload() -> None:
    item = target.target_item(make(), b'{"a":1}', target.MAX_BUS_ENTRY_BYTES, "hookstack")
    assert item["source"] == "hookstack.github"
    assert item["detailType"] == "push"
    assert item["time"] == "2026-01-01T00:00:00.000Z"
    assert item["detail"]["payload"] == {"a": 1} and item["detail"]["payloadEncoding"] == "json"
    assert item["detail"]["eventId"] == make().event_id
    assert "tenantId" not in item["detail"]  # inbound events never fan out to tenant destinations
    entry = target.bus_entry(item, "bus-1")
    assert entry == {
        "EventBusName": "bus-1",
        "Source": "hookstack.github",
        "DetailType": "push",
        "Time": "2026-01-01T00:00:00.000Z",
        "Detail": json.dumps(item["detail"], separators=(",", ":"), ensure_ascii=False),
    }
    assert "query" not in item["detail"]


def test_the_source_prefix_is_the_configured_event_source() -> None:
    item = target.target_item(make(), b"{}", target.MAX_BUS_ENTRY_BYTES, "acme.webhooks")
    assert item["source"] == "acme.webhooks.github"
    from components.config import ProviderSettings

    # The enrichment's fallback (an unset variable mid-deploy) is the configuration's default.
    assert ProviderSettings().event_source == target.DEFAULT_EVENT_SOURCE


def test_twilio_query_reaches_the_event() -> None:
    twilio = make(b"", kind="twilio", source="twilio", content_type="", query="MessageSid=SM1&MessageStatus=sent")
    item = target.target_item(twilio, b"", target.MAX_BUS_ENTRY_BYTES, "hookstack")
    assert item["detail"]["query"] == "MessageSid=SM1&MessageStatus=sent"
    assert item["source"] == "hookstack.twilio"


def test_the_ingests_size_bound_holds_for_any_source_prefix() -> None:
    envelope = make(b'{"a":1}', source="s" * 32)
    payload = parse_payload(b'{"a":1}', "application/json")
    bound = target.item_size_bound(envelope, payload)
    for prefix in ("h", "hookstack", "x" * 200):
        assert target.item_size(target.item_with_payload(envelope, payload, prefix)) <= bound
    longest = "x" * (target.MAX_EVENT_SOURCE_CHARS - 33)
    assert target.item_size(target.item_with_payload(envelope, payload, longest)) == bound


def test_payload_too_big_for_an_event_travels_as_the_pointer() -> None:
    pointer = ClaimCheck(bucket="b", key="k", size=300_000, sha256="0" * 64)
    envelope = make(None, claim_check=pointer)
    big = json.dumps({"blob": "x" * 300_000}).encode()
    item = target.target_item(envelope, big, target.MAX_BUS_ENTRY_BYTES, "hookstack")
    assert "payload" not in item["detail"] and item["detail"]["payloadRef"]["key"] == "k"
    assert target.item_size(item) < target.MAX_BUS_ENTRY_BYTES
    small = target.target_item(envelope, b'{"a":1}', target.MAX_BUS_ENTRY_BYTES, "hookstack")
    assert small["detail"]["payload"] == {"a": 1} and "payloadRef" not in small["detail"]


def test_inline_payload_that_cannot_fit_is_an_error_not_a_silent_drop() -> None:
    with pytest.raises(ValueError, match="exceeds 1000 bytes"):
        target.target_item(make(b"x" * 2000, content_type="text/plain"), b"x" * 2000, 1000, "hookstack")


def test_pipe_target_paths_point_at_the_item_fields() -> None:
    item = target.target_item(make(), b"{}", target.MAX_BUS_ENTRY_BYTES, "hookstack")
    for path in (target.PIPE_SOURCE_PATH, target.PIPE_DETAIL_TYPE_PATH, target.PIPE_TIME_PATH):
        assert path.startswith("$.") and path[2:] in item
    assert target.PIPE_BUS_INPUT_TEMPLATE == "<$.detail>"


def test_a_trailing_newline_never_passes_for_a_whole_id() -> None:
    """``re.match`` with ``$`` accepts "x\\n": a FIFO group, a readable ledger key and a header's event
    type are checked whole (``fullmatch``), so a value ending in a newline is hashed or refused."""
    from functions.inbound import envelope

    group = envelope.message_group_id("src", "k", Payload({"k": "a\n"}, "json"))
    assert FIFO_ID.fullmatch(group) and group.startswith("src:sha256:")
    assert envelope.dedupe_key("src", "id:d-1\n").startswith("src#" + envelope.HASHED)
    assert envelope.dedupe_key("src", "id:d-1") == "src#id:d-1"
    with pytest.raises(envelope.UnsignedEventTypeError):
        envelope.event_type("github", {"x-github-event": "push\n"}, Payload({}, "json"), None)
