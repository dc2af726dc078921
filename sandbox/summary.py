"""What ``sandbox up`` prints once everything is ready: what runs where, and commands to paste.

Secrets are masked (the last four characters); the full values are in the state file, under
``local_secrets``, and the summary says so with a command that prints one.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from typing import Any

from sandbox.aws import CREDENTIALS

MASK_VISIBLE = 4


def mask(secret: str) -> str:
    """``whsec_…AbCd`` / ``…AbCd``: enough to tell two secrets apart, never enough to use one."""
    prefix = "whsec_" if secret.startswith("whsec_") else ""
    tail = secret[-MASK_VISIBLE:] if len(secret) > 3 * MASK_VISIBLE else ""
    return f"{prefix}…{tail} ({len(secret)} characters)"


def ready_summary(
    state: Mapping[str, Any], outputs: Mapping[str, Any], *, state_file: str, outputs_file: str, time_scale: float
) -> str:
    """The summary for a person: bus, AWS endpoint, APIs, inbound URLs, secrets, commands."""
    endpoint, region = state["aws_endpoint"], state["region"]
    bus = state["bus_names"][0]
    shards = state["bus_names"][1:]
    lines = ["", "hookstack sandbox ready" + (f" (time scale {time_scale:g})" if time_scale != 1 else ""), ""]

    def row(label: str, value: str) -> None:
        lines.append(f"  {label:<19}{value}")

    row("Entry bus", bus + (f" (shard buses: {', '.join(shards)})" if shards else ""))
    row("AWS endpoint", f"{endpoint}  region {region}, access key {CREDENTIALS[0]!r} (any credentials work)")
    if state.get("subscriptions_api"):
        row("Subscription API", f"{state['subscriptions_api']}/tenants/{{tenantId}}/endpoints  (no SigV4 locally)")
    if state.get("self_service_api_url"):
        row("Self-service API", f"{state['self_service_api_url']}  (Bearer tokens: python -m ops token --outputs ...)")
    if state.get("portal_url"):
        row("Portal", f"{state['portal_url']}?token=<a tenant token: minted below>  (docs/portal.md)")
    for index, (source, url) in enumerate(sorted((state.get("inbound") or {}).items())):
        row("Inbound URLs" if index == 0 else "", f"{source:<12} {url}")
    if state.get("postgres_dsn"):
        row("PostgreSQL", f"psql {shlex.quote(state['postgres_dsn'])}")
    secrets = state.get("local_secrets") or {}
    for index, (path, value) in enumerate(sorted(secrets.items())):
        row("Generated secrets" if index == 0 else "", f"{path}  {mask(str(value))}")
    if secrets:
        row("", f"full values: local_secrets in the state file, e.g. {_secret_command(state_file, min(secrets))}")
    row("State file", state_file)
    row("Outputs file", f"{outputs_file}  (pulumi stack output --json, plus a `sandbox` key for ops)")
    lines += ["", "Try:"]
    lines.append("  " + _put_events_command(endpoint, region, bus, _a_tenant(outputs)))
    if state.get("subscriptions_api"):
        lines.append(f"  curl -s {state['subscriptions_api']}/tenants/{_a_tenant(outputs)}/endpoints")
    if state.get("portal_url") and state.get("subscriptions_api"):
        lines.append("  " + _portal_command(state["subscriptions_api"], state["portal_url"], _a_tenant(outputs)))
    lines.append(f"  python -m ops status --outputs {shlex.quote(outputs_file)}")
    lines += ["", "Ctrl-C to stop (requests get 503 while it drains)."]
    return "\n".join(lines)


def _a_tenant(outputs: Mapping[str, Any]) -> str:
    tenants = list((outputs.get("busShards") or {}).get("tenants") or {}) or ["1"]
    return str(tenants[0])


def _put_events_command(endpoint: str, region: str, bus: str, tenant: str) -> str:
    detail = json.dumps({"tenantId": tenant, "eventId": "evt-try-1", "widgetName": "W1"})
    entries = json.dumps(
        [{"EventBusName": bus, "Source": "app", "DetailType": "widget.created", "Detail": detail}],
        separators=(",", ":"),
    )
    key_id, secret = CREDENTIALS
    return (
        f"AWS_ACCESS_KEY_ID={key_id} AWS_SECRET_ACCESS_KEY={secret} aws --endpoint-url {endpoint} "
        f"--region {region} events put-events --entries {shlex.quote(entries)}"
    )


def _portal_command(api: str, portal_url: str, tenant: str) -> str:
    """Mint a tenant token with the IAM-only route (no SigV4 locally) and print the portal link."""
    body = json.dumps({"scopes": ["endpoints:read", "endpoints:write", "messages:read", "messages:replay"]})
    script = 'import json,sys; print(sys.argv[1] + "?token=" + json.load(sys.stdin)["token"])'
    return (
        f"curl -s -X POST {api}/tenants/{tenant}/tokens -d {shlex.quote(body)} | "
        f"python -c {shlex.quote(script)} {shlex.quote(portal_url)}"
    )


def _secret_command(state_file: str, key: str) -> str:
    script = 'import json,sys; print(json.load(open(sys.argv[1]))["local_secrets"][sys.argv[2]])'
    return f"python -c {shlex.quote(script)} {shlex.quote(state_file)} {shlex.quote(key)}"
