"""TestEventPattern on moto (sandbox/moto_events.py) answers what moto's PutEvents then delivers,
and what EventBridge documents, for hookstack's own patterns; it refuses what AWS refuses."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from components.plan import delivery_rule_pattern, destination_pattern
from functions.events import REDRIVE_MARKER_KEY
from sandbox.moto_events import install_test_event_pattern

PATTERNS: dict[str, dict[str, Any]] = {
    "1-crm": destination_pattern("1", "crm", ["widget.created"]),
    "1-erp": destination_pattern("1", "erp"),
    "2-crm": destination_pattern("2", "crm"),
    "delivery": delivery_rule_pattern(),
    "route": {"detail": {"tenantId": ["1", "3"]}},
}
# (detail-type, detail beyond eventId) -> the rules EventBridge's documented semantics match.
CASES: list[tuple[str, dict[str, Any], set[str]]] = [
    ("widget.created", {"tenantId": "1"}, {"1-crm", "1-erp", "delivery", "route"}),
    ("widget.deleted", {"tenantId": "1"}, {"1-erp", "delivery", "route"}),
    ("widget.created", {"tenantId": "1", REDRIVE_MARKER_KEY: "crm"}, {"1-crm", "route"}),
    ("widget.deleted", {"tenantId": "1", REDRIVE_MARKER_KEY: "crm"}, {"route"}),  # crm's eventTypes changed
    ("widget.created", {"tenantId": "1", REDRIVE_MARKER_KEY: "billing"}, {"route"}),  # another tenant's marker
    ("widget.created", {"tenantId": "2", REDRIVE_MARKER_KEY: "crm"}, {"2-crm"}),
    ("widget.created", {"tenantId": 1}, {"delivery"}),  # a number is not the string "1" (but exists)
    # exists matches leaf values only: an object marker counts as none (docs/provider.md)
    ("widget.created", {"tenantId": "1", REDRIVE_MARKER_KEY: {"x": "crm"}}, {"1-crm", "1-erp", "delivery", "route"}),
]


@pytest.fixture
def events(aws: None, monkeypatch: pytest.MonkeyPatch) -> Any:
    install_test_event_pattern(monkeypatch.setattr)
    return boto3.client("events", region_name="us-east-1")


def envelope(detail_type: str, detail: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": "0", "id": "00000000-0000-4000-8000-000000000000", "detail-type": detail_type, "source": "app",
        "account": "123456789012", "time": "2026-01-05T10:00:00Z", "region": "us-east-1", "resources": [],
        "detail": {**detail, "eventId": "evt_1"},
    }  # fmt: skip


def test_the_answer_is_what_putevents_delivers_and_what_eventbridge_documents(events: Any) -> None:
    sqs = boto3.client("sqs", region_name="us-east-1")
    queues = {}
    for name, pattern in PATTERNS.items():
        url = sqs.create_queue(QueueName=name)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(Name=name, EventPattern=json.dumps(pattern))
        events.put_targets(Rule=name, Targets=[{"Id": "q", "Arn": arn}])
        queues[name] = url

    for detail_type, detail, expected in CASES:
        answered = {
            name
            for name, pattern in PATTERNS.items()
            if events.test_event_pattern(
                EventPattern=json.dumps(pattern), Event=json.dumps(envelope(detail_type, detail))
            )["Result"]
        }
        events.put_events(
            Entries=[{"Source": "app", "DetailType": detail_type, "Detail": json.dumps({**detail, "eventId": "evt_1"})}]
        )
        delivered = set()
        for name, url in queues.items():
            for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
                delivered.add(name)
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])

        assert answered == delivered == expected, (detail_type, detail)


@pytest.mark.parametrize(
    ("pattern", "event", "code"),
    [
        ('{"source": "app"}', envelope("t", {}), "InvalidEventPatternException"),  # a value must be an array
        ("not json", envelope("t", {}), "InvalidEventPatternException"),
        ('{"source": ["app"]}', {k: v for k, v in envelope("t", {}).items() if k != "account"}, "ValidationException"),
        ('{"source": ["app"]}', "[1]", "ValidationException"),
    ],
)
def test_what_aws_refuses_is_refused(events: Any, pattern: str, event: Any, code: str) -> None:
    with pytest.raises(ClientError) as caught:
        events.test_event_pattern(EventPattern=pattern, Event=event if isinstance(event, str) else json.dumps(event))
    assert caught.value.response["Error"]["Code"] == code


# -- replays, rule states, connections (install_eventbridge_fidelity) -----------------------------


@pytest.fixture
def eventbridge(aws: None, monkeypatch: pytest.MonkeyPatch) -> Any:
    from sandbox.moto_events import install_eventbridge_fidelity

    install_eventbridge_fidelity(monkeypatch.setattr)
    return boto3.client("events", region_name="us-east-1"), boto3.client("sqs", region_name="us-east-1")


def queue_for_rule(events: Any, sqs: Any, bus: str, name: str, pattern: dict[str, Any], state: str = "ENABLED") -> str:
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name=name, EventBusName=bus, EventPattern=json.dumps(pattern), State=state)
    events.put_targets(Rule=name, EventBusName=bus, Targets=[{"Id": "q", "Arn": arn}])
    return str(url)


def drain_queue(sqs: Any, url: str) -> list[dict[str, Any]]:
    found = []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            found.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return found


def test_a_replay_sends_its_window_to_its_filter_rules_only(eventbridge: Any) -> None:
    from datetime import UTC, datetime, timedelta

    events, sqs = eventbridge
    bus_arn = events.create_event_bus(Name="b")["EventBusArn"]
    archive_arn = events.create_archive(ArchiveName="b-archive", EventSourceArn=bus_arn)["ArchiveArn"]
    chosen = queue_for_rule(events, sqs, "b", "chosen", {"source": ["app"]})
    other = queue_for_rule(events, sqs, "b", "other", {"source": ["app"]})
    now = datetime.now(UTC).replace(microsecond=0)
    entries = [
        {"EventBusName": "b", "Source": "app", "DetailType": "t", "Detail": json.dumps({"eventId": name}), "Time": now - timedelta(seconds=age)}
        for name, age in (("early", 300), ("inside", 200), ("late", 100))
    ]  # fmt: skip
    events.put_events(Entries=entries)
    assert len(drain_queue(sqs, chosen)) == len(drain_queue(sqs, other)) == 3

    chosen_arn = events.describe_rule(Name="chosen", EventBusName="b")["Arn"]
    events.start_replay(
        ReplayName="r1",
        EventSourceArn=archive_arn,
        EventStartTime=now - timedelta(seconds=250),
        EventEndTime=now - timedelta(seconds=150),
        Destination={"Arn": bus_arn, "FilterArns": [chosen_arn]},
    )

    (replayed,) = drain_queue(sqs, chosen)
    assert replayed["detail"]["eventId"] == "inside" and replayed["replay-name"] == "r1"
    assert drain_queue(sqs, other) == []
    assert events.describe_replay(ReplayName="r1")["State"] == "COMPLETED"
    assert events.describe_archive(ArchiveName="b-archive")["EventCount"] == 3  # replays are not archived again


def test_a_disabled_rule_matches_nothing(eventbridge: Any) -> None:
    events, sqs = eventbridge
    events.create_event_bus(Name="b")
    disabled = queue_for_rule(events, sqs, "b", "off", {"source": ["app"]}, state="DISABLED")
    events.put_events(Entries=[{"EventBusName": "b", "Source": "app", "DetailType": "t", "Detail": "{}"}])
    assert drain_queue(sqs, disabled) == []
    events.enable_rule(Name="off", EventBusName="b")
    events.put_events(Entries=[{"EventBusName": "b", "Source": "app", "DetailType": "t", "Detail": "{}"}])
    assert len(drain_queue(sqs, disabled)) == 1


def test_connections_report_their_state_hide_secrets_and_reauthorize_on_update(eventbridge: Any) -> None:
    from sandbox.moto_events import ConnectionHandle

    events, _ = eventbridge
    arn = events.create_connection(
        Name="c",
        AuthorizationType="OAUTH_CLIENT_CREDENTIALS",
        AuthParameters={
            "OAuthParameters": {
                "ClientParameters": {"ClientID": "id", "ClientSecret": "old-secret"},
                "AuthorizationEndpoint": "https://auth.example.com/token",
                "HttpMethod": "POST",
            }
        },
    )["ConnectionArn"]
    events.create_api_destination(
        Name="d", ConnectionArn=arn, InvocationEndpoint="https://x.example.com", HttpMethod="POST"
    )
    handle = ConnectionHandle("c")
    assert handle.deauthorize("the OAuth token request failed: 401") is True
    assert handle.deauthorize("again") is False

    (listed,) = events.list_connections()["Connections"]
    assert (listed["ConnectionState"], listed["StateReason"]) == ("DEAUTHORIZED", "the OAuth token request failed: 401")
    assert events.list_api_destinations()["ApiDestinations"][0]["ApiDestinationState"] == "INACTIVE"
    described = events.describe_connection(Name="c")
    assert "old-secret" not in json.dumps(described, default=str)
    assert described["AuthParameters"]["OAuthParameters"]["ClientParameters"] == {"ClientID": "id"}

    revision = handle.revision
    events.update_connection(  # what `ops reauthorize` sends: only the credential half
        Name="c",
        AuthorizationType="OAUTH_CLIENT_CREDENTIALS",
        AuthParameters={"OAuthParameters": {"ClientParameters": {"ClientID": "id", "ClientSecret": "new-secret"}}},
    )
    assert handle.state == "AUTHORIZED" and handle.revision == revision + 1
    oauth = handle.auth_parameters()["OAuthParameters"]
    assert oauth["ClientParameters"]["ClientSecret"] == "new-secret"
    assert oauth["AuthorizationEndpoint"] == "https://auth.example.com/token"  # merged, as AWS does
    assert events.list_api_destinations()["ApiDestinations"][0]["ApiDestinationState"] == "ACTIVE"
    assert "StateReason" not in events.list_connections()["Connections"][0]
