"""functions/metrics.py: every record valid against the published EMF schema, every catalogue metric
written by some emission call, dimensions bounded (stack, engine or source kind; never a tenant)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

import jsonschema
import pytest

from functions import metrics, telemetry
from tests.functions import emf


@pytest.fixture(autouse=True)
def stack_named(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv(telemetry.STACK_VARIABLE, "prod")
    telemetry.reset()
    yield
    telemetry.reset()


def emitted(capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    return emf.records(capsys.readouterr().out)


def every_emission() -> None:
    for status, kind in (
        (200, None),
        (404, None),
        (503, None),
        (None, "timeout"),
        (None, "dns"),
        (None, "blocked"),
        (302, None),
        (None, "circuit"),
    ):
        metrics.delivery_attempt(
            "worker", status=status, error_kind=kind, latency_ms=12, retry=True, dead_lettered=True,
            breaker_opened=True, tenantId="t1", endpointId="ep_1",
        )  # fmt: skip
    metrics.delivery_dead_lettered("worker", tenantId="t1", endpointId="ep_1", reason="endpoint disabled")
    metrics.fanned_out("worker", 3, 7)
    metrics.inbound_accepted("github", "gh", 4.25, claim_checked=True)
    metrics.inbound_duplicate("github", "gh", matched="delivery_id")
    for status in metrics.REJECTION_REASONS:
        metrics.inbound_rejected("stripe", "pay", status)
    metrics.relay_published(1)
    metrics.swept(5, 1, 42.0, 9)


def test_every_record_is_valid_emf_and_every_catalogue_metric_is_written(capsys: pytest.CaptureFixture[str]) -> None:
    every_emission()
    records = emitted(capsys)
    written = {m["Name"] for r in records for m in r["_aws"]["CloudWatchMetrics"][0]["Metrics"]}  # type: ignore[index]
    assert written == {metric.name for metric in metrics.CATALOGUE}
    assert all(r["Stack"] == "prod" and r["message"] == metrics.MESSAGE for r in records)


def test_dimensions_are_the_stack_and_the_engine_or_source_kind_and_tenants_are_properties(
    capsys: pytest.CaptureFixture[str],
) -> None:
    every_emission()
    dimension_sets = {
        tuple(r["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0])
        for r in emitted(capsys)  # type: ignore[index]
    }
    assert dimension_sets == {("Stack", "Engine"), ("Stack", "SourceKind"), ("Stack",)}
    metrics.delivery_attempt(
        "worker", status=503, error_kind=None, latency_ms=1500, retry=True, dead_lettered=False,
        breaker_opened=False, tenantId="t1", endpointId="ep_1",
    )  # fmt: skip
    (record,) = emitted(capsys)
    assert (record["tenantId"], record["endpointId"], record["Engine"]) == ("t1", "ep_1", "worker")
    assert (record["Attempts"], record["Succeeded"], record["Failed5xx"], record["AttemptLatency"]) == (1, 0, 1, 1500)
    assert record["RetriesScheduled"] == 1 and "DeadLettered" not in record and "BreakerOpened" not in record


@pytest.mark.parametrize(
    ("status", "kind", "expected"),
    [
        (200, None, None),
        (204, None, None),
        (400, None, "4xx"),
        (410, None, "4xx"),
        (500, None, "5xx"),
        (503, None, "5xx"),
        (302, None, "other"),
        (None, "timeout", "timeout"),
        (None, "connection", "connection"),
        (None, "dns", "connection"),
        (None, "tls", "connection"),
        (None, "protocol", "connection"),
        (None, "blocked", "ssrf_refused"),
        (None, "request", "other"),
        (None, "circuit", "other"),
    ],
)
def test_failure_classes(status: int | None, kind: str | None, expected: str | None) -> None:
    assert metrics.failure_class(status, kind) == expected


def test_a_record_with_other_dimensions_or_a_foreign_metric_is_refused() -> None:
    with pytest.raises(ValueError, match="take dimensions"):
        metrics.record(metrics.DELIVERY, {metrics.ATTEMPTS: 1}, {"Engine": "worker", "TenantId": "t1"})
    with pytest.raises(ValueError, match="belongs to inbound"):
        metrics.record(metrics.DELIVERY, {metrics.ACCEPTED: 1}, {"Engine": "worker"})


def test_the_schema_oracle_rejects_what_cloudwatch_would_not_extract() -> None:
    good = metrics.record(metrics.RELAY, {metrics.SWEPT: 1}, {})
    emf.check(good)
    with pytest.raises(jsonschema.ValidationError):
        emf.check({**good, "_aws": {**good["_aws"], "Timestamp": "now"}})
    bad_unit = json.loads(json.dumps(good))
    bad_unit["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Unit"] = "Requests"
    with pytest.raises(jsonschema.ValidationError):
        emf.check(bad_unit)
    with pytest.raises(AssertionError):
        emf.check({**good, "Stack": 7})  # a dimension target must be a string


def test_an_unknown_propagate_value_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(telemetry.PROPAGATE_VARIABLE, "yes")
    telemetry.reset()
    with pytest.raises(ValueError, match="HOOKSTACK_TRACE_PROPAGATE must be true or false"):
        telemetry.current()


def test_importing_the_metrics_module_loads_no_other_hookstack_module() -> None:
    """Cold start: the emission module costs json/sys/time/dataclasses (loaded by every handler anyway) and
    its records (``functions.records``, standard library only)."""
    script = (
        "import sys; before = set(sys.modules); import functions.metrics; "
        "print(sorted(m for m in set(sys.modules) - before))"
    )
    loaded = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60)
    new = json.loads(loaded.stdout.replace("'", '"'))
    assert {m for m in new if m.startswith("functions")} == {
        "functions",
        "functions.metrics",
        "functions.records",
        "functions.telemetry",
    }
    assert not [m for m in new if m.split(".")[0] in ("boto3", "botocore", "urllib3")]


def test_the_relay_and_the_sweeper_count_what_they_publish_and_the_outbox_lag(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from functions import sweeper
    from functions.outbox import Claim
    from tests.functions.test_relay import EVENT_ID, FakeOutbox, Recorder, row, run_relay

    run_relay(FakeOutbox([Claim("claimed", row())]))
    (published,) = emf.records(capsys.readouterr().out)
    assert published["RelayPublished"] == 1 and published["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["Stack"]]
    fake = FakeOutbox(due=[[row(EVENT_ID), row("evt_" + "2" * 32)]])
    sweeper.sweep(fake, client=Recorder(), bus_name="bus", source="s")  # type: ignore[arg-type]
    (swept,) = emf.records(capsys.readouterr().out)
    assert (swept["Swept"], swept["SweepFailed"], swept["OutboxLag"], swept["OutboxUnpublished"]) == (2, 0, 0.0, 0)
    with pytest.raises(sweeper.SweepFailed):  # counted even when the run fails (the alarm's run)
        sweeper.sweep(
            FakeOutbox(due=[[row(EVENT_ID)]]), client=Recorder(fail_code="AccessDenied"), bus_name="b", source="s"
        )  # type: ignore[arg-type]
    (failed,) = emf.records(capsys.readouterr().out)
    assert (failed["Swept"], failed["SweepFailed"]) == (0, 1)
