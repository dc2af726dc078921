"""WebhookConsumer under Pulumi mocks: resources, IAM scoped to ARNs, the public URL, the Pipe wiring."""

from __future__ import annotations

import json
import re
from typing import Any

import pulumi
import pytest

from benchmarks.ingest_cold_start import PADDLE
from components.config import Secret, Source, StackConfigError, parse_stack_config
from components.consumer import WebhookConsumerArgs, validate_args
from components.entry_bus import BusRef
from components.packaging import build_package
from components.specs.consumer import (
    CONSUMER_NAME,
    GITHUB_TIMEOUT_SECONDS,
    MAX_ENVIRONMENT_BYTES,
    MAX_SQS_RETENTION_SECONDS,
    consumer_spec,
    environment_estimate,
    retention_split,
    visibility_timeout,
)
from functions.inbound import target
from functions.inbound.ledger import FIFO_DEDUPLICATION_SECONDS
from functions.inbound.settings import EnrichSettings, IngestSettings
from functions.telemetry import Telemetry
from tests import harness
from tests.harness import ACCOUNT, REGION, Declared, Program, contains_text, is_secret, run_program

PIPE = "aws:pipes/pipe:Pipe"
QUEUE = "aws:sqs/queue:Queue"
QUEUE_POLICY = "aws:sqs/queuePolicy:QueuePolicy"
FUNCTION = "aws:lambda/function:Function"
PERMISSION = "aws:lambda/permission:Permission"
FUNCTION_URL = "aws:lambda/functionUrl:FunctionUrl"
SECRET = "aws:secretsmanager/secret:Secret"
SECRET_VERSION = "aws:secretsmanager/secretVersion:SecretVersion"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
BUCKET = "aws:s3/bucket:Bucket"
TABLE = "aws:dynamodb/table:Table"
NAME = CONSUMER_NAME

SECRET_TEXTS = ("gh-secret-value-1", "gh-previous-value-2", "stripe-secret-value-3", "twilio-token-value-4")
CONSUMER: dict[str, Any] = {
    "claimCheckThresholdBytes": 100_000,
    "payloadRetentionDays": 10,
    "maxReceiveCount": 7,
    "enrichmentTimeoutSeconds": 20,
    "sources": [
        {
            "name": "github",
            "kind": "github",
            "secret": SECRET_TEXTS[0],
            "previousSecret": SECRET_TEXTS[1],
            "orderingKey": "repository.id",
        },
        {"name": "stripe", "kind": "stripe", "secret": SECRET_TEXTS[2], "orderingKey": "data.object.customer"},
        {
            "name": "twilio",
            "kind": "twilio",
            "secret": SECRET_TEXTS[3],
            "publicUrl": "https://hooks.example.com/twilio",
            "eventTypePath": "MessageStatus",
        },
    ],
}


def evaluate(consumer: dict[str, Any] = CONSUMER, **extra: Any) -> Program:
    config = {"delivery": {"enabled": False}, "alarmEmail": "ops@example.com", "consumer": consumer, **extra}
    return run_program(config, secret_keys=["consumer"])


@pytest.fixture(scope="module")
def program() -> Program:
    return evaluate()


def policy(resource: Declared) -> list[dict[str, Any]]:
    return list(resource.json("policy")["Statement"])


def statement(resource: Declared, sid: str) -> dict[str, Any]:
    return next(s for s in policy(resource) if s.get("Sid") == sid)


def function_url(program: Program) -> str:
    return str(program.one(FUNCTION_URL).state["functionUrl"])


# --- the public endpoint --------------------------------------------------------------------------


def test_one_public_function_url_with_both_required_permissions(program: Program) -> None:
    ingest = program.named(f"{NAME}-ingest")
    url = program.one(FUNCTION_URL)
    assert url.plain("authorizationType") == "NONE" and url.plain("functionName") == ingest.physical_name
    permissions = {
        p.plain("action"): p for p in program.of_type(PERMISSION) if p.plain("function") == ingest.physical_name
    }
    assert set(permissions) == {"lambda:InvokeFunctionUrl", "lambda:InvokeFunction"}
    assert permissions["lambda:InvokeFunctionUrl"].plain("functionUrlAuthType") == "NONE"
    assert permissions["lambda:InvokeFunction"].plain("invokedViaFunctionUrl") is True
    assert all(p.plain("principal") == "*" for p in permissions.values())
    # Nothing else may invoke the ingest function publicly.
    assert not any(
        p.plain("function") == program.named(f"{NAME}-enrich").physical_name for p in program.of_type(PERMISSION)
    )


def test_outputs_name_each_source_url_the_queue_and_the_bucket(program: Program) -> None:
    base = function_url(program).rstrip("/")
    assert program.outputs["inboundUrls"] == {
        "github": f"{base}/github",
        "stripe": f"{base}/stripe",
        "twilio": "https://hooks.example.com/twilio",  # the configured public URL wins
    }
    assert program.outputs["inboundQueueName"] == program.named(f"{NAME}-queue").physical_name
    assert program.outputs["inboundQueueName"].endswith(".fifo")
    assert program.outputs["inboundDeadLetterQueueName"] == program.named(f"{NAME}-dlq").physical_name
    assert program.outputs["inboundBucketName"] == program.named(f"{NAME}-payloads").state["bucket"]
    assert not any(contains_text(value, text) for value in program.outputs.values() for text in SECRET_TEXTS)


def test_ingest_timeout_answers_within_githubs_ten_seconds(program: Program) -> None:
    ingest = program.named(f"{NAME}-ingest")
    assert ingest.plain("timeout") <= 10
    assert ingest.plain("handler") == "functions.inbound.ingest.handler"
    # The ledger protocol needs two requests' lookup, send and record (each bounded by the timeout)
    # to fit inside SQS FIFO's deduplication window with a wide margin (docs/consumer.md).
    # A minute is allowed for DynamoDB's replication lag (normally well under a second).
    assert ingest.plain("timeout") <= GITHUB_TIMEOUT_SECONDS
    assert 2 * GITHUB_TIMEOUT_SECONDS + 60 < FIFO_DEDUPLICATION_SECONDS == 300
    assert "CONSUMER_CLAIM_LEASE_SECONDS" not in ingest.plain("environment")["variables"]  # no lease any more


# --- secrets ------------------------------------------------------------------------------------------


def test_each_source_has_a_secret_with_current_previous_and_public_url(program: Program) -> None:
    base = function_url(program).rstrip("/")
    versions = {v.name: v for v in program.of_type(SECRET_VERSION)}
    assert set(versions) == {f"{NAME}-{s}-secret-value" for s in ("github", "stripe", "twilio")}
    for version in versions.values():
        assert is_secret(version["secretString"]), f"{version.name} must reach the engine as a secret"
    github = json.loads(versions[f"{NAME}-github-secret-value"].plain("secretString"))
    assert github == {"current": SECRET_TEXTS[0], "previous": SECRET_TEXTS[1], "publicUrl": f"{base}/github"}
    stripe = json.loads(versions[f"{NAME}-stripe-secret-value"].plain("secretString"))
    assert stripe["previous"] is None
    twilio = json.loads(versions[f"{NAME}-twilio-secret-value"].plain("secretString"))
    assert twilio["publicUrl"] == "https://hooks.example.com/twilio"
    secret_ids = {s.name: f"{s.physical_name}-id" for s in program.of_type(SECRET)}
    assert versions[f"{NAME}-github-secret-value"].plain("secretId") == secret_ids[f"{NAME}-github-secret"]


def test_secret_texts_appear_nowhere_but_inside_secret_envelopes(program: Program) -> None:
    for resource in program.resources:
        for text in SECRET_TEXTS:
            assert not contains_text(resource.inputs, text), f"{text} is plain in {resource.name}"


def test_ingest_environment_names_every_source_without_secrets_and_fits_lambdas_limit(program: Program) -> None:
    env = program.named(f"{NAME}-ingest").plain("environment")["variables"]
    assert all(name.startswith("CONSUMER_") or name in Telemetry().to_environ() for name in env)
    sources = json.loads(env["CONSUMER_SOURCES"])
    secret_names = {
        s.name.removeprefix(f"{NAME}-").removesuffix("-secret"): s.physical_name for s in program.of_type(SECRET)
    }
    assert sources == {
        "github": {"kind": "github", "secretId": secret_names["github"], "orderingKey": "repository.id"},
        "stripe": {"kind": "stripe", "secretId": secret_names["stripe"], "orderingKey": "data.object.customer"},
        "twilio": {"kind": "twilio", "secretId": secret_names["twilio"], "eventTypePath": "MessageStatus"},
    }
    assert env["CONSUMER_CLAIM_CHECK_THRESHOLD_BYTES"] == "100000"
    assert env["CONSUMER_DEDUPE_TTL_SECONDS"] == str(72 * 3600)
    assert env["CONSUMER_QUEUE_URL"] == program.named(f"{NAME}-queue").state["url"]
    assert env["CONSUMER_TABLE_NAME"] == program.named(f"{NAME}-ledger").physical_name
    assert env["CONSUMER_BUCKET_NAME"] == program.named(f"{NAME}-payloads").state["bucket"]
    size = sum(len(k) + len(v) for k, v in env.items())
    assert size < MAX_ENVIRONMENT_BYTES
    # The estimate that guards the 4 KB limit before deploying is not below the real size.
    settings = parse_stack_config({"consumer": CONSUMER}).consumer
    assert environment_estimate(NAME, settings.sources) >= size


# --- IAM ----------------------------------------------------------------------------------------------


def test_ingest_may_touch_exactly_its_secrets_ledger_payload_prefix_and_queue(program: Program) -> None:
    role_policy = program.named(f"{NAME}-ingest-policy")
    bucket_arn = program.named(f"{NAME}-payloads").arn
    assert sorted(statement(role_policy, "ReadSourceSecrets")["Resource"]) == sorted(
        s.arn for s in program.of_type(SECRET)
    )
    assert statement(role_policy, "ReadSourceSecrets")["Action"] == "secretsmanager:GetSecretValue"
    ledger = statement(role_policy, "DeliveryLedger")
    assert ledger["Resource"] == [program.named(f"{NAME}-ledger").arn]
    assert sorted(ledger["Action"]) == ["dynamodb:GetItem", "dynamodb:PutItem"]  # look up, record: no update, no delete
    assert statement(role_policy, "StoreLargePayloads")["Resource"] == [f"{bucket_arn}/payloads/*"]
    assert statement(role_policy, "StoreLargePayloads")["Action"] == "s3:PutObject"
    assert statement(role_policy, "Enqueue") == {
        "Sid": "Enqueue",
        "Effect": "Allow",
        "Action": "sqs:SendMessage",
        "Resource": [program.named(f"{NAME}-queue").arn],
    }


def test_enrichment_may_only_read_payloads_and_tell_a_missing_one_from_a_denied_read(program: Program) -> None:
    role_policy = program.named(f"{NAME}-enrich-policy")
    bucket_arn = program.named(f"{NAME}-payloads").arn
    non_log = [s for s in policy(role_policy) if s["Sid"] != "WriteOwnLogs"]
    assert non_log == [
        {"Sid": "ReadPayloads", "Effect": "Allow", "Action": "s3:GetObject", "Resource": [f"{bucket_arn}/payloads/*"]},
        # Without ListBucket, S3 answers 403 (not 404) for a payload that expired.
        {
            "Sid": "TellMissingPayloadsFromDenied",
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": [bucket_arn],
        },
    ]


def test_no_consumer_policy_grants_a_wildcard_resource(program: Program) -> None:
    for resource in program.of_type(ROLE_POLICY):
        if not resource.name.startswith(NAME):
            continue
        for entry in policy(resource):
            resources = entry["Resource"] if isinstance(entry["Resource"], list) else [entry["Resource"]]
            assert "*" not in resources, f"{resource.name} {entry.get('Sid')}"


# --- the Pipe -----------------------------------------------------------------------------------------


def test_pipe_drains_the_fifo_queue_through_the_enrichment_to_the_entry_bus(program: Program) -> None:
    pipe = program.one(PIPE)
    bus_arn = program.outputs["busArn"]
    assert pipe.plain("source") == program.named(f"{NAME}-queue").arn
    assert pipe.plain("enrichment") == program.named(f"{NAME}-enrich").arn
    assert pipe.plain("target") == bus_arn
    assert pipe.plain("roleArn") == program.named(f"{NAME}-pipe-role").arn
    assert pipe.plain("desiredState") == "RUNNING"
    assert pipe.plain("sourceParameters") == {"sqsQueueParameters": {"batchSize": 1}}
    # The bus mapping is the one functions.inbound.target documents (and the sandbox follows).
    assert pipe.plain("targetParameters") == {
        "eventbridgeEventBusParameters": {
            "source": target.PIPE_SOURCE_PATH,
            "detailType": target.PIPE_DETAIL_TYPE_PATH,
            "time": target.PIPE_TIME_PATH,
        },
        "inputTemplate": target.PIPE_BUS_INPUT_TEMPLATE,
    }
    logs = pipe.plain("logConfiguration")
    assert logs["level"] == "ERROR"
    assert logs["cloudwatchLogsLogDestination"]["logGroupArn"] == program.named(f"{NAME}-pipe-logs").arn


def test_pipe_role_is_trusted_by_pipes_of_this_account_and_scoped_to_its_resources(program: Program) -> None:
    role = program.named(f"{NAME}-pipe-role")
    [trust] = role.json("assumeRolePolicy")["Statement"]
    assert trust["Principal"] == {"Service": "pipes.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}
    role_policy = program.named(f"{NAME}-pipe-policy")
    read = statement(role_policy, "ReadInboundQueue")
    assert read["Resource"] == [program.named(f"{NAME}-queue").arn]
    assert sorted(read["Action"]) == ["sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"]
    assert statement(role_policy, "InvokeEnrichment")["Resource"] == [program.named(f"{NAME}-enrich").arn]
    assert statement(role_policy, "PutOnEntryBus")["Resource"] == [program.outputs["busArn"]]
    assert statement(role_policy, "PutOnEntryBus")["Action"] == "events:PutEvents"
    log_arn = program.named(f"{NAME}-pipe-logs").arn
    assert statement(role_policy, "WritePipeLogs")["Resource"] == [f"{log_arn}:*"]


def test_fifo_queue_has_its_dlq_redrive_and_a_visibility_of_six_enrichment_timeouts(program: Program) -> None:
    queue, dlq = program.named(f"{NAME}-queue"), program.named(f"{NAME}-dlq")
    enrich = program.named(f"{NAME}-enrich")
    assert queue.plain("fifoQueue") is True and dlq.plain("fifoQueue") is True  # a FIFO queue's DLQ is FIFO
    assert queue.plain("contentBasedDeduplication") is False  # the delivery id is the deduplication id
    assert json.loads(queue.plain("redrivePolicy")) == {"deadLetterTargetArn": dlq.arn, "maxReceiveCount": 7}
    assert enrich.plain("timeout") == 20
    assert queue.plain("visibilityTimeoutSeconds") >= 6 * enrich.plain("timeout")
    assert queue.plain("sqsManagedSseEnabled") is True and dlq.plain("sqsManagedSseEnabled") is True
    for resource in (queue, dlq):
        assert re.fullmatch(r"[a-zA-Z0-9_-]{1,75}\.fifo", resource.physical_name)
    # A claim-checked payload outlives its message in the queue and then in the DLQ.
    assert queue.plain("messageRetentionSeconds") + dlq.plain("messageRetentionSeconds") <= 10 * 86_400
    lifecycle = program.named(f"{NAME}-payloads-lifecycle").plain("rules")
    assert lifecycle[0]["expiration"]["days"] == 10


def test_both_queues_refuse_plain_http(program: Program) -> None:
    policies = {p.plain("queueUrl"): p for p in program.of_type(QUEUE_POLICY) if p.name.startswith(NAME)}
    for name in ("queue", "dlq"):
        queue = program.named(f"{NAME}-{name}")
        [deny] = policy(policies[queue.state["url"]])
        assert deny["Effect"] == "Deny" and deny["Resource"] == [queue.arn]
        assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


# --- storage ------------------------------------------------------------------------------------------


def test_payload_bucket_is_private_encrypted_tls_only_and_expires_payloads(program: Program) -> None:
    bucket = program.named(f"{NAME}-payloads")
    bucket_id = f"{bucket.physical_name}-id"
    access = program.named(f"{NAME}-payloads-public-access")
    assert access.plain("bucket") == bucket_id
    for flag in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"):
        assert access.plain(flag) is True
    encryption = program.named(f"{NAME}-payloads-encryption").plain("rules")
    assert encryption[0]["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "AES256"
    ownership = program.named(f"{NAME}-payloads-ownership").plain("rule")
    assert ownership == {"objectOwnership": "BucketOwnerEnforced"}
    [deny] = policy(program.named(f"{NAME}-payloads-policy"))
    assert deny["Effect"] == "Deny" and sorted(deny["Resource"]) == sorted([bucket.arn, f"{bucket.arn}/*"])
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    rules = {rule["id"]: rule for rule in program.named(f"{NAME}-payloads-lifecycle").plain("rules")}
    assert rules["expire-payloads"]["filter"] == {"prefix": "payloads/"}
    assert rules["expire-payloads"]["status"] == "Enabled"
    assert rules["abort-incomplete-uploads"]["abortIncompleteMultipartUpload"] == {"daysAfterInitiation": 1}
    assert all("filter" in rule for rule in rules.values())


def test_ledger_declares_only_its_key_and_expires_records_by_ttl(program: Program) -> None:
    table = program.one(TABLE, lambda t: t.name == f"{NAME}-ledger")
    assert table.plain("hashKey") == "pk" and table.plain("billingMode") == "PAY_PER_REQUEST"
    assert table.plain("attributes") == [{"name": "pk", "type": "S"}]  # a TTL attribute here diffs forever
    assert table.plain("ttl") == {"attributeName": "expiresAt", "enabled": True}


# --- alarms -------------------------------------------------------------------------------------------


def test_alarms_cover_dlq_5xx_signature_failures_queue_age_pipe_and_function_errors(program: Program) -> None:
    alarms = {a.name.removeprefix(f"{NAME}-"): a for a in program.of_type(ALARM) if a.name.startswith(NAME)}
    ingest = program.named(f"{NAME}-ingest").physical_name
    expected = {
        "dlq-alarm": (
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            {"QueueName": program.outputs["inboundDeadLetterQueueName"]},
        ),
        "queue-age": ("AWS/SQS", "ApproximateAgeOfOldestMessage", {"QueueName": program.outputs["inboundQueueName"]}),
        "ingest-5xx": ("AWS/Lambda", "Url5xxCount", {"FunctionName": ingest}),
        "signature-failures": ("hookstack/Inbound", "SignatureFailures", {"FunctionName": ingest}),
        "pipe-failed": ("AWS/EventBridge/Pipes", "ExecutionFailed", {"PipeName": program.one(PIPE).physical_name}),
        "ingest-errors": ("AWS/Lambda", "Errors", {"FunctionName": ingest}),
        "enrich-errors": ("AWS/Lambda", "Errors", {"FunctionName": program.named(f"{NAME}-enrich").physical_name}),
    }
    assert set(alarms) == set(expected)
    topic = program.named("hookstack-alarms").arn
    for key, (namespace, metric, dimensions) in expected.items():
        assert (alarms[key].plain("namespace"), alarms[key].plain("metricName")) == (namespace, metric), key
        assert alarms[key].plain("dimensions") == dimensions, key
        assert alarms[key].plain("alarmActions") == [topic], key
    assert alarms["signature-failures"].plain("threshold") == 20
    assert alarms["queue-age"].plain("threshold") == 900


# --- other targets, disabled consumer, names ------------------------------------------------------------


def test_lambda_target_is_invoked_synchronously_with_the_items_as_they_are() -> None:
    arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:process-inbound"
    program = evaluate({**CONSUMER, "target": "lambda", "targetArn": arn})
    pipe = program.one(PIPE)
    assert pipe.plain("target") == arn
    assert pipe.plain("targetParameters") == {"lambdaFunctionParameters": {"invocationType": "REQUEST_RESPONSE"}}
    role_policy = program.named(f"{NAME}-pipe-policy")
    assert statement(role_policy, "InvokeTarget") == {
        "Sid": "InvokeTarget",
        "Effect": "Allow",
        "Action": "lambda:InvokeFunction",
        "Resource": [arn],
    }
    assert not any(s.get("Action") == "events:PutEvents" for s in policy(role_policy))
    env = program.named(f"{NAME}-enrich").plain("environment")["variables"]
    assert int(env["CONSUMER_MAX_TARGET_ITEM_BYTES"]) > 5_000_000  # a Lambda takes up to 6 MB


def test_step_functions_target_is_started_asynchronously() -> None:
    arn = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:inbound"
    program = evaluate({**CONSUMER, "target": "stepFunctions", "targetArn": arn})
    pipe = program.one(PIPE)
    assert pipe.plain("target") == arn
    assert pipe.plain("targetParameters") == {
        "stepFunctionStateMachineParameters": {"invocationType": "FIRE_AND_FORGET"}
    }
    assert statement(program.named(f"{NAME}-pipe-policy"), "StartTarget")["Resource"] == [arn]


def test_nothing_is_declared_without_sources_or_when_disabled() -> None:
    for consumer in ({}, {**CONSUMER, "enabled": False}):
        program = evaluate(consumer)
        assert not program.of_type("hookstack:index:WebhookConsumer")
        assert not program.of_type(PIPE)
        assert "inboundUrls" not in program.outputs


def test_physical_names_fit_aws_limits(program: Program) -> None:
    limits = {FUNCTION: 64, PIPE: 64, ROLE: 64, SECRET: 512, TABLE: 255, ALARM: 255}
    for resource in program.resources:
        if not resource.name.startswith(NAME):
            continue
        if resource.type in limits:
            assert len(resource.physical_name) <= limits[resource.type], resource.name
    bucket = program.named(f"{NAME}-payloads").state["bucket"]
    assert re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", bucket)
    for queue in program.of_type(QUEUE):
        assert len(queue.physical_name) <= 80


def test_dev_stack_declares_the_consumer(dev_stack: tuple[dict[str, Any], list[str]]) -> None:
    config, secret_keys = dev_stack
    program = run_program(config, secret_keys=secret_keys)
    assert set(program.outputs["inboundUrls"]) == {"github", "stripe", "twilio"}


# --- pure helpers and validation --------------------------------------------------------------------------


def test_retention_split_lets_every_payload_outlive_its_messages() -> None:
    for days in range(1, 3651):
        queue, dead_letter = retention_split(days)
        assert queue + dead_letter <= days * 86_400
        assert 60 <= queue <= 4 * 86_400 and 60 <= dead_letter <= 14 * 86_400  # SQS accepts 60 s .. 14 days
    assert retention_split(14) == (4 * 86_400, 10 * 86_400)
    assert visibility_timeout(30) == 180


def consumer_args(**changes: Any) -> WebhookConsumerArgs:
    settings = parse_stack_config({"consumer": CONSUMER}).consumer
    fields: dict[str, Any] = {
        "settings": settings,
        "package": build_package(),
        "entry_bus": BusRef("b", "arn:b"),
        "event_source": "hookstack",
    }
    fields.update(changes)
    return WebhookConsumerArgs(**fields)


@pytest.mark.parametrize(
    ("name", "changes", "message"),
    [
        ("Inbound", {}, "name 'Inbound' must be 1-24 characters"),
        ("inbound", {"batch_size": 11}, "batch_size must be 1..10"),
        ("inbound", {"ingest_timeout_seconds": 11}, "ingest_timeout_seconds must be 3..10"),
        ("inbound", {"event_source": ""}, "event_source must be the stack's provider.eventSource"),
    ],
)
def test_invalid_component_arguments_are_named(name: str, changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        validate_args(name, consumer_args(**changes))


def test_too_many_sources_for_lambdas_environment_is_refused_before_deploying() -> None:
    sources = tuple(
        Source(
            name=f"source-with-a-long-name-{i:03d}",
            kind="standard",
            secret=Secret("x"),
            ordering_key="data.object.some.deeply.nested.key",
            event_type_path="data.object.type",
        )
        for i in range(40)
    )
    assert environment_estimate("inbound", sources) > MAX_ENVIRONMENT_BYTES
    # The component measures again for the name it is given (the configuration measures CONSUMER_NAME).
    args = consumer_args()
    args = WebhookConsumerArgs(
        **{**args.__dict__, "settings": type(args.settings)(**{**args.settings.__dict__, "sources": sources})}
    )
    with pytest.raises(ValueError, match="40 sources need about"):
        validate_args("inbound", args)


def many_sources(count: int) -> list[dict[str, Any]]:
    return [
        {
            "name": f"source-with-a-long-name-{i:03d}",
            "kind": "github",
            "secret": "s",
            "orderingKey": "data.object.some.deeply.nested.key",
            "eventTypePath": "data.object.type",
        }
        for i in range(count)
    ]


def test_the_configuration_refuses_sources_that_do_not_fit_the_environment_with_their_key_path() -> None:
    with pytest.raises(StackConfigError) as caught:
        parse_stack_config({"consumer": {"sources": many_sources(40)}})
    [problem] = caught.value.problems
    assert problem.path == "hookstack:consumer.sources" and "40 sources need about" in problem.message
    # The largest list the configuration accepts also passes the component (same name, same estimate).
    fitting = max(
        n
        for n in range(1, 40)
        if environment_estimate(
            NAME, parse_stack_config({"consumer": {"sources": many_sources(n), "enabled": False}}).consumer.sources
        )
        <= MAX_ENVIRONMENT_BYTES
    )
    settings = parse_stack_config({"consumer": {"sources": many_sources(fitting)}}).consumer
    validate_args(NAME, WebhookConsumerArgs(**{**consumer_args().__dict__, "settings": settings}))
    with pytest.raises(StackConfigError):
        parse_stack_config({"consumer": {"sources": many_sources(fitting + 1)}})


def test_the_program_names_the_component_as_the_configuration_assumes(program: Program) -> None:
    assert program.names("hookstack:index:WebhookConsumer") == [CONSUMER_NAME]


def recording(monkeypatch: pytest.MonkeyPatch) -> list[Declared]:
    """Every resource the next program run declares, even when the run fails."""
    declared: list[Declared] = []

    class Recording(harness.RecordingMocks):
        def __init__(self, **options: Any) -> None:
            super().__init__(**options)
            self.resources = declared

    monkeypatch.setattr(harness, "RecordingMocks", Recording)
    return declared


def evaluate_refused(config: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> tuple[str, list[Declared]]:
    """Run the program on a configuration it must refuse; what it said and what it declared."""
    declared = recording(monkeypatch)
    with pytest.raises(pulumi.RunError) as caught:  # what stack_config.load_config raises, all problems listed
        run_program(config, secret_keys=["consumer"])
    return str(caught.value), declared


def test_the_recording_sees_what_a_run_declares(monkeypatch: pytest.MonkeyPatch) -> None:
    declared = recording(monkeypatch)
    run_program({"delivery": {"enabled": False}})
    assert any(r.type == "aws:cloudwatch/eventBus:EventBus" for r in declared)  # so an empty list means nothing


def test_consumer_enabled_without_sources_is_a_config_error_reported_with_the_others_before_any_resource(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    message, declared = evaluate_refused(
        {
            "consumer": {"enabled": True, "ingestReservedConcurrency": 0},
            "tenants": [
                {"id": "t", "destinations": [{"name": "d", "url": "http://x.example.com", "auth": {"type": "none"}}]}
            ],
        },
        monkeypatch,
    )
    assert "hookstack:consumer.sources: must list at least one source when enabled is true" in message
    assert "hookstack:consumer.ingestReservedConcurrency: must be between 1 and 10000" in message
    assert "hookstack:tenants[0].destinations[0].url: must be an https:// URL" in message
    assert declared == []  # nothing, not even the entry bus, was declared
    # Alone, too: it used to pass the configuration, declare the provider, and fail in the component.
    message, declared = evaluate_refused({"consumer": {"enabled": True}}, monkeypatch)
    assert "hookstack:consumer.sources: must list at least one source" in message and declared == []


def test_target_arn_and_environment_size_are_config_errors_before_any_resource(monkeypatch: pytest.MonkeyPatch) -> None:
    message, declared = evaluate_refused({"consumer": {"target": "lambda", "sources": many_sources(40)}}, monkeypatch)
    assert "hookstack:consumer.targetArn: is required when target is 'lambda'" in message
    assert "hookstack:consumer.sources: 40 sources need about" in message
    assert declared == []


# --- reserved concurrency and the event source ----------------------------------------------------------


def test_the_public_ingest_function_reserves_its_concurrency(program: Program) -> None:
    assert program.named(f"{NAME}-ingest").plain("reservedConcurrentExecutions") == 100
    # The enrichment is bounded by the FIFO queue instead (one message in flight per message group).
    assert program.named(f"{NAME}-enrich").plain("reservedConcurrentExecutions") is None


@pytest.mark.parametrize(("value", "reserved"), [(250, 250), ("40", 40), ("none", None)])
def test_ingest_reserved_concurrency_follows_the_config(value: Any, reserved: int | None) -> None:
    program = evaluate({**CONSUMER, "ingestReservedConcurrency": value})
    assert program.named(f"{NAME}-ingest").plain("reservedConcurrentExecutions") == reserved


def test_inbound_events_use_the_providers_event_source(program: Program) -> None:
    env = program.named(f"{NAME}-enrich").plain("environment")["variables"]
    assert env["CONSUMER_EVENT_SOURCE"] == "hookstack"
    custom = evaluate(provider={"eventSource": "acme.webhooks"})
    env = custom.named(f"{NAME}-enrich").plain("environment")["variables"]
    assert env["CONSUMER_EVENT_SOURCE"] == "acme.webhooks"


def test_config_refuses_a_public_url_with_query_and_the_reserved_source_name() -> None:
    raw = {
        "consumer": {
            "sources": [
                {"name": "twilio", "kind": "twilio", "secret": "t", "publicUrl": "https://x.example.com/twilio?a=1"},
                {"name": "aurora", "kind": "github", "secret": "g"},
            ]
        }
    }
    with pytest.raises(StackConfigError) as caught:
        parse_stack_config(raw)
    problems = {p.path: p.message for p in caught.value.problems}
    assert "query string" in problems["hookstack:consumer.sources[0].publicUrl"]
    assert "reserved" in problems["hookstack:consumer.sources[1].name"]


# --- the spec the component and the sandbox share -------------------------------------------------------


def test_the_functions_get_exactly_what_their_contracts_write_from_the_spec(program: Program) -> None:
    spec = consumer_spec(parse_stack_config({"consumer": CONSUMER}).consumer, event_source="hookstack")
    ingest, enrich = program.named(f"{NAME}-ingest"), program.named(f"{NAME}-enrich")
    secrets = {s.name: s.physical_name for s in program.of_type(SECRET)}
    expected = spec.ingest_settings(
        table_name=program.named(f"{NAME}-ledger").physical_name,
        queue_url=program.named(f"{NAME}-queue").state["url"],
        bucket_name=program.named(f"{NAME}-payloads").state["bucket"],
        secret_ids=[secrets[spec.secret_name(source.name)] for source in spec.sources],
    )
    env = ingest.plain("environment")["variables"]
    assert env == {**expected.to_environ(), **Telemetry(stack="dev").to_environ()}  # + functions/telemetry.py
    assert IngestSettings.from_environ(env) == expected  # what the function reads back
    assert enrich.plain("environment")["variables"] == {
        **spec.enrich_settings().to_environ(),
        **Telemetry(stack="dev").to_environ(),
    }
    assert EnrichSettings.from_environ(enrich.plain("environment")["variables"]).max_target_item_bytes == 256 * 1024
    assert (ingest.plain("handler"), enrich.plain("handler")) == (spec.ingest_handler, spec.enrich_handler)
    assert (ingest.plain("timeout"), ingest.plain("memorySize")) == (spec.ingest_timeout_seconds, spec.ingest_memory_mb)
    assert (enrich.plain("timeout"), enrich.plain("memorySize")) == (20, spec.enrich_memory_mb)
    queue, dlq = program.named(f"{NAME}-queue"), program.named(f"{NAME}-dlq")
    assert queue.plain("visibilityTimeoutSeconds") == spec.visibility_timeout_seconds == 120
    assert (queue.plain("messageRetentionSeconds"), dlq.plain("messageRetentionSeconds")) == (
        spec.queue_retention_seconds,
        spec.dead_letter_retention_seconds,
    )


def test_the_spec_derives_each_value_from_the_configuration_and_the_components_arguments() -> None:
    settings = parse_stack_config(
        {
            "consumer": {
                **CONSUMER,
                "target": "lambda",
                "targetArn": "arn:aws:lambda:x:1:function:f",
                "dedupeTtlHours": 5,
            }
        }
    ).consumer
    spec = consumer_spec(
        settings,
        event_source="acme",
        name="inbound",
        batch_size=4,
        ingest_timeout_seconds=7,
        ingest_memory_mb=1024,
        secret_ttl_seconds=60,
    )
    assert spec.ingest_timeout_seconds == 7
    assert spec.visibility_timeout_seconds == 6 * 20
    assert (spec.queue_retention_seconds, spec.dead_letter_retention_seconds) == retention_split(10)
    assert spec.max_target_item_bytes == (6 * 1024 * 1024 - 64 * 1024) // 4  # a Lambda target takes one batch
    assert spec.dedupe_ttl_seconds == 5 * 3600 and spec.secret_ttl_seconds == 60
    assert (spec.ingest_function_name, spec.secret_name("github")) == ("inbound-ingest", "inbound-github-secret")
    settings_read = spec.ingest_settings(table_name="t", queue_url="q", bucket_name="b", secret_ids=["g", "s", "t"])
    assert {name: source.secret_id for name, source in settings_read.sources.items()} == {
        "github": "g",
        "stripe": "s",
        "twilio": "t",
    }
    assert spec.enrich_settings() == EnrichSettings(
        max_target_item_bytes=spec.max_target_item_bytes, event_source="acme"
    )
    with pytest.raises(ValueError):  # one secret per source, in order
        spec.ingest_settings(table_name="t", queue_url="q", bucket_name="b", secret_ids=["g"])
    from components.common import DLQ_RETENTION_SECONDS

    assert MAX_SQS_RETENTION_SECONDS == DLQ_RETENTION_SECONDS


def test_the_sandbox_creates_the_consumer_from_the_same_spec(moto_endpoint: str) -> None:
    from sandbox.aws import client
    from sandbox.consumer import LocalConsumer

    settings = parse_stack_config({"consumer": CONSUMER}).consumer
    written: dict[str, str] = {}
    local = LocalConsumer(
        settings,
        event_source="acme",
        endpoint=moto_endpoint,
        bus_name="bus",
        time_scale=1,
        set_environment=written.update,
    )
    try:
        local.create()
    finally:
        local.stop()
    spec = consumer_spec(settings, event_source="acme")
    ingest = spec.ingest_settings(
        table_name=local.table,
        queue_url=local.queue_url,
        bucket_name=local.bucket,
        secret_ids=[spec.secret_name(source.name) for source in spec.sources],
    )
    # One process runs both handlers: the union of both contracts, nothing written by hand.
    assert written == {**ingest.to_environ(), **spec.enrich_settings().to_environ()}
    assert IngestSettings.from_environ(written) == ingest
    assert local.server.timeout_seconds == spec.ingest_timeout_seconds
    attributes = client("sqs", moto_endpoint).get_queue_attributes(QueueUrl=local.queue_url, AttributeNames=["All"])[
        "Attributes"
    ]
    assert int(attributes["VisibilityTimeout"]) == spec.visibility_timeout_seconds
    assert int(attributes["MessageRetentionPeriod"]) == spec.queue_retention_seconds
    assert json.loads(attributes["RedrivePolicy"])["maxReceiveCount"] == spec.max_receive_count


def test_the_sandbox_consumer_imports_no_pulumi() -> None:
    """``python -m sandbox up`` must work without Pulumi installed: the consumer takes the spec, not the component."""
    import subprocess
    import sys
    from pathlib import Path

    code = "import sys, sandbox.consumer; print(sorted(m for m in sys.modules if m.startswith('pulumi')))"
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert result.stdout.strip() == "[]"


# --- the S3 Express One Zone payload store ---------------------------------------------------------

DIRECTORY_BUCKET = "aws:s3/directoryBucket:DirectoryBucket"
EXPRESS = {**CONSUMER, "payloadStore": "s3express", "payloadStoreZoneId": "use1-az4"}


@pytest.fixture(scope="module")
def express() -> Program:
    return evaluate(EXPRESS)


def test_s3express_stores_payloads_in_a_directory_bucket_in_the_configured_zone(express: Program) -> None:
    bucket = express.one(DIRECTORY_BUCKET)
    name = bucket.plain("bucket")
    assert re.fullmatch(rf"{NAME}-payloads-[0-9a-f]{{8}}--use1-az4--x-s3", name) and len(name) <= 63
    assert bucket.plain("location") == {"name": "use1-az4", "type": "AvailabilityZone"}
    assert bucket.plain("dataRedundancy") == "SingleAvailabilityZone" and bucket.plain("type") == "Directory"
    assert not express.of_type(BUCKET)  # no general purpose bucket, nor its settings resources
    assert not [r for r in express.resources if r.name.startswith(f"{NAME}-payloads-") and "ownership" in r.name]
    rules = {rule["id"]: rule for rule in express.named(f"{NAME}-payloads-lifecycle").plain("rules")}
    assert express.named(f"{NAME}-payloads-lifecycle").plain("bucket") == name
    assert rules["expire-payloads"]["filter"] == {"prefix": "payloads/"}
    assert rules["expire-payloads"]["expiration"] == {"days": 10}
    # S3 Lifecycle expires directory bucket objects only with a session granted in the bucket policy.
    lifecycle, deny = policy(express.named(f"{NAME}-payloads-policy"))
    assert lifecycle["Principal"] == {"Service": "lifecycle.s3.amazonaws.com"}
    assert lifecycle["Action"] == "s3express:CreateSession" and lifecycle["Resource"] == [bucket.arn]
    assert lifecycle["Condition"] == {"StringEquals": {"s3express:SessionMode": "ReadWrite"}}
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert express.outputs["inboundBucketName"] == name
    assert bucket.arn == f"arn:aws:s3express:{REGION}:{ACCOUNT}:bucket/{name}"


def test_s3express_functions_get_a_session_on_the_directory_bucket_only(express: Program) -> None:
    bucket = express.one(DIRECTORY_BUCKET)
    ingest = statement(express.named(f"{NAME}-ingest-policy"), "StoreLargePayloads")
    assert ingest == {
        "Sid": "StoreLargePayloads",
        "Effect": "Allow",
        "Action": "s3express:CreateSession",
        "Resource": [bucket.arn],
        "Condition": {"StringEquals": {"s3express:SessionMode": "ReadWrite"}},
    }
    enrich = [s for s in policy(express.named(f"{NAME}-enrich-policy")) if s["Sid"] != "WriteOwnLogs"]
    assert enrich == [
        {
            "Sid": "ReadPayloads",
            "Effect": "Allow",
            "Action": "s3express:CreateSession",
            "Resource": [bucket.arn],
            "Condition": {"StringEquals": {"s3express:SessionMode": "ReadOnly"}},
        }
    ]
    environment = express.named(f"{NAME}-ingest").plain("environment")["variables"]
    assert environment["CONSUMER_BUCKET_NAME"] == bucket.plain("bucket")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"payloadStore": "dynamodb"}, "consumer.payloadStore: must be one of s3, s3express; got 'dynamodb'"),
        ({"payloadStore": "s3express"}, "consumer.payloadStoreZoneId: is required when payloadStore is 's3express'"),
        (
            {"payloadStore": "s3express", "payloadStoreZoneId": "us-east-1a"},
            "consumer.payloadStoreZoneId: must be an Availability Zone ID such as use1-az4 (not a zone name",
        ),
        ({"payloadStoreZoneId": "use1-az4"}, "consumer.payloadStoreZoneId: is only used with payloadStore: s3express"),
    ],
)
def test_payload_store_settings_are_checked_with_their_key_path(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(StackConfigError) as raised:
        parse_stack_config({"consumer": {**CONSUMER, **changes}})
    assert message in str(raised.value)


# --- issue 14: generic hmac sources, public-key sources and the crypto layer ---------------------

LAYER = "aws:lambda/layerVersion:LayerVersion"
HMAC_SOURCE = {
    "name": "paddle",
    "kind": "hmac",
    "secret": "pdl-secret",
    "hmac": dict(PADDLE),  # the Paddle recipe of docs/consumer.md
}
SENDGRID_KEY = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE83T4O/n84iotIvIW4mdBgQ/7dAfSmpqIM8kF9mN1flpVKS3GRqe62gw+2fNNRaINXvVpiglSI8eNEc6wEA3F+g=="


@pytest.fixture
def fake_layer(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> list[int]:
    """The crypto layer's builder, counted (its real build downloads wheels: tests/components/test_layers.py)."""
    from components import layers
    from components.packaging import Package

    calls: list[int] = []
    archive = tmp_path / "layer.zip"
    archive.write_bytes(b"PK\x05\x06" + b"\x00" * 18)

    def build() -> Package:
        calls.append(1)
        return Package(path=archive, sha256_base64="bGF5ZXI=", files=("python/cryptography/__init__.py",))

    monkeypatch.setattr(layers, "build_crypto_layer", build)
    return calls


def test_a_stack_without_public_key_sources_neither_builds_nor_attaches_the_crypto_layer(fake_layer: list[int]) -> None:
    program = evaluate({"sources": [CONSUMER["sources"][0], HMAC_SOURCE]})
    assert program.of_type(LAYER) == [] and fake_layer == []
    assert all(not f.plain("layers") for f in program.of_type(FUNCTION))
    environment = json.loads(program.named(f"{NAME}-ingest").plain("environment")["variables"]["CONSUMER_SOURCES"])
    assert environment["paddle"]["hmac"]["signatureParam"] == "h1"  # the scheme travels, the secret does not
    assert "pdl-secret" not in json.dumps(environment)


def test_a_public_key_source_attaches_the_crypto_layer_to_the_ingest_only(fake_layer: list[int]) -> None:
    program = evaluate(
        {"sources": [CONSUMER["sources"][0], {"name": "sg", "kind": "sendgrid", "secret": SENDGRID_KEY}]}
    )
    layer = program.one(LAYER)
    assert fake_layer == [1]
    assert layer.plain("compatibleArchitectures") == ["arm64"] and layer.plain("compatibleRuntimes") == ["python3.12"]
    assert layer.plain("sourceCodeHash") == "bGF5ZXI=" and re.match(r"^[A-Za-z0-9_-]{1,140}$", layer.plain("layerName"))
    assert program.named(f"{NAME}-ingest").plain("layers") == [layer.arn]
    others = [f for f in program.of_type(FUNCTION) if f.name != f"{NAME}-ingest"]
    assert others and all(not f.plain("layers") for f in others)


def test_the_readme_documents_every_hmac_key() -> None:
    from pathlib import Path

    from functions.inbound.hmac_scheme import HMAC_KEYS

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    missing = [key for key in HMAC_KEYS if f"| `consumer.sources[].hmac.{key}` |" not in readme]
    assert not missing and "| `consumer.sources[].hmac` |" in readme, missing
