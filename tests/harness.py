"""Run ``__main__.py`` under recording Pulumi mocks and look at what it declared.

``run_program(config)`` evaluates the whole program fresh (``runpy.run_path``) with ``preview=False``
(with ``preview=True`` callbacks on unknown values never run and assertions pass silently). Every
resource is recorded with its type, logical name, resolved inputs and the state the mock returned.
The mock fills in what AWS would compute, in AWS's own shapes (ARNs, URLs, autonamed physical names
with Pulumi's ``-xxxxxxx`` suffix, the 36-character UUID EventBridge appends to API destination and
connection ARNs) so tests can check that IAM policies point at exactly the right ARNs, that names fit
AWS's limits and that policies sized from these ARNs fit AWS's size limits. ``run_program(...,
region=...)`` evaluates in another region (ARN lengths change with it); ``vpcs`` describes existing
VPCs for ``aws.ec2.get_vpc`` (default: DNS support and hostnames on).

Secret inputs keep Pulumi's secret envelope, so ``is_secret(value)`` tells whether a value reached
the engine as a secret; ``reveal(value)`` strips envelopes for comparisons.
"""

from __future__ import annotations

import base64
import hashlib
import json
import runpy
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import settings
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

ROOT = Path(__file__).resolve().parent.parent
PROGRAM = ROOT / "__main__.py"
SECRET_SIG_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG_VALUE = "1b47061264138c4ac30d75fd1eb44270"
ACCOUNT = "123456789012"
REGION = "us-east-1"


def is_secret(value: Any) -> bool:
    return isinstance(value, Mapping) and value.get(SECRET_SIG_KEY) == SECRET_SIG_VALUE


def reveal(value: Any) -> Any:
    """``value`` with every secret envelope replaced by what it wraps."""
    if is_secret(value):
        return reveal(value["value"])
    if isinstance(value, Mapping):
        return {k: reveal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [reveal(v) for v in value]
    return value


def contains_text(value: Any, text: str) -> bool:
    """Whether ``text`` appears anywhere in ``value`` outside a secret envelope."""
    if is_secret(value):
        return False
    if isinstance(value, Mapping):
        return any(contains_text(v, text) for v in value.values())
    if isinstance(value, list):
        return any(contains_text(v, text) for v in value)
    return isinstance(value, str) and text in value


def autoname(logical: str) -> str:
    return f"{logical}-{hashlib.sha256(logical.encode()).hexdigest()[:7]}"


def stable_uuid(seed: str) -> str:
    """A UUID (36 characters) derived from ``seed``, as AWS appends to some ARNs."""
    return str(uuid.UUID(bytes=hashlib.sha256(seed.encode()).digest()[:16]))


# Zones DescribeAvailabilityZones returns for an account that opted in to a Local Zone: sorted, the
# Local Zone comes first ("us-east-1-bos-1a" < "us-east-1a"), and it cannot host Aurora.
def availability_zones(region: str) -> list[dict[str, str]]:
    return [
        {"name": f"{region}-bos-1a", "zoneId": "use1-bos1-az1", "optInStatus": "opted-in", "state": "available"},
        *({"name": f"{region}{z}", "zoneId": f"az-{z}", "optInStatus": "opt-in-not-required", "state": "available"} for z in "abc"),
    ]


@dataclass
class Declared:
    type: str
    name: str
    inputs: dict[str, Any]
    state: dict[str, Any]
    parent: str | None = None

    def __getitem__(self, key: str) -> Any:
        return self.inputs[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.inputs.get(key, default)

    def plain(self, key: str, default: Any = None) -> Any:
        return reveal(self.inputs.get(key, default))

    def json(self, key: str) -> Any:
        """An input that holds a JSON document (policies, patterns), parsed."""
        value = self.plain(key)
        return json.loads(value) if isinstance(value, str) else value

    @property
    def arn(self) -> str:
        return str(self.state.get("arn", ""))

    @property
    def physical_name(self) -> str:
        return str(self.state.get("name", ""))


class RecordingMocks(pulumi.runtime.Mocks):
    """Answers like AWS would for the properties the program reads back."""

    def __init__(self, region: str = REGION, vpcs: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        self.region = region
        self.vpcs = dict(vpcs or {})
        self.resources: list[Declared] = []
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        inputs = dict(args.inputs)
        state = dict(inputs)
        state.update(_computed(args.typ, args.name, inputs))
        self.resources.append(Declared(args.typ, args.name, inputs, state))
        return f"{state.get('name', args.name)}-id", state

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:  # type: ignore[override] # the SDK accepts a bare dict
        self.calls.append((args.token, dict(args.args)))
        region = self.region
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {"accountId": ACCOUNT, "arn": f"arn:aws:iam::{ACCOUNT}:user/test", "userId": "AIDTEST", "id": ACCOUNT}
        if args.token == "aws:index/getRegion:getRegion":
            return {"name": region, "region": region, "id": region, "description": region}
        if args.token == "aws:index/getPartition:getPartition":
            return {"partition": "aws", "dnsSuffix": "amazonaws.com", "id": "aws"}
        if args.token == "aws:index/getAvailabilityZones:getAvailabilityZones":
            zones = [z for z in availability_zones(region) if _zone_matches(z, args.args)]
            return {"names": [z["name"] for z in zones], "zoneIds": [z["zoneId"] for z in zones], "id": region}
        if args.token == "aws:ec2/getVpc:getVpc":
            vpc_id = str(args.args.get("id"))
            found = {"enableDnsSupport": True, "enableDnsHostnames": True, **self.vpcs.get(vpc_id, {})}
            return {"id": vpc_id, "arn": f"arn:aws:ec2:{region}:{ACCOUNT}:vpc/{vpc_id}", "cidrBlock": "10.0.0.0/16", **found}
        return {}


def _zone_matches(zone: Mapping[str, str], args: Mapping[str, Any]) -> bool:
    """DescribeAvailabilityZones' ``state`` and ``opt-in-status`` filters, as the data source passes them."""
    if args.get("state") and zone["state"] != args["state"]:
        return False
    for item in args.get("filters") or []:
        key = {"opt-in-status": "optInStatus", "zone-name": "name", "state": "state"}.get(item["name"])
        if key is None:
            raise AssertionError(f"the mock does not know the availability zone filter {item['name']!r}")
        if zone[key] not in item["values"]:
            return False
    return True


# The region of the evaluation in progress (``run_program(region=...)``); ``_computed`` keeps its
# three-argument signature because tests wrap it.
_evaluated_region = [REGION]


def _computed(typ: str, logical: str, inputs: Mapping[str, Any]) -> dict[str, Any]:
    """What AWS fills in for a resource type: physical name, ARN, URLs."""
    region = _evaluated_region[0]
    name = reveal(inputs.get("name")) or autoname(logical)
    if inputs.get("namePrefix"):
        name = f"{reveal(inputs['namePrefix'])}{hashlib.sha256(logical.encode()).hexdigest()[:26]}"
    base = f"arn:aws:{{service}}:{region}:{ACCOUNT}"
    state: dict[str, Any] = {"name": name}
    uid = hashlib.sha256(logical.encode()).hexdigest()
    if typ == "aws:sqs/queue:Queue":
        if inputs.get("fifoQueue") and not name.endswith(".fifo"):
            name = f"{name}.fifo"
        state.update(
            name=name,
            arn=f"arn:aws:sqs:{region}:{ACCOUNT}:{name}",
            url=f"https://sqs.{region}.amazonaws.com/{ACCOUNT}/{name}",
        )
    elif typ == "aws:cloudwatch/eventBus:EventBus":
        state["arn"] = f"{base.format(service='events')}:event-bus/{name}"
    elif typ == "aws:cloudwatch/eventRule:EventRule":
        bus = reveal(inputs.get("eventBusName")) or "default"
        path = f"rule/{name}" if bus == "default" else f"rule/{bus}/{name}"
        state["arn"] = f"{base.format(service='events')}:{path}"
    elif typ == "aws:cloudwatch/eventApiDestination:EventApiDestination":
        # EventBridge appends a UUID: arn:aws:events:<region>:<account>:api-destination/<name>/<uuid>
        state["arn"] = f"{base.format(service='events')}:api-destination/{name}/{stable_uuid(logical)}"
    elif typ == "aws:cloudwatch/eventConnection:EventConnection":
        connection_id = stable_uuid(logical)
        state["arn"] = f"{base.format(service='events')}:connection/{name}/{connection_id}"
        state["secretArn"] = f"{base.format(service='secretsmanager')}:secret:events!connection/{name}/{connection_id}-AbCdEf"
    elif typ == "aws:cloudwatch/eventArchive:EventArchive":
        state["arn"] = f"{base.format(service='events')}:archive/{name}"
    elif typ == "aws:lambda/function:Function":
        arn = f"{base.format(service='lambda')}:function:{name}"
        state.update(
            arn=arn,
            qualifiedArn=f"{arn}:$LATEST",
            invokeArn=f"arn:aws:apigateway:{region}:lambda:path/2015-03-31/functions/{arn}/invocations",
        )
    elif typ == "aws:lambda/functionUrl:FunctionUrl":
        state["functionUrl"] = f"https://{uid[:32]}.lambda-url.{region}.on.aws/"
        state["urlId"] = uid[:32]
    elif typ == "aws:iam/role:Role":
        state.update(arn=f"arn:aws:iam::{ACCOUNT}:role/{name}", uniqueId=f"AROA{uid[:16].upper()}")
    elif typ == "aws:iam/policy:Policy":
        state["arn"] = f"arn:aws:iam::{ACCOUNT}:policy/{name}"
    elif typ == "aws:dynamodb/table:Table":
        state.update(
            arn=f"{base.format(service='dynamodb')}:table/{name}",
            streamArn=f"{base.format(service='dynamodb')}:table/{name}/stream/2026-01-01T00:00:00.000",
        )
    elif typ == "aws:s3/bucket:Bucket":
        bucket = reveal(inputs.get("bucket")) or autoname(logical).lower()
        state.update(
            bucket=bucket,
            name=bucket,
            arn=f"arn:aws:s3:::{bucket}",
            bucketRegionalDomainName=f"{bucket}.s3.{region}.amazonaws.com",
        )
    elif typ == "aws:secretsmanager/secret:Secret":
        state["arn"] = f"{base.format(service='secretsmanager')}:secret:{name}-AbCdEf"
    elif typ == "aws:sns/topic:Topic":
        state["arn"] = f"{base.format(service='sns')}:{name}"
    elif typ == "aws:cloudwatch/logGroup:LogGroup":
        state["arn"] = f"{base.format(service='logs')}:log-group:{name}"
    elif typ == "aws:pipes/pipe:Pipe":
        state["arn"] = f"{base.format(service='pipes')}:pipe/{name}"
    elif typ == "aws:sfn/stateMachine:StateMachine":
        state["arn"] = f"{base.format(service='states')}:stateMachine:{name}"
    elif typ == "aws:rds/cluster:Cluster":
        cluster_id = reveal(inputs.get("clusterIdentifier")) or autoname(logical)
        state.update(
            clusterIdentifier=cluster_id,
            arn=f"{base.format(service='rds')}:cluster:{cluster_id}",
            endpoint=f"{cluster_id}.cluster-abc.{region}.rds.amazonaws.com",
            clusterResourceId=f"cluster-{uid[:26].upper()}",
            masterUserSecrets=[
                {
                    "secretArn": f"{base.format(service='secretsmanager')}:secret:rds!cluster-{uid[:8]}-AbCdEf",
                    "secretStatus": "active",
                    "kmsKeyId": "aws/secretsmanager",
                }
            ],
        )
    elif typ == "aws:ec2/vpc:Vpc":
        state.update(arn=f"{base.format(service='ec2')}:vpc/vpc-{uid[:8]}", id=f"vpc-{uid[:8]}")
    elif typ == "aws:ec2/securityGroup:SecurityGroup":
        state["arn"] = f"{base.format(service='ec2')}:security-group/sg-{uid[:8]}"
    elif typ == "aws:apigatewayv2/api:Api":
        state.update(
            apiEndpoint=f"https://{uid[:10]}.execute-api.{region}.amazonaws.com",
            executionArn=f"arn:aws:execute-api:{region}:{ACCOUNT}:{uid[:10]}",
            arn=f"arn:aws:apigateway:{region}::/apis/{uid[:10]}",
        )
    elif typ == "aws:kms/key:Key":
        key_id = stable_uuid(logical)
        state.update(arn=f"{base.format(service='kms')}:key/{key_id}", keyId=key_id)
    elif typ == "aws:kms/alias:Alias":
        alias = reveal(inputs.get("name")) or f"{reveal(inputs.get('namePrefix', 'alias/'))}{uid[:26]}"
        state.update(name=alias, arn=f"{base.format(service='kms')}:{alias}")
    elif typ == "random:index/randomBytes:RandomBytes":
        # Deterministic stand-in for the random bytes the provider generates once and keeps in state.
        data = hashlib.sha256(f"random:{logical}".encode()).digest()[: int(inputs.get("length", 32))]
        state.update(base64=base64.b64encode(data).decode(), hex=data.hex())
    elif typ == "random:index/randomId:RandomId":
        # Generated once per create (a replacement, e.g. new keepers, generates a new one).
        seed = json.dumps([logical, reveal(inputs.get("keepers"))], sort_keys=True)
        data = hashlib.sha256(f"random:{seed}".encode()).digest()[: int(inputs.get("byteLength", 8))]
        state.update(
            hex=data.hex(),
            dec=str(int.from_bytes(data, "big")),
            b64Std=base64.b64encode(data).decode(),
            b64Url=base64.urlsafe_b64encode(data).decode().rstrip("="),
        )
    elif typ == "aws:scheduler/schedule:Schedule":
        state["arn"] = f"{base.format(service='scheduler')}:schedule/default/{name}"
    else:
        service = typ.split(":")[1].split("/", maxsplit=1)[0]
        state.setdefault("arn", f"{base.format(service=service)}:{name}")
    return state


@dataclass
class Program:
    """What one evaluation of the program declared."""

    resources: list[Declared]
    outputs: dict[str, Any]
    secret_outputs: set[str]
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def of_type(self, typ: str) -> list[Declared]:
        return [r for r in self.resources if r.type == typ]

    def named(self, name: str) -> Declared:
        matches = [r for r in self.resources if r.name == name]
        if len(matches) != 1:
            raise AssertionError(f"expected one resource named {name!r}, found {len(matches)}: {self.names()[:50]}")
        return matches[0]

    def one(self, typ: str, where: Callable[[Declared], bool] | None = None) -> Declared:
        matches = [r for r in self.of_type(typ) if where is None or where(r)]
        if len(matches) != 1:
            raise AssertionError(f"expected one {typ}, found {len(matches)}: {[r.name for r in matches]}")
        return matches[0]

    def names(self, typ: str | None = None) -> list[str]:
        return [r.name for r in self.resources if typ is None or r.type == typ]

    def by_arn(self, arn: str) -> Declared:
        return next(r for r in self.resources if r.arn == arn)

    def types(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for resource in self.resources:
            counts[resource.type] = counts.get(resource.type, 0) + 1
        return dict(sorted(counts.items()))


def config_values(config: Mapping[str, Any], region: str = REGION) -> dict[str, str]:
    """Turn ``{"tenants": [...]}`` into the ``hookstack:tenants`` JSON strings Pulumi passes."""
    values = {"aws:region": region}
    for key, value in config.items():
        full = key if ":" in key else f"hookstack:{key}"
        values[full] = value if isinstance(value, str) and full.startswith("aws:") else json.dumps(value)
    return values


def run_program(
    config: Mapping[str, Any],
    *,
    secret_keys: Iterable[str] = (),
    stack: str = "dev",
    project: str = "hookstack",
    program: Path = PROGRAM,
    region: str = REGION,
    vpcs: Mapping[str, Mapping[str, Any]] | None = None,
) -> Program:
    """Evaluate ``program`` under mocks with ``config`` (keys with or without ``hookstack:``)."""
    settings.ROOT.set(None)
    mocks = RecordingMocks(region=region, vpcs=vpcs)
    _evaluated_region[0] = region
    pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=False)
    values = config_values(config, region)
    secrets = [k if ":" in k else f"hookstack:{k}" for k in secret_keys]
    pulumi.runtime.set_all_config(values, secrets)
    def evaluate() -> None:
        runpy.run_path(str(program), run_name="__main__")

    try:
        _sync_await(run_pulumi_func(evaluate))
    except Exception as error:
        # What had been declared when the program failed (a failing check must come before resources).
        error.declared = list(mocks.resources)  # type: ignore[attr-defined]
        raise
    root = settings.get_root_resource()
    outputs: dict[str, Any] = {}
    secret_outputs: set[str] = set()
    for key, value in (getattr(root, "outputs", None) or {}).items():
        output = pulumi.Output.from_input(value)
        outputs[key] = _sync_await(output.future())
        if _sync_await(output.is_secret()):
            secret_outputs.add(key)
    return Program(resources=mocks.resources, outputs=outputs, secret_outputs=secret_outputs, calls=mocks.calls)


def load_stack_file_config(path: Path) -> tuple[dict[str, Any], list[str]]:
    """The ``hookstack:`` values of a stack file and the keys that hold ``secure:`` values.

    ``secure:`` ciphertexts cannot be decrypted without the Pulumi CLI, so they are replaced by a
    recognisable placeholder, as the engine would hand the program the decrypted text.
    """
    from components.config import read_stack_file

    config: dict[str, Any] = {}
    secret_keys: list[str] = []
    for key, value in read_stack_file(path).config.items():
        if not key.startswith("hookstack:"):
            continue
        replaced, had_secret = _replace_secure(value, key)
        config[key] = replaced
        if had_secret:
            secret_keys.append(key)
    return config, secret_keys


def _replace_secure(value: Any, path: str) -> tuple[Any, bool]:
    if isinstance(value, Mapping):
        if set(value) == {"secure"}:
            # Shaped like a Standard Webhooks secret, so it is valid wherever a secret is expected.
            key = hashlib.sha256(path.encode()).digest()[:24]
            return "whsec_" + base64.b64encode(key).decode(), True
        found = False
        out = {}
        for k, v in value.items():
            out[k], had = _replace_secure(v, f"{path}.{k}")
            found = found or had
        return out, found
    if isinstance(value, list):
        found = False
        items = []
        for i, v in enumerate(value):
            item, had = _replace_secure(v, f"{path}[{i}]")
            items.append(item)
            found = found or had
        return items, found
    return value, False
