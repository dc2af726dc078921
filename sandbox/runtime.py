"""Start and stop the whole sandbox for one stack configuration; write the state file."""

from __future__ import annotations

import base64
import dataclasses
import json
import logging
import os
import secrets
import tempfile
from pathlib import Path
from typing import Any, Protocol

from components.config import StackConfig, load_stack_file
from components.plan import build_provider_plan
from sandbox.aws import REGION, MotoServer, client, environment
from sandbox.provider import LocalProvider

LOOPBACK_CIDRS = ("127.0.0.0/8", "::1/128")


class LocalPart(Protocol):
    """One component's local counterpart."""

    def create(self) -> None: ...
    def start(self) -> None: ...
    def stop(self) -> None: ...
    def state(self) -> dict[str, Any]: ...


def load_local_config(path: str) -> tuple[StackConfig, dict[str, str]]:
    """Parse a stack file in sandbox mode: loopback ``http://`` allowed, ``secure:`` values replaced.

    A ``secure:`` value cannot be decrypted without the Pulumi CLI, so each one is replaced by a
    generated local secret (a ``whsec_`` key where a Standard Webhooks secret is expected); the
    generated values are returned (the state file lists them).
    """
    import yaml

    document = yaml.safe_load(Path(path).read_text()) or {}
    consumer = (document.get("config") or {}).get("hookstack:consumer") or {}
    standard_sources = {
        f"consumer.sources[{i}]."
        for i, source in enumerate(consumer.get("sources") or [])
        if isinstance(source, dict) and source.get("kind") == "standard"
    }
    generated: dict[str, str] = {}

    def resolve(key_path: str, _value: Any) -> str:
        if key_path.endswith(".auth.secret") or any(key_path.startswith(p) for p in standard_sources):
            value = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
        else:
            value = secrets.token_urlsafe(24)
        generated[key_path] = value
        return value

    return load_stack_file(path, local=True, secret_resolver=resolve), generated


class Sandbox:
    """Everything hookstack runs on, started for one configuration."""

    def __init__(self, config: StackConfig, *, time_scale: float = 1.0, local_secrets: dict[str, str] | None = None) -> None:
        # Loopback receivers are allowed here, and only here (the SSRF allowlist).
        cidrs = tuple(dict.fromkeys((*config.delivery.allowed_cidrs, *LOOPBACK_CIDRS)))
        self.config = dataclasses.replace(config, delivery=dataclasses.replace(config.delivery, allowed_cidrs=cidrs))
        self.time_scale = time_scale
        self.local_secrets = dict(local_secrets or {})
        self.moto = MotoServer()
        self.parts: dict[str, LocalPart] = {}
        self.provider: LocalProvider | None = None
        self._saved_environment: dict[str, str | None] = {}

    @property
    def endpoint(self) -> str:
        return self.moto.endpoint

    def start(self) -> None:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self.moto.start()
        self._set_environment(environment(self.endpoint))
        events, sqs = client("events", self.endpoint), client("sqs", self.endpoint)
        plan = build_provider_plan(self.config, default_bus_name="hookstack-sandbox")
        self.provider = LocalProvider(plan, events, sqs, self.time_scale)
        self.parts["provider"] = self.provider
        self._set_environment({"EVENT_BUS_NAME": plan.entry_bus_name})
        for name, part in _optional_parts(self).items():
            self.parts[name] = part
        for part in self.parts.values():
            part.create()
        for part in self.parts.values():
            part.start()

    def stop(self) -> None:
        """Stop every part at once (each waits out at most one long poll), then the AWS server."""
        import threading

        def stop_part(part: LocalPart) -> None:
            try:
                part.stop()
            except Exception:  # stop everything else regardless
                logging.exception("stopping a sandbox part failed")

        threads = [threading.Thread(target=stop_part, args=(part,)) for part in self.parts.values()]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        self.moto.stop()
        for key, old in self._saved_environment.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old

    def _set_environment(self, values: dict[str, str]) -> None:
        for key, value in values.items():
            self._saved_environment.setdefault(key, os.environ.get(key))
            os.environ[key] = value

    def state(self) -> dict[str, Any]:
        assert self.provider is not None
        state: dict[str, Any] = {
            "aws_endpoint": self.endpoint,
            "region": REGION,
            "inbound": {},
            "subscriptions_api": None,
            "postgres_dsn": None,
            "local_secrets": self.local_secrets,
        }
        for part in self.parts.values():
            for key, value in part.state().items():
                if isinstance(value, dict) and isinstance(state.get(key), dict):
                    state[key].update(value)
                else:
                    state[key] = value
        return state

    def write_state(self, path: str) -> None:
        """Write atomically, once everything is ready (readers poll for the file)."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".state-")
        with os.fdopen(handle, "w") as stream:
            json.dump(self.state(), stream, indent=2, sort_keys=True)
        os.replace(temporary, target)


def _optional_parts(sandbox: Sandbox) -> dict[str, LocalPart]:
    """The consumer, signed delivery and Aurora parts, when the configuration enables them."""
    assert sandbox.provider is not None
    config = sandbox.config
    bus = sandbox.provider.plan.entry_bus_name
    parts: dict[str, LocalPart] = {"observer": _Observer(sandbox.endpoint, bus)}
    if config.consumer.enabled and config.consumer.sources:
        from sandbox.consumer import LocalConsumer

        parts["consumer"] = LocalConsumer(
            config.consumer, endpoint=sandbox.endpoint, bus_name=bus, time_scale=sandbox.time_scale,
            set_environment=sandbox._set_environment,
            event_source=config.provider.event_source,
        )
    if config.aurora.enabled:
        from sandbox.aurora import LocalAurora

        parts["aurora"] = LocalAurora(
            config.aurora, event_source=f"{config.provider.event_source}.aurora", time_scale=sandbox.time_scale,
            set_environment=sandbox._set_environment, region=REGION,
        )
    if config.delivery.enabled:
        from sandbox.delivery import LocalDelivery

        signed = [
            (ti, di, tenant, destination)
            for ti, tenant in enumerate(config.tenants)
            for di, destination in enumerate(tenant.destinations)
            if destination.is_signed
        ]
        parts["delivery"] = LocalDelivery(
            config.delivery, signed, endpoint=sandbox.endpoint, bus_name=bus, time_scale=sandbox.time_scale,
            set_environment=sandbox._set_environment, local_secrets=sandbox.local_secrets,
        )
    return parts


class _Observer:
    """A rule catching every event on the entry bus into a queue, so users can see what arrived."""

    def __init__(self, endpoint: str, bus_name: str) -> None:
        self.events = client("events", endpoint)
        self.sqs = client("sqs", endpoint)
        self.bus_name = bus_name
        self.queue_url = ""

    def create(self) -> None:
        self.queue_url = self.sqs.create_queue(QueueName="hookstack-sandbox-events")["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.events.put_rule(Name="hookstack-sandbox-observer", EventBusName=self.bus_name, EventPattern=json.dumps({"source": [{"prefix": ""}]}))
        self.events.put_targets(Rule="hookstack-sandbox-observer", EventBusName=self.bus_name, Targets=[{"Id": "observer", "Arn": arn}])

    def start(self) -> None:
        return None

    def stop(self) -> None:
        return None

    def state(self) -> dict[str, Any]:
        return {"events_queue_url": self.queue_url}
