"""Functions imported at their first call, so a module that names them does not import their module.

A handler's cold start compiles every module it imports (the package ships sources only, and
``/var/task`` is read-only, so nothing is cached between cold starts). A registry that names, say,
every provider's verifier would import them all; :func:`lazy` defers each to the process whose
configuration calls it (``docs/benchmarks/cold-start.md``).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy(module: str, name: str) -> Callable[..., Any]:
    """``module.name``, imported at its first call (then a dictionary look-up per call)."""

    def call(*args: Any, **kwargs: Any) -> Any:
        return getattr(importlib.import_module(module), name)(*args, **kwargs)

    call.__name__ = call.__qualname__ = name
    return call
