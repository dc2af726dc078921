"""The sandbox's stack outputs: ``pulumi stack output --json`` for the same stack, with local values.

``__main__.py`` exports what the operations tool and applications read (docs/runbook.md); ``sandbox
up`` writes the same keys, in the same shapes, next to its state file (``outputs_file`` in the state
file), so everything that works from a deployed stack's outputs works against the sandbox:

- every key ``__main__.py`` exports for the configuration (a key it exports only when a component
  is enabled appears under the same condition), each value the sandbox's own: its bus, ARNs, queue
  URLs, table, local URLs;
- secret outputs as ``pulumi stack output --json`` prints them without ``--show-secrets``:
  ``"[secret]"`` (the values are in the state file's ``local_secrets``);
- Aurora: the sandbox runs PostgreSQL, not RDS: ``auroraClusterEndpoint`` is its socket directory
  (libpq's ``host``), the cluster and secret ARNs name what the sandbox would call them and point
  at nothing (``postgres_dsn`` in the state file is how to connect);
- one key Pulumi never exports, ``sandbox`` (:data:`ops.outputs.SANDBOX_KEY`): the AWS endpoint,
  region and credentials, so ``python -m ops ... --outputs FILE`` needs nothing else.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from components.dashboard import dashboard_name
from sandbox.aurora import SWEEPER_FUNCTION
from sandbox.aws import ACCOUNT, CREDENTIALS, REGION
from sandbox.runtime import SANDBOX_STACK

if TYPE_CHECKING:
    from sandbox.runtime import Sandbox

SECRET_OUTPUT = "[secret]"  # noqa: S105 - how `pulumi stack output --json` shows a secret output
SANDBOX_KEY = "sandbox"  # ops.outputs.SANDBOX_KEY: the sandbox never imports ops, the file is the contract
AURORA_CLUSTER = "hookstack-sandbox-aurora"


def outputs_path(state_file: str | Path) -> Path:
    """Where the outputs file of the sandbox with this state file goes: ``<state>.outputs.json`` beside it."""
    state = Path(state_file)
    return state.with_name(f"{state.stem}.outputs.json")


def stack_outputs(sandbox: Sandbox) -> dict[str, Any]:
    """The outputs of a started sandbox, keyed and shaped as ``__main__.py`` exports them."""
    provider = sandbox.provider
    assert provider is not None, "the sandbox is not started"
    config, plan, state = sandbox.config, sandbox.plan, sandbox.state()
    outputs: dict[str, Any] = {
        "busName": plan.entry_bus_name,
        "busArn": provider.bus_arns[0],
        "archiveArn": provider.archive_arn,
        "deadLetterQueueUrl": provider.dead_letter_queue_url,
        "destinations": provider.destination_outputs,
        "busShards": {
            "sharded": plan.sharded,
            "tenants": {tenant: plan.bus(index).name for tenant, index in plan.tenant_bus.items()},
        },
        # The name the stack's dashboard would have (the sandbox has no CloudWatch: docs/metrics.md).
        "dashboardName": dashboard_name(SANDBOX_STACK),
    }
    if config.event_types is not None:
        outputs["eventTypes"] = config.event_types.to_json()
    delivery = sandbox.parts.get("delivery")
    if config.delivery.enabled and delivery is not None:
        outputs["subscriptionsApiUrl"] = state["subscriptions_api"]
        outputs["selfServiceApiUrl"] = state["self_service_api_url"]
        outputs["deliveryTableName"] = state["delivery_table"]
        outputs["deliveryDeadLetterQueueUrl"] = state["delivery_dead_letter_queue_url"]
        outputs["deliveryEventsDeadLetterQueueUrl"] = getattr(delivery, "urls", {}).get("events_dlq")
        from components.delivery_rules import worker_tenants

        outputs["deliveryTenants"] = list(worker_tenants(config))
        # Exported (as a secret) when a signed destination has no secret of its own: one was generated.
        if any(d.is_signed and getattr(d.auth, "secret", None) is None for t in config.tenants for d in t.destinations):
            outputs["signedDestinationSecrets"] = SECRET_OUTPUT
    if "portal" in sandbox.parts:
        outputs["portalUrl"] = state["portal_url"]
    if config.consumer.enabled and "consumer" in sandbox.parts:
        outputs["inboundUrls"] = dict(state["inbound"])
        outputs["inboundQueueName"] = _queue_name(state["inbound_queue_url"])
        outputs["inboundDeadLetterQueueName"] = _queue_name(state["inbound_dead_letter_queue_url"])
        outputs["inboundBucketName"] = state["inbound_bucket"]
    if config.aurora.enabled and "aurora" in sandbox.parts:
        outputs["auroraClusterEndpoint"] = _socket_directory(state["postgres_dsn"])
        outputs["auroraClusterArn"] = f"arn:aws:rds:{REGION}:{ACCOUNT}:cluster:{AURORA_CLUSTER}"
        outputs["auroraSecretArn"] = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{AURORA_CLUSTER}-master"
        outputs["auroraRelayFunctionName"] = state["aurora_relay_function"]
        outputs["auroraSweeperFunctionName"] = SWEEPER_FUNCTION
    key_id, secret = CREDENTIALS
    outputs[SANDBOX_KEY] = {
        "endpointUrl": sandbox.endpoint,
        "region": REGION,
        "accessKeyId": key_id,
        "secretAccessKey": secret,
    }
    return outputs


def write_outputs(sandbox: Sandbox, path: str | Path) -> Path:
    """Write the outputs file atomically (it exists before the state file that names it)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".outputs-")
    with os.fdopen(handle, "w") as stream:
        json.dump(stack_outputs(sandbox), stream, indent=2)
    os.replace(temporary, target)
    return target


def _queue_name(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1]


def _socket_directory(dsn: str) -> str:
    host = parse_qs(urlsplit(dsn).query).get("host", [""])[0]
    return host or (urlsplit(dsn).hostname or "")
