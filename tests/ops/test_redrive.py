"""``python -m ops redrive`` against moto: SQS holds the DLQ, EventBridge routes what is re-published.

The DLQ messages are written the way EventBridge writes them (event JSON body, RULE_ARN /
TARGET_ARN / ERROR_CODE / ... attributes); a "capture" rule on the entry bus shows what reached
the bus. moto's PutEvents never fails an entry of a well-formed event, so entry failures are
injected by wrapping the events client (:class:`FailingEvents`).
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from ops.aws import Clients
from tests.ops.conftest import MotoStack, session

WAIT = ("--wait-seconds", "0")


class FailingEvents:
    """The moto events client, except that PutEvents entries for ``event_ids`` fail with ``code``."""

    def __init__(self, inner: Any, event_ids: set[str], code: str = "AccessDeniedException") -> None:
        self.inner = inner
        self.event_ids = event_ids
        self.code = code
        self.calls: list[list[str]] = []

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.calls.append([json.loads(e["Detail"])["eventId"] for e in Entries])
        passing = [e for e in Entries if json.loads(e["Detail"])["eventId"] not in self.event_ids]
        accepted = iter(self.inner.put_events(Entries=passing)["Entries"]) if passing else iter(())
        results = [
            {"ErrorCode": self.code, "ErrorMessage": "not allowed"}
            if json.loads(e["Detail"])["eventId"] in self.event_ids
            else next(accepted)
            for e in Entries
        ]
        return {"FailedEntryCount": sum(1 for r in results if "ErrorCode" in r), "Entries": results}

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class BrokenEvents:
    """PutEvents itself is refused (no permission on the bus)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def put_events(self, **_: Any) -> dict[str, Any]:
        raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "PutEvents")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class SqsOverLimitAfterOneBatch:
    """The moto SQS client, except that the second ReceiveMessage fails (120,000 in flight)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.receives = 0

    def receive_message(self, **kwargs: Any) -> dict[str, Any]:
        self.receives += 1
        if self.receives > 1:
            raise ClientError({"Error": {"Code": "OverLimit", "Message": "too many in flight"}}, "ReceiveMessage")
        return self.inner.receive_message(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def clients_with(events: Any = None, sqs: Any = None) -> Clients:
    clients = Clients(region="us-east-1", session=session())
    if events is not None:
        clients.events = events  # type: ignore[misc]  # cached_property slot
    if sqs is not None:
        clients.sqs = sqs  # type: ignore[misc]
    return clients


# --- dry run ----------------------------------------------------------------------------------


def test_dry_run_publishes_and_deletes_nothing_and_leaves_messages_visible(stack: MotoStack) -> None:
    ids = [stack.dead_letter("1/crm"), stack.dead_letter("1/crm"), stack.dead_letter("2/billing", error_code="TIMEOUT")]

    result = stack.run("redrive", *WAIT, "--output", "json")

    assert result.code == 0, result.err
    report = result.json()
    assert report["mode"] == "dry-run"
    assert (report["selected"], report["redrivable"], report["publishedEvents"], report["deleted"]) == (3, 3, 0, 0)
    assert stack.captured() == []
    # Released at the end of the run: visible again at once, not after the visibility timeout.
    assert stack.dlq_depth() == (3, 0)
    assert stack.dlq_event_ids() == sorted(ids)


def test_dry_run_counts_per_rule_tenant_and_error_code(stack: MotoStack) -> None:
    stack.dead_letter("1/crm")
    stack.dead_letter("1/crm", error_code="TIMEOUT")
    stack.dead_letter("2/billing", error_code="TIMEOUT")

    report = stack.run("redrive", *WAIT, "--output", "json").json()

    crm_rule = stack.destinations["1/crm"]["rule_arn"]
    billing_rule = stack.destinations["2/billing"]["rule_arn"]
    assert report["byRule"] == {f"{crm_rule} (1/crm)": 2, f"{billing_rule} (2/billing)": 1}
    assert report["byTenant"] == {"1": 2, "2": 1}
    assert report["byErrorCode"] == {"TIMEOUT": 2, "SDK_CLIENT_ERROR": 1}


def test_dry_run_text_says_nothing_was_done_and_how_to_execute(stack: MotoStack) -> None:
    stack.dead_letter("1/crm")

    result = stack.run("redrive", *WAIT)

    assert result.code == 0
    assert result.out.startswith("DRY RUN: nothing published, nothing deleted")
    assert "--execute" in result.out
    assert "EVERY rule" in result.out


# --- execute ----------------------------------------------------------------------------------


def test_execute_republishes_the_original_event_to_the_entry_bus_then_deletes(stack: MotoStack) -> None:
    detail = {"widgetName": "W1", "price": 12.5, "tags": ["a"], "tenantId": "1", "eventId": "evt_keep_me"}
    stack.dead_letter("1/crm", detail=detail, detail_type="widget.updated")

    result = stack.run("redrive", "--execute", *WAIT, "--output", "json")

    assert result.code == 0, result.out + result.err
    assert result.json()["deleted"] == 1
    [event] = stack.captured()
    assert (event["source"], event["detail-type"]) == ("hookstack.aurora", "widget.updated")
    assert event["detail"] == detail  # eventId (and everything else) unchanged: receivers deduplicate
    assert stack.dlq_depth() == (0, 0)


def test_a_failed_putevents_entry_leaves_its_message_in_the_queue(stack: MotoStack) -> None:
    ok = stack.dead_letter("1/crm")
    refused = stack.dead_letter("1/crm")
    events = FailingEvents(stack.events, {refused})

    result = stack.run("redrive", "--execute", *WAIT, "--output", "json", clients=clients_with(events))

    assert result.code == 1  # something selected was not redriven
    report = result.json()
    assert report["deleted"] == 1
    assert report["kept"] == [
        {
            "messageId": report["kept"][0]["messageId"],
            "eventId": refused,
            "reason": "PutEvents entry failed: AccessDeniedException not allowed",
        }
    ]
    assert [e["detail"]["eventId"] for e in stack.captured()] == [ok]
    assert stack.dlq_event_ids() == [refused]


def test_a_refused_putevents_call_deletes_nothing_and_stops(stack: MotoStack) -> None:
    for _ in range(3):
        stack.dead_letter("1/crm")

    result = stack.run(
        "redrive", "--execute", *WAIT, "--output", "json", clients=clients_with(BrokenEvents(stack.events))
    )

    assert result.code == 2
    assert "AccessDeniedException" in result.json()["aborted"]
    assert stack.dlq_depth() == (3, 0)


def test_a_failing_receive_stops_the_run_and_still_reports_what_was_done(stack: MotoStack) -> None:
    for _ in range(12):
        stack.dead_letter("1/crm")
    sqs = SqsOverLimitAfterOneBatch(stack.sqs)

    result = stack.run("redrive", "--execute", *WAIT, "--output", "json", clients=clients_with(sqs=sqs))

    assert result.code == 2
    report = result.json()
    assert "OverLimit" in report["aborted"]
    assert report["deleted"] == len(stack.captured()) == 12 - sum(stack.dlq_depth())
    assert report["deleted"] > 0


def test_transient_entry_failures_are_retried_before_the_message_is_deleted(stack: MotoStack) -> None:
    event_id = stack.dead_letter("1/crm")

    class ThrottledOnce(FailingEvents):
        def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
            response = super().put_events(Entries=Entries)
            self.event_ids = set()  # the next attempt goes through
            return response

    events = ThrottledOnce(stack.events, {event_id}, code="ThrottlingException")
    result = stack.run("redrive", "--execute", *WAIT, "--output", "json", clients=clients_with(events))

    assert result.code == 0, result.out
    assert events.calls == [[event_id], [event_id]]
    assert stack.dlq_depth() == (0, 0)


def test_the_same_event_dead_lettered_for_two_destinations_is_published_once(stack: MotoStack) -> None:
    event_id = "evt_same_event_two_rules"
    detail = {"widgetName": "W1", "tenantId": "1", "eventId": event_id}
    stack.dead_letter("1/crm", detail=detail)
    stack.dead_letter("1/erp", detail=detail)
    events = FailingEvents(stack.events, set())

    result = stack.run("redrive", "--execute", *WAIT, "--output", "json", clients=clients_with(events))

    assert result.code == 0
    assert events.calls == [[event_id]]  # one PutEvents entry reaches both rules again
    assert result.json()["deleted"] == 2
    assert stack.dlq_depth() == (0, 0)


def test_publishes_to_the_bus_given_with_target_bus(stack: MotoStack) -> None:
    stack.events.create_event_bus(Name="elsewhere")
    stack.dead_letter("1/crm")
    events = FailingEvents(stack.events, set())
    seen: list[str] = []
    original = events.put_events

    def spy(Entries: list[dict[str, Any]]) -> dict[str, Any]:
        seen.extend(e["EventBusName"] for e in Entries)
        return original(Entries=Entries)

    events.put_events = spy  # type: ignore[method-assign]
    result = stack.run("redrive", "--execute", "--target-bus", "elsewhere", *WAIT, clients=clients_with(events))

    assert result.code == 0
    assert seen == ["elsewhere"]


# --- selection --------------------------------------------------------------------------------


def test_filters_select_by_rule_tenant_and_error_code_and_keep_the_rest(stack: MotoStack) -> None:
    crm = stack.dead_letter("1/crm")
    crm_timeout = stack.dead_letter("1/crm", error_code="TIMEOUT")
    erp = stack.dead_letter("1/erp")
    billing = stack.dead_letter("2/billing")

    by_destination = stack.run(
        "redrive", "--execute", "--destination", "1/crm", "--error-code", "SDK_CLIENT_ERROR", *WAIT
    )
    assert by_destination.code == 0, by_destination.out
    assert [e["detail"]["eventId"] for e in stack.captured()] == [crm]

    by_tenant = stack.run("redrive", "--execute", "--tenant", "2", *WAIT)
    assert by_tenant.code == 0
    assert [e["detail"]["eventId"] for e in stack.captured()] == [billing]

    by_rule = stack.run("redrive", "--execute", "--rule-arn", stack.destinations["1/erp"]["rule_arn"], *WAIT)
    assert by_rule.code == 0
    assert [e["detail"]["eventId"] for e in stack.captured()] == [erp]

    assert stack.dlq_event_ids() == [crm_timeout]


def test_max_limits_how_many_messages_are_redriven(stack: MotoStack) -> None:
    for _ in range(5):
        stack.dead_letter("1/crm")

    result = stack.run("redrive", "--execute", "--max", "2", *WAIT, "--output", "json")

    assert result.code == 0
    assert result.json()["selected"] == 2
    assert len(stack.captured()) == 2
    assert stack.dlq_depth() == (3, 0)  # the rest was released, not hidden for 5 minutes


def test_unknown_destination_is_a_clear_error(stack: MotoStack) -> None:
    result = stack.run("redrive", "--destination", "9/nope", *WAIT)

    assert result.code == 2
    assert "--destination '9/nope'" in result.err
    assert "1/crm" in result.err  # lists what exists


# --- messages that are not events -------------------------------------------------------------


def test_unparseable_messages_are_kept_and_reported_while_the_rest_is_redriven(stack: MotoStack) -> None:
    good = stack.dead_letter("1/crm")
    stack.dead_letter("1/crm", body="not json at all")
    stack.dead_letter("1/crm", detail={"widgetName": "no id", "tenantId": "1"})

    result = stack.run("redrive", "--execute", *WAIT, "--output", "json")

    assert result.code == 1
    report = result.json()
    reasons = sorted(k["reason"] for k in report["kept"])
    assert reasons == [
        "the body is not JSON (not an event EventBridge wrote)",
        "the event has no detail.eventId (outside hookstack's event contract)",
    ]
    assert [e["detail"]["eventId"] for e in stack.captured()] == [good]
    assert stack.dlq_depth() == (2, 0)


def test_missing_queue_url_is_a_clear_error(stack: MotoStack) -> None:
    result = stack.run("redrive", "--bus-name", "hookstack-dev", *WAIT, outputs=False)

    assert result.code == 2
    assert "dead-letter queue URL is unknown" in result.err
