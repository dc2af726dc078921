"""``sandbox up --faults SPEC [--seed N]``: the functions' AWS calls fail as AWS's would (sandbox/faults.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError

from sandbox.aws import SANDBOX_USER_AGENT
from sandbox.faults import FaultInjector, FaultRule, FaultSpecError, injected, parse_faults

ONE_ATTEMPT = Config(retries={"total_max_attempts": 1, "mode": "standard"})


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("dynamodb:PutItm=0.05", "dynamodb has no operation 'PutItm' (did you mean PutItem?)"),
        ("dynamo:PutItem=0.05", "unknown service 'dynamo' (did you mean dynamodb?)"),
        ("sqs:SendMessage=1.5", "the rate must be a number above 0 and at most 1, got '1.5'"),
        ("sqs:SendMessage=0", "above 0"),
        ("sqs:SendMessage=nan", "above 0"),
        ("s3:*=0.1:slow", "the kind must be one of error, throttle, timeout, got 'slow'"),
        ("s3=0.1", "expected SERVICE:OPERATION=RATE[:KIND]"),
        ("s3:*=0.1,,sqs:*=0.1", "entry 2 '': empty"),
        ("sqs:*=0.1,sqs:*=0.2:throttle", "entry 2 'sqs:*=0.2:throttle': sqs:* is given twice"),
    ],
)
def test_a_bad_spec_names_the_entry_and_what_is_allowed(spec: str, message: str) -> None:
    with pytest.raises(FaultSpecError, match=r"^--faults: ") as caught:
        parse_faults(spec)
    assert message in str(caught.value)


def test_a_spec_parses_with_error_as_the_default_kind() -> None:
    assert parse_faults(" dynamodb:PutItem=0.05, sqs:SendMessage=0.02:throttle,s3:*=0.01:timeout") == (
        FaultRule("dynamodb", "PutItem", 0.05, "error"),
        FaultRule("sqs", "SendMessage", 0.02, "throttle"),
        FaultRule("s3", "*", 0.01, "timeout"),
    )


def test_decisions_follow_the_rate_and_the_seed_whatever_the_order() -> None:
    rules = parse_faults("dynamodb:*=0.2,dynamodb:PutItem=1:throttle")
    first, second, other = FaultInjector(rules, seed=3), FaultInjector(rules, seed=3), FaultInjector(rules, seed=4)
    calls = [first.decide("dynamodb", "GetItem") is not None for _ in range(2000)]
    for _ in range(500):
        second.decide("dynamodb", "Query")  # other operations in between change nothing
    assert [second.decide("dynamodb", "GetItem") is not None for _ in range(2000)] == calls
    assert [other.decide("dynamodb", "GetItem") is not None for _ in range(2000)] != calls
    assert 0.17 < sum(calls) / len(calls) < 0.23
    assert all(
        first.decide("dynamodb", "PutItem") == FaultRule("dynamodb", "PutItem", 1.0, "throttle") for _ in range(5)
    )
    assert first.decide("sqs", "SendMessage") is None


@pytest.fixture
def always(request: pytest.FixtureRequest) -> Iterator[FaultInjector]:
    injector = FaultInjector(parse_faults(request.param), seed=0)
    with injected(injector):
        yield injector


_SESSION = boto3.session.Session(region_name="us-east-1", aws_access_key_id="a", aws_secret_access_key="b")


def session() -> Any:
    """One session: its clients share the loaded service models (a client in ms, not 0.5 s)."""
    return _SESSION


@pytest.mark.parametrize(
    ("always", "service", "call", "code", "status"),
    [
        ("dynamodb:*=1", "dynamodb", lambda c: c.get_item(TableName="t", Key={"pk": {"S": "k"}}), "InternalServerError", 500),
        ("dynamodb:*=1:throttle", "dynamodb", lambda c: c.get_item(TableName="t", Key={"pk": {"S": "k"}}), "ProvisionedThroughputExceededException", 400),
        ("sqs:*=1:throttle", "sqs", lambda c: c.send_message(QueueUrl="http://127.0.0.1:9/1/q", MessageBody="x"), "ThrottlingException", 400),
        ("s3:*=1", "s3", lambda c: c.put_object(Bucket="b", Key="k", Body=b"x"), "InternalError", 500),
        ("s3:*=1:throttle", "s3", lambda c: c.get_object(Bucket="b", Key="k"), "SlowDown", 503),
        ("events:PutEvents=1", "events", lambda c: c.put_events(Entries=[{"Source": "a", "DetailType": "b", "Detail": "{}"}]), "InternalFailure", 500),
        ("lambda:*=1:throttle", "lambda", lambda c: c.invoke(FunctionName="f"), "TooManyRequestsException", 429),
    ],
    indirect=["always"],
)  # fmt: skip
def test_injected_answers_are_the_services_own_errors(
    always: FaultInjector, service: str, call: Any, code: str, status: int
) -> None:
    client = session().client(service, endpoint_url="http://127.0.0.1:9", config=ONE_ATTEMPT)
    with pytest.raises(ClientError) as caught:
        call(client)
    assert (caught.value.response["Error"]["Code"], caught.value.response["ResponseMetadata"]["HTTPStatusCode"]) == (
        code,
        status,
    )


@pytest.mark.parametrize("always", ["sqs:*=1:timeout"], indirect=True)
def test_a_timeout_takes_effect_and_only_the_functions_calls_fail(always: FaultInjector, moto_endpoint: str) -> None:
    plumbing = session().client("sqs", endpoint_url=moto_endpoint, config=Config(user_agent_extra=SANDBOX_USER_AGENT))
    url = plumbing.create_queue(QueueName="faults")["QueueUrl"]  # the sandbox's own calls never fail
    function = session().client("sqs", endpoint_url=moto_endpoint, config=ONE_ATTEMPT)
    with pytest.raises(ReadTimeoutError):
        function.send_message(QueueUrl=url, MessageBody="sent, answer lost")
    messages = plumbing.receive_message(QueueUrl=url).get("Messages", [])
    assert [m["Body"] for m in messages] == ["sent, answer lost"]
    assert always.summary() == "faults injected: sqs:SendMessage timeout x1"


def test_clients_made_after_it_is_removed_are_untouched() -> None:
    with injected(FaultInjector(parse_faults("sqs:*=1"))):
        pass
    client = session().client("sqs", endpoint_url="http://127.0.0.1:9", config=ONE_ATTEMPT)
    with pytest.raises(EndpointConnectionError):  # sent for real (nothing listens), not answered by the injector
        client.send_message(QueueUrl="http://127.0.0.1:9/1/q", MessageBody="x")


@pytest.mark.parametrize("spec", ["", "s3:*=0.1:slow"])
def test_up_refuses_a_bad_or_empty_spec_before_starting_anything(
    spec: str, tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from sandbox.__main__ import main

    state = tmp_path / "state.json"
    assert main(["up", "--config", str(tmp_path / "none.yaml"), "--state-file", str(state), "--faults", spec]) == 2
    assert capsys.readouterr().err.startswith("sandbox: --faults: ")
    assert not state.exists()
