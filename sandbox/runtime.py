"""Start and stop the whole sandbox for one stack configuration; write the state file."""

from __future__ import annotations

import _thread
import contextlib
import dataclasses
import json
import logging
import os
import secrets
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol

from components.config import read_stack_file
from components.stack import Stack, load_stack, load_stack_from_file
from functions import telemetry, whsec
from functions.telemetry import Telemetry
from sandbox.aws import REGION, MotoServer, client, environment, share_botocore_models
from sandbox.faults import FaultInjector, injected
from sandbox.iam import LocalIam
from sandbox.lambda_http import LambdaHttpServer
from sandbox.provider import LocalProvider

LOOPBACK_CIDRS = ("127.0.0.0/8", "::1/128")
SANDBOX_STACK = "sandbox"  # the stack name the sandbox plans with: the entry bus is hookstack-sandbox
STOP_TIMEOUT_SECONDS = 30  # a part's stop waits out at most one long poll (~1 s) and in-flight calls
log = logging.getLogger("sandbox")


class LocalPart(Protocol):
    """One component's local counterpart.

    ``stop()`` must be safe in any state: before ``create()``, after a ``create()`` or ``start()`` that
    failed half-way, and a second time (a failed start stops every part set up so far).
    """

    def create(self) -> None: ...
    def start(self) -> None: ...
    def stop(self) -> None: ...
    def state(self) -> dict[str, Any]: ...


class SandboxStartError(RuntimeError):
    """A part failed to set up, create or start; everything started before it has been stopped."""


class StartCancelled(Exception):
    """The start was cancelled (SIGINT/SIGTERM); everything started so far has been stopped."""


class StateFileError(ValueError):
    """The ``--state-file`` path cannot be used (nothing has been started)."""


def local_stack(raw: Mapping[str, Any]) -> Stack:
    """``hookstack:`` keys (without the namespace) loaded in sandbox mode: loopback ``http://`` allowed."""
    return load_stack(raw, stack=SANDBOX_STACK, local=True)


def load_local_config(path: str) -> tuple[Stack, dict[str, str]]:
    """Load a stack file in sandbox mode: loopback ``http://`` allowed, ``secure:`` values replaced.

    A ``secure:`` value cannot be decrypted without the Pulumi CLI, so each one is replaced by a
    generated local secret (a ``whsec_`` key where a Standard Webhooks secret is expected); the
    generated values are returned (the state file lists them). A bad file raises
    :class:`components.config.StackFileError` naming the file and line of each problem (quota ones too).
    """
    stack_file = read_stack_file(path)
    consumer = stack_file.values.get("consumer")
    sources = consumer.get("sources") if isinstance(consumer, dict) else None
    standard_sources = {
        f"consumer.sources[{i}]."
        for i, source in enumerate(sources if isinstance(sources, list) else [])
        if isinstance(source, dict) and source.get("kind") == "standard"
    }
    generated: dict[str, str] = {}
    # Standard Webhooks secrets of worker endpoints (auth.type signed, or signing:).
    whsec_keys = (".auth.secret", ".auth.previousSecret", ".signing.secret", ".signing.previousSecret")

    def resolve(key_path: str, _value: Any) -> str:
        if key_path.endswith(whsec_keys) or any(key_path.startswith(p) for p in standard_sources):
            value = whsec.generate()
        else:
            value = secrets.token_urlsafe(24)
        generated[key_path] = value
        return value

    return load_stack_from_file(stack_file, stack=SANDBOX_STACK, local=True, secret_resolver=resolve), generated


class Sandbox:
    """Everything hookstack runs on, started for one configuration."""

    def __init__(
        self,
        stack: Stack,
        *,
        time_scale: float = 1.0,
        local_secrets: dict[str, str] | None = None,
        endpoint_cache_seconds: float | None = None,
        faults: FaultInjector | None = None,
    ) -> None:
        """``faults``: make the functions' AWS calls fail (sandbox/faults.py) while it runs."""
        config = stack.config
        # Loopback receivers are allowed here, and only here (the SSRF allowlist).
        cidrs = tuple(dict.fromkeys((*config.delivery.allowed_cidrs, *LOOPBACK_CIDRS)))
        self.config = dataclasses.replace(config, delivery=dataclasses.replace(config.delivery, allowed_cidrs=cidrs))
        self.plan = stack.plan
        self.time_scale = time_scale
        self.local_secrets = dict(local_secrets or {})
        self.endpoint_cache_seconds = endpoint_cache_seconds  # None: the sandbox's (no cache)
        share_botocore_models()  # every function's session reads botocore's models once, not again
        self.moto = MotoServer()
        self.faults = faults
        self._hooks = contextlib.ExitStack()  # undone at stop: the fault injection
        self.parts: dict[str, LocalPart] = {}
        self.provider: LocalProvider | None = None
        self.iam: LocalIam | None = None  # the functions' roles, once the AWS server runs
        self._saved_environment: dict[str, str | None] = {}
        self._stop_started = False
        self._stop_claim = threading.Lock()  # held by the one thread that stops everything
        self._stopped = threading.Event()

    @property
    def endpoint(self) -> str:
        return self.moto.endpoint

    def start(self, *, cancel: threading.Event | None = None) -> None:
        """Start everything. If a step fails or is cancelled, stop what was started, then raise.

        A failure raises :class:`SandboxStartError` naming the part and step. ``cancel`` (set by a
        signal handler) is checked between steps and raises :class:`StartCancelled`, as does a
        failure while it is set (Ctrl-C also reaches the ``initdb``/``pg_ctl`` children). Any
        other ``BaseException`` (``KeyboardInterrupt``) propagates unchanged after the stop.
        """
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        step = "moto: start"

        def next_step(name: str) -> None:
            nonlocal step
            step = name
            if cancel is not None and cancel.is_set():
                raise StartCancelled(f"cancelled before {name}")

        try:
            next_step("moto: start")
            self.moto.start()
            self._set_environment(environment(self.endpoint))
            # Every function reports as stack "sandbox" and propagates traces per hookstack:tracing.
            self._set_environment(Telemetry(stack=SANDBOX_STACK, propagate=self.config.tracing.propagate).to_environ())
            telemetry.reset()
            self.iam = LocalIam(self.endpoint)
            if self.faults is not None:
                self._hooks.enter_context(injected(self.faults))
            next_step("provider: plan")
            events, sqs = client("events", self.endpoint), client("sqs", self.endpoint)
            self.provider = LocalProvider(self.plan, events, sqs, self.time_scale)
            self.parts["provider"] = self.provider
            step = "parts: set up"
            for name, make_part in _optional_parts(self):
                next_step(f"{name}: set up")
                self.parts[name] = make_part()
                step = "parts: set up"
            for name, part in self.parts.items():
                next_step(f"{name}: create")
                part.create()
            for name, part in self.parts.items():
                next_step(f"{name}: start")
                part.start()
        except Exception as error:
            self.stop()
            if cancel is not None and cancel.is_set():
                raise StartCancelled(f"cancelled during {step}") from error
            raise SandboxStartError(f"{step} failed: {type(error).__name__}: {error}") from error
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop every part, then the AWS server; safe in any state and more than once.

        The work runs in a thread of its own that a ``KeyboardInterrupt`` cannot cut short (that
        would leave PostgreSQL running): an interrupt arriving meanwhile is raised once it is done.
        """
        interrupted = False
        while True:
            try:
                if not self._stop_started:
                    # One C call, so an interrupt lands before or after it, never inside: here, a
                    # Thread.start() cut short by it returned while the thread ran, and the stop went
                    # unawaited (seen in CI). Landing after it starts a second stopper, which finds the
                    # claim taken and returns. The raw thread only starts the named one.
                    _thread.start_new_thread(self._start_stopper, ())
                    self._stop_started = True
                # An Event, not Thread.join: a join interrupted by KeyboardInterrupt can mark a thread
                # that still runs as stopped (Python 3.11), and the stop would look finished when not.
                if self._stopped.wait(0.1):
                    break
            except KeyboardInterrupt:
                interrupted = True
        if interrupted:
            raise KeyboardInterrupt

    def _start_stopper(self) -> None:
        try:
            threading.Thread(target=self._stop_everything, name="sandbox-stop", daemon=True).start()
        except RuntimeError:  # no new thread to be had: stop from this one rather than never
            self._stop_everything()

    def _stop_everything(self) -> None:
        """Every part at once (each waits out at most one long poll), then the AWS server.

        Parts only share the AWS server, which stops last, so they need no order among
        themselves; each stop is guarded, so one failing or hanging stop does not keep the others
        from running.
        """
        if not self._stop_claim.acquire(blocking=False):
            return  # another stopper runs (see stop); it sets _stopped

        def stop_part(name: str, part: LocalPart) -> None:
            try:
                part.stop()
            except Exception as error:  # stop everything else regardless
                log.error(
                    "stopping the %s part failed: %s: %s",
                    name,
                    type(error).__name__,
                    error,
                    exc_info=log.isEnabledFor(logging.DEBUG),
                )

        try:
            threads = [
                threading.Thread(target=stop_part, args=(name, part), name=f"stop-{name}", daemon=True)
                for name, part in self.parts.items()
            ]
            for thread in threads:
                thread.start()
            deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
            for thread in threads:
                thread.join(timeout=max(0.0, deadline - time.monotonic()))
                if thread.is_alive():
                    log.error("%s did not finish within %d s; leaving it behind", thread.name, STOP_TIMEOUT_SECONDS)
            if self.iam is not None:
                self.iam.close()
            try:
                self.moto.stop()
            except Exception as error:
                log.error("stopping the moto server failed: %s: %s", type(error).__name__, error)
            self._hooks.close()
            for key, old in self._saved_environment.items():
                if old is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = old
            self._saved_environment.clear()
        finally:
            self._stopped.set()

    def http_servers(self) -> list[LambdaHttpServer]:
        """The function URL and HTTP API servers of the parts."""
        found = (
            getattr(part, attribute, None)
            for part in self.parts.values()
            for attribute in ("server", "self_service_server")
        )
        return [server for server in found if isinstance(server, LambdaHttpServer)]

    def stop_accepting(self) -> None:
        """Every HTTP server answers 503 + Retry-After from now on (safe from a signal handler)."""
        for server in self.http_servers():
            server.stop_accepting()

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
            **(self.iam.state() if self.iam is not None else {}),  # iam_roles: each function's role
        }
        for part in self.parts.values():
            for key, value in part.state().items():
                if isinstance(value, dict) and isinstance(state.get(key), dict):
                    state[key].update(value)
                else:
                    state[key] = value
        return state

    def write_state(self, path: str, extra: Mapping[str, Any] | None = None) -> None:
        """Write atomically, once everything is ready (readers poll for the file)."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".state-")
        with os.fdopen(handle, "w") as stream:
            json.dump({**self.state(), **(extra or {}), "pid": os.getpid()}, stream, indent=2, sort_keys=True)
        os.replace(temporary, target)


def claim_state_file(path: str) -> str | None:
    """Make ``path`` usable as this sandbox's state file before anything starts.

    Creates missing directories. A state file left by a sandbox that no longer runs (killed, or
    crashed) is removed at once, so that nobody polling for it reads stale endpoints; a state file
    of a sandbox that still runs (its ``pid`` is alive) is refused, as two sandboxes would overwrite
    and then delete each other's file, and so is a file no sandbox wrote (no ``pid``: the user's).
    Returns a note for the user when a stale file was removed.
    Raises :class:`StateFileError` with the reason otherwise.
    """
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_dir():
            raise StateFileError(f"--state-file {path}: is a directory; give a file path")
        note = None
        if target.exists():
            pid = _state_file_pid(target)
            if pid is None and target.stat().st_size > 0:
                # Not written by a sandbox (the stack file itself, a typo): it is the user's, never deleted.
                raise StateFileError(
                    f"--state-file {path}: exists and is not a sandbox state file (no pid in it); "
                    "choose another path, or delete the file"
                )
            if pid is not None and _process_exists(pid):
                raise StateFileError(
                    f"--state-file {path}: a sandbox (pid {pid}) is using it; stop that sandbox or choose another file "
                    f"(if pid {pid} is not a sandbox, delete the file)"
                )
            target.unlink()
            note = f"removed the stale state file {path}" + (f" of pid {pid}, which no longer runs" if pid else "")
        probe, probe_path = tempfile.mkstemp(dir=target.parent, prefix=".state-")
        os.close(probe)
        os.unlink(probe_path)
    except OSError as error:
        raise StateFileError(f"--state-file {path}: {error.strerror or error}") from None
    return note


def _state_file_pid(path: Path) -> int | None:
    try:
        pid = json.loads(path.read_text(encoding="utf-8")).get("pid")
    except (OSError, ValueError, AttributeError):
        return None
    return pid if isinstance(pid, int) and not isinstance(pid, bool) and pid > 0 else None


def _process_exists(pid: int) -> bool:
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, as another user
        return True
    return True


def _optional_parts(sandbox: Sandbox) -> Iterator[tuple[str, Callable[[], LocalPart]]]:
    """The observer, then the consumer, Aurora and signed delivery parts the configuration enables.

    As (name, constructor), so that the parts set up before one that fails are known (and stopped).
    """
    assert sandbox.provider is not None
    config = sandbox.config
    bus = sandbox.provider.plan.entry_bus_name
    yield "observer", lambda: _Observer(sandbox.endpoint, bus)
    if config.consumer.enabled and config.consumer.sources:
        from sandbox.consumer import LocalConsumer

        yield (
            "consumer",
            lambda: LocalConsumer(
                config.consumer,
                endpoint=sandbox.endpoint,
                bus_name=bus,
                time_scale=sandbox.time_scale,
                set_environment=sandbox._set_environment,
                event_source=config.provider.event_source,
                iam=sandbox.iam,
            ),
        )
    if config.aurora.enabled:
        from sandbox.aurora import LocalAurora

        yield (
            "aurora",
            lambda: LocalAurora(
                config.aurora,
                provider_event_source=config.provider.event_source,
                bus_name=bus,
                time_scale=sandbox.time_scale,
                set_environment=sandbox._set_environment,
                region=REGION,
                iam=sandbox.iam,
            ),
        )
    if config.delivery.enabled:
        from sandbox.delivery import LocalDelivery

        signed = [
            (ti, di, tenant, destination)
            for ti, tenant in enumerate(config.tenants)
            for di, destination in enumerate(tenant.destinations)
            if destination.is_signed
        ]
        yield (
            "delivery",
            lambda: LocalDelivery(
                config.delivery,
                signed,
                endpoint=sandbox.endpoint,
                bus_name=bus,
                time_scale=sandbox.time_scale,
                set_environment=sandbox._set_environment,
                local_secrets=sandbox.local_secrets,
                iam=sandbox.iam,
                rule_patterns=sandbox.plan.delivery_rule_patterns,
                covered_tenants=sandbox.plan.delivery_tenants,
                event_types=config.event_types,
                event_source=config.provider.event_source,
                **(
                    {}
                    if sandbox.endpoint_cache_seconds is None
                    else {"endpoint_cache_seconds": sandbox.endpoint_cache_seconds}
                ),
            ),
        )
    if config.delivery.enabled and config.portal.enabled:
        from sandbox.portal import LocalPortal

        yield "portal", lambda: LocalPortal(config.portal, lambda: sandbox.parts["delivery"])


class _Observer:
    """A rule catching every event on the entry bus into a queue, so users can see what arrived."""

    def __init__(self, endpoint: str, bus_name: str) -> None:
        self.events = client("events", endpoint)
        self.sqs = client("sqs", endpoint)
        self.bus_name = bus_name
        self.queue_url = ""

    def create(self) -> None:
        self.queue_url = self.sqs.create_queue(QueueName="hookstack-sandbox-events")["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        self.events.put_rule(
            Name="hookstack-sandbox-observer",
            EventBusName=self.bus_name,
            EventPattern=json.dumps({"source": [{"prefix": ""}]}),
        )
        self.events.put_targets(
            Rule="hookstack-sandbox-observer", EventBusName=self.bus_name, Targets=[{"Id": "observer", "Arn": arn}]
        )

    def start(self) -> None:
        return None

    def stop(self) -> None:
        return None

    def state(self) -> dict[str, Any]:
        return {"events_queue_url": self.queue_url}
