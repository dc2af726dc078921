"""``hookstack:aurora``: the Aurora PostgreSQL cluster, its network, and the outbox relay's sweeps."""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from components.config.model import NAMESPACE, AuroraSettings, ConfigProblem
from components.config.reader import Reader

AURORA_KEYS = (
    "enabled",
    "engineVersion",
    "databaseName",
    "masterUsername",
    "minCapacity",
    "maxCapacity",
    "deletionProtection",
    "skipFinalSnapshot",
    "vpcId",
    "subnetIds",
    "vpcCidr",
    "lambdaNetworkPath",
    "sweepIntervalMinutes",
    "sweepGraceSeconds",
)
NETWORK_PATHS = ("endpoint", "nat")
VPC_ID_KEY = f"{NAMESPACE}:aurora.vpcId"


def parse_aurora(reader: Reader, value: Any) -> AuroraSettings:
    raw, path = reader.section(value, "aurora", AURORA_KEYS)
    defaults = AuroraSettings()
    version = reader.get(raw, "engineVersion", path, str, default=defaults.engine_version)
    if not re.fullmatch(r"^1[3-7](\.\d+)?$", version):
        reader.problem(
            f"{path}.engineVersion", f"must be an Aurora PostgreSQL version 13..17 like 16.6; got {version!r}"
        )
        version = defaults.engine_version
    elif not _data_api_supported(version):
        reader.problem(
            f"{path}.engineVersion",
            "must support the RDS Data API (13.11+, 14.8+, 15.3+, 16.1+, 17.4+); got " + repr(version),
        )
    database = reader.get(raw, "databaseName", path, str, default=defaults.database_name)
    if not re.fullmatch(r"^[A-Za-z][A-Za-z0-9_]{0,62}$", database):
        reader.problem(
            f"{path}.databaseName", "must be 1-63 characters of letters, digits and '_', starting with a letter"
        )
    username = reader.get(raw, "masterUsername", path, str, default=defaults.master_username)
    if not re.fullmatch(r"^[A-Za-z][A-Za-z0-9_]{0,15}$", username) or username in ("postgres", "rdsadmin", "admin"):
        reader.problem(
            f"{path}.masterUsername", "must be 1-16 characters of letters, digits and '_', not a reserved name"
        )
    min_capacity = reader.float_in(raw, "minCapacity", path, 0.0, 256.0, defaults.min_capacity)
    max_capacity = reader.float_in(raw, "maxCapacity", path, 1.0, 256.0, defaults.max_capacity)
    for key, capacity in (("minCapacity", min_capacity), ("maxCapacity", max_capacity)):
        if capacity * 2 != int(capacity * 2):
            reader.problem(f"{path}.{key}", "must be a multiple of 0.5 ACU")
    if min_capacity > max_capacity:
        reader.problem(f"{path}.minCapacity", f"must not exceed maxCapacity ({max_capacity})")
    vpc_id = reader.get(raw, "vpcId", path, str)
    subnet_ids = reader.strings(raw, "subnetIds", path)
    reader.unique([(f"{path}.subnetIds[{i}]", s) for i, s in enumerate(subnet_ids)], "subnet")
    if vpc_id and len(set(subnet_ids)) < 2:
        reader.problem(f"{path}.subnetIds", "needs at least two private subnets in different AZs when vpcId is set")
    if subnet_ids and not vpc_id:
        reader.problem(f"{path}.vpcId", "is required when subnetIds is set")
    vpc_cidr = reader.get(raw, "vpcCidr", path, str, default=defaults.vpc_cidr)
    try:
        network = ipaddress.IPv4Network(vpc_cidr)
        if not 16 <= network.prefixlen <= 24:
            reader.problem(f"{path}.vpcCidr", "must be an IPv4 CIDR between /16 and /24")
    except ValueError:
        reader.problem(f"{path}.vpcCidr", f"must be an IPv4 CIDR like 10.40.0.0/16; got {vpc_cidr!r}")
    return AuroraSettings(
        enabled=bool(reader.get(raw, "enabled", path, bool, default=defaults.enabled)),
        engine_version=version,
        database_name=database,
        master_username=username,
        min_capacity=min_capacity,
        max_capacity=max_capacity,
        deletion_protection=bool(
            reader.get(raw, "deletionProtection", path, bool, default=defaults.deletion_protection)
        ),
        skip_final_snapshot=bool(
            reader.get(raw, "skipFinalSnapshot", path, bool, default=defaults.skip_final_snapshot)
        ),
        vpc_id=vpc_id,
        subnet_ids=subnet_ids,
        vpc_cidr=vpc_cidr,
        lambda_network_path=reader.choice(
            raw, "lambdaNetworkPath", path, NETWORK_PATHS, default=defaults.lambda_network_path
        )
        or defaults.lambda_network_path,
        sweep_interval_minutes=reader.int_in(raw, "sweepIntervalMinutes", path, 1, 60, defaults.sweep_interval_minutes),
        sweep_grace_seconds=reader.int_in(raw, "sweepGraceSeconds", path, 10, 3600, defaults.sweep_grace_seconds),
    )


def needs_vpc_dns_lookup(settings: AuroraSettings) -> bool:
    """Whether the given VPC must be looked up: the Lambda interface endpoint hookstack creates in it
    has private DNS, whose name only resolves with the VPC's DNS support and DNS hostnames on (with
    ``nat`` hookstack creates nothing in a given VPC; a created VPC gets both attributes)."""
    return settings.enabled and bool(settings.vpc_id) and settings.lambda_network_path == "endpoint"


def private_dns_problem(
    vpc_id: str, enable_dns_support: bool | None, enable_dns_hostnames: bool | None
) -> ConfigProblem | None:
    """The problem with a given VPC whose attributes the endpoint's private DNS name needs are off."""
    attributes = (("enableDnsSupport", enable_dns_support), ("enableDnsHostnames", enable_dns_hostnames))
    missing = [name for name, on in attributes if not on]
    if not missing:
        return None
    return ConfigProblem(
        VPC_ID_KEY,
        f"VPC {vpc_id} has {' and '.join(missing)} off; the Lambda interface endpoint hookstack creates "
        "with private DNS needs both on (aws ec2 modify-vpc-attribute "
        f"--vpc-id {vpc_id} --enable-dns-support / --enable-dns-hostnames)",
    )


def _data_api_supported(version: str) -> bool:
    minimum = {13: 11, 14: 8, 15: 3, 16: 1, 17: 4}
    major, _, minor = version.partition(".")
    return not minor or int(minor) >= minimum[int(major)]
