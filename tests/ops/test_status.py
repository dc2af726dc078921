"""``python -m ops status`` against moto, and the state classification it rests on.

Connection / API destination states are set on moto's backend objects (EventBridge changes them
itself, e.g. DEAUTHORIZED after a 401); moto's ListConnections is patched to report them (see
conftest). Alarms: moto keeps Dimensions and Metrics of ``PutMetricAlarm`` and honours
``SetAlarmState``.
"""

from __future__ import annotations

import pytest

from ops import status
from tests.ops.conftest import MotoStack

# Every value of the API's ConnectionState / ApiDestinationState / ArchiveState enums.
CONNECTION_STATES = (
    "CREATING", "UPDATING", "DELETING", "AUTHORIZED", "DEAUTHORIZED", "AUTHORIZING", "DEAUTHORIZING",
    "ACTIVE", "FAILED_CONNECTIVITY",
)  # fmt: skip


def test_a_healthy_stack_exits_zero_and_lists_every_resource(stack: MotoStack) -> None:
    result = stack.run("status")

    assert result.code == 0, result.out
    for label in ("1/crm", "1/erp", "2/billing"):
        assert stack.destinations[label]["connection"] in result.out
    assert "0 problem(s), 0 warning(s)" in result.out
    assert "hookstack-archive-1a2b3c4" in result.out


def test_a_deauthorized_connection_exits_nonzero_and_is_named(stack: MotoStack) -> None:
    stack.set_connection_state("1/erp", "DEAUTHORIZED")

    result = stack.run("status", "--output", "json")

    assert result.code == 1
    report = result.json()
    failing = [f for f in report["findings"] if f["level"] == "problem"]
    assert [(f["kind"], f["name"], f["state"], f["label"]) for f in failing] == [
        ("connection", stack.destinations["1/erp"]["connection"], "DEAUTHORIZED", "1/erp")
    ]


def test_an_inactive_api_destination_exits_nonzero(stack: MotoStack) -> None:
    stack.set_api_destination_state("2/billing", "INACTIVE")

    result = stack.run("status")

    assert result.code == 1
    [line] = [line for line in result.out.splitlines() if line.startswith("FAIL")]
    assert "api-destination" in line and "INACTIVE" in line and "2/billing" in line


def test_a_connection_named_in_the_outputs_but_absent_is_a_problem(stack: MotoStack) -> None:
    stack.events.delete_connection(Name=stack.destinations["1/crm"]["connection"])

    result = stack.run("status", "--output", "json")

    assert result.code == 1
    assert any(f["state"] == "MISSING" and f["label"] == "1/crm" for f in result.json()["findings"])


def test_other_stacks_resources_are_not_judged(stack: MotoStack) -> None:
    # "hookstack-dev-2" starts with this stack's prefix "hookstack-dev-"; "other-..." does not.
    for name in ("hookstack-dev-2-1-crm", "other-1-crm"):
        stack.events.create_connection(
            Name=name,
            AuthorizationType="API_KEY",
            AuthParameters={"ApiKeyAuthParameters": {"ApiKeyName": "k", "ApiKeyValue": "v"}},
        )
        stack.backend().connections[name].state = "DEAUTHORIZED"

    result = stack.run("status", "--output", "json")

    assert result.code == 0
    names = {f["name"]: f for f in result.json()["findings"]}
    assert "other-1-crm" not in names
    assert names["hookstack-dev-2-1-crm"]["label"] == "not in this stack's outputs"


def test_without_outputs_every_prefixed_connection_is_judged(stack: MotoStack) -> None:
    stack.set_connection_state("2/billing", "FAILED_CONNECTIVITY")

    result = stack.run("status", "--bus-name", stack.bus_name, outputs=False)

    assert result.code == 1
    assert "FAILED_CONNECTIVITY" in result.out
    assert "pass --outputs or --dlq-url to check it" in result.out  # the DLQ is not silently skipped


def test_messages_in_the_dlq_warn_and_fail_only_with_strict(stack: MotoStack) -> None:
    stack.dead_letter("1/crm")
    stack.dead_letter("1/crm")

    relaxed = stack.run("status")
    strict = stack.run("status", "--strict")

    assert relaxed.code == 0
    assert "2 waiting, 0 in flight" in relaxed.out
    assert strict.code == 1


def test_a_disabled_rule_warns(stack: MotoStack) -> None:
    rule = stack.destinations["1/crm"]["rule_arn"].rsplit("/", 1)[-1]
    stack.events.disable_rule(Name=rule, EventBusName=stack.bus_name)

    result = stack.run("status", "--output", "json")

    assert result.code == 0
    [finding] = [f for f in result.json()["findings"] if f["kind"] == "rule" and f["state"] == "DISABLED"]
    assert finding["level"] == "warning" and finding["label"] == "1/crm"
    assert stack.run("status", "--strict").code == 1


def test_firing_alarms_of_this_stack_are_listed_and_others_are_not(stack: MotoStack) -> None:
    query = (
        'SELECT SUM(FailedInvocations) FROM SCHEMA("AWS/Events", EventBusName, RuleName) '
        "WHERE EventBusName = '{bus}' GROUP BY RuleName"
    )
    for name, bus in (("hookstack-failed-1234567", stack.bus_name), ("other-failed", "hookstack-dev-2")):
        stack.cloudwatch.put_metric_alarm(
            AlarmName=name,
            AlarmDescription=f"{bus}: deliveries failed",
            Metrics=[{"Id": "q1", "Expression": query.format(bus=bus), "Period": 300, "ReturnData": True}],
            EvaluationPeriods=1,
            Threshold=0,
            ComparisonOperator="GreaterThanThreshold",
        )
        stack.cloudwatch.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="threshold crossed")
    stack.cloudwatch.put_metric_alarm(
        AlarmName="hookstack-dlq-alarm-7654321",
        Namespace="AWS/SQS",
        MetricName="ApproximateNumberOfMessagesVisible",
        Dimensions=[{"Name": "QueueName", "Value": "hookstack-dlq-5e6f7a8"}],
        Statistic="Maximum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=0,
        ComparisonOperator="GreaterThanThreshold",
    )
    stack.cloudwatch.set_alarm_state(AlarmName="hookstack-dlq-alarm-7654321", StateValue="ALARM", StateReason="x")

    result = stack.run("status", "--output", "json")

    alarms = sorted(f["name"] for f in result.json()["findings"] if f["kind"] == "alarm")
    assert alarms == ["hookstack-dlq-alarm-7654321", "hookstack-failed-1234567"]
    assert result.code == 0
    assert stack.run("status", "--strict").code == 1


def test_a_missing_archive_is_a_problem(stack: MotoStack) -> None:
    stack.events.delete_archive(ArchiveName="hookstack-archive-1a2b3c4")

    result = stack.run("status")

    assert result.code == 1
    assert "no archive records the entry bus" in result.out


# --- classification ---------------------------------------------------------------------------


@pytest.mark.parametrize("state", CONNECTION_STATES)
def test_only_authorized_or_active_connections_are_ok(state: str) -> None:
    expected = (
        "ok"
        if state in {"AUTHORIZED", "ACTIVE"}
        else "warning"
        if state in {"CREATING", "UPDATING", "AUTHORIZING"}
        else "problem"
    )
    assert status.connection_level(state) == expected


def test_unknown_states_count_as_problems() -> None:
    assert status.connection_level("SOMETHING_NEW") == "problem"
    assert status.api_destination_level("INACTIVE") == "problem"
    assert status.api_destination_level("ACTIVE") == "ok"
    assert status.archive_level("CREATE_FAILED") == "problem"
    assert status.archive_level("DISABLED") == "problem"
    assert status.rule_level("ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS") == "ok"
