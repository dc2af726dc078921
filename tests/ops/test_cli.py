"""``python -m ops`` as a process against a moto server, and argument handling."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

from ops.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]


def test_runs_as_a_module_against_an_endpoint_and_exits_by_health(moto_endpoint: str, tmp_path: Path) -> None:
    events = boto3.client("events", region_name="us-east-1", endpoint_url=moto_endpoint)
    sqs = boto3.client("sqs", region_name="us-east-1", endpoint_url=moto_endpoint)
    bus_arn = events.create_event_bus(Name="hookstack-ci")["EventBusArn"]
    events.create_archive(ArchiveName="hookstack-archive-0000000", EventSourceArn=bus_arn)
    queue = sqs.create_queue(QueueName="hookstack-dlq-0000000")["QueueUrl"]
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({"busName": "hookstack-ci", "busArn": bus_arn, "deadLetterQueueUrl": queue}))
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    command = [
        sys.executable,
        "-m",
        "ops",
        "--region",
        "us-east-1",
        "--endpoint-url",
        moto_endpoint,
        "--outputs",
        str(outputs),
    ]

    def ops(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*command, *args], check=False, capture_output=True, text=True, cwd=ROOT, env=env, timeout=60
        )

    healthy = ops("status")
    sqs.send_message(
        QueueUrl=queue,
        MessageBody=json.dumps({"source": "hookstack.aurora", "detail-type": "t", "detail": {"eventId": "evt_1"}}),
        MessageAttributes={"ERROR_CODE": {"DataType": "String", "StringValue": "TIMEOUT"}},
    )
    strict = ops("status", "--strict")
    dry_run = ops("redrive", "--wait-seconds", "0", "--output", "json")

    assert healthy.returncode == 0, healthy.stderr
    assert "0 problem(s), 0 warning(s)" in healthy.stdout
    assert strict.returncode == 1
    assert dry_run.returncode == 0, dry_run.stderr
    assert json.loads(dry_run.stdout)["byErrorCode"] == {"TIMEOUT": 1}
    assert sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"] == {
        "ApproximateNumberOfMessages": "1"
    }


def test_an_abbreviated_execute_is_not_accepted(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["redrive", "--exec"])

    assert exit_info.value.code == 2
    assert "unrecognized arguments: --exec" in capsys.readouterr().err


def test_common_options_work_before_and_after_the_command() -> None:
    before = build_parser().parse_args(["--region", "eu-west-1", "--output", "json", "status"])
    after = build_parser().parse_args(["status", "--region", "eu-west-1", "--output", "json"])

    assert (before.region, before.output) == (after.region, after.output) == ("eu-west-1", "json")
    assert build_parser().parse_args(["status"]).output == "text"


def test_missing_bus_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    from ops.cli import main

    assert main(["status"]) == 2
    assert "the entry bus is unknown" in capsys.readouterr().err


# --- region -----------------------------------------------------------------------------------


def test_aws_region_is_honoured_like_the_help_and_runbook_say(monkeypatch: pytest.MonkeyPatch) -> None:
    from ops.aws import Clients

    plain = boto3.session.Session()  # no region of its own: boto3 looks it up per client
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    assert Clients(session=plain).events.meta.region_name == "eu-west-1"  # boto3 alone: NoRegionError

    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-west-2")
    assert Clients(session=plain).sqs.meta.region_name == "eu-west-1"  # AWS_REGION first, as the AWS CLI does
    assert Clients(region="ap-south-1", session=plain).sqs.meta.region_name == "ap-south-1"  # --region wins

    monkeypatch.delenv("AWS_REGION")
    assert Clients(session=plain).sqs.meta.region_name == "us-west-2"  # AWS_DEFAULT_REGION still works


def test_region_from_aws_region_reaches_the_commands(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from ops import cli

    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.setenv("AWS_REGION", "eu-central-1")
    made: list[object] = []
    real = cli.Clients

    def spy(**kwargs: object) -> object:
        clients = real(**kwargs)  # type: ignore[arg-type]
        made.append(clients)
        return clients

    monkeypatch.setattr(cli, "Clients", spy)
    # No bus: the command stops before any AWS call, after the clients were made from the arguments.
    assert cli.main(["status"]) == 2
    assert [c.region for c in made] == ["eu-central-1"]  # type: ignore[attr-defined]
    assert "the entry bus is unknown" in capsys.readouterr().err
