"""What IAM needs besides the functions' own calls, checked on everything the program declares.

The sandbox has moto evaluate each function's calls against its role (``sandbox/iam.py``), but not
resource-based policies, service principals or the roles AWS services act with. These tests hold
those, over the whole dev stack (sharded, so that rules forward to shard buses too), generically: a
resource added later is checked without a new test.

- every queue a rule sends to (target or dead-letter queue) lets exactly that rule send;
- every API destination or bus a rule targets is allowed by the target's role;
- every event source mapping's function may consume its queue; the Pipe may read its source, invoke
  its enrichment and reach its target; the Scheduler's role may run its target and dead-letter;
  a function's on-failure queue is writable by its role; the cluster's role may invoke the relay;
- every function invoked by a service has a permission for it (the API's integration, the URL);
- every alarm's topic lets CloudWatch publish for it;
- and each function role's policy is the text its spec renders from the resources' ARNs (the
  sandbox's roles are rendered by the same spec methods).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

import pytest

from components.config import parse_stack_config
from components.policy_documents import function_role_statements, policy_document
from components.specs.aurora import AuroraSpec
from components.specs.consumer import consumer_spec, payload_objects_arn
from components.specs.delivery import delivery_spec, endpoint_secrets_arn, table_indexes_arn
from tests.harness import ACCOUNT, REGION, Declared, Program, reveal, run_program

ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
QUEUE = "aws:sqs/queue:Queue"
FUNCTION = "aws:lambda/function:Function"


@pytest.fixture(scope="module")
def config(dev_stack: tuple[dict[str, Any], list[str]]) -> tuple[dict[str, Any], list[str]]:
    values, secret_keys = dev_stack
    return {**values, "hookstack:provider": {**values["hookstack:provider"], "shards": 2}}, secret_keys


@pytest.fixture(scope="module")
def declared(config: tuple[dict[str, Any], list[str]]) -> Program:
    values, secret_keys = config
    return run_program(values, secret_keys=secret_keys)


# -- a small evaluator for the documents (what the checks below ask of them) -----------------------


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _matches(patterns: Any, value: str) -> bool:
    return any(re.fullmatch(re.escape(p).replace(r"\*", ".*").replace(r"\?", "."), value) for p in _listed(patterns))


def _condition_holds(condition: Mapping[str, Any], context: Mapping[str, str]) -> bool:
    for operator, keys in condition.items():
        for key, expected in keys.items():
            actual = context.get(key)
            if operator == "Bool" and key == "aws:SecureTransport":
                if str(expected).lower() != "true" and actual is None:  # requests here are made over TLS
                    return False
                continue
            if actual is None:
                return False
            # IAM: ArnEquals takes wildcards exactly as ArnLike does (each ARN part may hold * and ?).
            if operator in {"ArnLike", "ArnEquals", "StringLike"} and not _matches(expected, actual):
                return False
            if operator == "StringEquals" and actual not in _listed(expected):
                return False
    return True


def allows(
    document: str | Mapping[str, Any],
    action: str,
    resource: str,
    *,
    principal: str | None = None,
    context: Mapping[str, str] | None = None,
) -> bool:
    """Whether ``document`` allows ``action`` on ``resource`` (for a service ``principal`` in a
    resource policy), no Deny applying; ``context`` holds condition keys (``aws:SourceArn``)."""
    policy = json.loads(document) if isinstance(document, str) else document
    keys = {"aws:SourceAccount": ACCOUNT, **(context or {})}
    allowed = False
    for statement in _listed(policy["Statement"]):
        if not _matches(statement["Action"], action) or not _matches(statement.get("Resource", "*"), resource):
            continue
        if principal is not None:
            who = statement.get("Principal")
            if who != "*" and principal not in _listed((who or {}).get("Service", [])):
                continue
        if not _condition_holds(statement.get("Condition", {}), keys):
            continue
        if statement["Effect"] == "Deny":
            return False
        allowed = True
    return allowed


# -- finding things in what was declared ---------------------------------------------------------------


def _by_arn(program: Program, arn: str) -> Declared:
    (found,) = [r for r in program.resources if r.arn == arn]
    return found


def role_policy(program: Program, role_arn: str) -> str:
    """The inline policy of the role with ``role_arn`` (one RolePolicy per role)."""
    role = _by_arn(program, role_arn)
    references = {role.physical_name, f"{role.physical_name}-id", role.arn}
    (policy,) = [p for p in program.of_type(ROLE_POLICY) if p.plain("role") in references]
    return str(policy.plain("policy"))


def function_role_policy(program: Program, function_arn_or_name: str) -> str:
    (function,) = [f for f in program.of_type(FUNCTION) if function_arn_or_name in {f.arn, f.physical_name}]
    return role_policy(program, function.plain("role"))


def queue_policy(program: Program, queue_arn: str) -> str:
    queue = _by_arn(program, queue_arn)
    (policy,) = [
        p for p in program.of_type("aws:sqs/queuePolicy:QueuePolicy") if p.plain("queueUrl") == queue.state["url"]
    ]
    return str(policy.plain("policy"))


def targets(program: Program) -> Iterable[tuple[Declared, dict[str, Any], str]]:
    """Each rule target with its inputs and the ARN of its rule."""
    rules = {
        (r.physical_name, r.plain("eventBusName") or "default"): r.arn
        for r in program.of_type("aws:cloudwatch/eventRule:EventRule")
    }
    for target in program.of_type("aws:cloudwatch/eventTarget:EventTarget"):
        inputs = reveal(target.inputs)
        yield target, inputs, rules[(inputs["rule"], inputs.get("eventBusName") or "default")]


# -- the checks ---------------------------------------------------------------------------------------------


def test_every_queue_a_rule_sends_to_lets_that_rule_and_no_other_send(declared: Program) -> None:
    checked = 0
    other_rule = f"arn:aws:events:{REGION}:{ACCOUNT}:rule/someone-else/theirs"
    for target, inputs, rule_arn in targets(declared):
        queues = [inputs["arn"]] if inputs["arn"].startswith("arn:aws:sqs:") else []
        queues += [inputs["deadLetterConfig"]["arn"]] if inputs.get("deadLetterConfig") else []
        for queue in queues:
            document = queue_policy(declared, queue)
            events = "events.amazonaws.com"
            assert allows(document, "sqs:SendMessage", queue, principal=events, context={"aws:SourceArn": rule_arn}), (
                f"{target.name}: {queue} does not let {rule_arn} send"
            )
            assert not allows(
                document, "sqs:SendMessage", queue, principal=events, context={"aws:SourceArn": other_rule}
            )
            checked += 1
    assert checked >= 6  # the delivery rule's queue and DLQ, every destination's DLQ


def test_every_api_destination_and_bus_a_rule_targets_is_allowed_by_the_targets_role(declared: Program) -> None:
    reached = {"api-destination": 0, "event-bus": 0}
    for target, inputs, _rule in targets(declared):
        kind = inputs["arn"].split(":")[5].split("/")[0]
        if kind not in reached:
            continue
        action = "events:InvokeApiDestination" if kind == "api-destination" else "events:PutEvents"
        assert allows(role_policy(declared, inputs["roleArn"]), action, inputs["arn"]), target.name
        reached[kind] += 1
    assert reached["api-destination"] == len(declared.of_type("aws:cloudwatch/eventApiDestination:EventApiDestination"))
    assert reached["event-bus"] >= 1, "the sharded stack forwards to its shard buses"


def test_every_event_source_mapping_function_may_consume_its_queue(declared: Program) -> None:
    mappings = declared.of_type("aws:lambda/eventSourceMapping:EventSourceMapping")
    assert mappings
    for mapping in mappings:
        document, queue = function_role_policy(declared, mapping.plain("functionName")), mapping.plain("eventSourceArn")
        for action in ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"):
            assert allows(document, action, queue), f"{mapping.name}: {action}"


def test_the_pipe_role_reads_its_queue_invokes_its_enrichment_and_reaches_its_target(declared: Program) -> None:
    (pipe,) = declared.of_type("aws:pipes/pipe:Pipe")
    document = role_policy(declared, pipe.plain("roleArn"))
    for action in ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"):
        assert allows(document, action, pipe.plain("source"))
    assert allows(document, "lambda:InvokeFunction", pipe.plain("enrichment"))
    assert allows(document, "events:PutEvents", pipe.plain("target"))
    assert not allows(document, "sqs:ReceiveMessage", f"arn:aws:sqs:{REGION}:{ACCOUNT}:another-queue")


def test_services_invoking_functions_with_roles_may_do_exactly_that(declared: Program) -> None:
    (schedule,) = declared.of_type("aws:scheduler/schedule:Schedule")
    target = schedule.plain("target")
    scheduler = role_policy(declared, target["roleArn"])
    assert allows(scheduler, "lambda:InvokeFunction", target["arn"])
    assert allows(scheduler, "sqs:SendMessage", target["deadLetterConfig"]["arn"])
    for config in declared.of_type("aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig"):
        destination = config.plain("destinationConfig")["onFailure"]["destination"]
        assert allows(function_role_policy(declared, config.plain("functionName")), "sqs:SendMessage", destination)
    (association,) = declared.of_type("aws:rds/clusterRoleAssociation:ClusterRoleAssociation")
    (relay,) = [f for f in declared.of_type(FUNCTION) if f.plain("handler") == "functions.relay.handler"]
    invoker = role_policy(declared, association.plain("roleArn"))
    assert allows(invoker, "lambda:InvokeFunction", relay.arn)
    assert [f.name for f in declared.of_type(FUNCTION) if allows(invoker, "lambda:InvokeFunction", f.arn)] == [
        relay.name
    ]


def test_every_function_invoked_by_a_service_without_a_role_has_a_permission(declared: Program) -> None:
    permissions = [reveal(p.inputs) for p in declared.of_type("aws:lambda/permission:Permission")]
    apis = {f"{api.physical_name}-id": api for api in declared.of_type("aws:apigatewayv2/api:Api")}
    for integration in declared.of_type("aws:apigatewayv2/integration:Integration"):
        api = apis[integration["apiId"]]  # each API needs its own permission (the self-service API too)
        function_arn = integration.plain("integrationUri").split("/functions/")[1].removesuffix("/invocations")
        function = _by_arn(declared, function_arn)
        # What API Gateway invokes as: <execution ARN>/<stage>/<method>/<path> (any route of this API).
        execution = f"{api.state['executionArn']}/$default/POST/tenants/1/endpoints"
        granted = [
            p
            for p in permissions
            if p["function"] in {function.physical_name, function.arn}
            and p["action"] == "lambda:InvokeFunction"
            and p["principal"] == "apigateway.amazonaws.com"
        ]
        assert any(_matches(p["sourceArn"], execution) for p in granted), (
            f"nothing lets this API invoke {function.name}"
        )
        assert not any(
            _matches(p["sourceArn"], "arn:aws:execute-api:us-east-1:123456789012:other/$default/GET/x") for p in granted
        )
    for url in declared.of_type("aws:lambda/functionUrl:FunctionUrl"):
        name = url.plain("functionName")
        actions = {p["action"] for p in permissions if p["function"] == name and p["principal"] == "*"}
        assert actions == {"lambda:InvokeFunctionUrl", "lambda:InvokeFunction"}, f"{name}: {actions}"


def test_every_alarms_topic_lets_cloudwatch_publish_for_it(declared: Program) -> None:
    topic_policies = {p.plain("arn"): p.plain("policy") for p in declared.of_type("aws:sns/topicPolicy:TopicPolicy")}
    alarms = declared.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
    assert alarms
    for alarm in alarms:
        alarm_arn = f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{alarm.physical_name}"
        for topic in alarm.plain("alarmActions") or []:
            assert allows(
                topic_policies[topic],
                "sns:Publish",
                topic,
                principal="cloudwatch.amazonaws.com",
                context={"aws:SourceArn": alarm_arn},
            ), alarm.name


def test_each_function_role_holds_the_document_its_spec_renders(
    declared: Program, config: tuple[dict[str, Any], list[str]]
) -> None:
    values, _ = config
    settings = parse_stack_config(
        {k.removeprefix("hookstack:"): v for k, v in values.items() if k.startswith("hookstack:")}
    )
    arn = {r.name: r.arn for r in declared.resources if r.arn}
    queue = {q.name: q.arn for q in declared.of_type(QUEUE)}

    def log_streams(function: str) -> str:
        return arn[f"{function}-logs"].removesuffix(":*") + ":*"

    delivery = delivery_spec(settings.delivery)
    table = arn["hookstack-delivery-table"]
    (entry_bus,) = [
        b.arn for b in declared.of_type("aws:cloudwatch/eventBus:EventBus") if "-shard-" not in b.physical_name
    ]
    consumer = consumer_spec(settings.consumer, event_source=settings.provider.event_source)
    bucket = arn["hookstack-inbound-payloads"]
    aurora = AuroraSpec.from_config(settings.aurora, provider_event_source=settings.provider.event_source)
    expected = {
        "hookstack-delivery-api-fn": delivery.api_statements(
            table_arn=table,
            indexes_arn=table_indexes_arn(table),
            tasks_queue_arn=queue["hookstack-delivery-tasks"],
            endpoint_secrets_arn=endpoint_secrets_arn(table),
            bus_arn=entry_bus,
            dead_letter_queue_arns=[queue["hookstack-delivery-dlq"], queue["hookstack-delivery-events-dlq"]],
        ),
        "hookstack-delivery-fanout-fn": delivery.fanout_statements(
            table_arn=table,
            events_queue_arn=queue["hookstack-delivery-events"],
            tasks_queue_arn=queue["hookstack-delivery-tasks"],
        ),
        "hookstack-delivery-worker-fn": delivery.worker_statements(
            table_arn=table,
            indexes_arn=table_indexes_arn(table),
            tasks_queue_arn=queue["hookstack-delivery-tasks"],
            dead_letter_queue_arn=queue["hookstack-delivery-dlq"],
            endpoint_secrets_arn=endpoint_secrets_arn(table),
            bus_arn=entry_bus,
        ),
        "hookstack-inbound-ingest": consumer.ingest_statements(
            secret_arns=[arn[consumer.secret_name(s.name)] for s in settings.consumer.sources],
            table_arn=arn["hookstack-inbound-ledger"],
            payloads_arn=payload_objects_arn(bucket),
            bucket_arn=bucket,
            queue_arn=queue["hookstack-inbound-queue"],
        ),
        "hookstack-inbound-enrich": consumer.enrich_statements(
            payloads_arn=payload_objects_arn(bucket), bucket_arn=bucket
        ),
    }
    for function, statements in expected.items():
        document = policy_document(function_role_statements(log_streams(function), statements))
        assert function_role_policy(declared, arn[function]) == document, function
    (pipe,) = declared.of_type("aws:pipes/pipe:Pipe")
    pipe_statements = consumer.pipe_statements(
        queue_arn=pipe.plain("source"),
        enrichment_arn=pipe.plain("enrichment"),
        log_streams_arn=log_streams("hookstack-inbound-pipe"),
        target_arn=pipe.plain("target"),
    )
    assert role_policy(declared, pipe.plain("roleArn")) == policy_document(pipe_statements)
    relay_document = json.loads(function_role_policy(declared, arn["hookstack-aurora-relay"]))
    secret_arn = relay_document["Statement"][2]["Resource"]  # the master secret Aurora manages: the mocks' answer
    (bus,) = [b.arn for b in declared.of_type("aws:cloudwatch/eventBus:EventBus") if "-shard-" not in b.physical_name]
    for part in ("relay", "sweeper"):
        statements = aurora.publisher_statements(
            cluster_arn=arn["hookstack-aurora-cluster"],
            secret_arn=secret_arn,
            bus_arn=bus,
            dead_letter_queue_arn=queue[f"hookstack-aurora-{part}-dlq"],
        )
        document = policy_document(function_role_statements(log_streams(f"hookstack-aurora-{part}"), statements))
        assert function_role_policy(declared, arn[f"hookstack-aurora-{part}"]) == document, part
