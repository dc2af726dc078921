"""Evaluate ``__main__.py`` under recording Pulumi mocks: what ``pulumi up`` would declare, offline.

``run_program(config)`` evaluates the whole program fresh (``runpy.run_path``) with ``preview=False``
(with ``preview=True`` callbacks on unknown values never run, and checks built on them would pass
silently). Every resource is recorded as a :class:`Declared`: type, logical name, resolved inputs,
the state the mocks answered (in AWS's shapes, :mod:`sandbox.preview_aws`), and its URN, parent and
aliases as the Pulumi engine computes them (:class:`RecordingMonitor`), so a refactoring can prove
that URNs stay stable. ``python -m sandbox plan`` prints a summary; the tests assert on it.

Secret inputs keep Pulumi's secret envelope, so ``is_secret(value)`` tells whether a value reached
the engine as a secret; ``reveal(value)`` strips envelopes for comparisons.

The only module of the sandbox that imports ``pulumi``: ``sandbox plan`` imports it lazily, so the
rest of the sandbox runs without the Pulumi SDK installed.
"""

from __future__ import annotations

import base64
import hashlib
import json
import runpy
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import settings
from pulumi.runtime.mocks import MockMonitor
from pulumi.runtime.proto import alias_pb2, resource_pb2
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from sandbox.preview_aws import REGION, aws_state, data_source

PROGRAM = Path(__file__).resolve().parent.parent / "__main__.py"
# How the Pulumi SDK marks a secret value on the wire (pulumi.runtime.rpc): signatures, not secrets.
SECRET_SIG_KEY = "4dabf18193072939515e22adb298388d"  # noqa: S105
SECRET_SIG_VALUE = "1b47061264138c4ac30d75fd1eb44270"  # noqa: S105
ROOT_STACK_TYPE = "pulumi:pulumi:Stack"


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


@dataclass
class Declared:
    """One resource the program declared."""

    type: str
    name: str
    """The logical name (the last part of the URN)."""
    inputs: dict[str, Any]
    """The resolved inputs, secrets still in their envelopes."""
    state: dict[str, Any]
    """The inputs plus what AWS fills in (:func:`sandbox.preview_aws.aws_state`)."""
    parent: str | None = None
    """The parent's URN (the root stack for top-level resources)."""
    urn: str = ""
    """The URN the engine gives the resource (:meth:`RecordingMonitor.make_urn`)."""
    aliases: list[str] = field(default_factory=list)
    """The URNs the resource's aliases resolve to (a resource found under one of them is kept)."""

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
    """Answers like AWS would for the properties the program reads back, and records every resource."""

    def __init__(self, region: str = REGION, vpcs: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        self.region = region
        self.vpcs = dict(vpcs or {})
        self.resources: list[Declared] = []
        self.calls: list[tuple[str, dict[str, Any]]] = []
        # The engine registers resources from a thread pool: the monitor finds the record this
        # thread just made (to add the URN) here, not by position in ``resources``.
        self.last_declared = threading.local()

    def state(self, typ: str, logical: str, inputs: Mapping[str, Any]) -> dict[str, Any]:
        """What AWS fills in for this resource (override to answer differently)."""
        return aws_state(typ, logical, reveal(inputs), region=self.region)

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        inputs = dict(args.inputs)
        state = dict(inputs)
        state.update(self.state(args.typ, args.name, inputs))
        declared = Declared(args.typ, args.name, inputs, state)
        self.resources.append(declared)
        self.last_declared.value = declared
        return f"{state.get('name', args.name)}-id", state

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:  # type: ignore[override] # the SDK accepts a bare dict
        self.calls.append((args.token, dict(args.args)))
        return data_source(args.token, args.args, region=self.region, vpcs=self.vpcs)


class RecordingMonitor(MockMonitor):
    """The SDK's mock engine, with the real engine's URNs and alias resolution, recording both.

    ``MockMonitor`` qualifies a child's type with its parent's last type only and keeps the root
    stack's type in top-level URNs; the engine qualifies it with the parent's whole type chain and
    leaves the root stack out (pkg/resource/deploy ``generateURN``). Aliases are resolved to URNs as
    the engine's step generator does (``collapseAliasToUrn``: a field left empty is the resource's
    own; no parent, or the root stack, means top level); aliases inherited from a parent's aliases
    are not modelled (hookstack's components have none). With ``alias_specs=False`` the monitor does
    not offer alias specs, so the SDK computes alias URNs itself, as it does for older engines.
    """

    def __init__(self, mocks: RecordingMocks, *, alias_specs: bool = True) -> None:
        super().__init__(mocks)
        self.recording = mocks
        self.alias_specs = alias_specs

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        qualified = type_
        if parent:
            parent_type = parent.split("::")[2]
            if parent_type != ROOT_STACK_TYPE:
                qualified = f"{parent_type}${type_}"
        return f"urn:pulumi:{settings.get_stack()}::{settings.get_project()}::{qualified}::{name}"

    def GetDeploymentInfo(self, request: Any) -> Any:
        # Through typed names: the SDK's monitor methods are not annotated.
        base: Callable[[Any], Any] = super().GetDeploymentInfo
        info = base(request)
        if not self.alias_specs:
            features = [f for f in info.supportedFeatures if f != resource_pb2.RESOURCE_MONITOR_FEATURE_ALIAS_SPECS]
            return resource_pb2.DeploymentInfo(supportedFeatures=features)
        return info

    def RegisterResource(self, request: Any) -> Any:
        self.recording.last_declared.value = None
        register: Callable[[Any], Any] = super().RegisterResource
        response = register(request)
        declared: Declared | None = self.recording.last_declared.value
        if declared is not None:
            declared.urn = response.urn
            declared.parent = request.parent or None
            declared.aliases = [self._alias_urn(alias, request) for alias in request.aliases]
            declared.aliases += list(request.aliasURNs)
        return response

    def _alias_urn(self, alias: alias_pb2.Alias, request: Any) -> str:
        if alias.WhichOneof("alias") == "urn":
            return str(alias.urn)
        spec = alias.spec
        parent = spec.parentUrn or request.parent
        if (spec.WhichOneof("parent") == "noParent" and spec.noParent) or parent.split("::")[2:3] == [ROOT_STACK_TYPE]:
            parent = ""
        stack, project = spec.stack or settings.get_stack(), spec.project or settings.get_project()
        # The engine's CreateURN: the parent's URN up to its name, then ``$`` and the type.
        prefix = f"{parent[: parent.rindex('::')]}$" if parent else f"urn:pulumi:{stack}::{project}::"
        return f"{prefix}{spec.type or request.type}::{spec.name or request.name}"


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
    mocks: RecordingMocks | None = None,
    alias_specs: bool = True,
) -> Program:
    """Evaluate ``program`` under mocks with ``config`` (keys with or without ``hookstack:``).

    ``vpcs`` describes existing VPCs for ``aws.ec2.get_vpc`` (default: DNS support and hostnames
    on); ``mocks`` replaces the default :class:`RecordingMocks` (then its own region and VPCs answer);
    ``alias_specs``: see :class:`RecordingMonitor`. A failing evaluation raises with ``declared``,
    what had been declared when it failed, set on the error.
    """
    settings.ROOT.set(None)
    recording = mocks if mocks is not None else RecordingMocks(region=region, vpcs=vpcs)
    monitor = RecordingMonitor(recording, alias_specs=alias_specs)
    pulumi.runtime.set_mocks(recording, project=project, stack=stack, preview=False, monitor=monitor)
    secrets = [k if ":" in k else f"hookstack:{k}" for k in secret_keys]
    pulumi.runtime.set_all_config(config_values(config, region), secrets)

    def evaluate() -> None:
        runpy.run_path(str(program), run_name="__main__")

    try:
        _sync_await(run_pulumi_func(evaluate))
    except Exception as error:
        # What had been declared when the program failed (a failing check must come before resources).
        error.declared = list(recording.resources)  # type: ignore[attr-defined]
        raise
    root = settings.get_root_resource()
    outputs: dict[str, Any] = {}
    secret_outputs: set[str] = set()
    for key, value in (getattr(root, "outputs", None) or {}).items():
        output = pulumi.Output.from_input(value)
        outputs[key] = _sync_await(output.future())
        if _sync_await(output.is_secret()):
            secret_outputs.add(key)
    return Program(resources=recording.resources, outputs=outputs, secret_outputs=secret_outputs, calls=recording.calls)


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
