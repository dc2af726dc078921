"""Reading the stack outputs, and the agreement between them and what the program declares."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ops.outputs import OpsError, bus_arn_for, load_outputs, region_of, resource_name, rule_location

CONNECTION = "aws:cloudwatch/eventConnection:EventConnection"
API_DESTINATION = "aws:cloudwatch/eventApiDestination:EventApiDestination"


def write(tmp_path: Path, value: Any) -> str:
    path = tmp_path / "outputs.json"
    path.write_text(value if isinstance(value, str) else json.dumps(value))
    return str(path)


def test_the_programs_outputs_load_and_its_names_carry_the_status_prefix(tmp_path: Path) -> None:
    from tests.harness import run_program

    config = {
        "delivery": {"enabled": False},
        # Upper case and a dot make resource_key hash the bus name: the prefix must still agree.
        "provider": {"busName": "Hookstack.Prod_Main"},
        "tenants": [
            {
                "id": "1",
                "destinations": [{"name": "crm", "url": "https://crm.example.com/h", "auth": {"type": "none"}}],
            },
            {
                "id": "Acme.Corp",
                "destinations": [{"name": "erp", "url": "https://erp.example.com/h", "auth": {"type": "none"}}],
            },
        ],
    }
    program = run_program(config)

    outputs = load_outputs(write(tmp_path, program.outputs))

    assert outputs.bus_name == "Hookstack.Prod_Main"
    assert sorted(d.label for d in outputs.destinations) == ["1/crm", "Acme.Corp/erp"]
    names = [r.plain("name") for r in program.of_type(CONNECTION) + program.of_type(API_DESTINATION)]
    assert len(names) == 4
    assert all(name.startswith(outputs.resource_prefix) for name in names), (outputs.resource_prefix, names)


def test_flags_override_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, {"busName": "from-file", "deadLetterQueueUrl": "https://q/file"})

    outputs = load_outputs(path, bus_name="from-flag", dlq_url="https://q/flag")

    assert (outputs.bus_name, outputs.dead_letter_queue_url) == ("from-flag", "https://q/flag")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not JSON"),
        ([1, 2], "must be a JSON object"),
        ({"deadLetterQueueUrl": "https://q"}, "the entry bus is unknown"),
        ({"busName": 7}, "busName must be a non-empty string"),
        (
            {"busName": "b", "destinations": {"1": {"crm": {"rule_arn": "x"}}}},
            r"destinations\['1'\]\['crm'\] must hold",
        ),
        ({"busName": "b", "destinations": ["x"]}, "destinations must map tenant id"),
    ],
)
def test_bad_outputs_name_the_problem(tmp_path: Path, content: Any, message: str) -> None:
    with pytest.raises(OpsError, match=message):
        load_outputs(write(tmp_path, content))


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(OpsError, match="cannot read it"):
        load_outputs(str(tmp_path / "absent.json"))


def test_arn_shapes() -> None:
    assert rule_location("arn:aws:events:us-east-1:123456789012:rule/hookstack-dev/r-1") == ("hookstack-dev", "r-1")
    assert rule_location("arn:aws:events:us-east-1:123456789012:rule/r-1") == ("default", "r-1")
    assert resource_name("arn:aws:events:us-east-1:123456789012:connection/hookstack-dev-1-crm/uuid", "connection") == (
        "hookstack-dev-1-crm"
    )
    assert bus_arn_for("arn:aws:events:us-east-1:123456789012:event-bus/main", "main-shard-01") == (
        "arn:aws:events:us-east-1:123456789012:event-bus/main-shard-01"
    )
    with pytest.raises(OpsError, match="not an EventBridge rule ARN"):
        rule_location("arn:aws:sqs:us-east-1:123456789012:q")
    # Checked whole: a trailing newline (a pasted ARN) is refused here, not sent to FilterArns / AWS.
    with pytest.raises(OpsError, match="not an EventBridge rule ARN"):
        rule_location("arn:aws:events:us-east-1:123456789012:rule/hookstack-dev/r-1\n")
    with pytest.raises(OpsError, match="not an EventBridge archive ARN"):
        resource_name("arn:aws:events:us-east-1:123456789012:archive/a\n", "archive")


@pytest.mark.parametrize(
    ("value", "region"),
    [
        ("arn:aws:events:eu-west-1:123456789012:rule/b/r", "eu-west-1"),
        ("arn:aws-cn:events:cn-north-1:123456789012:event-bus/b", "cn-north-1"),
        ("https://sqs.ap-southeast-3.amazonaws.com/123456789012/q", "ap-southeast-3"),
        ("https://sqs.cn-north-1.amazonaws.com.cn/123456789012/q", "cn-north-1"),
        ("arn:aws:iam::123456789012:role/r", None),  # a global service
        ("http://127.0.0.1:5000/123456789012/q", None),  # a local endpoint
        ("hookstack-archive-1a2b3c4", None),  # an archive given by name
    ],
)
def test_the_region_an_arn_or_queue_url_names(value: str, region: str | None) -> None:
    assert region_of(value) == region


SANDBOX_ACCESS = {
    "endpointUrl": "http://127.0.0.1:4566",
    "region": "us-east-1",
    "accessKeyId": "k",
    "secretAccessKey": "s3cr3t",
}


def test_a_sandbox_outputs_file_says_how_to_reach_it_and_a_deployed_ones_does_not(tmp_path: Path) -> None:
    from ops.outputs import sandbox_access

    assert sandbox_access(write(tmp_path, {"busName": "b"})) is None
    assert sandbox_access(None) is None
    access = sandbox_access(write(tmp_path, {"busName": "b", "sandbox": SANDBOX_ACCESS}))
    assert access is not None
    assert (access.endpoint_url, access.region, access.access_key_id) == ("http://127.0.0.1:4566", "us-east-1", "k")
    assert access.secret_access_key == "s3cr3t" and "s3cr3t" not in repr(access)  # kept out of tracebacks


@pytest.mark.parametrize(
    ("sandbox", "message"),
    [
        ("x", "sandbox must be an object with endpointUrl"),
        ({**SANDBOX_ACCESS, "region": ""}, "sandbox.region must be a non-empty string"),
        ({**SANDBOX_ACCESS, "endpointUrl": "https://events.example.com"}, "must be a loopback http:// URL"),
        ({**SANDBOX_ACCESS, "endpointUrl": "http://127.0.0.1:4566\n"}, "must be a loopback http:// URL"),
    ],
)
def test_a_bad_sandbox_key_names_the_problem(tmp_path: Path, sandbox: Any, message: str) -> None:
    from ops.outputs import sandbox_access

    with pytest.raises(OpsError, match=message):
        sandbox_access(write(tmp_path, {"busName": "b", "sandbox": sandbox}))


def test_the_sandbox_credentials_only_go_to_the_sandbox(tmp_path: Path) -> None:
    """``--endpoint-url`` elsewhere wins, and then the sandbox's credentials are not sent there."""
    import argparse

    from ops.cli import _clients
    from ops.outputs import sandbox_access

    path = write(tmp_path, {"busName": "b", "sandbox": SANDBOX_ACCESS})
    local = sandbox_access(path)
    args = argparse.Namespace(region=None, endpoint_url=None, outputs=path)
    clients = _clients(args, local)
    assert (clients.endpoint_url, clients.region, clients.credentials) == (
        "http://127.0.0.1:4566",
        "us-east-1",
        ("k", "s3cr3t"),
    )
    assert "outputs file" in clients.region_origin
    other = _clients(argparse.Namespace(region="eu-west-1", endpoint_url="http://127.0.0.1:9", outputs=path), local)
    assert (other.endpoint_url, other.region, other.credentials) == ("http://127.0.0.1:9", "eu-west-1", None)
