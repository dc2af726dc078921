"""The observability contract every hookstack function shares: which stack it reports as, and
whether it propagates W3C trace context (``hookstack:tracing.propagate``).

=============================== =============================================================
variable                        meaning (default)
=============================== =============================================================
``HOOKSTACK_STACK``             the ``Stack`` dimension of every metric (``local``)
``HOOKSTACK_TRACE_PROPAGATE``   ``true``: the fan-out, worker and ingest carry ``traceparent``
                                on (``false``: it is never read nor sent)
=============================== =============================================================

Read once per process, at the first metric or trace look-up (never at import: the module costs a
cold start only ``os``). The component writes both through :meth:`Telemetry.to_environ` into every
function's environment; the sandbox writes the same.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from functions.records import record

STACK_VARIABLE = "HOOKSTACK_STACK"
PROPAGATE_VARIABLE = "HOOKSTACK_TRACE_PROPAGATE"
DEFAULT_STACK = "local"
TRACEPARENT_HEADER = "traceparent"


@record
class Telemetry:
    stack: str = DEFAULT_STACK
    propagate: bool = False

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Telemetry:
        stack = environ.get(STACK_VARIABLE, "").strip() or DEFAULT_STACK
        flag = environ.get(PROPAGATE_VARIABLE, "false").strip().lower()
        if flag not in ("true", "false"):
            raise ValueError(f"environment variable {PROPAGATE_VARIABLE} must be true or false, got {flag[:20]!r}")
        return cls(stack=stack, propagate=flag == "true")

    def to_environ(self) -> dict[str, str]:
        return {STACK_VARIABLE: self.stack, PROPAGATE_VARIABLE: "true" if self.propagate else "false"}


_current: Telemetry | None = None


def current() -> Telemetry:
    """This process's telemetry settings (read at the first call)."""
    global _current
    if _current is None:
        _current = Telemetry.from_environ(os.environ)
    return _current


def reset() -> None:
    """Read the environment again at the next call (tests, and the sandbox after a config change)."""
    global _current
    _current = None


def traceparent_to_forward(value: object) -> str | None:
    """``value`` when the stack propagates traces and it is a well-formed ``traceparent``; else ``None``
    (a malformed one is dropped, never forwarded: the receiver's tracer would start from garbage)."""
    if value is None or not current().propagate:
        return None
    from functions.events import traceparent_problem  # loaded by the handlers already

    return value if isinstance(value, str) and traceparent_problem(value) is None else None
