"""``python -m ops replay`` against moto, and the pure pieces (times, names, progress).

moto's StartReplay runs synchronously and applies neither the window nor FilterArns, but it keeps
the request and returns it from DescribeReplay: the tests check the request shape there (what AWS
acts on), not which events moto replayed. moto also lets a COMPLETED replay be cancelled (AWS does
not); the cancel test only checks that the call is made for the named replay.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ops import replay
from ops.outputs import OpsError
from tests.ops.conftest import MotoStack, report_connection_states


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def window() -> tuple[datetime, datetime]:
    end = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    return end - timedelta(hours=2), end


def test_start_sends_the_window_archive_bus_and_destination_rule(
    stack: MotoStack, window: tuple[datetime, datetime]
) -> None:
    start, end = window

    result = stack.run(
        "replay", "start", "--from", iso(start), "--to", iso(end), "--destination", "1/crm", "--name", "fix-crm"
    )

    assert result.code == 0, result.err
    described = stack.events.describe_replay(ReplayName="fix-crm")
    assert described["EventSourceArn"] == stack.archive_arn
    assert described["Destination"] == {"Arn": stack.bus_arn, "FilterArns": [stack.destinations["1/crm"]["rule_arn"]]}
    assert (described["EventStartTime"], described["EventEndTime"]) == (start, end)
    assert "replay status fix-crm --wait" in result.out


def test_tenant_selects_every_rule_of_the_tenant(stack: MotoStack, window: tuple[datetime, datetime]) -> None:
    start, end = window

    result = stack.run("replay", "start", "--from", iso(start), "--to", iso(end), "--tenant", "1", "--name", "t1")

    assert result.code == 0, result.err
    filters = stack.events.describe_replay(ReplayName="t1")["Destination"]["FilterArns"]
    assert sorted(filters) == sorted(stack.destinations[label]["rule_arn"] for label in ("1/crm", "1/erp"))


def test_without_a_filter_every_rule_replays_and_the_operator_is_told(
    stack: MotoStack, window: tuple[datetime, datetime]
) -> None:
    start, end = window

    result = stack.run("replay", "start", "--from", iso(start), "--to", iso(end), "--name", "all")

    assert result.code == 0
    assert "FilterArns" not in stack.events.describe_replay(ReplayName="all")["Destination"]
    assert "every rule on hookstack-dev gets the window again" in result.err


def test_dry_run_prints_the_request_and_starts_nothing(stack: MotoStack, window: tuple[datetime, datetime]) -> None:
    start, end = window

    result = stack.run(
        "replay",
        "start",
        "--from",
        iso(start),
        "--to",
        iso(end),
        "--destination",
        "2/billing",
        "--dry-run",
        "--output",
        "json",
    )

    assert result.code == 0
    request = result.json()["request"]
    assert request["Destination"]["FilterArns"] == [stack.destinations["2/billing"]["rule_arn"]]
    assert request["ReplayName"].startswith("hookstack-dev-replay-")
    assert stack.events.list_replays()["Replays"] == []


@pytest.mark.parametrize("name", ["has space", "a" * 65, "nightly\n"])
def test_a_bad_replay_name_is_refused_before_anything_is_sent(
    stack: MotoStack, window: tuple[datetime, datetime], name: str
) -> None:
    start, end = window

    result = stack.run("replay", "start", "--from", iso(start), "--to", iso(end), "--name", name, "--dry-run")

    assert result.code != 0
    assert "1-64 characters" in result.err, result.err
    assert stack.events.list_replays()["Replays"] == []


def test_a_sharded_tenant_replays_through_its_routing_rule(
    aws: None, tmp_path: Any, monkeypatch: Any, window: Any
) -> None:
    report_connection_states(monkeypatch)
    stack = MotoStack(tmp_path).deploy({"1": ["crm"]}, shards={"hookstack-dev-shard-01": ["7", "8"]})
    start, end = window

    result = stack.run(
        "replay", "start", "--from", iso(start), "--to", iso(end), "--destination", "7/hook", "--name", "s"
    )

    assert result.code == 0, result.err
    [routing] = stack.events.describe_replay(ReplayName="s")["Destination"]["FilterArns"]
    assert routing.endswith(":rule/hookstack-dev/hookstack-route-01-0-9f8e7d6")
    assert "every destination of every tenant those rules route" in result.err


def test_a_rule_on_another_bus_is_refused(stack: MotoStack, window: tuple[datetime, datetime]) -> None:
    start, end = window
    foreign = "arn:aws:events:us-east-1:123456789012:rule/hookstack-dev-shard-01/some-rule"

    result = stack.run("replay", "start", "--from", iso(start), "--to", iso(end), "--rule-arn", foreign)

    assert result.code == 2
    assert "a replay only reaches rules of the archived bus hookstack-dev" in result.err


def test_status_reports_progress_and_a_failed_replay_exits_nonzero(
    stack: MotoStack, window: tuple[datetime, datetime]
) -> None:
    start, end = window
    stack.run("replay", "start", "--from", iso(start), "--to", iso(end), "--name", "r1")

    done = stack.run("replay", "status", "r1")
    assert done.code == 0
    assert "COMPLETED 100%" in done.out

    from moto.events.models import ReplayState

    stack.backend().replays["r1"].state = ReplayState.FAILED
    assert stack.run("replay", "status", "r1").code == 1


def test_a_wait_that_times_out_before_the_replay_ends_exits_1(
    stack: MotoStack, window: tuple[datetime, datetime]
) -> None:
    start, end = window
    stack.run("replay", "start", "--from", iso(start), "--to", iso(end), "--name", "slow")
    from moto.events.models import ReplayState

    stack.backend().replays["slow"].state = ReplayState.RUNNING

    result = stack.run("replay", "status", "slow", "--wait", "--interval", "1", "--timeout", "1")

    assert result.code == 1, result.out
    assert "still RUNNING after --timeout 1" in result.err


def test_start_and_wait_prints_json_lines(stack: MotoStack, window: tuple[datetime, datetime]) -> None:
    start, end = window

    result = stack.run(
        "replay", "start", "--from", iso(start), "--to", iso(end), "--name", "w", "--wait", "--output", "json"
    )

    assert result.code == 0, result.err
    started, finished = (json.loads(line) for line in result.out.splitlines())
    assert started["request"]["ReplayName"] == "w"
    assert (finished["State"], finished["progress"]) == ("COMPLETED", 1.0)


def test_cancel_and_list(stack: MotoStack, window: tuple[datetime, datetime]) -> None:
    start, end = window
    stack.run("replay", "start", "--from", iso(start), "--to", iso(end), "--name", "r2")

    cancelled = stack.run("replay", "cancel", "r2")
    listed = stack.run("replay", "list", "--output", "json")

    assert cancelled.code == 0
    assert "CANCELLING" in cancelled.out
    assert [r["ReplayName"] for r in listed.json()] == ["r2"]


def test_window_before_the_archive_retention_is_warned(stack: MotoStack) -> None:
    end = datetime.now(UTC) - timedelta(days=8)

    result = stack.run("replay", "start", "--from", iso(end - timedelta(hours=1)), "--to", iso(end), "--dry-run")

    assert result.code == 0
    assert "keeps 7 day(s)" in result.err


# --- pure pieces ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2026-01-05T10:00", "add a UTC offset or Z"),
        ("yesterday", "not an ISO 8601 date-time"),
        ("2026-01-05", r"add a UTC offset or Z \(e.g. 2026-01-05T00:00:00Z\)"),  # an example that parses
        ("9999-12-31T23:59:59-23:59", "out of range once converted to UTC"),  # not an OverflowError traceback
        ("0001-01-01T00:00:00+23:59", "out of range once converted to UTC"),
    ],
)
def test_times_must_be_iso_with_an_offset(text: str, message: str) -> None:
    with pytest.raises(OpsError, match=message):
        replay.parse_time(text, "--from")


def test_times_are_normalised_to_utc() -> None:
    assert replay.parse_time("2026-01-05T12:00:00+02:00", "--from") == datetime(2026, 1, 5, 10, tzinfo=UTC)


def test_window_must_be_ordered_and_in_the_past() -> None:
    now = datetime(2026, 1, 5, 12, tzinfo=UTC)
    with pytest.raises(OpsError, match="must be before"):
        replay.check_window(now - timedelta(hours=1), now - timedelta(hours=2), now)
    with pytest.raises(OpsError, match="in the future"):
        replay.check_window(now - timedelta(hours=1), now + timedelta(minutes=1), now)


def test_replay_names_follow_the_api_pattern() -> None:
    # ReplayName: 1-64 characters of [.\-_A-Za-z0-9]
    now = datetime(2026, 1, 5, 12, tzinfo=UTC)
    long_prefix = "x" * 70 + "-"
    assert replay.REPLAY_NAME_RE.match(replay.default_replay_name(long_prefix, now))
    assert len(replay.default_replay_name(long_prefix, now)) == 64
    with pytest.raises(OpsError, match="1-64 characters"):
        replay.check_replay_name("has space")
    with pytest.raises(OpsError, match="1-64 characters"):
        replay.check_replay_name("a" * 65)
    with pytest.raises(OpsError, match="1-64 characters"):
        replay.check_replay_name("nightly\n")  # checked whole: $ alone takes a trailing newline


def test_description_is_capped_at_the_api_limit() -> None:
    request = replay.replay_request(
        name="r",
        archive_arn="arn:aws:events:us-east-1:123456789012:archive/a",
        bus_arn="arn:aws:events:us-east-1:123456789012:event-bus/b",
        start=datetime(2026, 1, 1, tzinfo=UTC),
        end=datetime(2026, 1, 2, tzinfo=UTC),
        rule_arns=[],
        description="d" * 600,
    )
    assert len(request["Description"]) == 512
    assert request["Destination"] == {"Arn": "arn:aws:events:us-east-1:123456789012:event-bus/b"}


def test_progress_is_the_share_of_the_window_replayed() -> None:
    start = datetime(2026, 1, 5, 10, tzinfo=UTC)
    end = start + timedelta(hours=4)
    described = {"State": "RUNNING", "EventStartTime": start, "EventEndTime": end}
    assert replay.progress(described) == 0.0
    assert replay.progress({**described, "EventLastReplayedTime": start + timedelta(hours=1)}) == 0.25
    assert replay.progress({**described, "State": "COMPLETED"}) == 1.0
    assert replay.progress({"State": "RUNNING"}) is None


def test_wait_polls_until_a_terminal_state() -> None:
    states = iter(["STARTING", "RUNNING", "RUNNING", "COMPLETED", "unreached"])

    class Events:
        calls = 0

        def describe_replay(self, ReplayName: str) -> dict[str, Any]:
            self.calls += 1
            return {"ReplayName": ReplayName, "State": next(states)}

    events = Events()
    slept: list[float] = []
    final = replay.wait_for(events, "r", interval=5, sleep=slept.append)

    assert final["State"] == "COMPLETED"
    assert events.calls == 4
    assert slept == [5, 5, 5]
