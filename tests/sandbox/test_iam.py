"""IAM in the sandbox: each function's role holds its spec's statements, and moto evaluates its calls.

The first tests drive ``sandbox.iam`` on a bare moto server: what a role built from a spec may and
may not do, resource by resource. The last starts a sandbox whose specs lack one permission each and
watches the flows fail with AccessDenied, then gives the permissions back and watches them work.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
import requests
from botocore.exceptions import ClientError

from components.config import parse_stack_config
from components.specs.consumer import ConsumerSpec
from components.specs.delivery import DeliverySpec, delivery_spec, endpoint_secrets_arn, table_indexes_arn
from sandbox.aws import client
from sandbox.iam import LocalIam, Refusal, Role, _enforced
from sandbox.receiver import Receiver
from sandbox.runtime import Sandbox, local_stack


@pytest.fixture
def iam(moto_endpoint: str) -> Iterator[LocalIam]:
    local = LocalIam(moto_endpoint)
    yield local
    local.close()


def denied(call: Callable[[], Any]) -> str:
    """The error code of a call IAM refuses (fails the test if the call succeeds)."""
    with pytest.raises(ClientError) as refused:
        call()
    code = str(refused.value.response["Error"]["Code"])
    assert code in {"AccessDeniedException", "AccessDenied"}, refused.value
    return code


def role_client(role: Role, service: str, endpoint: str) -> Any:
    return role.session.client(service, endpoint_url=endpoint)


def _table(dynamodb: Any, name: str) -> str:
    return str(
        dynamodb.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "tenant", "AttributeType": "S"},
            ],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": "by-tenant",
                    "KeySchema": [{"AttributeName": "tenant", "KeyType": "HASH"}],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ],
            BillingMode="PAY_PER_REQUEST",
        )["TableDescription"]["TableArn"]
    )


def _queue(sqs: Any, name: str) -> tuple[str, str]:
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    return url, sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def test_a_role_built_from_the_delivery_spec_may_do_its_work_and_nothing_else(
    iam: LocalIam, moto_endpoint: str
) -> None:
    dynamodb, sqs = client("dynamodb", moto_endpoint), client("sqs", moto_endpoint)
    table, other_table = _table(dynamodb, "deliveries"), _table(dynamodb, "someone-elses")
    (events_url, events), (tasks_url, tasks) = _queue(sqs, "events"), _queue(sqs, "tasks")
    spec = delivery_spec(parse_stack_config({"tenants": []}).delivery)
    fanout = iam.function_role(
        "fanout", spec.fanout_statements(table_arn=table, events_queue_arn=events, tasks_queue_arn=tasks)
    )
    api = iam.function_role(
        "api",
        spec.api_statements(
            table_arn=table,
            indexes_arn=table_indexes_arn(table),
            tasks_queue_arn=tasks,
            endpoint_secrets_arn=endpoint_secrets_arn(table),
        ),
    )
    fanout_db, fanout_sqs = role_client(fanout, "dynamodb", moto_endpoint), role_client(fanout, "sqs", moto_endpoint)
    api_db = role_client(api, "dynamodb", moto_endpoint)
    item = {"pk": {"S": "a"}, "tenant": {"S": "1"}}

    # Allowed: its table, its queues, SQS batches as their single actions.
    fanout_db.put_item(TableName="deliveries", Item=item)
    fanout_db.query(
        TableName="deliveries", KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "a"}}
    )
    fanout_sqs.send_message_batch(QueueUrl=tasks_url, Entries=[{"Id": "1", "MessageBody": "{}"}])
    fanout_sqs.receive_message(QueueUrl=events_url)
    # Refused: another table, an action it lacks, a queue it only reads, the table's index.
    assert denied(lambda: fanout_db.put_item(TableName="someone-elses", Item=item)) == "AccessDeniedException"
    denied(lambda: fanout_db.delete_item(TableName="deliveries", Key={"pk": {"S": "a"}}))
    denied(lambda: fanout_sqs.send_message(QueueUrl=events_url, MessageBody="{}"))
    by_tenant = {
        "TableName": "deliveries",
        "IndexName": "by-tenant",
        "KeyConditionExpression": "tenant = :t",
        "ExpressionAttributeValues": {":t": {"S": "1"}},
    }
    denied(lambda: fanout_db.query(**by_tenant))
    # The API's role holds <table>/index/*: the same query is allowed; transactions are judged item by item.
    api_db.query(**by_tenant)
    api_db.transact_write_items(TransactItems=[{"Put": {"TableName": "deliveries", "Item": item}}])
    check = {
        "ConditionCheck": {
            "TableName": "deliveries",
            "Key": {"pk": {"S": "a"}},
            "ConditionExpression": "attribute_exists(pk)",
        }
    }
    denied(lambda: api_db.transact_write_items(TransactItems=[check]))  # no dynamodb:ConditionCheckItem
    denied(lambda: api_db.batch_get_item(RequestItems={"someone-elses": {"Keys": [{"pk": {"S": "a"}}]}}))
    assert other_table  # created, and refused above


def test_buses_secrets_and_objects_are_judged_by_their_arns(iam: LocalIam, moto_endpoint: str) -> None:
    events, secrets, s3 = (client(s, moto_endpoint) for s in ("events", "secretsmanager", "s3"))
    own_bus = events.create_event_bus(Name="own")["EventBusArn"]
    events.create_event_bus(Name="other")
    own_secret = secrets.create_secret(Name="own-secret", SecretString="s")["ARN"]
    secrets.create_secret(Name="other-secret", SecretString="s")
    s3.create_bucket(Bucket="payload-bucket")
    role = iam.function_role(
        "publisher",
        [
            {"Sid": "Bus", "Effect": "Allow", "Action": "events:PutEvents", "Resource": own_bus},
            {"Sid": "Secret", "Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": [own_secret]},
            {
                "Sid": "Put",
                "Effect": "Allow",
                "Action": "s3:PutObject",
                "Resource": ["arn:aws:s3:::payload-bucket/payloads/*"],
            },
        ],
    )
    as_role = {s: role_client(role, s, moto_endpoint) for s in ("events", "secretsmanager", "s3")}

    def entry(bus: str) -> dict[str, str]:
        return {"Source": "t", "DetailType": "t", "Detail": "{}", "EventBusName": bus}

    as_role["events"].put_events(Entries=[entry("own")])
    as_role["events"].put_events(Entries=[entry(own_bus)])
    denied(lambda: as_role["events"].put_events(Entries=[entry("other")]))
    denied(lambda: as_role["events"].put_events(Entries=[entry("own"), entry("other")]))  # every entry's bus
    as_role["secretsmanager"].get_secret_value(SecretId="own-secret")
    as_role["secretsmanager"].get_secret_value(SecretId=own_secret)
    denied(lambda: as_role["secretsmanager"].get_secret_value(SecretId="other-secret"))
    denied(lambda: as_role["secretsmanager"].get_secret_value(SecretId="no-such-secret"))
    as_role["s3"].put_object(Bucket="payload-bucket", Key="payloads/a", Body=b"x")
    denied(lambda: as_role["s3"].put_object(Bucket="payload-bucket", Key="elsewhere/a", Body=b"x"))
    denied(lambda: as_role["s3"].get_object(Bucket="payload-bucket", Key="payloads/a"))


def test_create_secret_is_judged_by_the_arn_its_name_will_have(iam: LocalIam, moto_endpoint: str) -> None:
    # The API makes secrets under the table's prefix at run time (v1a keys, the token signing keys).
    role = iam.function_role(
        "maker",
        [
            {
                "Sid": "Make",
                "Effect": "Allow",
                "Action": ["secretsmanager:CreateSecret"],
                "Resource": ["arn:aws:secretsmanager:us-east-1:123456789012:secret:table/*"],
            }
        ],
    )
    manager = role_client(role, "secretsmanager", moto_endpoint)
    manager.create_secret(Name="table/tokens/signing-keys", SecretString="s")
    denied(lambda: manager.create_secret(Name="elsewhere/key", SecretString="s"))


def test_only_the_roles_credentials_are_evaluated_and_their_signature_is_checked(
    iam: LocalIam, moto_endpoint: str
) -> None:
    role = iam.function_role("nothing-allowed", [])
    denied(lambda: role_client(role, "sqs", moto_endpoint).list_queues())
    # Any other credentials (you, ops, the sandbox's own emulation) pass as in moto's default mode.
    anyone = boto3.client("sqs", endpoint_url=moto_endpoint, aws_access_key_id="x", aws_secret_access_key="x")
    anyone.list_queues()
    forged = boto3.client(
        "sqs",
        endpoint_url=moto_endpoint,
        aws_access_key_id=role.access_key_id,
        aws_secret_access_key="not-the-secret",
        aws_session_token=role.session.get_credentials().token,
    )
    with pytest.raises(ClientError) as refused:
        forged.list_queues()
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert refused.value.response["Error"]["Code"] != "AccessDeniedException"  # refused before any policy
    iam.close()
    assert role.access_key_id not in _enforced


# -- a sandbox whose specs lack a permission ------------------------------------------------------------

GITHUB_SECRET = "iam-test-github-secret"


def _without(action: str, statements: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``statements`` with ``action`` taken out (the statement must have held it)."""
    changed = []
    for statement in statements:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        if action in actions:
            actions = [a for a in actions if a != action]
            changed.append({**statement, "Action": actions} if actions else None)
        else:
            changed.append(statement)
    assert changed != statements, f"no statement held {action}"
    return [s for s in changed if s is not None]


def _grant(iam_client: Any, role_name: str, action: str) -> None:
    """Give ``action`` back to a role (on every resource of the statement it was taken from)."""
    policy = iam_client.get_role_policy(RoleName=role_name, PolicyName="hookstack")["PolicyDocument"]
    document = policy if isinstance(policy, dict) else json.loads(policy)
    document["Statement"].append({"Sid": "GivenBack", "Effect": "Allow", "Action": action, "Resource": "*"})
    iam_client.put_role_policy(RoleName=role_name, PolicyName="hookstack", PolicyDocument=json.dumps(document))


def _github_push(url: str) -> requests.Response:
    body = json.dumps({"ref": "refs/heads/main", "repository": {"id": 1}}).encode()
    headers = {
        "Content-Type": "application/json",
        "X-Hub-Signature-256": "sha256=" + hmac.new(GITHUB_SECRET.encode(), body, hashlib.sha256).hexdigest(),
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": str(uuid.uuid4()),
    }
    return requests.post(url, data=body, headers=headers, timeout=15)


def test_a_permission_removed_from_a_spec_breaks_its_flow_with_access_denied(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from functions.events import make_event, publish

    fanout_statements, ingest_statements = DeliverySpec.fanout_statements, ConsumerSpec.ingest_statements
    monkeypatch.setattr(
        DeliverySpec, "fanout_statements", lambda *a, **k: _without("dynamodb:Query", fanout_statements(*a, **k))
    )
    monkeypatch.setattr(
        ConsumerSpec, "ingest_statements", lambda *a, **k: _without("sqs:SendMessage", ingest_statements(*a, **k))
    )
    receiver = Receiver()
    receiver.start()
    stack = local_stack(
        {
            "tenants": [
                {
                    "id": "1",
                    "destinations": [{"name": "hooks", "url": f"{receiver.url}/hooks", "auth": {"type": "signed"}}],
                }
            ],
            "consumer": {"sources": [{"name": "gh", "kind": "github", "secret": GITHUB_SECRET}]},
        }
    )
    sandbox = Sandbox(stack, time_scale=0.01)
    logged: list[str] = []

    def wait_for_log(*fragments: str) -> str:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            logged.extend(capsys.readouterr().out.splitlines())
            found = [line for line in logged if all(f in line for f in fragments)]
            if found:
                return found[0]
            time.sleep(0.05)
        raise AssertionError(f"no log line with {fragments}; got {logged[-20:]}")

    try:
        sandbox.start()
        state = sandbox.state()
        events = client("events", state["aws_endpoint"])
        assert sorted(state["iam_roles"]) == [
            "hookstack-delivery-api-role",
            "hookstack-delivery-fanout-role",
            "hookstack-delivery-worker-role",
            "hookstack-inbound-enrich-role",
            "hookstack-inbound-ingest-role",
            "hookstack-inbound-pipe-role",
        ]

        def publish_one(event_id: str) -> None:
            publish(
                events,
                [make_event("iam.test", "thing.done", {}, tenant_id="1", event_id=event_id)],
                state["bus_names"][0],
            )

        # Inbound: the ingest may not enqueue, so the webhook is refused (the provider retries it).
        refused = _github_push(state["inbound"]["gh"])
        assert refused.status_code >= 500, refused.text
        assert sandbox.iam is not None
        queue_arn = f"arn:aws:sqs:us-east-1:123456789012:{state['inbound_queue_url'].rsplit('/', 1)[1]}"
        assert Refusal("hookstack-inbound-ingest-role", "sqs:SendMessage", queue_arn) in sandbox.iam.refusals
        # Signed delivery: the fan-out may not read the tenant's endpoints, so nothing is delivered (a
        # single-endpoint event's message travels in its task: the fan-out writes nothing for it).
        publish_one("evt_denied")
        line = wait_for_log("fan-out failed", "AccessDeniedException")
        assert "assumed-role/hookstack-delivery-fanout-role/" in line and "dynamodb:Query" in line
        table_arn = "arn:aws:dynamodb:us-east-1:123456789012:table/hookstack-delivery-table"
        assert Refusal("hookstack-delivery-fanout-role", "dynamodb:Query", table_arn) in sandbox.iam.refusals
        assert {r.role for r in sandbox.iam.refusals} == {
            "hookstack-inbound-ingest-role",
            "hookstack-delivery-fanout-role",
        }
        assert receiver.received("/hooks") == []

        # The same permissions given back: both flows work on the same sandbox.
        roles = client("iam", state["aws_endpoint"])
        _grant(roles, "hookstack-inbound-ingest-role", "sqs:SendMessage")
        _grant(roles, "hookstack-delivery-fanout-role", "dynamodb:Query")
        assert _github_push(state["inbound"]["gh"]).status_code == 200
        publish_one("evt_allowed")
        assert receiver.wait_for("/hooks", 1, containing="evt_allowed"), "delivered once the permission is back"
    finally:
        sandbox.stop()
        receiver.stop()
