"""What AWS answers for the resources and data sources hookstack declares, in AWS's own shapes.

The preview's mocks (:mod:`sandbox.preview`) fill in what AWS would compute when it creates a
resource: physical names (autonamed ones with Pulumi's ``-xxxxxxx`` suffix), ARNs (API destination
and connection ARNs end in the 36-character UUID EventBridge appends), URLs and identifiers, so that
policies built from them and sized against AWS's limits are checked on realistic values; and what
the data sources the program calls return (caller identity, region, partition, availability zones
including an opted-in Local Zone, VPC lookups). Deterministic: the same logical name always gets the
same values. Pure Python (inputs arrive without Pulumi's secret envelopes).
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Mapping
from typing import Any

ACCOUNT = "123456789012"
REGION = "us-east-1"


def autoname(logical: str) -> str:
    """Pulumi's autonaming: the logical name, ``-`` and 7 hex characters."""
    return f"{logical}-{hashlib.sha256(logical.encode()).hexdigest()[:7]}"


def stable_uuid(seed: str) -> str:
    """A UUID (36 characters) derived from ``seed``, as AWS appends to some ARNs."""
    return str(uuid.UUID(bytes=hashlib.sha256(seed.encode()).digest()[:16]))


# Zones DescribeAvailabilityZones returns for an account that opted in to a Local Zone: sorted, the
# Local Zone comes first ("us-east-1-bos-1a" < "us-east-1a"), and it cannot host Aurora.
def availability_zones(region: str) -> list[dict[str, str]]:
    return [
        {"name": f"{region}-bos-1a", "zoneId": "use1-bos1-az1", "optInStatus": "opted-in", "state": "available"},
        *(
            {"name": f"{region}{z}", "zoneId": f"az-{z}", "optInStatus": "opt-in-not-required", "state": "available"}
            for z in "abc"
        ),
    ]


def data_source(
    function: str, args: Mapping[str, Any], *, region: str, vpcs: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any]:
    """What a data source (``aws.get_*``) returns; ``vpcs`` describes existing VPCs by id.

    A data source this does not know returns nothing (``{}``): the program then fails on the
    missing value, naming it, rather than running on an invented one.
    """
    if function == "aws:index/getCallerIdentity:getCallerIdentity":
        return {"accountId": ACCOUNT, "arn": f"arn:aws:iam::{ACCOUNT}:user/test", "userId": "AIDTEST", "id": ACCOUNT}
    if function == "aws:index/getRegion:getRegion":
        return {"name": region, "region": region, "id": region, "description": region}
    if function == "aws:index/getPartition:getPartition":
        return {"partition": "aws", "dnsSuffix": "amazonaws.com", "id": "aws"}
    if function == "aws:index/getAvailabilityZones:getAvailabilityZones":
        zones = [z for z in availability_zones(region) if _zone_matches(z, args)]
        return {"names": [z["name"] for z in zones], "zoneIds": [z["zoneId"] for z in zones], "id": region}
    if function == "aws:ec2/getVpc:getVpc":
        vpc_id = str(args.get("id"))
        found = {"enableDnsSupport": True, "enableDnsHostnames": True, **vpcs.get(vpc_id, {})}
        return {
            "id": vpc_id,
            "arn": f"arn:aws:ec2:{region}:{ACCOUNT}:vpc/{vpc_id}",
            "cidrBlock": "10.0.0.0/16",
            **found,
        }
    return {}


def _zone_matches(zone: Mapping[str, str], args: Mapping[str, Any]) -> bool:
    """DescribeAvailabilityZones' ``state`` and ``opt-in-status`` filters, as the data source passes them."""
    if args.get("state") and zone["state"] != args["state"]:
        return False
    for item in args.get("filters") or []:
        key = {"opt-in-status": "optInStatus", "zone-name": "name", "state": "state"}.get(item["name"])
        if key is None:
            raise ValueError(f"the preview does not know the availability zone filter {item['name']!r}")
        if zone[key] not in item["values"]:
            return False
    return True


def aws_state(typ: str, logical: str, inputs: Mapping[str, Any], *, region: str = REGION) -> dict[str, Any]:
    """What AWS fills in when it creates a resource of type ``typ``: physical name, ARN, URLs."""
    name = inputs.get("name") or autoname(logical)
    if inputs.get("namePrefix"):
        name = f"{inputs['namePrefix']}{hashlib.sha256(logical.encode()).hexdigest()[:26]}"
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
        bus = inputs.get("eventBusName") or "default"
        path = f"rule/{name}" if bus == "default" else f"rule/{bus}/{name}"
        state["arn"] = f"{base.format(service='events')}:{path}"
    elif typ == "aws:cloudwatch/eventApiDestination:EventApiDestination":
        # EventBridge appends a UUID: arn:aws:events:<region>:<account>:api-destination/<name>/<uuid>
        state["arn"] = f"{base.format(service='events')}:api-destination/{name}/{stable_uuid(logical)}"
    elif typ == "aws:cloudwatch/eventConnection:EventConnection":
        connection_id = stable_uuid(logical)
        state["arn"] = f"{base.format(service='events')}:connection/{name}/{connection_id}"
        state["secretArn"] = (
            f"{base.format(service='secretsmanager')}:secret:events!connection/{name}/{connection_id}-AbCdEf"
        )
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
        bucket = inputs.get("bucket") or autoname(logical).lower()
        state.update(
            bucket=bucket,
            name=bucket,
            arn=f"arn:aws:s3:::{bucket}",
            bucketRegionalDomainName=f"{bucket}.s3.{region}.amazonaws.com",
        )
    elif typ == "aws:cloudfront/distribution:Distribution":
        distribution_id = f"E{uid[:13].upper()}"
        state.update(
            arn=f"arn:aws:cloudfront::{ACCOUNT}:distribution/{distribution_id}",
            domainName=f"d{uid[:13]}.cloudfront.net",
        )
    elif typ == "aws:s3/directoryBucket:DirectoryBucket":
        # S3 Express One Zone: the name is given (<base>--<zone id>--x-s3), the ARN is s3express's.
        state.update(bucket=inputs["bucket"], arn=f"{base.format(service='s3express')}:bucket/{inputs['bucket']}")
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
        cluster_id = inputs.get("clusterIdentifier") or autoname(logical)
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
        alias = inputs.get("name") or f"{inputs.get('namePrefix', 'alias/')}{uid[:26]}"
        state.update(name=alias, arn=f"{base.format(service='kms')}:{alias}")
    elif typ == "random:index/randomBytes:RandomBytes":
        # Deterministic stand-in for the random bytes the provider generates once and keeps in state.
        data = hashlib.sha256(f"random:{logical}".encode()).digest()[: int(inputs.get("length", 32))]
        state.update(base64=base64.b64encode(data).decode(), hex=data.hex())
    elif typ == "random:index/randomId:RandomId":
        # Generated once per create (a replacement, e.g. new keepers, generates a new one).
        seed = json.dumps([logical, inputs.get("keepers")], sort_keys=True)
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
