"""Read the ``hookstack:`` stack configuration from Pulumi and turn secrets into Pulumi secrets."""

from __future__ import annotations

from typing import Any

import pulumi
from pulumi.runtime import config as runtime_config

from components.config import NAMESPACE, Secret, StackConfig, StackConfigError, parse_stack_config


def raw_values() -> dict[str, Any]:
    """Every ``hookstack:*`` key the engine passed, JSON-decoded (``Config.get_object``)."""
    prefix = f"{NAMESPACE}:"
    keys = set(runtime_config.CONFIG.get()) | set(runtime_config.get_config_env())
    config = pulumi.Config(NAMESPACE)
    values: dict[str, Any] = {}
    for full_key in sorted(k for k in keys if k.startswith(prefix)):
        key = full_key[len(prefix):]
        try:
            values[key] = config.get_object(key)
        except pulumi.ConfigTypeError:
            values[key] = config.get(key)  # a plain string (alarmEmail)
    return values


def load_config() -> StackConfig:
    """The validated stack configuration; every problem is reported at once, before any resource."""
    try:
        return parse_stack_config(raw_values(), stack=pulumi.get_stack())
    except StackConfigError as error:
        for problem in error.problems:
            pulumi.log.error(str(problem))
        raise pulumi.RunError(str(error)) from None


def secret(value: Secret) -> pulumi.Output[str]:
    """A configuration secret as a Pulumi secret: encrypted in state, masked in every output."""
    return pulumi.Output.secret(value.reveal())
