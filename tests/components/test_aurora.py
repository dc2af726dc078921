"""AuroraRelay under Pulumi mocks: the cluster, the Lambda role association, IAM scoped to exact
ARNs, networking (created VPC with endpoint or NAT, given VPC), retries/DLQs/alarms on every
asynchronous path, migrations on deploy, and AWS's limits on names and ranges."""

from __future__ import annotations

import ipaddress
import json
import re

import pytest

from components.aurora_database import final_snapshot_identifier
from components.config import StackConfigError, parse_stack_config
from components.specs.aurora import schedule_expression
from functions.migrate import migrations_digest, read_migrations
from tests.harness import ACCOUNT, REGION, Program, is_secret
from tests.sql.conftest import SQL_DIR

N = "hookstack-aurora"
FN = "aws:lambda/function:Function"


def aurora(program, **settings) -> Program:
    return program({"aurora": {"enabled": True, **settings}})


@pytest.fixture(scope="module")
def default_program() -> Program:
    from tests.harness import run_program

    return run_program({"aurora": {"enabled": True}})


def function(p: Program, suffix: str):
    return p.named(f"{N}-{suffix}")


def policy_of(p: Program, role_logical: str) -> list[dict]:
    role = p.named(role_logical)
    policies = [r for r in p.of_type("aws:iam/rolePolicy:RolePolicy") if r.plain("role") == f"{role.physical_name}-id"]
    return [s for r in policies for s in r.json("policy")["Statement"]]


def statement(statements: list[dict], action: str) -> dict:
    [found] = [s for s in statements if action in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])]
    return found


def test_nothing_is_declared_while_aurora_is_disabled(program):
    p = program({})
    assert not [r for r in p.resources if r.type.startswith("aws:rds/") or r.name.startswith(N)]
    assert not [k for k in p.outputs if k.startswith("aurora")]


def test_cluster_is_serverless_v2_encrypted_with_a_managed_password_and_the_data_api(default_program):
    cluster = default_program.one("aws:rds/cluster:Cluster")
    assert cluster.plain("engine") == "aurora-postgresql"
    assert cluster.plain("engineMode") == "provisioned"
    assert cluster.plain("serverlessv2ScalingConfiguration") == {"minCapacity": 0.5, "maxCapacity": 4.0}
    assert cluster.plain("storageEncrypted") is True
    assert cluster.plain("manageMasterUserPassword") is True
    assert cluster.get("masterPassword") is None
    assert cluster.plain("enableHttpEndpoint") is True
    assert cluster.plain("enabledCloudwatchLogsExports") == ["postgresql"]
    assert cluster.plain("deletionProtection") is True
    assert cluster.plain("skipFinalSnapshot") is False
    assert cluster.get("iamRoles") is None, "the Lambda role is associated only through ClusterRoleAssociation"
    assert cluster.plain("databaseName") == "hookstack"
    assert 1 <= cluster.plain("backupRetentionPeriod") <= 35
    identifier = cluster.state["clusterIdentifier"]
    assert re.match(r"^[a-z](?:[a-z0-9]|-(?!-)){0,62}$", identifier) and not identifier.endswith("-")


SNAPSHOT_ID = re.compile(r"^[A-Za-z](?:[A-Za-z0-9]|-(?!-)){0,254}$")


def snapshot_suffix(p: Program):
    return p.one("random:index/randomId:RandomId", lambda r: r.name == f"{N}-final-snapshot-suffix")


def test_the_final_snapshot_identifier_is_unique_per_cluster(default_program):
    cluster = default_program.one("aws:rds/cluster:Cluster")
    suffix = snapshot_suffix(default_program)
    identifier = cluster.plain("finalSnapshotIdentifier")
    # A fixed name made the second destroy of a re-created stack fail: the first snapshot still had it.
    assert identifier == f"hookstack-aurora-final-dev-{suffix.state['hex']}"
    assert suffix.plain("byteLength") >= 4
    # A new suffix whenever an input that replaces the cluster changes (the old cluster keeps its own name).
    assert suffix.plain("keepers") == {
        "databaseName": "hookstack",
        "masterUsername": "hookstack_admin",
        "subnetGroup": default_program.one("aws:rds/subnetGroup:SubnetGroup").physical_name,
    }
    assert SNAPSHOT_ID.match(identifier) and not identifier.endswith("-")


def test_a_replaced_cluster_gets_another_final_snapshot_identifier(default_program, program):
    other = aurora(program, databaseName="orders")
    before = default_program.one("aws:rds/cluster:Cluster").plain("finalSnapshotIdentifier")
    after = other.one("aws:rds/cluster:Cluster").plain("finalSnapshotIdentifier")
    assert before != after and after.startswith("hookstack-aurora-final-dev-")


@pytest.mark.parametrize(
    ("name", "stack"), [(N, "prod_eu.1"), ("a", "x" * 300), (N, "--weird--"), (N, "1-numeric-stack"), ("a", "-" * 300)]
)
def test_final_snapshot_identifiers_follow_rds_rules_and_keep_the_suffix(name, stack):
    first, second = (
        final_snapshot_identifier(name, stack, "0a1b2c3d"),
        final_snapshot_identifier(name, stack, "ffffffff"),
    )
    for value, suffix in ((first, "0a1b2c3d"), (second, "ffffffff")):
        assert SNAPSHOT_ID.match(value) and not value.endswith("-"), value
        assert value.endswith(f"-{suffix}")
    assert first != second
    with pytest.raises(ValueError, match="suffix"):
        final_snapshot_identifier(name, stack, "a-b")


def test_skipping_the_final_snapshot_sets_no_identifier(program):
    p = aurora(program, skipFinalSnapshot=True, deletionProtection=False)
    cluster = p.one("aws:rds/cluster:Cluster")
    assert cluster.plain("skipFinalSnapshot") is True
    assert cluster.get("finalSnapshotIdentifier") is None
    assert not p.of_type("random:index/randomId:RandomId")
    assert cluster.plain("deletionProtection") is False


def test_the_engine_is_pinned_to_its_major_version_by_default(default_program):
    cluster = default_program.one("aws:rds/cluster:Cluster")
    writer = default_program.one("aws:rds/clusterInstance:ClusterInstance")
    assert parse_stack_config({}).aurora.engine_version == "16"
    assert cluster.plain("engineVersion") == "16"
    assert writer.plain("autoMinorVersionUpgrade") is True


def test_a_pinned_minor_version_turns_automatic_minor_upgrades_off(program):
    p = aurora(program, engineVersion="16.6")
    assert p.one("aws:rds/cluster:Cluster").plain("engineVersion") == "16.6"
    assert p.one("aws:rds/clusterInstance:ClusterInstance").plain("autoMinorVersionUpgrade") is False


@pytest.mark.parametrize("version", ["13", "14", "15", "16", "17", "13.11", "17.4"])
def test_supported_engine_versions_are_accepted(version):
    assert parse_stack_config({"aurora": {"engineVersion": version}}).aurora.engine_version == version


@pytest.mark.parametrize("version", ["12", "18", "16.x", "13.10", "17.2"])
def test_unsupported_engine_versions_are_refused(version):
    with pytest.raises(StackConfigError, match=r"hookstack:aurora\.engineVersion"):
        parse_stack_config({"aurora": {"engineVersion": version}})


def test_the_writer_is_a_private_db_serverless_instance(default_program):
    writer = default_program.one("aws:rds/clusterInstance:ClusterInstance")
    cluster = default_program.one("aws:rds/cluster:Cluster")
    assert writer.plain("instanceClass") == "db.serverless"
    assert writer.plain("publiclyAccessible") is False
    assert writer.plain("clusterIdentifier") == f"{cluster.physical_name}-id"


def test_rds_may_invoke_the_relay_and_nothing_else(default_program):
    p = default_program
    cluster = p.one("aws:rds/cluster:Cluster")
    relay = function(p, "relay")
    role = p.named(f"{N}-rds-invoke-role")
    association = p.one("aws:rds/clusterRoleAssociation:ClusterRoleAssociation")

    assert association.plain("featureName") == "Lambda"
    assert association.plain("roleArn") == role.arn
    assert association.plain("dbClusterIdentifier") == f"{cluster.physical_name}-id"
    [trust] = role.json("assumeRolePolicy")["Statement"]
    assert trust["Principal"] == {"Service": "rds.amazonaws.com"}
    assert trust["Condition"] == {
        "StringEquals": {"aws:SourceAccount": ACCOUNT},
        "ArnLike": {"aws:SourceArn": cluster.arn},
    }
    assert policy_of(p, f"{N}-rds-invoke-role") == [
        {"Sid": "InvokeRelayOnly", "Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": relay.arn}
    ]


def test_relay_environment_names_the_database_and_bus_by_arn_only(default_program):
    p = default_program
    relay = function(p, "relay")
    cluster = p.one("aws:rds/cluster:Cluster")
    bus = p.named("hookstack-bus")
    variables = relay.get("environment")["variables"]
    assert not any(is_secret(v) for v in variables.values())
    assert relay.plain("handler") == "functions.relay.handler"
    assert relay.plain("environment")["variables"] == {
        "AURORA_CLUSTER_ARN": cluster.arn,
        "AURORA_SECRET_ARN": cluster.state["masterUserSecrets"][0]["secretArn"],
        "AURORA_DATABASE_NAME": "hookstack",
        "EVENT_BUS_NAME": bus.physical_name,
        "AURORA_EVENT_SOURCE": "hookstack.aurora",
        "RELAY_COMMIT_WAIT_SECONDS": "3",
        "RELAY_LEASE_SECONDS": "60",
        "HOOKSTACK_STACK": "dev",  # functions.telemetry: the metrics' Stack dimension, tracing off
        "HOOKSTACK_TRACE_PROPAGATE": "false",
    }
    assert int(variables["RELAY_LEASE_SECONDS"]) > relay.plain("timeout"), "a lease outlives the invocation"


def test_the_event_source_follows_the_providers(program):
    p = program({"aurora": {"enabled": True}, "provider": {"eventSource": "acme"}})
    assert function(p, "relay").plain("environment")["variables"]["AURORA_EVENT_SOURCE"] == "acme.aurora"
    assert function(p, "sweeper").plain("environment")["variables"]["AURORA_EVENT_SOURCE"] == "acme.aurora"


@pytest.mark.parametrize("suffix", ["relay", "sweeper", "migrate"])
def test_function_policies_are_scoped_to_exact_arns(default_program, suffix):
    p = default_program
    cluster = p.one("aws:rds/cluster:Cluster")
    secret_arn = cluster.state["masterUserSecrets"][0]["secretArn"]
    statements = policy_of(p, f"{N}-{suffix}-role")

    assert all(s["Resource"] != "*" and "*" not in json.dumps(s["Resource"]).replace(":*", "") for s in statements)
    data_api = statement(statements, "rds-data:ExecuteStatement")
    assert data_api["Resource"] == cluster.arn
    assert statement(statements, "secretsmanager:GetSecretValue")["Resource"] == secret_arn
    if suffix == "migrate":
        assert set(data_api["Action"]) >= {
            "rds-data:BeginTransaction",
            "rds-data:CommitTransaction",
            "rds-data:RollbackTransaction",
        }
        assert not [s for s in statements if "events:PutEvents" in json.dumps(s["Action"])]
    else:
        assert data_api["Action"] == ["rds-data:ExecuteStatement"]
        assert statement(statements, "events:PutEvents")["Resource"] == p.named("hookstack-bus").arn
        queue = p.named(f"{N}-{suffix}-dlq")
        assert statement(statements, "sqs:SendMessage")["Resource"] == queue.arn


def test_relay_failures_are_retried_then_queued_and_alarmed(default_program):
    p = default_program
    config = p.named(f"{N}-relay-async")
    queue = p.named(f"{N}-relay-dlq")
    assert config.plain("functionName") == function(p, "relay").physical_name
    assert 0 <= config.plain("maximumRetryAttempts") <= 2
    assert 60 <= config.plain("maximumEventAgeInSeconds") <= 21_600
    assert config.plain("destinationConfig") == {"onFailure": {"destination": queue.arn}}
    assert queue.plain("sqsManagedSseEnabled") is True
    assert not queue.plain("fifoQueue")
    [policy] = [q for q in p.of_type("aws:sqs/queuePolicy:QueuePolicy") if q.plain("queueUrl") == queue.state["url"]]
    [deny] = policy.json("policy")["Statement"]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    alarm = p.named(f"{N}-relay-dlq-alarm")
    assert alarm.plain("dimensions") == {"QueueName": queue.physical_name}
    errors = p.named(f"{N}-relay-errors")
    assert errors.plain("dimensions") == {"FunctionName": function(p, "relay").physical_name}


def test_the_sweeper_runs_on_a_schedule_with_retries_a_dlq_and_alarms(default_program):
    p = default_program
    schedule = p.one("aws:scheduler/schedule:Schedule")
    sweeper = function(p, "sweeper")
    queue = p.named(f"{N}-sweeper-dlq")
    role = p.named(f"{N}-schedule-role")
    target = schedule.plain("target")

    assert schedule.plain("scheduleExpression") == "rate(1 minute)"
    assert schedule.plain("flexibleTimeWindow") == {"mode": "OFF"}
    assert target["arn"] == sweeper.arn
    assert target["roleArn"] == role.arn
    assert target["deadLetterConfig"] == {"arn": queue.arn}
    assert 0 <= target["retryPolicy"]["maximumRetryAttempts"] <= 185
    assert 60 <= target["retryPolicy"]["maximumEventAgeInSeconds"] <= 86_400
    [trust] = role.json("assumeRolePolicy")["Statement"]
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}
    statements = policy_of(p, f"{N}-schedule-role")
    assert statement(statements, "lambda:InvokeFunction")["Resource"] == sweeper.arn
    assert statement(statements, "sqs:SendMessage")["Resource"] == queue.arn
    invoke_config = p.named(f"{N}-sweeper-async")
    assert invoke_config.plain("destinationConfig") == {"onFailure": {"destination": queue.arn}}
    assert 60 <= invoke_config.plain("maximumEventAgeInSeconds") <= 21_600
    variables = sweeper.plain("environment")["variables"]
    assert sweeper.plain("handler") == "functions.sweeper.handler"
    assert variables["SWEEPER_GRACE_SECONDS"] == "60"
    assert int(variables["SWEEPER_LEASE_SECONDS"]) > sweeper.plain("timeout")
    assert p.named(f"{N}-sweeper-dlq-alarm").plain("dimensions") == {"QueueName": queue.physical_name}


def test_the_relay_has_a_concurrency_bound(default_program):
    # A burst of writes invokes the relay once per event: unbounded, it would take the account's
    # concurrency from every other function. Throttled asynchronous invocations wait in Lambda's
    # queue (up to the maximum event age) and the sweeper re-sends them: the bound loses nothing.
    # The sweeper is bounded by its schedule: one run per interval, each ending at its timeout.
    relay = function(default_program, "relay")
    assert 1 <= relay.plain("reservedConcurrentExecutions") <= 100
    schedule = default_program.one("aws:scheduler/schedule:Schedule")
    assert schedule.plain("target")["arn"] == function(default_program, "sweeper").arn
    assert function(default_program, "sweeper").plain("timeout") <= 900


def test_sweep_interval_and_grace_come_from_the_config(program):
    p = aurora(program, sweepIntervalMinutes=5, sweepGraceSeconds=120)
    assert p.one("aws:scheduler/schedule:Schedule").plain("scheduleExpression") == "rate(5 minutes)"
    assert function(p, "sweeper").plain("environment")["variables"]["SWEEPER_GRACE_SECONDS"] == "120"
    assert schedule_expression(1) == "rate(1 minute)"


def test_migrations_are_invoked_with_every_sql_file_and_the_relay(default_program):
    p = default_program
    invocation = p.one("aws:lambda/invocation:Invocation")
    relay = function(p, "relay")
    migrations = read_migrations(SQL_DIR)
    payload = json.loads(invocation.plain("input"))

    assert invocation.plain("functionName") == function(p, "migrate").physical_name
    assert function(p, "migrate").plain("handler") == "functions.migrate.handler"
    assert payload["migrations"] == [m.payload() for m in migrations]
    assert payload["relay"] == {"functionArn": relay.arn, "region": REGION}
    assert invocation.plain("triggers") == {"migrations": migrations_digest(migrations), "relay": relay.arn}
    assert len(invocation.plain("input").encode()) < 6 * 1024 * 1024, "synchronous Invoke payload limit"


def test_a_created_vpc_has_two_private_subnets_and_a_lambda_endpoint(default_program):
    p = default_program
    vpc = p.one("aws:ec2/vpc:Vpc")
    subnets = p.of_type("aws:ec2/subnet:Subnet")
    endpoint = p.one("aws:ec2/vpcEndpoint:VpcEndpoint")
    group = p.one("aws:rds/subnetGroup:SubnetGroup")

    assert vpc.plain("enableDnsSupport") is True and vpc.plain("enableDnsHostnames") is True
    assert len(subnets) == 2
    assert len({s.plain("availabilityZone") for s in subnets}) == 2
    # Only zones without opt-in: the account's opted-in Local Zone sorts first and cannot host Aurora.
    assert {s.plain("availabilityZone") for s in subnets} == {f"{REGION}a", f"{REGION}b"}
    [(_, zone_query)] = [c for c in p.calls if c[0] == "aws:index/getAvailabilityZones:getAvailabilityZones"]
    assert zone_query["filters"] == [{"name": "opt-in-status", "values": ["opt-in-not-required"]}]
    network = ipaddress.ip_network(vpc.plain("cidrBlock"))
    blocks = [ipaddress.ip_network(s.plain("cidrBlock")) for s in subnets]
    assert all(b.subnet_of(network) for b in blocks) and not blocks[0].overlaps(blocks[1])
    assert all(s.plain("mapPublicIpOnLaunch") is False for s in subnets)
    assert p.of_type("aws:ec2/internetGateway:InternetGateway") == []
    assert p.of_type("aws:ec2/natGateway:NatGateway") == []
    assert group.plain("subnetIds") == [f"{s.physical_name}-id" for s in subnets]
    assert endpoint.plain("vpcEndpointType") == "Interface"
    assert endpoint.plain("privateDnsEnabled") is True
    assert endpoint.plain("serviceName") == f"com.amazonaws.{REGION}.lambda"
    assert endpoint.plain("subnetIds") == group.plain("subnetIds")


def test_security_groups_allow_only_what_the_database_needs(default_program):
    p = default_program
    database_sg = p.named(f"{N}-db-sg")
    endpoint_sg = p.named(f"{N}-lambda-endpoint-sg")
    db_id, endpoint_id = f"{database_sg.physical_name}-id", f"{endpoint_sg.physical_name}-id"
    ingress = {
        r.plain("securityGroupId"): r for r in p.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
    }
    [egress] = p.of_type("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule")

    assert (ingress[db_id].plain("fromPort"), ingress[db_id].plain("toPort")) == (5432, 5432)
    assert ingress[db_id].plain("referencedSecurityGroupId") == db_id
    assert ingress[db_id].get("cidrIpv4") is None
    assert (ingress[endpoint_id].plain("fromPort"), ingress[endpoint_id].plain("toPort")) == (443, 443)
    assert ingress[endpoint_id].plain("referencedSecurityGroupId") == db_id
    assert egress.plain("securityGroupId") == db_id
    assert egress.plain("referencedSecurityGroupId") == endpoint_id
    assert (egress.plain("fromPort"), egress.plain("toPort")) == (443, 443)
    assert p.one("aws:ec2/vpcEndpoint:VpcEndpoint").plain("securityGroupIds") == [endpoint_id]
    assert p.one("aws:rds/cluster:Cluster").plain("vpcSecurityGroupIds") == [db_id]


def test_the_nat_path_routes_private_subnets_through_a_nat_gateway(program):
    p = aurora(program, lambdaNetworkPath="nat")
    nat = p.one("aws:ec2/natGateway:NatGateway")
    public = p.named(f"{N}-public-0")
    routes = {r.name: r for r in p.of_type("aws:ec2/route:Route")}

    assert p.of_type("aws:ec2/vpcEndpoint:VpcEndpoint") == []
    assert nat.plain("subnetId") == f"{public.physical_name}-id"
    assert routes[f"{N}-private-default"].plain("natGatewayId") == f"{nat.physical_name}-id"
    assert (
        routes[f"{N}-public-default"].plain("gatewayId")
        == f"{p.one('aws:ec2/internetGateway:InternetGateway').physical_name}-id"
    )
    assert public.name not in [s.name for s in p.of_type("aws:ec2/subnet:Subnet") if s.name.startswith(f"{N}-private")]
    [egress] = p.of_type("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule")
    assert (egress.plain("cidrIpv4"), egress.plain("fromPort")) == ("0.0.0.0/0", 443)
    group_subnets = p.one("aws:rds/subnetGroup:SubnetGroup").plain("subnetIds")
    assert f"{public.physical_name}-id" not in group_subnets, "the database stays in private subnets"


def test_a_given_vpc_is_used_as_is(program):
    p = aurora(program, vpcId="vpc-0abc", subnetIds=["subnet-a", "subnet-b"])
    assert p.of_type("aws:ec2/vpc:Vpc") == []
    assert p.of_type("aws:ec2/subnet:Subnet") == []
    assert p.one("aws:rds/subnetGroup:SubnetGroup").plain("subnetIds") == ["subnet-a", "subnet-b"]
    endpoint = p.one("aws:ec2/vpcEndpoint:VpcEndpoint")
    assert endpoint.plain("vpcId") == "vpc-0abc"
    assert endpoint.plain("subnetIds") == ["subnet-a", "subnet-b"]
    assert {sg.plain("vpcId") for sg in p.of_type("aws:ec2/securityGroup:SecurityGroup") if sg.name.startswith(N)} == {
        "vpc-0abc"
    }


@pytest.mark.parametrize(
    ("attributes", "named"),
    [
        ({"enableDnsHostnames": False}, "enableDnsHostnames"),
        ({"enableDnsSupport": False}, "enableDnsSupport"),
        ({"enableDnsSupport": False, "enableDnsHostnames": False}, "enableDnsSupport and enableDnsHostnames"),
    ],
)
def test_a_given_vpc_without_dns_support_or_hostnames_is_refused_before_any_resource(attributes, named):
    import pulumi

    from tests.harness import run_program

    config = {"aurora": {"enabled": True, "vpcId": "vpc-0nodns", "subnetIds": ["subnet-a", "subnet-b"]}}
    with pytest.raises(pulumi.RunError) as caught:
        run_program(config, vpcs={"vpc-0nodns": attributes})
    assert f"  - hookstack:aurora.vpcId: VPC vpc-0nodns has {named} off;" in str(caught.value)
    # Refused with the configuration, before any resource at all (not only the component's).
    assert caught.value.declared == []  # type: ignore[attr-defined]


def test_a_vpc_without_dns_is_reported_with_every_other_configuration_problem():
    import pulumi

    from tests.harness import run_program

    config = {
        "tenants": [
            {
                "id": "acme",
                "destinations": [{"name": "crm", "url": "http://crm.example.com/h", "auth": {"type": "none"}}],
            }
        ],
        "aurora": {"enabled": True, "vpcId": "vpc-0nodns", "subnetIds": ["subnet-a", "subnet-b"], "minCapacity": 0.3},
    }
    with pytest.raises(pulumi.RunError) as caught:
        run_program(config, vpcs={"vpc-0nodns": {"enableDnsSupport": False}})
    message = str(caught.value)
    assert message.startswith("3 problem(s) in the stack configuration:")
    for path in ("hookstack:tenants[0].destinations[0].url", "hookstack:aurora.minCapacity", "hookstack:aurora.vpcId"):
        assert f"  - {path}: " in message
    assert caught.value.declared == []  # type: ignore[attr-defined]


def test_a_vpc_that_cannot_be_found_is_a_configuration_problem():
    import pulumi

    from sandbox.preview import run_program
    from tests.harness import RecordingMocks

    class NoSuchVpc(RecordingMocks):
        def call(self, args):
            if args.token == "aws:ec2/getVpc:getVpc":
                self.calls.append((args.token, dict(args.args)))
                return {}, [("id", "no matching EC2 VPC found")]  # what the provider answers
            return super().call(args)

    config = {"aurora": {"enabled": True, "vpcId": "vpc-0gone", "subnetIds": ["subnet-a", "subnet-b"]}}
    with pytest.raises(pulumi.RunError) as caught:
        run_program(config, mocks=NoSuchVpc())
    assert "  - hookstack:aurora.vpcId: VPC vpc-0gone could not be looked up: " in str(caught.value)
    assert "no matching EC2 VPC found" in str(caught.value)
    assert caught.value.declared == []  # type: ignore[attr-defined]


def test_a_refused_vpc_id_is_not_looked_up():
    import pulumi

    from sandbox.preview import run_program
    from tests.harness import RecordingMocks

    mocks = RecordingMocks()
    config = {"aurora": {"enabled": True, "vpcId": ["vpc-1"], "subnetIds": ["subnet-a", "subnet-b"]}}
    with pytest.raises(pulumi.RunError) as caught:
        run_program(config, mocks=mocks)
    assert "hookstack:aurora.vpcId: " in str(caught.value)
    assert not [c for c in mocks.calls if c[0] == "aws:ec2/getVpc:getVpc"]


def test_a_given_vpc_is_looked_up_only_for_the_endpoint_path(program):
    from tests.harness import run_program

    config = {
        "aurora": {
            "enabled": True,
            "vpcId": "vpc-0nodns",
            "subnetIds": ["subnet-a", "subnet-b"],
            "lambdaNetworkPath": "nat",
        }
    }
    p = run_program(config, vpcs={"vpc-0nodns": {"enableDnsSupport": False}})  # nat: no private DNS endpoint
    assert not [c for c in p.calls if c[0] == "aws:ec2/getVpc:getVpc"]
    given = aurora(program, vpcId="vpc-0abc", subnetIds=["subnet-a", "subnet-b"])
    assert [c[1]["id"] for c in given.calls if c[0] == "aws:ec2/getVpc:getVpc"] == ["vpc-0abc"]


def test_a_given_vpc_with_nat_creates_no_network_path(program):
    p = aurora(program, vpcId="vpc-0abc", subnetIds=["subnet-a", "subnet-b"], lambdaNetworkPath="nat")
    assert p.of_type("aws:ec2/vpcEndpoint:VpcEndpoint") == []
    assert p.of_type("aws:ec2/natGateway:NatGateway") == []


def test_names_fit_aws_limits(default_program):
    p = default_program
    limits = {
        FN: 64,
        "aws:sqs/queue:Queue": 80,
        "aws:iam/role:Role": 64,
        "aws:scheduler/schedule:Schedule": 64,
        "aws:rds/cluster:Cluster": 63,
    }
    for typ, limit in limits.items():
        for resource in p.of_type(typ):
            if resource.name.startswith(N):
                name = resource.state.get("clusterIdentifier") or resource.physical_name
                assert len(name) <= limit, (typ, name)


def test_outputs_are_exported(default_program):
    outputs = default_program.outputs
    cluster = default_program.one("aws:rds/cluster:Cluster")
    assert outputs["auroraClusterEndpoint"] == cluster.state["endpoint"]
    assert outputs["auroraClusterArn"] == cluster.arn
    assert outputs["auroraSecretArn"] == cluster.state["masterUserSecrets"][0]["secretArn"]
    assert outputs["auroraRelayFunctionName"] == function(default_program, "relay").physical_name
    assert outputs["auroraSweeperFunctionName"] == function(default_program, "sweeper").physical_name


def test_the_component_refuses_names_aws_cannot_use():
    from components.aurora import NAME_RE

    assert NAME_RE.match("hookstack-aurora")
    for bad in ("Aurora", "1db", "a--b", "x" * 17, "a_b"):
        assert not NAME_RE.match(bad), bad
