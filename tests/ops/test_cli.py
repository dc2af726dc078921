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


class NoCalls:
    """A boto3 session stand-in: it has a region (as configuration gives it) and makes no client."""

    def __init__(self, region_name: str | None) -> None:
        self.region_name = region_name

    def client(self, service: str, **_: object) -> object:
        raise AssertionError(f"an AWS call ({service}) was about to be made")


STACK_OUTPUTS = {
    "busName": "hookstack-dev",
    "busArn": "arn:aws:events:us-east-1:123456789012:event-bus/hookstack-dev",
    "deadLetterQueueUrl": "https://sqs.us-east-1.amazonaws.com/123456789012/hookstack-dlq-5e6f7a8",
    "destinations": {
        "1": {
            "crm": {
                "rule_arn": "arn:aws:events:us-east-1:123456789012:rule/hookstack-dev/hookstack-1-crm-rule-1a2b3c4",
                "api_destination_arn": "arn:aws:events:us-east-1:123456789012:api-destination/hookstack-dev-1-crm/x",
                "connection_arn": "arn:aws:events:us-east-1:123456789012:connection/hookstack-dev-1-crm/y",
                "bus_name": "hookstack-dev",
            }
        }
    },
}


@pytest.mark.parametrize(
    ("region_flag", "aws_region", "default_region", "origin"),
    [
        (None, "us-west-2", None, "(AWS_REGION)"),
        ("us-west-2", "us-east-1", None, "(--region)"),
        (None, None, "us-west-2", "(AWS_DEFAULT_REGION / the profile)"),
    ],
)
@pytest.mark.parametrize("command", [["status"], ["redrive", "--wait-seconds", "0"], ["replay", "list"]])
def test_a_region_other_than_the_stacks_fails_before_any_aws_call(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    command: list[str],
    region_flag: str | None,
    aws_region: str | None,
    default_region: str | None,
    origin: str,
) -> None:
    """In us-west-2 a us-east-1 stack's resources all look MISSING and its DLQ empty (status exit 1,
    redrive "0 messages"): the region is in every ARN and the queue URL of the outputs."""
    from ops.aws import Clients
    from ops.cli import main

    for name, value in (("AWS_REGION", aws_region), ("AWS_DEFAULT_REGION", default_region)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps(STACK_OUTPUTS))

    clients = Clients(region=region_flag, session=NoCalls(default_region))
    code = main([*command, "--outputs", str(outputs)], clients=clients)

    err = capsys.readouterr().err
    assert code == 2
    assert f"region mismatch: AWS calls would go to us-west-2 {origin} but the stack is in us-east-1 (busArn " in err
    assert err.rstrip().endswith("Pass --region us-east-1 or set AWS_REGION=us-east-1")


def test_no_region_at_all_names_the_stacks(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from ops.aws import Clients
    from ops.cli import main

    monkeypatch.delenv("AWS_REGION", raising=False)
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({**STACK_OUTPUTS, "busArn": None}))  # the region from the queue URL alone

    assert main(["status", "--outputs", str(outputs)], clients=Clients(session=NoCalls(None))) == 2
    assert "no AWS region: pass --region us-east-1 or set AWS_REGION=us-east-1" in capsys.readouterr().err


def test_outputs_naming_no_region_are_not_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    """Flags alone, or a local endpoint's queue URL (the sandbox): nothing to compare with."""
    from ops.aws import Clients
    from ops.cli import main

    monkeypatch.setenv("AWS_REGION", "us-west-2")
    clients = Clients(session=NoCalls(None))
    with pytest.raises(AssertionError, match="an AWS call"):
        main(["redrive", "--bus-name", "b", "--dlq-url", "http://127.0.0.1:5000/123456789012/q"], clients=clients)
