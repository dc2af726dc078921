"""``python -m sandbox plan``: what ``pulumi up`` would declare for a stack file, by component and tenant.

The stack file is read and checked exactly as ``sandbox up`` reads it (``load_local_config``: the
same errors, with file and line), then ``__main__.py`` is evaluated under recording Pulumi mocks
(:mod:`sandbox.preview`, imported here only: the one command that needs the Pulumi SDK).

A sandbox stack file may point destinations at a local receiver (``http://127.0.0.1:PORT/...``),
which only ``up`` accepts: ``pulumi up`` refuses plain HTTP, and signed deliveries refuse loopback
hosts. Such URLs are planned as ``https://loopback.invalid:PORT/...`` (a name that never resolves)
and listed in a note; the resources and their names are what they would be for real endpoints.

Each resource is listed with its type, logical name, component (the hookstack component it belongs
to: ``EntryBus``, ``WebhookProvider``, ``SignedDelivery``, ``WebhookConsumer``, ``AuroraRelay``, or
``stack`` for those declared at top level) and tenant (for a destination's resources; none for
shared ones). ``--json`` prints ``{"resources": [{"type", "name", "component", "tenant"}...],
"outputs": {...}}``, the outputs as ``pulumi stack output --json`` prints them (secrets as
``"[secret]"``).
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from components.config import StackConfig, read_stack_file
from components.plan import resource_key

LOOPBACK_URL_RE = re.compile(r"^http://(127\.0\.0\.1|localhost|\[::1\])(?=[:/]|$)", re.IGNORECASE)
PLANNED_LOOPBACK_HOST = "https://loopback.invalid"
SECRET_OUTPUT = "[secret]"  # noqa: S105 - how `pulumi stack output --json` shows a secret output
COMPONENT_PREFIX = "hookstack:index:"
TOP_LEVEL = "stack"
# The secret keys of a destination's auth and signing blocks (README: the 🔒 rows).
_SECRET_KEYS = ("value", "password", "token", "clientSecret", "secret", "previousSecret")
# A destination's resources are named <component>-<key>-<word> (components/provider.py, delivery_endpoints.py).
_WORD_RE = re.compile(r"^[a-z]+$")


def stack_name_for(path: str) -> str:
    """``Pulumi.<name>.yaml`` -> ``<name>``; any other file -> ``sandbox`` (what ``up`` plans with)."""
    match = re.fullmatch(r"Pulumi\.([A-Za-z0-9_.-]+)\.ya?ml", Path(path).name)
    return match.group(1) if match else "sandbox"


def planned_urls(value: Any, path: str = "") -> tuple[Any, list[str]]:
    """``value`` with loopback ``http://`` URLs replaced by :data:`PLANNED_LOOPBACK_HOST`, and their key paths."""
    if isinstance(value, str):
        replaced = LOOPBACK_URL_RE.sub(PLANNED_LOOPBACK_HOST, value, count=1)
        return replaced, ([path] if replaced != value else [])
    if isinstance(value, Mapping):
        out, found = {}, []
        for key, item in value.items():
            out[key], paths = planned_urls(item, f"{path}.{key}" if path else str(key))
            found += paths
        return out, found
    if isinstance(value, list):
        items, found = [], []
        for index, item in enumerate(value):
            planned, paths = planned_urls(item, f"{path}[{index}]")
            items.append(planned)
            found += paths
        return items, found
    return value, []


def plain_secret_paths(values: Mapping[str, Any]) -> list[str]:
    """Key paths of the secrets (the README's 🔒 keys) a stack file gives in plain text, not ``secure:``."""
    found: list[tuple[str, Any]] = []
    tenants = values.get("tenants")
    for ti, tenant in enumerate(tenants if isinstance(tenants, list) else []):
        destinations = tenant.get("destinations") if isinstance(tenant, Mapping) else None
        for di, destination in enumerate(destinations if isinstance(destinations, list) else []):
            for part in ("auth", "signing"):
                block = destination.get(part) if isinstance(destination, Mapping) else None
                if isinstance(block, Mapping):
                    found += [
                        (f"tenants[{ti}].destinations[{di}].{part}.{key}", block.get(key)) for key in _SECRET_KEYS
                    ]
    consumer = values.get("consumer")
    sources = consumer.get("sources") if isinstance(consumer, Mapping) else None
    for si, source in enumerate(sources if isinstance(sources, list) else []):
        for key in ("secret", "previousSecret") if isinstance(source, Mapping) else ():
            found.append((f"consumer.sources[{si}].{key}", source.get(key)))
    return [f"hookstack:{path}" for path, value in found if isinstance(value, str) and value]


def pulumi_outputs(outputs: Mapping[str, Any], secret: set[str]) -> dict[str, Any]:
    """Outputs as ``pulumi stack output --json`` prints them: secrets hidden."""
    return {key: SECRET_OUTPUT if key in secret else value for key, value in outputs.items()}


def resource_rows(resources: list[Any], config: StackConfig) -> list[dict[str, str | None]]:
    """``{"type", "name", "component", "tenant"}`` per declared resource, in declaration order."""
    components = {r.urn: r for r in resources if r.type.startswith(COMPONENT_PREFIX)}
    keys = {
        resource_key(tenant.id, destination.name): tenant.id
        for tenant in config.tenants
        for destination in tenant.destinations
    }
    rows: list[dict[str, str | None]] = []
    for resource in resources:
        owner = resource if resource.urn in components else components.get(resource.parent or "")
        component = owner.type.removeprefix(COMPONENT_PREFIX) if owner is not None else TOP_LEVEL
        tenant = None
        if owner is not None and owner is not resource and resource.name.startswith(f"{owner.name}-"):
            key, _, word = resource.name[len(owner.name) + 1 :].rpartition("-")
            tenant = keys.get(key) if _WORD_RE.fullmatch(word) else None
        rows.append({"type": resource.type, "name": resource.name, "component": component, "tenant": tenant})
    return rows


def render_text(
    config_path: str, stack: str, rows: list[dict[str, str | None]], outputs: Mapping[str, Any], notes: list[str]
) -> str:
    lines = [f"{config_path}: stack {stack!r}, what `pulumi up` would declare"]
    by_component: dict[str, list[dict[str, str | None]]] = {}
    for row in rows:
        by_component.setdefault(str(row["component"]), []).append(row)
    for component, members in by_component.items():
        lines += ["", f"{component} ({len(members)} resources)"]
        shared = [r for r in members if r["tenant"] is None]
        tenants: dict[str, list[dict[str, str | None]]] = {}
        for row in members:
            if row["tenant"] is not None:
                tenants.setdefault(str(row["tenant"]), []).append(row)
        for row in shared:
            lines.append(f"    {row['name']:<48} {row['type']}")
        for tenant, tenant_rows in tenants.items():
            lines.append(f"  tenant {tenant}")
            for row in tenant_rows:
                lines.append(f"    {row['name']:<48} {row['type']}")
    lines += ["", "Outputs"]
    for key, value in outputs.items():
        shown = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
        lines.append(f"  {key:<34} {shown[:100]}{'...' if len(shown) > 100 else ''}")
    types = Counter(str(r["type"]) for r in rows)
    tenants_with = {r["tenant"] for r in rows if r["tenant"] is not None}
    lines += [
        "",
        f"Summary: {len(rows)} resources of {len(types)} types in {len(by_component)} components, "
        f"{len(tenants_with)} tenant(s) with resources of their own, {len(outputs)} outputs",
    ]
    lines += [f"  {count:5d}  {typ}" for typ, count in sorted(types.items())]
    lines += [f"note: {note}" for note in notes]
    return "\n".join(lines)


def run_plan(config_path: str, *, stack: str | None = None, as_json: bool = False) -> int:
    """Print the plan of ``config_path``; a bad stack file raises ``StackFileError`` (exit 2)."""
    from sandbox.runtime import load_local_config

    local, _ = load_local_config(config_path)  # the same checks (and messages) as `sandbox up`
    from sandbox.preview import load_stack_file_config, run_program  # the Pulumi SDK, from here on

    name = stack or stack_name_for(config_path)
    values, secret_keys = load_stack_file_config(Path(config_path))
    planned, loopback = planned_urls(values)
    program = run_program(planned, secret_keys=secret_keys, stack=name)
    rows = resource_rows(program.resources, local.config)
    outputs = pulumi_outputs(program.outputs, program.secret_outputs)
    notes = []
    if loopback:
        notes.append(
            f"{len(loopback)} loopback URL(s) only `sandbox up` accepts, planned as {PLANNED_LOOPBACK_HOST}:PORT/... "
            f"(`pulumi up` refuses http:// and loopback hosts): {', '.join(loopback)}"
        )
    plain = plain_secret_paths(read_stack_file(config_path).values)
    if plain:
        notes.append(
            f"{len(plain)} secret value(s) in plain text in the stack file: {', '.join(plain)} (`pulumi up` keeps "
            "them encrypted in its state, but the file holds them as written: set each with "
            "`pulumi config set --secret --path '<key path>' <value>`)"
        )
    if as_json:
        print(json.dumps({"resources": rows, "outputs": outputs}, indent=2, default=str))
        for note in notes:
            print(f"note: {note}", file=sys.stderr)
    else:
        print(render_text(config_path, name, rows, outputs, notes))
    return 0
