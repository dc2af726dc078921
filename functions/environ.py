"""Reading and writing a function's environment: the building blocks of every runtime contract.

Each area of ``functions/`` owns the contract of its functions in a frozen settings dataclass next to
its reader (``from_environ`` / ``to_environ``). The component that deploys a function and the
sandbox that runs it locally build the environment only through ``to_environ``, so the three can
never disagree on a name, a default or a format. This module holds what those classes share:
typed, range-checked reads that name the variable at fault, and the rendering rules Lambda imposes
on the values.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar


class SettingsError(RuntimeError):
    """A variable is missing or malformed; the message names it (never a secret: none live here)."""


class Environ:
    """Typed reads from one environment mapping (``os.environ`` in a function, a dict in tests)."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self._values = values

    def text(self, name: str, default: str | None = None) -> str | None:
        value = self._values.get(name, "").strip()
        return value if value else default

    def required(self, name: str) -> str:
        value = self.text(name)
        if value is None:
            raise SettingsError(f"environment variable {name} is required")
        return value

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        raw = self.text(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise SettingsError(f"environment variable {name} must be a whole number, got {raw!r}") from None
        return _within(name, value, low, high, raw)

    def number(self, name: str, default: float, low: float, high: float) -> float:
        raw = self.text(name)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise SettingsError(f"environment variable {name} must be a number, got {raw!r}") from None
        return _within(name, value, low, high, raw)

    def items(self, name: str) -> tuple[str, ...]:
        """A comma-separated list (empty when unset)."""
        raw = self.text(name) or ""
        return tuple(part.strip() for part in raw.split(",") if part.strip())

    def json_object(self, name: str) -> dict[str, Any]:
        raw = self.required(name)
        try:
            value = json.loads(raw)
        except ValueError:
            raise SettingsError(f"environment variable {name} must be a JSON object") from None
        if not isinstance(value, dict):
            raise SettingsError(f"environment variable {name} must be a JSON object")
        return value


N = TypeVar("N", int, float)


def _within(name: str, value: N, low: N, high: N, raw: str) -> N:
    if not low <= value <= high:
        raise SettingsError(f"environment variable {name} must be between {low:g} and {high:g}, got {raw!r}")
    return value


Value = str | int | float | Iterable[str] | Mapping[str, Any] | None


def render(values: Mapping[str, Value]) -> dict[str, str]:
    """Variables as Lambda takes them: strings only, and no empty values (Lambda refuses them:
    an unset variable means "the default" to every reader here).

    Numbers become their decimal text, sequences comma-separated text, mappings compact JSON.
    """
    rendered: dict[str, str] = {}
    for name, value in values.items():
        if value is None:
            continue
        if isinstance(value, bool):
            raise TypeError(f"{name}: booleans have no agreed spelling here; use a whole number")
        if isinstance(value, str):
            text = value
        elif isinstance(value, (int, float)):
            text = repr(value)  # exact: a float reads back as the same float
        elif isinstance(value, Mapping):
            text = json.dumps(value, separators=(",", ":"), sort_keys=True)
        else:
            text = ",".join(value)
        if text:
            rendered[name] = text
    return rendered
