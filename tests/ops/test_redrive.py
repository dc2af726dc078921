"""``python -m ops redrive`` against moto: SQS holds the DLQ, EventBridge routes what is re-published.

The DLQ messages are written the way EventBridge writes them (event JSON body, RULE_ARN /
TARGET_ARN / ERROR_CODE / ... attributes). The rules carry the plan's patterns (redrive clause
included); a queue per rule shows what each destination got, and a "capture" rule of the bus's
owner (no redrive clause) shows what reached the entry bus. moto's PutEvents never fails an entry
of a well-formed event, so entry failures are injected by wrapping the events client.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from components.plan import destination_pattern
from functions.events import REDRIVE_MARKER_KEY
from ops import redrive
from ops.aws import Clients
from ops.dlq import MAX_BODY_DEPTH
from tests.ops.conftest import ACCOUNT, MotoStack, moto_as_aws, session

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


class StillFailing(FailingEvents):
    """A destination that keeps failing: every event redriven to ``label``'s rule is dead-lettered
    again at once (a new DLQ message, as EventBridge writes it), like the sandbox's 500 endpoint.
    Stops a runaway run after ``guard`` PutEvents calls."""

    def __init__(self, stack: MotoStack, label: str, guard: int = 20) -> None:
        super().__init__(stack.events, set())
        self.stack, self.label, self.guard = stack, label, guard

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        if len(self.calls) >= self.guard:
            raise AssertionError(f"redrive did not stop: {len(self.calls)} PutEvents calls")
        response = super().put_events(Entries=Entries)
        for entry in Entries:
            detail = json.loads(entry["Detail"])
            if detail.get(REDRIVE_MARKER_KEY, self.label.split("/")[1]) == self.label.split("/")[1]:
                self.stack.dead_letter(self.label, detail=detail, error_code="SDK.HttpStatus500")
        return response


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


def ids(events: list[dict[str, Any]]) -> list[str]:
    return sorted(e["detail"]["eventId"] for e in events)


# --- dry run ----------------------------------------------------------------------------------


def test_dry_run_publishes_and_deletes_nothing_and_leaves_messages_visible(stack: MotoStack) -> None:
    sent = [
        stack.dead_letter("1/crm"),
        stack.dead_letter("1/crm"),
        stack.dead_letter("2/billing", error_code="TIMEOUT"),
    ]

    result = stack.run("redrive", *WAIT, "--output", "json")

    assert result.code == 0, result.err
    report = result.json()
    assert report["mode"] == "dry-run"
    assert (report["selected"], report["redrivable"], report["publishedEvents"], report["deleted"]) == (3, 3, 0, 0)
    assert (report["presentAtStart"], report["lookedAt"], report["stopped"]) == (3, 3, redrive.STOP_LOOKED_AT_ALL)
    assert stack.captured() == []
    # Released at the end of the run: visible again at once, not after the visibility timeout.
    assert stack.dlq_depth() == (3, 0)
    assert stack.dlq_event_ids() == sorted(sent)


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


def test_dry_run_text_says_nothing_was_done_where_events_would_go_and_how_to_execute(stack: MotoStack) -> None:
    stack.dead_letter("1/crm")

    result = stack.run("redrive", *WAIT)

    assert result.code == 0
    assert result.out.startswith("DRY RUN: nothing published, nothing deleted")
    assert "--execute" in result.out
    assert "only to the rule that dead-lettered it" in result.out


# --- execute: each event goes back to its own rule only --------------------------------------


def test_execute_sends_the_event_back_to_the_dead_lettering_rule_only(stack: MotoStack) -> None:
    detail = {"widgetName": "W1", "price": 12.5, "tags": ["a"], "tenantId": "1", "eventId": "evt_keep_me"}
    stack.dead_letter("1/crm", detail=detail, detail_type="widget.updated")

    result = stack.run("redrive", "--execute", *WAIT, "--output", "json")

    assert result.code == 0, result.out + result.err
    assert result.json()["deleted"] == 1
    [delivered] = stack.delivered("1/crm")
    assert (delivered["source"], delivered["detail-type"]) == ("hookstack.aurora", "widget.updated")
    # eventId (and everything else) unchanged, so receivers deduplicate; the marker names the rule's destination.
    assert delivered["detail"] == {**detail, REDRIVE_MARKER_KEY: "crm"}
    assert stack.delivered("1/erp") == [] and stack.delivered("2/billing") == []  # the tenant's other destination too
    assert stack.dlq_depth() == (0, 0)


def test_the_same_event_dead_lettered_by_two_rules_goes_once_to_each(stack: MotoStack) -> None:
    event_id = "evt_same_event_two_rules"
    detail = {"widgetName": "W1", "tenantId": "1", "eventId": event_id}
    stack.dead_letter("1/crm", detail=detail)
    stack.dead_letter("1/erp", detail=detail)
    events = FailingEvents(stack.events, set())

    result = stack.run("redrive", "--execute", *WAIT, "--output", "json", clients=clients_with(events))

    assert result.code == 0
    assert events.calls == [[event_id], [event_id]]  # one entry per rule, each marked for it
    assert ids(stack.delivered("1/crm")) == ids(stack.delivered("1/erp")) == [event_id]
    assert result.json()["deleted"] == 2
    assert stack.dlq_depth() == (0, 0)


def test_a_destination_that_keeps_failing_does_not_keep_the_run_going(stack: MotoStack) -> None:
    sent = sorted(stack.dead_letter("1/crm") for _ in range(12))
    events = StillFailing(stack, "1/crm")

    result = stack.run("redrive", "--execute", *WAIT, "--output", "json", clients=clients_with(events))

    assert result.code == 0, result.out + result.err
    report = result.json()
    published = [event_id for call in events.calls for event_id in call]
    assert sorted(published) == sent  # each event once, although each came back to the queue at once
    assert (report["publishedEvents"], report["deleted"]) == (12, 12)
    assert report["arrivedAfterStart"] >= 1  # the new copies were seen and left alone
    assert report["stopped"] in (redrive.STOP_LOOKED_AT_ALL, redrive.STOP_EMPTY)
    assert ids(stack.delivered("1/crm")) == sent
    assert stack.delivered("1/erp") == []  # the healthy destination of the tenant got nothing again
    # The copies that failed again wait for a later run, which sends each once more.
    assert stack.dlq_depth() == (12, 0)
    again = stack.run("redrive", *WAIT, "--output", "json").json()
    assert (again["presentAtStart"], again["redrivable"]) == (12, 12)


def test_copies_of_one_event_for_one_rule_are_sent_once_and_the_others_kept(stack: MotoStack) -> None:
    detail = {"widgetName": "W1", "tenantId": "1", "eventId": "evt_twice"}
    stack.dead_letter("1/crm", detail=detail)
    stack.dead_letter("1/crm", detail=detail)

    result = stack.run("redrive", "--execute", *WAIT, "--output", "json")

    assert result.code == 1  # a selected message stayed
    report = result.json()
    assert (report["publishedEvents"], report["deleted"]) == (1, 1)
    assert [k["reason"] for k in report["kept"]] == [
        "this run already redrives the same event (eventId) to the same rule; left for a later run"
    ]
    assert ids(stack.delivered("1/crm")) == ["evt_twice"]
    assert stack.dlq_event_ids() == ["evt_twice"]


def test_a_redriven_event_that_failed_again_keeps_one_marker(stack: MotoStack) -> None:
    marked = {"tenantId": "1", "eventId": "evt_again", REDRIVE_MARKER_KEY: "crm"}
    stack.dead_letter("1/crm", detail=marked)

    assert stack.run("redrive", "--execute", *WAIT).code == 0

    [delivered] = stack.delivered("1/crm")
    assert delivered["detail"] == marked


def test_all_rules_sends_the_event_unmarked_to_every_rule_of_the_entry_bus(stack: MotoStack) -> None:
    stack.dead_letter("1/crm", detail={"tenantId": "1", "eventId": "evt_all", REDRIVE_MARKER_KEY: "crm"})

    result = stack.run("redrive", "--execute", "--all-rules", *WAIT, "--output", "json")

    assert result.code == 0, result.out
    assert result.json()["allRules"] is True
    crm, erp = stack.delivered("1/crm"), stack.delivered("1/erp")
    assert ids(crm) == ids(erp) == ["evt_all"]
    assert erp[0]["detail"] == {"tenantId": "1", "eventId": "evt_all"}


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


# --- sharded tenants --------------------------------------------------------------------------


@pytest.fixture
def sharded(aws: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> MotoStack:
    moto_as_aws(monkeypatch)
    return MotoStack(tmp_path).deploy({"1": ["crm"]}, shards={"hookstack-dev-shard-01": ["7", "8"]})


def test_a_shard_rule_dead_letter_goes_to_that_shard_bus_only(sharded: MotoStack) -> None:
    sharded.dead_letter("7/hook", detail={"tenantId": "7", "eventId": "evt_s"})

    result = sharded.run("redrive", "--execute", *WAIT)

    assert result.code == 0, result.out
    [delivered] = sharded.delivered("7/hook")
    assert delivered["detail"][REDRIVE_MARKER_KEY] == "hook"
    assert sharded.captured() == []  # not through the entry bus (its other rules, the archive)


def test_a_routing_rule_dead_letter_goes_to_its_shard_bus_as_it_was(sharded: MotoStack) -> None:
    route = sharded.routes["hookstack-dev-shard-01"]
    detail = {"tenantId": "8", "eventId": "evt_r"}
    sharded.dead_letter(
        "8/hook", detail=detail, attributes={"RULE_ARN": route["rule_arn"], "TARGET_ARN": route["bus_arn"]}
    )

    result = sharded.run("redrive", "--execute", *WAIT)

    assert result.code == 0, result.out
    assert [e["detail"] for e in sharded.delivered("8/hook")] == [detail]  # every rule of the tenant on the shard
    assert sharded.captured() == []


# --- messages that cannot be sent to their rule -----------------------------------------------


def test_messages_whose_rule_cannot_take_them_are_kept_with_the_reason(stack: MotoStack) -> None:
    crm, erp = stack.destinations["1/crm"], stack.destinations["1/erp"]
    stack.events.put_rule(  # as deployed before redrive markers existed
        Name=crm["rule_name"], EventBusName=stack.bus_name, EventPattern=json.dumps({"detail": {"tenantId": ["1"]}})
    )
    stack.events.disable_rule(Name=erp["rule_name"], EventBusName=stack.bus_name)
    stack.events.remove_targets(
        Rule=stack.destinations["2/billing"]["rule_name"], EventBusName=stack.bus_name, Ids=["api-destination"]
    )
    stack.events.delete_rule(Name=stack.destinations["2/billing"]["rule_name"], EventBusName=stack.bus_name)
    stack.dead_letter("1/crm")
    stack.dead_letter("1/erp")
    stack.dead_letter("2/billing")
    stack.dead_letter("1/crm", attributes={"RULE_ARN": None})

    result = stack.run("redrive", "--execute", *WAIT, "--output", "json")

    assert result.code == 1
    reasons = [k["reason"] for k in result.json()["kept"]]
    assert len(reasons) == 4
    for expected in (
        f"rule {crm['rule_name']} accepts no redrive marker",
        f"rule {erp['rule_name']} is DISABLED: a redriven event would reach nothing",
        "no longer exists on bus hookstack-dev",
        "the message has no RULE_ARN",
    ):
        assert sum(expected in reason for reason in reasons) == 1, (expected, reasons)
    assert stack.captured() == [] and stack.dlq_depth() == (4, 0)


# --- the rule must still match the event as published -------------------------------------------


class CountingEvents:
    """The moto events client, counting DescribeRule and TestEventPattern calls (and the events tested)."""

    def __init__(self, inner: Any, fail_test: ClientError | None = None) -> None:
        self.inner = inner
        self.fail_test = fail_test
        self.described: list[str] = []
        self.tested: list[dict[str, Any]] = []

    def describe_rule(self, **kwargs: Any) -> Any:
        self.described.append(kwargs["Name"])
        return self.inner.describe_rule(**kwargs)

    def test_event_pattern(self, **kwargs: Any) -> Any:
        self.tested.append(json.loads(kwargs["Event"]))
        if self.fail_test is not None:
            raise self.fail_test
        return self.inner.test_event_pattern(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_an_event_its_rule_no_longer_matches_stays_in_the_queue_with_the_reason(stack: MotoStack) -> None:
    """crm's eventTypes changed to [widget.created] after a widget.deleted dead-lettered: the rule is
    there, ENABLED and marked, but would not take the event: published, it would reach nobody."""
    crm = stack.destinations["1/crm"]
    event_id = stack.dead_letter("1/crm", detail_type="widget.deleted")
    stack.events.put_rule(
        Name=crm["rule_name"], EventBusName=stack.bus_name, State="ENABLED",
        EventPattern=json.dumps(destination_pattern("1", "crm", ["widget.created"])),
    )  # fmt: skip

    dry = stack.run("redrive", *WAIT, "--output", "json").json()
    result = stack.run("redrive", "--execute", *WAIT, "--output", "json")

    assert dry["redrivable"] == 0 and len(dry["kept"]) == 1  # the dry run says so before anything is sent
    assert result.code == 1, result.out + result.err
    report = result.json()
    assert (report["publishedEvents"], report["deleted"]) == (0, 0)
    [kept] = report["kept"]
    assert kept["eventId"] == event_id
    assert kept["reason"].startswith(
        f"rule {crm['rule_name']} no longer matches this event (detail-type 'widget.deleted'"
    )
    assert "a redrive would reach nobody" in kept["reason"]
    assert stack.captured() == [] and stack.dlq_event_ids() == [event_id]


def test_a_rule_arn_naming_another_tenants_rule_keeps_the_message(stack: MotoStack) -> None:
    billing = stack.destinations["2/billing"]
    event_id = stack.dead_letter("1/crm", attributes={"RULE_ARN": billing["rule_arn"]})  # tenant 1's event
    good = stack.dead_letter("1/crm")

    result = stack.run("redrive", "--execute", *WAIT, "--output", "json")

    assert result.code == 1
    report = result.json()
    assert (report["publishedEvents"], report["deleted"]) == (1, 1)
    assert [(k["eventId"], k["reason"].split(":")[0]) for k in report["kept"]] == [
        (event_id, f"rule {billing['rule_name']} no longer matches this event (detail-type 'widget.created', "
                   "tenantId '1' marked hookstackRedrive='billing')")
    ]  # fmt: skip
    assert ids(stack.delivered("1/crm")) == [good] and stack.delivered("2/billing") == []
    assert stack.dlq_event_ids() == [event_id]


def test_a_routing_rule_dead_letter_of_a_tenant_routed_elsewhere_now_stays(sharded: MotoStack) -> None:
    route = sharded.routes["hookstack-dev-shard-01"]
    sharded.events.put_rule(  # tenant 8 moved to another shard since
        Name=route["rule_arn"].rsplit("/", 1)[1], EventBusName=sharded.bus_name,
        EventPattern=json.dumps({"detail": {"tenantId": ["7"]}}),
    )  # fmt: skip
    sharded.dead_letter(
        "8/hook", detail={"tenantId": "8", "eventId": "evt_moved"},
        attributes={"RULE_ARN": route["rule_arn"], "TARGET_ARN": route["bus_arn"]},
    )  # fmt: skip

    result = sharded.run("redrive", "--execute", *WAIT, "--output", "json")

    assert result.code == 1
    assert "no longer matches this event" in result.json()["kept"][0]["reason"]
    assert sharded.delivered("8/hook") == [] and sharded.dlq_event_ids() == ["evt_moved"]


def test_the_event_tested_is_the_event_published_and_each_check_is_made_once(stack: MotoStack) -> None:
    crm = stack.destinations["1/crm"]
    sent = [stack.dead_letter("1/crm") for _ in range(3)] + [stack.dead_letter("1/erp")]
    stale = stack.dead_letter("1/crm", detail_type="widget.deleted", event_id="evt_stale")
    stack.dead_letter("1/crm", detail_type="widget.deleted", event_id="evt_stale")  # a second copy
    stack.events.put_rule(
        Name=crm["rule_name"], EventBusName=stack.bus_name, State="ENABLED",
        EventPattern=json.dumps(destination_pattern("1", "crm", ["widget.created"])),
    )  # fmt: skip
    events = CountingEvents(stack.events)

    result = stack.run("redrive", "--execute", *WAIT, "--output", "json", clients=clients_with(events))

    assert result.code == 1
    assert sorted(events.described) == sorted([crm["rule_name"], stack.destinations["1/erp"]["rule_name"]])
    assert len(events.tested) == 5  # four events, and the stale one once for its two copies
    delivered = {e["detail"]["eventId"]: e for e in stack.delivered("1/crm") + stack.delivered("1/erp")}
    assert sorted(delivered) == sorted(sent)
    for tested in events.tested:
        if tested["detail"]["eventId"] == stale:
            continue
        published = delivered[tested["detail"]["eventId"]]
        for key in ("source", "detail-type", "detail", "region", "resources"):
            assert tested[key] == published[key], key
        assert tested["account"] == ACCOUNT  # the rule's (moto's SQS copy leaves account out)
        assert {"id", "time", "version"} <= tested.keys()
    assert [k["eventId"] for k in result.json()["kept"]] == [stale, stale]
    assert stack.dlq_event_ids() == [stale, stale]


def test_test_event_pattern_refusing_the_pattern_keeps_the_message(stack: MotoStack) -> None:
    stack.dead_letter("1/crm")
    refusal = ClientError({"Error": {"Code": "InvalidEventPatternException", "Message": "bad"}}, "TestEventPattern")

    result = stack.run(
        "redrive", "--execute", *WAIT, "--output", "json", clients=clients_with(CountingEvents(stack.events, refusal))
    )

    assert result.code == 1
    assert "TestEventPattern refused rule" in result.json()["kept"][0]["reason"]
    assert stack.captured() == [] and stack.dlq_depth() == (1, 0)


def test_no_permission_for_test_event_pattern_stops_the_run_and_sends_nothing(stack: MotoStack) -> None:
    for _ in range(3):
        stack.dead_letter("1/crm")
    denied = ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "TestEventPattern")

    result = stack.run(
        "redrive", "--execute", *WAIT, "--output", "json", clients=clients_with(CountingEvents(stack.events, denied))
    )

    assert result.code == 2
    assert "TestEventPattern" in result.json()["aborted"] and "AccessDeniedException" in result.json()["aborted"]
    assert stack.captured() == [] and stack.dlq_depth() == (3, 0)


# --- failures ---------------------------------------------------------------------------------


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
    assert ids(stack.delivered("1/crm")) == [ok]
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
    assert report["deleted"] == len(stack.delivered("1/crm")) == 12 - sum(stack.dlq_depth())
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


# --- selection, bounds and progress -----------------------------------------------------------


def test_filters_select_by_rule_tenant_and_error_code_and_keep_the_rest(stack: MotoStack) -> None:
    crm = stack.dead_letter("1/crm")
    crm_timeout = stack.dead_letter("1/crm", error_code="TIMEOUT")
    erp = stack.dead_letter("1/erp")
    billing = stack.dead_letter("2/billing")

    by_destination = stack.run(
        "redrive", "--execute", "--destination", "1/crm", "--error-code", "SDK_CLIENT_ERROR", *WAIT
    )
    assert by_destination.code == 0, by_destination.out
    assert ids(stack.delivered("1/crm")) == [crm]

    by_tenant = stack.run("redrive", "--execute", "--tenant", "2", *WAIT)
    assert by_tenant.code == 0
    assert ids(stack.delivered("2/billing")) == [billing]

    by_rule = stack.run("redrive", "--execute", "--rule-arn", stack.destinations["1/erp"]["rule_arn"], *WAIT)
    assert by_rule.code == 0
    assert ids(stack.delivered("1/erp")) == [erp]

    assert stack.delivered("1/crm") == [] and stack.dlq_event_ids() == [crm_timeout]


def test_max_limits_how_many_messages_are_redriven_and_stops_the_run(stack: MotoStack) -> None:
    for _ in range(5):
        stack.dead_letter("1/crm")

    result = stack.run("redrive", "--execute", "--max", "2", *WAIT, "--output", "json")

    assert result.code == 0
    assert (result.json()["selected"], result.json()["stopped"]) == (2, redrive.STOP_MAX)
    assert len(stack.delivered("1/crm")) == 2
    assert stack.dlq_depth() == (3, 0)  # the rest was released, not hidden for 5 minutes


def test_progress_goes_to_stderr_and_the_report_to_stdout(stack: MotoStack) -> None:
    for _ in range(3):
        stack.dead_letter("1/crm")

    result = stack.run("redrive", "--execute", *WAIT, "--output", "json")

    progress = [line for line in result.err.splitlines() if line.startswith("redrive: ")]
    assert progress[0].startswith("redrive: looked at 3 of 3 message(s) present at start, selected 3, published 3")
    assert progress[-1].endswith(f"stopped: {redrive.STOP_LOOKED_AT_ALL}")
    assert result.json()["deleted"] == 3  # stdout is the report alone


def test_an_empty_queue_ends_the_run_without_receiving(stack: MotoStack) -> None:
    class NoReceive:
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        def receive_message(self, **_: Any) -> dict[str, Any]:
            raise AssertionError("nothing was in the queue at the start")

        def __getattr__(self, name: str) -> Any:
            return getattr(self.inner, name)

    result = stack.run(
        "redrive", "--execute", *WAIT, "--output", "json", clients=clients_with(sqs=NoReceive(stack.sqs))
    )

    assert result.code == 0
    assert (result.json()["presentAtStart"], result.json()["stopped"]) == (0, redrive.STOP_LOOKED_AT_ALL)


def test_a_flood_of_new_messages_ends_the_run_after_a_few_batches(stack: MotoStack) -> None:
    for _ in range(40):
        stack.dead_letter("1/crm")

    # Every message looks newer than the run (its clock says it started in 1970).
    report = redrive.redrive(
        stack.sqs, stack.events, stack.dlq_url, stack.bus_name, execute=True, wait_seconds=0, clock=lambda: 0.0
    )

    assert (report.stopped, report.looked_at, report.published_events) == (redrive.STOP_ONLY_NEW, 0, 0)
    assert report.arrived_after_start == redrive.IDLE_BATCHES * redrive.SQS_BATCH
    assert stack.dlq_depth() == (40, 0)


def test_the_time_limit_ends_the_run_and_says_it_is_unfinished(stack: MotoStack) -> None:
    for _ in range(15):
        stack.dead_letter("1/crm")
    ticks = iter(range(0, 10_000, 100))

    report = redrive.redrive(
        stack.sqs,
        stack.events,
        stack.dlq_url,
        stack.bus_name,
        execute=True,
        wait_seconds=0,
        time_limit=150,
        monotonic=lambda: float(next(ticks)),
    )

    assert (report.stopped, report.unfinished, report.complete) == (redrive.STOP_TIME, True, False)
    assert report.published_events == report.looked_at == 10
    assert stack.dlq_depth() == (5, 0)


def test_time_limit_must_end_before_held_messages_reappear(stack: MotoStack) -> None:
    result = stack.run("redrive", "--time-limit", "300", "--visibility-timeout", "300", *WAIT)

    assert result.code == 2
    assert "--time-limit 300 must be below --visibility-timeout 300" in result.err


def test_unknown_destination_is_a_clear_error(stack: MotoStack) -> None:
    result = stack.run("redrive", "--destination", "9/nope", *WAIT)

    assert result.code == 2
    assert "--destination '9/nope'" in result.err
    assert "1/crm" in result.err  # lists what exists


@pytest.mark.parametrize(
    "arn", ["crm", "arn:aws:sqs:us-east-1:123456789012:q", "arn:aws:events:us-east-1:123456789012:rule/b/r\n"]
)
def test_a_rule_arn_that_is_no_rule_arn_is_a_clear_error(stack: MotoStack, arn: str) -> None:
    """Not a filter that silently selects nothing (a dry run reporting an empty queue)."""
    stack.dead_letter("1/crm")

    result = stack.run("redrive", "--rule-arn", arn, *WAIT)

    assert result.code == 2
    assert "--rule-arn" in result.err and "not an EventBridge rule ARN" in result.err


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
    assert ids(stack.delivered("1/crm")) == [good]
    assert stack.dlq_depth() == (2, 0)


def test_a_deeply_nested_message_is_kept_with_the_reason_and_the_run_goes_on(stack: MotoStack) -> None:
    """json.loads raised RecursionError out of the CLI for this body, and the message stayed hidden
    until its visibility timeout; every later run met it again."""
    stack.dead_letter("1/crm", body='{"detail": ' + "[" * 100_000 + "]" * 100_000 + "}")
    good = stack.dead_letter("1/crm")

    for _ in range(2):  # a second run meets it again, and says the same
        result = stack.run("redrive", "--execute", *WAIT, "--output", "json")

        assert result.code == 1, result.err
        [kept] = result.json()["kept"]
        assert kept["reason"].startswith(f"the body nests arrays/objects deeper than {MAX_BODY_DEPTH} levels")
        assert stack.dlq_depth() == (1, 0)  # visible again at once
    assert ids(stack.delivered("1/crm")) == [good]


def test_missing_queue_url_is_a_clear_error(stack: MotoStack) -> None:
    result = stack.run("redrive", "--bus-name", "hookstack-dev", *WAIT, outputs=False)

    assert result.code == 2
    assert "dead-letter queue URL is unknown" in result.err
