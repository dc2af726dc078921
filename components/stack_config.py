"""Read the ``hookstack:`` stack configuration from Pulumi: the program's way into :func:`load_stack`.

Besides the checks :func:`load_stack` makes on the values alone, the program asks AWS what the
values name (:func:`live_problems`): a given ``aurora.vpcId`` must have DNS support and DNS
hostnames on for the Lambda endpoint's private DNS name. These are plain, blocking lookups (also in
``pulumi preview``), run here so that their problems are reported with every other one, before any
resource is declared. The sandbox does not make them: it runs no Aurora networking.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pulumi
import pulumi_aws as aws
from pulumi.runtime import config as runtime_config

from components.config import NAMESPACE, ConfigProblem, StackConfig, StackConfigError
from components.config.aurora import VPC_ID_KEY, needs_vpc_dns_lookup, private_dns_problem
from components.stack import Stack, load_stack


def raw_values() -> dict[str, Any]:
    """Every ``hookstack:*`` key the engine passed, JSON-decoded (``Config.get_object``)."""
    prefix = f"{NAMESPACE}:"
    keys = set(runtime_config.CONFIG.get()) | set(runtime_config.get_config_env())
    config = pulumi.Config(NAMESPACE)
    values: dict[str, Any] = {}
    for full_key in sorted(k for k in keys if k.startswith(prefix)):
        key = full_key[len(prefix) :]
        try:
            values[key] = config.get_object(key)
        except pulumi.ConfigTypeError:
            values[key] = config.get(key)  # a plain string (alarmEmail)
    return values


def live_problems(config: StackConfig, found: Sequence[ConfigProblem]) -> list[ConfigProblem]:
    """What AWS says about the resources the configuration names (a key already refused is not looked up)."""
    aurora = config.aurora
    if not needs_vpc_dns_lookup(aurora) or any(p.path.startswith(VPC_ID_KEY) for p in found):
        return []
    vpc_id = str(aurora.vpc_id)
    try:
        vpc = aws.ec2.get_vpc(id=vpc_id)
    except Exception as error:  # the engine raises a bare Exception for a failed invoke (no such VPC)
        return [ConfigProblem(VPC_ID_KEY, f"VPC {vpc_id} could not be looked up: {error}")]
    problem = private_dns_problem(vpc_id, vpc.enable_dns_support, vpc.enable_dns_hostnames)
    return [problem] if problem else []


def load_stack_from_pulumi() -> Stack:
    """The validated configuration and the provider plan of this stack; every problem (field,
    cross-field, live lookups, quota) is reported at once, before any resource."""
    try:
        return load_stack(raw_values(), stack=pulumi.get_stack(), live_checks=live_problems)
    except StackConfigError as error:
        for problem in error.problems:
            pulumi.log.error(str(problem))
        raise pulumi.RunError(str(error)) from None
