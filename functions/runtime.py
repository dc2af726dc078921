"""The one runtime idiom of every handler: frozen settings read once, clients built lazily, per process.

A handler module keeps one :class:`ProcessState` built at the first invocation (never at import,
so importing a handler costs nothing and tests can set the environment first)::

    _state = ProcessState(lambda: Runtime(Settings.from_environ(os.environ)))

    def handler(event, context):
        runtime = _state.get()
        ...

    reset = _state.reset   # tests and the sandbox forget settings and clients

:class:`Clients` creates each boto3 client on first use from one session (boto3 clients are
thread-safe, which the delivery worker relies on; they honour ``AWS_ENDPOINT_URL``, which is how
the sandbox points them at its AWS emulator). An S3 client is never created by a function that
never reads S3: import and client creation are cold-start latency.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class Clients:
    """boto3 clients of one process, created at first use with one :class:`botocore.config.Config`."""

    def __init__(self, config: Any = None, session: Any = None) -> None:
        self._config = config
        self._session = session
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def __call__(self, service: str) -> Any:
        with self._lock:
            if service not in self._clients:
                if self._session is None:
                    import boto3

                    self._session = boto3.session.Session()
                self._clients[service] = self._session.client(service, config=self._config)
            return self._clients[service]


class ProcessState(Generic[T]):
    """A value built once per process on first use (thread-safe), forgotten by :meth:`reset`."""

    def __init__(self, build: Callable[[], T]) -> None:
        self._build = build
        self._value: T | None = None
        self._lock = threading.Lock()

    def get(self) -> T:
        value = self._value
        if value is None:
            with self._lock:
                if self._value is None:
                    self._value = self._build()
                value = self._value
        return value

    def set(self, value: T) -> None:
        """Use ``value`` (tests inject a runtime built on a shared session)."""
        with self._lock:
            self._value = value

    def reset(self) -> None:
        with self._lock:
            self._value = None
