"""The dashboard, the saved Logs Insights queries and the tracing switch under Pulumi mocks (issue 16
items 2 and 5), on the dev stack (every path deployed) with ``hookstack:tracing`` on."""

from __future__ import annotations

import json
from typing import Any

from components.common import XRAY_WRITE_POLICY, FunctionTelemetry
from components.config import TracingSettings
from components.dashboard import DashboardInputs, dashboard_body, emitted_metric_names
from functions import metrics
from functions.telemetry import PROPAGATE_VARIABLE, STACK_VARIABLE
from tests.harness import Program, run_program

DASHBOARD = "aws:cloudwatch/dashboard:Dashboard"
QUERY = "aws:cloudwatch/queryDefinition:QueryDefinition"
FUNCTION = "aws:lambda/function:Function"


def test_the_dev_stack_with_tracing_on(dev_stack: tuple[dict[str, Any], list[str]]) -> None:
    """One evaluation of the program (seconds per run; xdist would run a module fixture per worker),
    every check below on it."""
    config, secret_keys = dev_stack
    traced = run_program({**config, "hookstack:tracing": {"propagate": True, "xray": True}}, secret_keys=secret_keys)
    for check in CHECKS:
        check(traced)


def body_of(program: Program) -> dict[str, Any]:
    (dashboard,) = program.of_type(DASHBOARD)
    assert dashboard.inputs["dashboardName"] == program.outputs["dashboardName"] == "hookstack-dev"
    return dict(json.loads(dashboard.inputs["dashboardBody"]))


def check_every_widget_metric_is_one_the_handlers_emit_and_every_emitted_metric_has_a_widget(traced: Program) -> None:
    drawn = emitted_metric_names(body_of(traced))
    assert drawn == {metric.name for metric in metrics.CATALOGUE}


def check_hookstack_rows_carry_the_stack_and_the_dimension_set_of_their_metric(traced: Program) -> None:
    by_name = {metric.name: metric for metric in metrics.CATALOGUE}
    for widget in body_of(traced)["widgets"]:
        assert widget["properties"]["region"] == "us-east-1" and widget["x"] + widget["width"] <= 24
        for row in widget["properties"]["metrics"]:
            if row[0] != metrics.NAMESPACE:
                continue
            dimensions = dict(zip(row[2:-1:2], row[3:-1:2], strict=True))
            assert tuple(dimensions) == by_name[row[1]].group.dimensions and dimensions["Stack"] == "dev"
            assert row[-1]["stat"] in by_name[row[1]].statistics


def check_the_dead_letter_widget_shows_every_queue_something_dead_letters_into(traced: Program) -> None:
    """Derived from the declared resources, not a list: redrive targets, rule target DLQs, async on-failure."""
    queues = {q.name: q for q in traced.of_type("aws:sqs/queue:Queue")}
    arn_to_name = {f"arn:aws:sqs:us-east-1:123456789012:{q.state['name']}": q.state["name"] for q in queues.values()}
    targets = {
        json.loads(q.inputs["redrivePolicy"])["deadLetterTargetArn"]
        for q in queues.values()
        if q.inputs.get("redrivePolicy")
    }
    targets |= {
        t.inputs["deadLetterConfig"]["arn"]
        for t in traced.of_type("aws:cloudwatch/eventTarget:EventTarget")
        if t.inputs.get("deadLetterConfig")
    }
    targets |= {
        c.inputs["destinationConfig"]["onFailure"]["destination"]
        for c in traced.of_type("aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig")
        if c.inputs.get("destinationConfig")
    }
    dead_letter_queues = {arn_to_name[arn] for arn in targets if arn in arn_to_name}
    (widget,) = [w for w in body_of(traced)["widgets"] if w["properties"]["metrics"][0][0] == "AWS/SQS"]
    shown = {row[3] for row in widget["properties"]["metrics"]}
    assert shown == dead_letter_queues and len(shown) >= 5


def check_the_api_destination_widget_queries_every_bus_that_holds_destination_rules(traced: Program) -> None:
    targets = traced.of_type("aws:cloudwatch/eventTarget:EventTarget")
    buses = {t.inputs["eventBusName"] for t in targets if ":api-destination/" in str(t.inputs["arn"])}
    (widget,) = [w for w in body_of(traced)["widgets"] if "API destinations" in w["properties"]["title"]]
    expressions = [row[0]["expression"] for row in widget["properties"]["metrics"]]
    assert buses and {e.split("EventBusName = '")[1].split("'")[0] for e in expressions} == buses
    assert all('SCHEMA("AWS/Events", EventBusName, RuleName)' in e and "GROUP BY RuleName" in e for e in expressions)
    assert any("InvocationsSentToDlq" in e for e in expressions)


def check_the_saved_queries_read_the_log_group_of_the_function_that_writes_their_records(traced: Program) -> None:
    worker = traced.one("aws:cloudwatch/logGroup:LogGroup", lambda g: "worker" in g.name).state["name"]
    ingest = traced.one("aws:cloudwatch/logGroup:LogGroup", lambda g: "ingest" in g.name).state["name"]
    queries = {q.inputs["name"]: q.inputs for q in traced.of_type(QUERY)}
    assert set(queries) == {
        "hookstack/dev/failures for a tenant",
        "hookstack/dev/slowest endpoints",
        "hookstack/dev/inbound rejections by reason",
    }
    assert queries["hookstack/dev/failures for a tenant"]["logGroupNames"] == [worker]
    assert queries["hookstack/dev/slowest endpoints"]["logGroupNames"] == [worker]
    assert queries["hookstack/dev/inbound rejections by reason"]["logGroupNames"] == [ingest]
    assert "pct(AttemptLatency, 99)" in queries["hookstack/dev/slowest endpoints"]["queryString"]


def check_tracing_on_makes_every_function_active_propagating_and_allowed_to_write_traces(traced: Program) -> None:
    functions = traced.of_type(FUNCTION)
    assert functions and all(f.inputs["tracingConfig"] == {"mode": "Active"} for f in functions)
    assert all(f.inputs["environment"]["variables"][PROPAGATE_VARIABLE] == "true" for f in functions)
    assert all(f.inputs["environment"]["variables"][STACK_VARIABLE] == "dev" for f in functions)
    attached = traced.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    roles_with_xray = {a.inputs["role"] for a in attached if a.inputs["policyArn"] == XRAY_WRITE_POLICY}
    assert roles_with_xray == {f.inputs["role"].split("/")[-1] for f in functions}


CHECKS = (
    check_every_widget_metric_is_one_the_handlers_emit_and_every_emitted_metric_has_a_widget,
    check_hookstack_rows_carry_the_stack_and_the_dimension_set_of_their_metric,
    check_the_dead_letter_widget_shows_every_queue_something_dead_letters_into,
    check_the_api_destination_widget_queries_every_bus_that_holds_destination_rules,
    check_the_saved_queries_read_the_log_group_of_the_function_that_writes_their_records,
    check_tracing_on_makes_every_function_active_propagating_and_allowed_to_write_traces,
)


def test_tracing_off_is_pass_through_without_the_policy() -> None:
    telemetry = FunctionTelemetry(stack="dev")
    assert telemetry.tracing_mode == "PassThrough" and telemetry.managed_policy_arns == ()
    assert telemetry.environment() == {STACK_VARIABLE: "dev", PROPAGATE_VARIABLE: "false"}
    on = FunctionTelemetry(stack="dev", tracing=TracingSettings(propagate=True, xray=True))
    assert on.tracing_mode == "Active" and on.managed_policy_arns == (XRAY_WRITE_POLICY,)


def test_a_stack_without_a_path_has_no_widget_for_it() -> None:
    body = dashboard_body(DashboardInputs(stack="s", region="eu-west-1", engines=("worker",)))
    assert emitted_metric_names(body) == {m.name for m in metrics.CATALOGUE if m.group is metrics.DELIVERY}


def test_readme_documents_every_tracing_key_the_parser_accepts() -> None:
    from pathlib import Path

    from components.config import TRACING_KEYS

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert [key for key in TRACING_KEYS if f"| `tracing.{key}` |" not in readme] == []
