"""Reading a DLQ message as EventBridge writes it, and selecting messages (no AWS involved).

The sample ``tests/events/ops_dlq_message.json`` carries the attributes the EventBridge user guide
lists for target DLQs: RULE_ARN, TARGET_ARN, ERROR_CODE, ERROR_MESSAGE, EXHAUSTED_RETRY_CONDITION
and RETRY_ATTEMPTS; the body is the event's own JSON.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from functions.events import MAX_REQUEST_BYTES, REDRIVE_MARKER_KEY
from ops.dlq import DLQ_ATTRIBUTES, MAX_BODY_DEPTH, RedriveFilter, parse_message
from tests.ops.conftest import SAMPLE_DLQ_MESSAGE


def sample(**body_changes: Any) -> dict[str, Any]:
    message = json.loads(SAMPLE_DLQ_MESSAGE.read_text())
    if body_changes:
        body = json.loads(message["Body"])
        body.update(body_changes)
        message["Body"] = json.dumps(body)
    return message


def test_reads_every_attribute_eventbridge_writes() -> None:
    message = sample()
    assert set(message["MessageAttributes"]) == set(DLQ_ATTRIBUTES)

    letter = parse_message(message)

    assert letter.problem is None
    assert letter.rule_arn == "arn:aws:events:us-east-1:123456789012:rule/hookstack-dev/hookstack-1-crm-rule-5f1c2d3"
    assert letter.target_arn is not None and ":api-destination/hookstack-dev-1-crm/" in letter.target_arn
    assert (letter.error_code, letter.exhausted_retry_condition, letter.retry_attempts) == (
        "SDK_CLIENT_ERROR", "MaximumRetryAttempts", "24",
    )  # fmt: skip
    assert letter.error_message is not None and "authorized state" in letter.error_message
    assert letter.sent_at == datetime(2026, 1, 5, 10, 5, tzinfo=UTC)
    assert (letter.tenant_id, letter.event_id) == ("1", "evt_4d8f0c2a9b1e4f6a8c3d2e1f0a9b8c7d")


def test_the_event_is_rebuilt_with_its_detail_unchanged() -> None:
    original = json.loads(sample()["Body"])

    event = parse_message(sample()).event

    assert event is not None
    entry = event.entry("hookstack-dev")
    assert (entry["Source"], entry["DetailType"]) == (original["source"], original["detail-type"])
    assert json.loads(entry["Detail"]) == original["detail"]
    assert list(json.loads(entry["Detail"])) == list(original["detail"])  # key order too


def test_a_numeric_tenant_id_is_kept_as_it_was() -> None:
    letter = parse_message(sample(detail={"tenantId": 1, "eventId": "evt_x"}))

    assert letter.event is not None
    assert json.loads(letter.event.entry("b")["Detail"])["tenantId"] == 1


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (None, "no body"),
        ("<xml/>", "not JSON"),
        ("[1]", "not a JSON object"),
        (json.dumps({"detail-type": "t", "detail": {"eventId": "e"}}), "no string source / detail-type"),
        (json.dumps({"source": "s", "detail-type": "t", "detail": "text"}), "detail is not a JSON object"),
        (json.dumps({"source": "s", "detail-type": "t", "detail": {"tenantId": "1"}}), "no detail.eventId"),
        (json.dumps({"source": "", "detail-type": "t", "detail": {"eventId": "e"}}), "breaks the event contract"),
        (
            json.dumps(
                {"source": "s", "detail-type": "t", "detail": {"eventId": "e", "blob": "x" * MAX_REQUEST_BYTES}}
            ),
            "PutEvents takes at most",
        ),
        # json.loads would raise RecursionError (out of the CLI, every run): refused before parsing.
        ('{"detail": ' + "[" * 100_000 + "]" * 100_000 + "}", f"deeper than {MAX_BODY_DEPTH} levels"),
        ("[" * 100_000, f"deeper than {MAX_BODY_DEPTH} levels"),  # unterminated too
        (
            json.dumps({"source": "s", "detail-type": "t", "detail": {"eventId": "e", REDRIVE_MARKER_KEY: {"x": 1}}}),
            "not a destination name",
        ),
        (
            json.dumps({"source": "s", "detail-type": "t", "detail": {"eventId": "e", REDRIVE_MARKER_KEY: ""}}),
            "not a destination name",
        ),
        (
            json.dumps({"source": "s", "detail-type": "t", "detail": {"eventId": "e", REDRIVE_MARKER_KEY: None}}),
            "not a destination name",
        ),
    ],
)
def test_messages_that_cannot_be_redriven_say_why(body: str | None, reason: str) -> None:
    message = sample()
    if body is None:
        del message["Body"]
    else:
        message["Body"] = body

    letter = parse_message(message)

    assert letter.event is None
    assert letter.problem is not None and reason in letter.problem


def test_nesting_up_to_the_bound_is_read() -> None:
    detail = {
        "tenantId": "1",
        "eventId": "evt_deep",
        "deep": json.loads("[" * (MAX_BODY_DEPTH - 2) + "]" * (MAX_BODY_DEPTH - 2)),
    }
    message = sample()
    message["Body"] = json.dumps(
        {"source": "s", "detail-type": "t", "detail": detail}
    )  # envelope + detail + list levels

    letter = parse_message(message)

    assert letter.problem is None and letter.event is not None
    assert json.loads(letter.event.entry("b")["Detail"]) == detail


def test_a_marker_from_an_earlier_redrive_is_read_aside_and_kept_in_the_event() -> None:
    detail = {"tenantId": "1", REDRIVE_MARKER_KEY: "crm", "eventId": "evt_again"}

    letter = parse_message(sample(detail=detail))

    assert letter.event is not None
    assert REDRIVE_MARKER_KEY not in letter.event.data and letter.event.redrive_marker == "crm"
    assert json.loads(letter.event.entry("b")["Detail"]) == detail


def test_filter_requires_every_given_criterion() -> None:
    letter = parse_message(sample())
    rule = letter.rule_arn
    assert rule is not None

    assert RedriveFilter().matches(letter)
    assert RedriveFilter(rule_arns=frozenset({rule}), tenant_ids=frozenset({"1"})).matches(letter)
    assert not RedriveFilter(rule_arns=frozenset({rule}), tenant_ids=frozenset({"2"})).matches(letter)
    assert not RedriveFilter(error_codes=frozenset({"TIMEOUT"})).matches(letter)
    assert not RedriveFilter(rule_arns=frozenset({rule + "x"})).matches(letter)


def test_an_unreadable_message_is_selected_by_tenant_so_it_gets_reported() -> None:
    message = sample()
    message["Body"] = "garbage"

    assert RedriveFilter(tenant_ids=frozenset({"2"})).matches(parse_message(message))
