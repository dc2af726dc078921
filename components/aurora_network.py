"""The Aurora relay's network: where the cluster lives and how it reaches the Lambda API.

The VPC from the config (``vpcId`` + ``subnetIds``; with the endpoint path its DNS support and DNS
hostnames are checked with the rest of the configuration, before any resource, by
:func:`components.stack_config.live_problems`, as the endpoint's private DNS name needs both) or a new
one with two private subnets in two standard AZs (``opt-in-not-required``: never a Local or
Wavelength Zone the account opted in to) and DNS support + hostnames; a path from the database to
the Lambda API, either a Lambda interface endpoint with private DNS (``lambdaNetworkPath:
endpoint``; its security group takes 443 from the database's only) or, in a created VPC, a NAT
gateway in a public subnet (``nat``; with a given VPC ``nat`` means "already routed": nothing is
created); security groups where the database takes 5432 only from members of its own group and
sends 443 only to the path.

Every resource is a child of the :class:`components.aurora.AuroraRelay` given as ``parent``, under
the logical name it always had (URNs are stable).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from components.common import child
from components.config import AuroraSettings

POSTGRES_PORT = 5432
HTTPS_PORT = 443
# Availability zones that need no opt-in: never a Local Zone or Wavelength Zone (no Aurora there).
STANDARD_ZONES = aws.GetAvailabilityZonesFilterArgs(name="opt-in-status", values=["opt-in-not-required"])


@dataclass(frozen=True)
class AuroraNetwork:
    """Where the cluster lives and how it reaches the Lambda API (returned by :func:`create_network`)."""

    vpc_id: pulumi.Input[str]
    """The given VPC's id, or the created VPC's."""
    subnet_ids: Sequence[pulumi.Input[str]]
    """The private subnets the cluster's subnet group spans (two AZs at least)."""
    database_security_group: aws.ec2.SecurityGroup
    """The cluster's: 5432 from its own members, 443 out to the Lambda API path only."""
    path_resources: list[pulumi.Resource]
    """What the database needs to reach the Lambda API (empty when the given VPC provides it)."""
    vpc: aws.ec2.Vpc | None = None
    """The created VPC (none when the config names one)."""
    private_subnets: list[aws.ec2.Subnet] = field(default_factory=list)
    """The created VPC's private subnets, one per AZ (empty when the config names a VPC)."""
    lambda_endpoint: aws.ec2.VpcEndpoint | None = None
    """The Lambda interface endpoint (``lambdaNetworkPath: endpoint``; none with ``nat``)."""


def _zone(index: int) -> Any:
    return lambda names: names[index]


def create_network(
    n: str, settings: AuroraSettings, parent: pulumi.Resource, region: pulumi.Input[str]
) -> AuroraNetwork:
    """The network of the component named ``n`` (its resources are ``parent``'s children)."""
    path_resources: list[pulumi.Resource] = []
    vpc: aws.ec2.Vpc | None = None
    private_subnets: list[aws.ec2.Subnet] = []
    lambda_endpoint: aws.ec2.VpcEndpoint | None = None
    if settings.vpc_id:
        vpc_id: pulumi.Input[str] = settings.vpc_id
        subnet_ids: list[pulumi.Input[str]] = list(settings.subnet_ids)
    else:
        vpc = aws.ec2.Vpc(
            f"{n}-vpc",
            cidr_block=settings.vpc_cidr,
            # Both are required for the interface endpoint's private DNS name to resolve.
            enable_dns_support=True,
            enable_dns_hostnames=True,
            tags={"Name": f"{n}-vpc"},
            opts=child(parent),
        )
        vpc_id = vpc.id
        zones = aws.get_availability_zones_output(
            state="available", filters=[STANDARD_ZONES], opts=pulumi.InvokeOutputOptions(parent=parent)
        )
        blocks = list(ipaddress.IPv4Network(settings.vpc_cidr).subnets(prefixlen_diff=2))
        private_routes = aws.ec2.RouteTable(
            f"{n}-private-rt", vpc_id=vpc.id, tags={"Name": f"{n}-private"}, opts=child(parent)
        )
        for index in range(2):
            subnet = aws.ec2.Subnet(
                f"{n}-private-{index}",
                vpc_id=vpc.id,
                cidr_block=str(blocks[index]),
                availability_zone=zones.names.apply(_zone(index)),
                map_public_ip_on_launch=False,
                tags={"Name": f"{n}-private-{index}"},
                opts=child(parent),
            )
            aws.ec2.RouteTableAssociation(
                f"{n}-private-{index}-rt", subnet_id=subnet.id, route_table_id=private_routes.id, opts=child(parent)
            )
            private_subnets.append(subnet)
        subnet_ids = [s.id for s in private_subnets]
        if settings.lambda_network_path == "nat":
            path_resources.extend(_nat(n, parent, vpc, zones, str(blocks[2]), private_routes))

    database_sg = aws.ec2.SecurityGroup(
        f"{n}-db-sg",
        vpc_id=vpc_id,
        description="hookstack Aurora cluster: 5432 from this group only; 443 out to the Lambda API path",
        opts=child(parent),
    )
    aws.vpc.SecurityGroupIngressRule(
        f"{n}-db-from-members",
        security_group_id=database_sg.id,
        referenced_security_group_id=database_sg.id,
        ip_protocol="tcp",
        from_port=POSTGRES_PORT,
        to_port=POSTGRES_PORT,
        description="PostgreSQL from members of this group (attach it to a bastion to run psql)",
        opts=child(parent),
    )
    if settings.lambda_network_path == "endpoint":
        lambda_endpoint = _lambda_endpoint(n, parent, region, vpc_id, subnet_ids, database_sg)
        path_resources.append(lambda_endpoint)
    else:
        aws.vpc.SecurityGroupEgressRule(
            f"{n}-db-to-lambda-api",
            security_group_id=database_sg.id,
            # The Lambda API has no fixed addresses or managed prefix list to narrow this to.
            cidr_ipv4="0.0.0.0/0",
            ip_protocol="tcp",
            from_port=HTTPS_PORT,
            to_port=HTTPS_PORT,
            description="HTTPS to the Lambda API through NAT",
            opts=child(parent),
        )
    if vpc is None and settings.lambda_network_path == "nat":
        pulumi.log.info(
            "aurora: lambdaNetworkPath nat with a given VPC creates no route; its subnets must reach the Lambda API",
            resource=parent,
        )
    return AuroraNetwork(vpc_id, subnet_ids, database_sg, path_resources, vpc, private_subnets, lambda_endpoint)


def _lambda_endpoint(
    n: str,
    parent: pulumi.Resource,
    region: pulumi.Input[str],
    vpc_id: pulumi.Input[str],
    subnet_ids: Sequence[pulumi.Input[str]],
    database_sg: aws.ec2.SecurityGroup,
) -> aws.ec2.VpcEndpoint:
    endpoint_sg = aws.ec2.SecurityGroup(
        f"{n}-lambda-endpoint-sg",
        vpc_id=vpc_id,
        description="hookstack Lambda interface endpoint: HTTPS from the Aurora cluster only",
        opts=child(parent),
    )
    aws.vpc.SecurityGroupIngressRule(
        f"{n}-endpoint-from-db",
        security_group_id=endpoint_sg.id,
        referenced_security_group_id=database_sg.id,
        ip_protocol="tcp",
        from_port=HTTPS_PORT,
        to_port=HTTPS_PORT,
        description="HTTPS from the Aurora cluster (aws_lambda.invoke)",
        opts=child(parent),
    )
    aws.vpc.SecurityGroupEgressRule(
        f"{n}-db-to-endpoint",
        security_group_id=database_sg.id,
        referenced_security_group_id=endpoint_sg.id,
        ip_protocol="tcp",
        from_port=HTTPS_PORT,
        to_port=HTTPS_PORT,
        description="HTTPS to the Lambda interface endpoint",
        opts=child(parent),
    )
    return aws.ec2.VpcEndpoint(
        f"{n}-lambda-endpoint",
        vpc_id=vpc_id,
        service_name=pulumi.Output.concat("com.amazonaws.", region, ".lambda"),
        vpc_endpoint_type="Interface",
        private_dns_enabled=True,
        subnet_ids=list(subnet_ids),
        security_group_ids=[endpoint_sg.id],
        tags={"Name": f"{n}-lambda"},
        opts=child(parent),
    )


def _nat(
    n: str, parent: pulumi.Resource, vpc: aws.ec2.Vpc, zones: Any, public_cidr: str, private_routes: aws.ec2.RouteTable
) -> list[pulumi.Resource]:
    gateway = aws.ec2.InternetGateway(f"{n}-igw", vpc_id=vpc.id, tags={"Name": f"{n}-igw"}, opts=child(parent))
    public = aws.ec2.Subnet(
        f"{n}-public-0",
        vpc_id=vpc.id,
        cidr_block=public_cidr,
        availability_zone=zones.names.apply(_zone(0)),
        map_public_ip_on_launch=False,
        tags={"Name": f"{n}-public-0"},
        opts=child(parent),
    )
    public_routes = aws.ec2.RouteTable(
        f"{n}-public-rt", vpc_id=vpc.id, tags={"Name": f"{n}-public"}, opts=child(parent)
    )
    aws.ec2.Route(
        f"{n}-public-default",
        route_table_id=public_routes.id,
        destination_cidr_block="0.0.0.0/0",
        gateway_id=gateway.id,
        opts=child(parent),
    )
    aws.ec2.RouteTableAssociation(
        f"{n}-public-0-rt", subnet_id=public.id, route_table_id=public_routes.id, opts=child(parent)
    )
    address = aws.ec2.Eip(f"{n}-nat-ip", domain="vpc", opts=child(parent, depends_on=[gateway]))
    nat = aws.ec2.NatGateway(f"{n}-nat", subnet_id=public.id, allocation_id=address.id, opts=child(parent))
    route = aws.ec2.Route(
        f"{n}-private-default",
        route_table_id=private_routes.id,
        destination_cidr_block="0.0.0.0/0",
        nat_gateway_id=nat.id,
        opts=child(parent),
    )
    return [nat, route]
