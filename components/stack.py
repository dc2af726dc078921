"""The one way into a stack: its validated configuration and the provider plan, built once.

:func:`load_stack` parses the ``hookstack:`` keys (field and cross-field checks,
:mod:`components.config`), builds the provider plan (:mod:`components.plan`) and checks AWS's
quotas on that plan, then raises one :class:`StackConfigError` listing every problem with its key
path, or returns both. The Pulumi program also passes the checks that ask AWS (``live_checks``: a
given VPC's DNS attributes), whose problems are reported with the others. The Pulumi program (``__main__.py`` through
:func:`components.stack_config.load_stack_from_pulumi`) and the sandbox
(``sandbox.runtime.load_local_config``) both call it and use ``stack.plan``; nothing else builds a
plan for them. Never imports ``pulumi``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from components.config import (
    NAMESPACE,
    ConfigProblem,
    StackConfig,
    StackConfigError,
    StackFile,
    default_bus_name,
    read_stack_config,
)
from components.config.stack_file import SecretResolver
from components.plan import ProviderPlan, build_provider_plan, quota_problems, resource_key

# Checks that look things up in the account (the Pulumi program's, components.stack_config): given
# the parsed configuration and the problems found so far (a key with a problem is not looked up),
# they return their own problems.
LiveChecks = Callable[[StackConfig, Sequence[ConfigProblem]], list[ConfigProblem]]


@dataclass(frozen=True)
class Stack:
    """A stack's validated configuration and the provider plan built from it."""

    config: StackConfig
    plan: ProviderPlan


def load_stack(
    raw: Mapping[str, Any], *, stack: str, local: bool = False, live_checks: LiveChecks | None = None
) -> Stack:
    """Parse ``raw`` (the ``hookstack:`` keys without the namespace), plan, and check the quotas.

    ``stack`` names the default entry bus (``hookstack-<stack>``) of the plan and of the quota
    messages; ``local=True`` is the sandbox's mode (see :func:`components.config.read_stack_config`).
    ``live_checks`` run right after parsing, whatever it found. Raises :class:`StackConfigError`
    listing every problem: field, cross-field, live and quota ones.
    """
    parsed = read_stack_config(raw, local=local)
    problems = list(parsed.problems)
    if live_checks is not None:
        problems += live_checks(parsed.config, tuple(problems))
    if _any_under(problems, "provider"):
        # The plan would be built from the provider section's defaults: its quota messages would
        # talk about buses and shards the user did not configure.
        raise StackConfigError(problems)
    plan = build_provider_plan(parsed.config, default_bus_name(stack))
    # Invalid tenants and destinations are left out of the model: fewer rules, so never a false
    # alarm, but the positions after them shift, so per-destination quota problems wait for a valid
    # tenants list (the ones about the whole stack are reported at once).
    positions_exact = not _any_under(problems, "tenants")
    found = name_collisions(parsed.config) + quota_problems(parsed.config, plan)
    problems += [p for p in found if positions_exact or "[" not in p.path]
    if problems:
        raise StackConfigError(problems)
    return Stack(parsed.config, plan)


def load_stack_from_file(
    stack_file: StackFile, *, stack: str, local: bool = False, secret_resolver: SecretResolver | None = None
) -> Stack:
    """:func:`load_stack` on a stack file's ``hookstack:`` keys; every problem names its file and line.

    ``secret_resolver(key_path, value)`` replaces each ``{secure: ...}`` value (the sandbox generates
    local secrets for the values only the Pulumi CLI could decrypt).
    """
    try:
        return load_stack(stack_file.resolved_values(secret_resolver), stack=stack, local=local)
    except StackConfigError as error:
        raise stack_file.located(error) from None


def name_collisions(config: StackConfig) -> list[ConfigProblem]:
    """Destinations whose resources would get another destination's names: both engines name them
    ``<component>-<resource_key(tenant, destination)>-<word>``, and tenant ``a-b`` destination ``c`` has
    the key of tenant ``a`` destination ``b-c`` (a duplicate URN at ``pulumi up``, one connection name)."""
    problems: list[ConfigProblem] = []
    named: dict[str, tuple[str, str]] = {}  # resource key -> the (tenant, destination) that has it
    for tenant_index, tenant in enumerate(config.tenants):
        for destination_index, destination in enumerate(tenant.destinations):
            key = resource_key(tenant.id, destination.name)
            owner = named.setdefault(key, (tenant.id, destination.name))
            if owner != (tenant.id, destination.name):
                problems.append(
                    ConfigProblem(
                        f"{NAMESPACE}:tenants[{tenant_index}].destinations[{destination_index}].name",
                        f"its resources would be named like those of tenant {owner[0]!r} destination {owner[1]!r} "
                        f"({key}: the tenant id and the destination name joined by '-'); rename one of them",
                    )
                )
    return problems


def _any_under(problems: Sequence[ConfigProblem], key: str) -> bool:
    return any(p.path.startswith(f"{NAMESPACE}:{key}") for p in problems)
