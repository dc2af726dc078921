"""SignedDelivery under Pulumi mocks: resources, IAM scoped to exact ARNs, alarms, AWS limits, secrets."""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import importlib
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from components.config import DeliverySettings, StackConfigError, parse_stack_config
from components.plan import delivery_rule_pattern
from components.specs import delivery as specs
from components.specs.delivery import delivery_spec
from functions.delivery import routes, schema, store, token_keys, tokens
from functions.delivery.endpoint_fields import MAX_TIMEOUT_SECONDS
from functions.delivery.settings import ApiSettings, FanoutSettings, WorkerSettings
from functions.telemetry import Telemetry
from tests import harness
from tests.harness import Program, contains_text, is_secret

SIGNED = {
    "name": "audit",
    "url": "https://audit.example.com/hooks",
    "eventTypes": ["widget.created"],
    "auth": {"type": "signed"},
}
GIVEN_SECRET = "whsec_" + base64.b64encode(b"s" * 32).decode()
OLD_SECRET = "whsec_" + base64.b64encode(b"o" * 32).decode()
QUEUE = "aws:sqs/queue:Queue"
ROOT = Path(__file__).resolve().parents[2]
FUNCTION = "aws:lambda/function:Function"


@pytest.fixture(autouse=True)
def random_bytes_in_mocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """The shared mocks do not compute ``RandomBytes`` outputs; fill them in like the provider would."""
    original = harness._computed

    def computed(typ: str, logical: str, inputs: Any) -> dict[str, Any]:
        state = original(typ, logical, inputs)
        if typ == "random:index/randomBytes:RandomBytes":
            raw = hashlib.sha256(logical.encode()).digest()[: int(inputs["length"])]
            state.update(base64=base64.b64encode(raw).decode(), hex=raw.hex())
        return state

    monkeypatch.setattr(harness, "_computed", computed)


def config(*destinations: dict[str, Any], delivery: dict[str, Any] | None = None) -> dict[str, Any]:
    values: dict[str, Any] = {"tenants": [{"id": "1", "destinations": list(destinations or [SIGNED])}]}
    if delivery is not None:
        values["delivery"] = delivery
    return values


@pytest.fixture(scope="module")
def deployed() -> Program:
    """The default delivery stack, evaluated once for the module (the checks only read it)."""
    return harness.run_program(config(), secret_keys=[])


def _in(program: Program, typ: str, part: str) -> Any:
    return program.one(typ, lambda r: part in r.name)


def _statements(program: Program, function_part: str) -> list[dict[str, Any]]:
    policy = program.one("aws:iam/rolePolicy:RolePolicy", lambda r: f"delivery-{function_part}-fn-policy" in r.name)
    document = policy.json("policy")
    assert document["Version"] == "2012-10-17"
    return document["Statement"]


def test_table_is_on_demand_encrypted_recoverable_with_ttl_and_key_only_attributes(deployed: Program) -> None:
    table = deployed.one("aws:dynamodb/table:Table")
    assert table["billingMode"] == "PAY_PER_REQUEST"
    assert (table["hashKey"], table["rangeKey"]) == ("pk", "sk")
    assert table["serverSideEncryption"]["enabled"] is True
    assert table["pointInTimeRecovery"]["enabled"] is True
    assert table["ttl"] == {"attributeName": "expiresAt", "enabled": True}
    names = sorted(a["name"] for a in table["attributes"])
    assert names == sorted(schema.KEY_ATTRIBUTES) and "expiresAt" not in names
    indexes = {i["name"]: i for i in table["globalSecondaryIndexes"]}
    assert set(indexes) == set(schema.INDEX_KEYS)
    for name, (hash_key, range_key) in schema.INDEX_KEYS.items():
        keys = {k["keyType"]: k["attributeName"] for k in indexes[name]["keySchemas"]}
        assert keys == {"HASH": hash_key, "RANGE": range_key}
        assert indexes[name]["projectionType"] == schema.INDEX_PROJECTIONS[name]
        assert 3 <= len(name) <= 255
    # The recent index (GET .../deliveries and .../stats) carries only what those routes read.
    assert indexes["recent"]["nonKeyAttributes"] == list(schema.RECENT_ATTRIBUTES)
    assert "nonKeyAttributes" not in indexes["failed"]


def test_one_rule_on_the_entry_bus_sends_tenant_events_to_the_events_queue(deployed: Program) -> None:
    bus = deployed.one("aws:cloudwatch/eventBus:EventBus")
    rule = _in(deployed, "aws:cloudwatch/eventRule:EventRule", "hookstack-delivery")
    assert rule["eventBusName"] == bus.physical_name
    assert rule.json("eventPattern") == delivery_rule_pattern()
    target = _in(deployed, "aws:cloudwatch/eventTarget:EventTarget", "hookstack-delivery")
    events_queue = deployed.named("hookstack-delivery-events")
    events_dlq = deployed.named("hookstack-delivery-events-dlq")
    assert target["arn"] == events_queue.arn and target["eventBusName"] == bus.physical_name
    assert target["deadLetterConfig"]["arn"] == events_dlq.arn
    assert target["retryPolicy"] == {"maximumRetryAttempts": 185, "maximumEventAgeInSeconds": 86400}
    assert len(target["targetId"]) <= 64 and len(rule.physical_name) <= 64


def test_queues_are_encrypted_with_dead_letter_queues_and_enough_visibility(deployed: Program) -> None:
    queues = {r.name: r for r in deployed.of_type(QUEUE) if r.name.startswith("hookstack-delivery")}
    assert set(queues) == {f"hookstack-delivery-{s}" for s in ("events", "events-dlq", "tasks", "dlq")}
    for queue in queues.values():
        assert queue["sqsManagedSseEnabled"] is True
        assert not queue.get("fifoQueue")  # EventBridge DLQs must be standard queues
        assert len(queue.physical_name) <= 80
    tasks, events = queues["hookstack-delivery-tasks"], queues["hookstack-delivery-events"]
    assert tasks.json("redrivePolicy") == {
        "deadLetterTargetArn": queues["hookstack-delivery-dlq"].arn,
        "maxReceiveCount": 36,  # 2 x 8 attempts (each may wait once for its rate-limit slot) + 20
    }
    assert events.json("redrivePolicy") == {
        "deadLetterTargetArn": queues["hookstack-delivery-events-dlq"].arn,
        "maxReceiveCount": 5,
    }
    worker = deployed.named("hookstack-delivery-worker-fn")
    fanout = deployed.named("hookstack-delivery-fanout-fn")
    assert worker["timeout"] > 15  # must outlast the per-attempt HTTP timeout
    assert tasks["visibilityTimeoutSeconds"] >= 6 * worker["timeout"]
    assert events["visibilityTimeoutSeconds"] >= 6 * fanout["timeout"]
    # A task stays in its queue through the whole schedule (SQS keeps messages at most 14 days).
    assert sum((5, 300, 1800, 7200, 18000, 36000, 36000)) < tasks["messageRetentionSeconds"] <= 1_209_600


def test_queue_policies_allow_only_the_rule_and_deny_plain_http(deployed: Program) -> None:
    rule = _in(deployed, "aws:cloudwatch/eventRule:EventRule", "hookstack-delivery")
    policies = {
        r.name: r.json("policy")
        for r in deployed.of_type("aws:sqs/queuePolicy:QueuePolicy")
        if r.name.startswith("hookstack-delivery")
    }
    assert len(policies) == 4
    for name, document in policies.items():
        assert document["Version"] == "2012-10-17"
        deny = next(s for s in document["Statement"] if s["Effect"] == "Deny")
        assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        allows = [s for s in document["Statement"] if s["Effect"] == "Allow"]
        if name.endswith(("-events-policy", "-events-dlq-policy")):
            (allow,) = allows
            assert allow["Principal"] == {"Service": "events.amazonaws.com"} and allow["Action"] == "sqs:SendMessage"
            assert allow["Condition"] == {"ArnEquals": {"aws:SourceArn": rule.arn}}
        else:
            assert allows == []


def test_functions_use_the_shared_archive_and_existing_handlers(deployed: Program) -> None:
    functions = {r.name: r for r in deployed.of_type(FUNCTION) if r.name.startswith("hookstack-delivery")}
    assert set(functions) == {
        "hookstack-delivery-api-fn",
        "hookstack-delivery-fanout-fn",
        "hookstack-delivery-worker-fn",
    }
    for function in functions.values():
        module, _, attribute = function["handler"].rpartition(".")
        assert callable(getattr(importlib.import_module(module), attribute))
        assert function["runtime"] == "python3.12" and function["architectures"] == ["arm64"]
        assert len(function.physical_name) <= 64
    assert deployed.one("aws:iam/role:Role", lambda r: r.name == "hookstack-delivery-worker-fn-role").physical_name


def test_each_function_gets_only_the_delivery_variables_it_reads(deployed: Program) -> None:
    expected = {
        "api": {
            "TABLE_NAME",
            "TASKS_QUEUE_URL",
            "HISTORY_TTL_DAYS",
            "ROTATION_OVERLAP_HOURS",
            "API_TENANTS",
            "TOKEN_ISSUER",
            "DEAD_LETTER_QUEUE_URLS",
            "EVENT_BUS_NAME",
            "OPERATIONAL_SOURCE",
        },
        "fanout": {"TABLE_NAME", "TASKS_QUEUE_URL", "HISTORY_TTL_DAYS"},
        "worker": {
            "TABLE_NAME",
            "TASKS_QUEUE_URL",
            "DEAD_LETTER_QUEUE_URL",
            "TIMEOUT_SECONDS",
            "RETRY_SCHEDULE",
            "DISABLE_AFTER_FAILURES",
            "HISTORY_TTL_DAYS",
            "MAX_RESPONSE_BYTES",
            "MAX_RECEIVES",
            "BREAKER_FAILURES",
            "BREAKER_COOLDOWN_SECONDS",
            "EVENT_BUS_NAME",
            "OPERATIONAL_SOURCE",
        },
    }
    table = deployed.one("aws:dynamodb/table:Table")
    for part, names in expected.items():
        variables = deployed.named(f"hookstack-delivery-{part}-fn")["environment"]["variables"]
        # ...plus the observability contract every function reads (functions/telemetry.py).
        assert set(variables) == {f"DELIVERY_{n}" for n in names} | set(Telemetry().to_environ()), part
        assert variables["DELIVERY_TABLE_NAME"] == table.physical_name
    worker = deployed.named("hookstack-delivery-worker-fn")["environment"]["variables"]
    assert worker["DELIVERY_RETRY_SCHEDULE"] == "5,300,1800,7200,18000,36000,36000"
    assert worker["DELIVERY_MAX_RECEIVES"] == "36"
    assert worker["DELIVERY_TASKS_QUEUE_URL"] == deployed.named("hookstack-delivery-tasks").state["url"]
    # Operational events: the entry bus, with <provider.eventSource>.operational as their source.
    bus = deployed.one("aws:cloudwatch/eventBus:EventBus").physical_name
    for part in ("api", "worker"):
        variables = deployed.named(f"hookstack-delivery-{part}-fn")["environment"]["variables"]
        assert variables["DELIVERY_EVENT_BUS_NAME"] == bus
        assert variables["DELIVERY_OPERATIONAL_SOURCE"] == "hookstack.operational"


def test_settings_flow_into_the_functions(program) -> None:
    deployed = program(
        config(
            delivery={
                "timeoutSeconds": 30,
                "retryScheduleSeconds": [1, 2],
                "allowedCidrs": ["127.0.0.0/8"],
                "breakerFailureThreshold": 3,
                "breakerCooldownSeconds": 2,
            }
        )
    )
    worker = deployed.named("hookstack-delivery-worker-fn")
    assert worker["environment"]["variables"]["DELIVERY_BREAKER_FAILURES"] == "3"
    assert worker["environment"]["variables"]["DELIVERY_BREAKER_COOLDOWN_SECONDS"] == "2"
    assert worker["environment"]["variables"]["DELIVERY_TIMEOUT_SECONDS"] == "30"
    assert worker["environment"]["variables"]["DELIVERY_ALLOWED_CIDRS"] == "127.0.0.0/8"
    assert worker["environment"]["variables"]["DELIVERY_MAX_RECEIVES"] == str(2 * 3 + 20)
    # An endpoint may set timeoutSeconds up to 60 through the API, without a deploy: the function covers it.
    assert worker["timeout"] == 60 + 15


def test_iam_is_scoped_to_the_table_queues_and_nothing_else(deployed: Program) -> None:
    table = deployed.one("aws:dynamodb/table:Table").arn
    tasks = deployed.named("hookstack-delivery-tasks").arn
    events = deployed.named("hookstack-delivery-events").arn
    dlq = deployed.named("hookstack-delivery-dlq").arn
    events_dlq = deployed.named("hookstack-delivery-events-dlq").arn  # the operator view reads its depth
    table_name = deployed.one("aws:dynamodb/table:Table").physical_name
    # v1a private keys and OAuth client secrets: only those named under the table's own name.
    secrets = f"arn:aws:secretsmanager:us-east-1:123456789012:secret:{table_name}/*"
    bus = deployed.one("aws:cloudwatch/eventBus:EventBus").arn  # operational events: the entry bus only

    def grants(part: str) -> dict[str, set[str]]:
        log_group = deployed.named(f"hookstack-delivery-{part}-fn-logs").arn
        known = {table, f"{table}/index/*", tasks, events, dlq, events_dlq, f"{log_group}:*", secrets, bus}
        out: dict[str, set[str]] = {}
        for statement in _statements(deployed, part):
            assert statement["Effect"] == "Allow"
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            for resource in resources:
                assert resource in known, (part, resource)  # exact ARNs only, never "*"
                out.setdefault(resource, set()).update(actions)
        return out

    api = grants("api")
    assert api[table] >= {"dynamodb:PutItem", "dynamodb:Query", "dynamodb:DeleteItem"}
    # The operator view (GET /operator/tenants) scans the table itself, never an index.
    assert api[f"{table}/index/*"] == api[table] - {"dynamodb:Scan"} and "dynamodb:Scan" in api[table]
    assert api[tasks] == {"sqs:SendMessage"}
    assert events not in api and api[dlq] == api[events_dlq] == {"sqs:GetQueueAttributes"}  # DLQ depths only
    assert api[bus] == {"events:PutEvents"}
    assert api[secrets] == {
        "secretsmanager:CreateSecret",
        "secretsmanager:PutSecretValue",
        "secretsmanager:GetSecretValue",
        "secretsmanager:DeleteSecret",
    }

    fanout = grants("fanout")
    assert fanout[table] == {"dynamodb:Query", "dynamodb:BatchGetItem", "dynamodb:PutItem"}
    assert fanout[events] == {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"}
    assert fanout[tasks] == {"sqs:SendMessage"}
    assert f"{table}/index/*" not in fanout and secrets not in fanout and bus not in fanout

    worker = grants("worker")
    assert worker[table] == {"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"}
    assert "sqs:ChangeMessageVisibility" in worker[tasks] and "sqs:SendMessage" not in worker[tasks]
    assert worker[dlq] == {"sqs:SendMessage"}
    assert events not in worker
    assert worker[secrets] == {"secretsmanager:GetSecretValue"}
    assert worker[bus] == {"events:PutEvents"}


def test_event_source_mappings_report_partial_batch_failures(deployed: Program) -> None:
    mappings = {
        r.name: r
        for r in deployed.of_type("aws:lambda/eventSourceMapping:EventSourceMapping")
        if r.name.startswith("hookstack-delivery")
    }
    pairs = {
        "hookstack-delivery-fanout-esm": ("events", "fanout-fn"),
        "hookstack-delivery-worker-esm": ("tasks", "worker-fn"),
    }
    assert set(mappings) == set(pairs)
    for name, (queue, function) in pairs.items():
        mapping = mappings[name]
        assert mapping["eventSourceArn"] == deployed.named(f"hookstack-delivery-{queue}").arn
        assert mapping["functionName"] == deployed.named(f"hookstack-delivery-{function}").arn
        assert mapping["functionResponseTypes"] == ["ReportBatchItemFailures"]
        assert 1 <= mapping["batchSize"] <= 10 and mapping["maximumBatchingWindowInSeconds"] == 0


def test_event_source_mappings_are_bounded_so_hanging_endpoints_cannot_take_the_account_pool(program) -> None:
    def bounds(deployed: Program) -> dict[str, int]:
        return {
            part: deployed.named(f"hookstack-delivery-{part}-esm")["scalingConfig"]["maximumConcurrency"]
            for part in ("fanout", "worker")
        }

    assert bounds(program(config())) == {"fanout": 5, "worker": 20}
    custom = program(config(delivery={"workerMaxConcurrency": 1000, "fanoutMaxConcurrency": "2"}))
    assert bounds(custom) == {"fanout": 2, "worker": 1000}  # AWS accepts 2-1000


def test_http_api_routes_are_iam_authorized_and_proxy_to_the_api_function(deployed: Program) -> None:
    api = deployed.named("hookstack-delivery-http")
    assert api["protocolType"] == "HTTP"

    def on_this_api(resource: Any) -> bool:
        return bool(resource["apiId"] == f"{api.physical_name}-id")

    integration = deployed.one("aws:apigatewayv2/integration:Integration", on_this_api)
    function = deployed.named("hookstack-delivery-api-fn")
    assert integration["integrationType"] == "AWS_PROXY" and integration["integrationMethod"] == "POST"
    assert integration["payloadFormatVersion"] == "2.0"
    assert integration["integrationUri"] == function.state["invokeArn"]
    assert (
        integration["timeoutMilliseconds"] <= 30_000 and function["timeout"] * 1000 < integration["timeoutMilliseconds"]
    )
    declared = {r["routeKey"]: r for r in deployed.of_type("aws:apigatewayv2/route:Route") if on_this_api(r)}
    assert set(declared) == {route.key for route in routes.ROUTES}
    for route in routes.ROUTES:
        assert declared[route.key]["authorizationType"] == ("NONE" if route.public else "AWS_IAM")
        assert declared[route.key]["target"].startswith("integrations/")
    stage = deployed.one("aws:apigatewayv2/stage:Stage", on_this_api)
    assert stage["name"] == "$default" and stage["autoDeploy"] is True
    assert stage["defaultRouteSettings"]["throttlingRateLimit"] > 0
    _check_test_event_throttle(stage)
    assert json.loads(stage["accessLogSettings"]["format"])["caller"] == "$context.identity.userArn"
    assert stage["accessLogSettings"]["destinationArn"].startswith("arn:aws:logs:")
    permission = deployed.named("hookstack-delivery-api-permission")
    assert permission["principal"] == "apigateway.amazonaws.com" and permission["action"] == "lambda:InvokeFunction"
    assert permission["sourceArn"] == api.state["executionArn"] + "/*/*"
    assert deployed.outputs["subscriptionsApiUrl"] == api.state["apiEndpoint"]


def test_alarms_watch_dead_letters_backlog_rule_failures_api_and_functions(deployed: Program) -> None:
    alarms = {
        r.name: r
        for r in deployed.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
        if r.name.startswith("hookstack-delivery")
    }
    assert alarms["hookstack-delivery-dlq-alarm"]["dimensions"] == {
        "QueueName": deployed.named("hookstack-delivery-dlq").physical_name
    }
    assert alarms["hookstack-delivery-events-dlq-alarm"]["dimensions"] == {
        "QueueName": deployed.named("hookstack-delivery-events-dlq").physical_name
    }
    assert alarms["hookstack-delivery-events-age"]["metricName"] == "ApproximateAgeOfOldestMessage"
    rule = _in(deployed, "aws:cloudwatch/eventRule:EventRule", "hookstack-delivery")
    for name in ("hookstack-delivery-rule-failed", "hookstack-delivery-rule-dlq-failed"):
        assert alarms[name]["dimensions"]["RuleName"] == rule.physical_name
    assert alarms["hookstack-delivery-api-5xx"]["metricName"] == "5xx"
    for part in ("api", "fanout", "worker"):
        assert alarms[f"hookstack-delivery-{part}-fn-errors"]["dimensions"] == {
            "FunctionName": deployed.named(f"hookstack-delivery-{part}-fn").physical_name
        }


def test_config_destination_is_written_as_endpoint_and_secret_items(deployed: Program) -> None:
    table = deployed.one("aws:dynamodb/table:Table")
    endpoint = deployed.named("hookstack-delivery-1-audit-endpoint")
    assert endpoint["tableName"] == table.physical_name and (endpoint["hashKey"], endpoint["rangeKey"]) == ("pk", "sk")
    assert json.loads(endpoint["item"]) == store.config_endpoint_item(
        "1", "audit", "https://audit.example.com/hooks", ["widget.created"], True
    )
    secret_item = deployed.named("hookstack-delivery-1-audit-secret")
    assert is_secret(secret_item["item"])
    key = deployed.one("random:index/randomBytes:RandomBytes")
    assert key["length"] == 32
    generated = deployed.outputs["signedDestinationSecrets"]["1"]["audit"]
    assert "signedDestinationSecrets" in deployed.secret_outputs
    assert json.loads(secret_item.plain("item"))["current"] == {"S": generated}
    assert generated.startswith("whsec_") and len(base64.b64decode(generated.removeprefix("whsec_"))) == 32
    assert not any(contains_text(r.inputs, generated) for r in deployed.resources)


def test_a_configured_secret_and_previous_secret_stay_secret_and_are_not_exported(program) -> None:
    destination = {**SIGNED, "auth": {"type": "signed", "secret": GIVEN_SECRET, "previousSecret": OLD_SECRET}}
    deployed = program(config(destination), secret_keys=["tenants"])

    item = deployed.named("hookstack-delivery-1-audit-secret")
    assert is_secret(item["item"])
    assert json.loads(item.plain("item")) == store.config_secret_item("1", "audit", GIVEN_SECRET, OLD_SECRET)
    assert deployed.of_type("random:index/randomBytes:RandomBytes") == []
    assert "signedDestinationSecrets" not in deployed.outputs
    for text in (GIVEN_SECRET, OLD_SECRET):
        assert not any(contains_text(r.inputs, text) for r in deployed.resources)
        assert text not in json.dumps(deployed.outputs)


def test_the_pipeline_exists_without_any_config_destination(program) -> None:
    deployed = program({"tenants": [{"id": "1"}]})
    assert deployed.one("aws:dynamodb/table:Table")
    assert deployed.of_type("aws:dynamodb/tableItem:TableItem") == []
    assert "subscriptionsApiUrl" in deployed.outputs and "signedDestinationSecrets" not in deployed.outputs


def test_delivery_can_be_turned_off(program) -> None:
    deployed = program({"tenants": [{"id": "1"}], "delivery": {"enabled": False}})
    assert deployed.of_type("hookstack:index:SignedDelivery") == []
    assert "subscriptionsApiUrl" not in deployed.outputs


def test_signed_destinations_without_delivery_are_a_config_error(program) -> None:
    import pulumi

    with pytest.raises(pulumi.RunError, match=r"auth.type: is signed, but hookstack:delivery.enabled is false"):
        program(config(delivery={"enabled": False}))


@pytest.mark.parametrize(
    "url",
    ["https://169.254.169.254/latest/meta-data", "https://[::ffff:0:a9fe:a9fe]/latest", "https://[3fff::1]/hooks"],
)
def test_a_signed_destination_pointing_inside_the_network_is_a_config_error_before_any_resource(
    program, monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    import pulumi

    declared: list[str] = []
    original = harness._computed

    def recording(typ: str, logical: str, inputs: Any) -> dict[str, Any]:
        declared.append(logical)
        return original(typ, logical, inputs)

    monkeypatch.setattr(harness, "_computed", recording)
    raw = config({**SIGNED, "url": url}, delivery={"timeoutSeconds": 0})
    with pytest.raises(pulumi.RunError) as caught:
        program(raw)
    # Reported with the key path, together with every other problem, before anything is declared.
    assert "hookstack:tenants[0].destinations[0].url: host " in str(caught.value)
    assert "hookstack:delivery.timeoutSeconds:" in str(caught.value)
    assert declared == []


def test_allowed_cidrs_exempt_a_signed_destination_at_deploy(program) -> None:
    deployed = program(config({**SIGNED, "url": "https://10.1.2.3/hooks"}, delivery={"allowedCidrs": ["10.0.0.0/8"]}))
    assert (
        json.loads(deployed.named("hookstack-delivery-1-audit-endpoint")["item"])["url"]["S"]
        == "https://10.1.2.3/hooks"
    )


def test_children_are_named_after_the_component_within_aws_limits(deployed: Program) -> None:
    component = deployed.one("hookstack:index:SignedDelivery")
    children = [r for r in deployed.resources if r.name.startswith("hookstack-delivery-")]
    assert component.name == "hookstack-delivery" and len(children) > 40
    for resource in deployed.of_type("aws:iam/role:Role"):
        assert len(resource.physical_name) <= 64


# -- config: previousSecret for signed destinations (components/config.py) ----------------------


def _parse(auth: dict[str, Any]) -> Any:
    return parse_stack_config({"tenants": [{"id": "1", "destinations": [{**SIGNED, "auth": auth}]}]})


def test_signed_auth_accepts_a_previous_secret_for_rotation() -> None:
    auth = (
        _parse({"type": "signed", "secret": GIVEN_SECRET, "previousSecret": OLD_SECRET})
        .tenants[0]
        .destinations[0]
        .signing
    )
    assert auth.secret.reveal() == GIVEN_SECRET and auth.previous_secret.reveal() == OLD_SECRET
    assert OLD_SECRET not in repr(auth)


@pytest.mark.parametrize(
    ("auth", "message"),
    [
        (
            {"type": "signed", "previousSecret": OLD_SECRET},
            "hookstack:tenants[0].destinations[0].auth.previousSecret: needs secret",
        ),
        (
            {"type": "signed", "secret": GIVEN_SECRET, "previousSecret": "nope"},
            "hookstack:tenants[0].destinations[0].auth.previousSecret: must be 'whsec_'",
        ),
        (
            {"type": "signed", "secret": GIVEN_SECRET, "previous": OLD_SECRET},
            "hookstack:tenants[0].destinations[0].auth.previous: unknown key",
        ),
    ],
)
def test_bad_previous_secret_is_named(auth: dict[str, Any], message: str) -> None:
    with pytest.raises(StackConfigError) as caught:
        _parse(auth)
    assert any(str(p).startswith(message) for p in caught.value.problems), caught.value.problems
    assert OLD_SECRET not in str(caught.value)


# -- the spec (components/specs/delivery.py) and the runtime contract ---------------------------


def test_an_empty_retry_schedule_reaches_the_worker_as_no_retry_not_the_default(program) -> None:
    deployed = program(config(delivery={"retryScheduleSeconds": []}))
    variables = deployed.named("hookstack-delivery-worker-fn")["environment"]["variables"]
    assert variables["DELIVERY_RETRY_SCHEDULE"] == "none" and variables["DELIVERY_MAX_RECEIVES"] == str(2 * 1 + 20)
    assert WorkerSettings.from_environ(variables).retry_schedule == ()


def test_every_function_environment_reads_back_as_the_settings_the_spec_built(deployed: Program) -> None:
    spec = delivery_spec(DeliverySettings())
    table = deployed.one("aws:dynamodb/table:Table").physical_name
    tasks, dlq = (deployed.named(f"hookstack-delivery-{q}").state["url"] for q in ("tasks", "dlq"))
    issuer = deployed.named("hookstack-delivery-self-service-http").state["apiEndpoint"]
    events_dlq = deployed.named("hookstack-delivery-events-dlq").state["url"]
    bus = deployed.one("aws:cloudwatch/eventBus:EventBus").physical_name
    contracts = {
        "api": spec.api_settings(
            table_name=table,
            tasks_queue_url=tasks,
            token_issuer=issuer,
            dead_letter_queue_urls=(dlq, events_dlq),
            event_bus_name=bus,
        ),
        "fanout": spec.fanout_settings(table_name=table, tasks_queue_url=tasks),
        "worker": spec.worker_settings(
            table_name=table, tasks_queue_url=tasks, dead_letter_queue_url=dlq, event_bus_name=bus
        ),
    }
    for part, settings in contracts.items():
        variables = deployed.named(f"hookstack-delivery-{part}-fn")["environment"]["variables"]
        assert variables == {**settings.to_environ(), **Telemetry(stack="dev").to_environ()}, part
        assert type(settings).from_environ(variables) == settings, part


def test_the_spec_derives_timeouts_visibility_and_receive_limits_once() -> None:
    spec = delivery_spec(DeliverySettings(timeout_seconds=20, retry_schedule_seconds=(5, 60)))
    # An endpoint's own timeoutSeconds may be up to 60 s: the function covers that, not just the default.
    assert spec.worker_timeout_seconds == MAX_TIMEOUT_SECONDS + specs.WORKER_OVERHEAD_SECONDS == 75
    # Each of the 3 attempts may also wait once for its rate-limit slot.
    assert spec.max_receives == 2 * 3 + specs.RECEIVE_SLACK == spec.tasks_queue.max_receive_count
    assert spec.tasks_queue.visibility_timeout_seconds == 6 * spec.worker_timeout_seconds
    assert spec.events_queue.visibility_timeout_seconds == 6 * spec.fanout_timeout_seconds
    assert spec.api_timeout_seconds * 1000 < spec.api_integration_timeout_ms <= 30_000
    assert spec.tasks_queue.attributes() == {"MessageRetentionPeriod": "1209600", "VisibilityTimeout": str(6 * 75)}
    assert spec.worker_settings(table_name="t", tasks_queue_url="q", dead_letter_queue_url="d").timeout_seconds == 20
    # SQS takes a maxReceiveCount of at most 1000, and so does the worker's contract.
    assert delivery_spec(DeliverySettings(retry_schedule_seconds=(1,) * 2000)).max_receives == 1000


def test_the_sandbox_writes_each_function_s_contract_plus_only_its_own_knobs() -> None:
    from sandbox.delivery import ENDPOINT_CACHE_SECONDS, environment

    spec = delivery_spec(DeliverySettings(allowed_cidrs=("127.0.0.0/8", "::1/128")))
    names = {"table_name": "t", "tasks_queue_url": "http://127.0.0.1:1/q/tasks"}
    variables = environment(spec, **names, dead_letter_queue_url="http://127.0.0.1:1/q/dlq", time_scale=0.001)

    assert ApiSettings.from_environ(variables) == spec.api_settings(**names)
    fanout = FanoutSettings.from_environ(variables)
    assert fanout == replace(spec.fanout_settings(**names), endpoint_cache_seconds=ENDPOINT_CACHE_SECONDS)
    worker = WorkerSettings.from_environ(variables)
    assert worker.time_scale == 0.001 and replace(worker, time_scale=1.0) == spec.worker_settings(
        **names, dead_letter_queue_url="http://127.0.0.1:1/q/dlq"
    )
    written = set(spec.api_settings(**names).to_environ()) | set(worker.to_environ()) | set(fanout.to_environ())
    assert set(variables) == written


def test_the_sandbox_side_imports_no_pulumi() -> None:
    # `python -m sandbox up` must work with pulumi uninstalled: the sandbox, the spec and the handlers it loads.
    code = (
        "import sys\n"
        "import sandbox.delivery, components.specs.delivery\n"
        "import functions.delivery.api, functions.delivery.fanout, functions.delivery.worker\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pulumi', 'pulumi_aws', 'pulumi_random')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT, timeout=60
    )
    assert result.stdout.strip() == "[]", result.stdout[:500]


# -- the self-service API (tenant tokens: docs/tokens.md) ----------------------------------------------------

SELF_SERVICE_ROUTE = "aws:apigatewayv2/route:Route"


def _self_service(deployed: Program) -> Any:
    return deployed.named("hookstack-delivery-self-service-http")


def _on(api: Any) -> Any:
    return lambda resource: resource["apiId"] == f"{api.physical_name}-id"


def _check_authorizer(deployed: Program) -> None:
    api = _self_service(deployed)
    assert api["protocolType"] == "HTTP"
    authorizer = deployed.one("aws:apigatewayv2/authorizer:Authorizer")
    assert authorizer["apiId"] == f"{api.physical_name}-id"
    assert authorizer["authorizerType"] == "JWT"
    assert authorizer["identitySources"] == ["$request.header.Authorization"]
    assert authorizer["jwtConfiguration"]["issuer"] == api.state["apiEndpoint"]
    assert authorizer["jwtConfiguration"]["audiences"] == [tokens.AUDIENCE]
    # The function signs with the same issuer, and the URL is exported.
    variables = deployed.named("hookstack-delivery-api-fn")["environment"]["variables"]
    assert variables["DELIVERY_TOKEN_ISSUER"] == api.state["apiEndpoint"]
    assert deployed.outputs["selfServiceApiUrl"] == api.state["apiEndpoint"]
    assert deployed.outputs["selfServiceApiUrl"] != deployed.outputs["subscriptionsApiUrl"]


def _check_token_routes(deployed: Program) -> None:
    api = _self_service(deployed)
    authorizer = deployed.one("aws:apigatewayv2/authorizer:Authorizer")
    integration = deployed.one("aws:apigatewayv2/integration:Integration", _on(api))
    assert integration["integrationUri"] == deployed.named("hookstack-delivery-api-fn").state["invokeArn"]
    declared = {r["routeKey"]: r for r in deployed.of_type(SELF_SERVICE_ROUTE) if _on(api)(r)}
    expected = {route.key for route in routes.ROUTES if route.scope is not None or route.public}
    assert set(declared) == expected
    assert "POST /operator/tokens" not in declared  # only IAM mints operator tokens
    for route in routes.ROUTES:
        if route.key not in declared:
            continue
        found = declared[route.key]
        assert found["target"].startswith("integrations/hookstack-delivery-self-service-integration-")
        if route.public:
            assert found["authorizationType"] == "NONE"
            assert "authorizationScopes" not in found.inputs or not found["authorizationScopes"]
        else:
            assert found["authorizationType"] == "JWT"
            assert found["authorizerId"] == f"{authorizer.physical_name}-id"
            scopes = routes.TENANT_SCOPES if route.scope == routes.ANY_SCOPE else (route.scope,)
            assert found["authorizationScopes"] == sorted({*scopes, routes.OPERATOR_SCOPE})
    # The mint route takes operator tokens only; tenant routes their own scope.
    # Any token reads the event-type catalog; the OpenAPI document needs none.
    assert declared["GET /event-types"]["authorizationScopes"] == sorted({*routes.TENANT_SCOPES, "operator"})
    assert declared["GET /openapi.json"]["authorizationType"] == "NONE"
    assert declared["POST /tenants/{tenantId}/tokens"]["authorizationScopes"] == ["operator"]
    assert declared["GET /tenants/{tenantId}/endpoints"]["authorizationScopes"] == ["endpoints:read", "operator"]
    assert declared["POST /tenants/{tenantId}/messages/{eventId}/resend"]["authorizationScopes"] == [
        "messages:replay",
        "operator",
    ]


def _check_test_event_throttle(stage: Any) -> None:
    """A test event holds the API function up to TEST_WAIT_SECONDS: its route's own throttle bounds the
    invocations it can keep running (the stage's 50/s would allow about 1,000, the account's default)."""
    from functions.delivery.api.event_types import TEST_WAIT_SECONDS

    (setting,) = stage["routeSettings"]
    assert setting["routeKey"] == "POST /tenants/{tenantId}/endpoints/{endpointId}/test"
    rate, burst = setting["throttlingRateLimit"], setting["throttlingBurstLimit"]
    assert (rate, burst) == (routes.TEST_EVENT_RATE_PER_SECOND, routes.TEST_EVENT_BURST)
    assert rate < stage["defaultRouteSettings"]["throttlingRateLimit"]
    assert rate * TEST_WAIT_SECONDS + burst <= 50


def _check_stage_and_permission(deployed: Program) -> None:
    api = _self_service(deployed)
    stage = deployed.one("aws:apigatewayv2/stage:Stage", _on(api))
    assert stage["name"] == "$default" and stage["autoDeploy"] is True
    assert stage["defaultRouteSettings"]["throttlingRateLimit"] > 0
    _check_test_event_throttle(stage)
    log_format = json.loads(stage["accessLogSettings"]["format"])
    assert log_format["subject"] == "$context.authorizer.claims.sub"
    assert log_format["authorizerError"] == "$context.authorizer.error"
    permission = deployed.named("hookstack-delivery-self-service-permission")
    assert permission["principal"] == "apigateway.amazonaws.com"
    assert permission["sourceArn"] == api.state["executionArn"] + "/*/*"
    # The dev stack has the portal (on by default with delivery): CORS for its CloudFront origin only.
    portal = deployed.one("aws:cloudfront/distribution:Distribution")
    assert api["corsConfiguration"]["allowOrigins"] == [f"https://{portal.state['domainName']}"]


def _check_key_secret_access(deployed: Program) -> None:
    table = deployed.one("aws:dynamodb/table:Table")
    secret_arn = (
        f"arn:aws:secretsmanager:us-east-1:123456789012:secret:{token_keys.secret_name(table.physical_name)}-AbCdEf"
    )

    def allowed(part: str) -> set[str]:
        policy = deployed.one("aws:iam/rolePolicy:RolePolicy", lambda r: f"delivery-{part}-fn-policy" in r.name)
        actions: set[str] = set()
        for statement in policy.json("policy")["Statement"]:
            resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            if any(fnmatch.fnmatchcase(secret_arn, pattern) for pattern in resources):
                actions.update(statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]])
        return actions

    assert {"secretsmanager:CreateSecret", "secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue"} <= allowed(
        "api"
    )
    assert allowed("fanout") == set()


def test_the_self_service_api_authorizes_tokens_per_route_scope_with_the_api_as_issuer(deployed: Program) -> None:
    # One program evaluation for every check (each costs seconds).
    _check_authorizer(deployed)
    _check_token_routes(deployed)
    _check_stage_and_permission(deployed)
    _check_key_secret_access(deployed)


def test_cors_allows_the_portal_origins_the_bearer_header_and_the_token_routes_methods(tmp_path: Path) -> None:
    from sandbox import preview

    program = tmp_path / "program.py"
    program.write_text(
        "import pulumi\n"
        "from components.delivery_self_service import self_service_http_api\n"
        "parent = pulumi.ComponentResource('test:index:Parent', 'parent')\n"
        "self_service_http_api('portal-test', parent, ['https://portal.example.com'])\n"
    )
    deployed = preview.run_program({}, program=program)
    cors = deployed.named("portal-test-self-service-http")["corsConfiguration"]
    assert cors["allowOrigins"] == ["https://portal.example.com"]
    assert cors["allowHeaders"] == ["authorization", "content-type"]
    assert cors["allowMethods"] == sorted({r.method for r in routes.ROUTES if r.scope is not None or r.public})
    assert {"GET", "POST", "PATCH", "DELETE"} <= set(cors["allowMethods"])
    assert cors.get("allowCredentials") in (None, False)  # bearer tokens, no cookies
