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
