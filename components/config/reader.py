"""Reading the raw configuration: a reader that collects every problem, and the value checks it uses.

The raw values are what ``pulumi.Config("hookstack").get_object`` returns (or a stack file holds):
mappings, lists, strings, numbers. :class:`Reader` takes a value out at a key path, converts what the
Pulumi CLI turns into strings (``--path`` values), and records a :class:`ConfigProblem` naming the
key path and what is allowed instead of stopping at the first.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from components.config.limits import ENDPOINT_URL_CHAR_RE, MAX_ENDPOINT_URL_CHARS
from components.config.model import NAMESPACE, ConfigProblem, Secret
from functions import whsec

RESOURCE_NAME_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?$")
_MISSING = object()


class Reader:
    """Walks the raw configuration, collecting problems instead of stopping at the first."""

    def __init__(self, *, local: bool = False) -> None:
        self.problems: list[ConfigProblem] = []
        self.local = local

    def problem(self, path: str, message: str) -> None:
        self.problems.append(ConfigProblem(path, message))

    def mapping(self, value: Any, path: str) -> Mapping[str, Any] | None:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            self.problem(path, f"must be a mapping (key: value), got {kind_of(value)}")
            return None
        return value

    def section(self, value: Any, key: str, allowed: Sequence[str]) -> tuple[Mapping[str, Any], str]:
        """A top-level mapping (``hookstack:<key>``) and its path; unknown keys are problems."""
        path = f"{NAMESPACE}:{key}"
        raw = self.mapping(value, path) or {}
        self.unknown_keys(raw, path, allowed)
        return raw, path

    def unknown_keys(self, raw: Mapping[str, Any], path: str, allowed: Sequence[str]) -> None:
        for key in raw:
            if key not in allowed:
                self.problem(f"{path}.{key}", f"unknown key; allowed keys: {', '.join(allowed)}")

    def get(
        self,
        raw: Mapping[str, Any],
        key: str,
        path: str,
        expected: type | tuple[type, ...],
        *,
        required: bool = False,
        default: Any = None,
    ) -> Any:
        value = raw.get(key, _MISSING)
        if value is _MISSING or value is None:
            if required:
                self.problem(f"{path}.{key}", "is required")
            return default
        if expected is str and isinstance(value, float):
            # 1.10 and 1.1 are the same number: the text the user wrote is gone (a tenant id, a version).
            self.problem(
                f"{path}.{key}",
                "must be a string: quote it (YAML and `pulumi config set --path` read an unquoted 1.10 as the "
                f"number 1.1); got the number {value}",
            )
            return default
        if expected is str and isinstance(value, int) and not isinstance(value, bool):
            # YAML turns `id: 1` into a number; identifiers are strings in events.
            value = str(value)
        if expected in (int, float) and isinstance(value, str):
            value = _parse_number(value, expected)  # Pulumi passes `--path` values as strings.
        if expected is bool and isinstance(value, str) and value.lower() in ("true", "false"):
            value = value.lower() == "true"
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, expected) or (isinstance(value, bool) and expected in (int, float)):
            quote = (
                ": YAML reads an unquoted yes, no, on, off, y, n, true or false as a boolean, so quote it"
                if expected is str and isinstance(value, bool)
                else ""
            )
            self.problem(f"{path}.{key}", f"must be {_type_name(expected)}, got {kind_of(value)}{quote}")
            return default
        return value

    def secret(self, raw: Mapping[str, Any], key: str, path: str, *, required: bool) -> Secret | None:
        value = raw.get(key)
        if isinstance(value, Mapping) and "secure" in value:
            # A `secure:` value this process could not decrypt (only the Pulumi engine can).
            self.problem(f"{path}.{key}", "is encrypted and could not be decrypted here")
            return None
        if value is None or value == "":
            if required:
                self.problem(
                    f"{path}.{key}",
                    "is required (set it with `pulumi config set --secret --path "
                    f"'{_config_path(path)}.{key}' <value>`)",
                )
            return None
        if not isinstance(value, str):
            if isinstance(value, (int, float)) and not isinstance(value, bool):  # a secret: never shown
                self.problem(
                    f"{path}.{key}", "must be a string (quote it in YAML), got a number (the value is not shown)"
                )
            else:
                self.problem(f"{path}.{key}", f"must be a string, got {kind_of(value)}")
            return None
        return Secret(value)

    def int_in(self, raw: Mapping[str, Any], key: str, path: str, low: int, high: int, default: int) -> int:
        return int(self._within(raw, key, path, int, low, high, default))

    def float_in(self, raw: Mapping[str, Any], key: str, path: str, low: float, high: float, default: float) -> float:
        return float(self._within(raw, key, path, float, low, high, default))

    def _within(
        self, raw: Mapping[str, Any], key: str, path: str, expected: type, low: float, high: float, default: float
    ) -> Any:
        """``raw[key]`` as ``expected``, between ``low`` and ``high`` (else a problem, and ``default``)."""
        value = self.get(raw, key, path, expected, default=default)
        if not low <= value <= high:
            self.problem(f"{path}.{key}", f"must be between {low} and {high}, got {value}")
            return default
        return value

    def choice(
        self,
        raw: Mapping[str, Any],
        key: str,
        path: str,
        allowed: Sequence[str],
        *,
        default: str | None = None,
        required: bool = False,
    ) -> str | None:
        value: str | None = self.get(raw, key, path, str, required=required, default=default)
        if value is not None and value not in allowed:
            self.problem(f"{path}.{key}", f"must be one of {', '.join(allowed)}; got {value!r}")
            return default
        return value

    def items(self, raw: Mapping[str, Any], key: str, path: str) -> list[tuple[str, Any]]:
        """The entries of a list-valued key, each with its own path."""
        value = raw.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            self.problem(f"{path}.{key}", f"must be a list, got {kind_of(value)}")
            return []
        return [(f"{path}.{key}[{i}]", item) for i, item in enumerate(value)]

    def strings(self, raw: Mapping[str, Any], key: str, path: str) -> tuple[str, ...]:
        out: list[str] = []
        for item_path, item in self.items(raw, key, path):
            if isinstance(item, str) and item.strip():
                out.append(item)
            else:
                self.problem(item_path, f"must be a non-empty string, got {kind_of(item)}")
        return tuple(out)

    def https_url(self, raw: Mapping[str, Any], key: str, path: str, *, required: bool) -> str | None:
        value = self.get(raw, key, path, str, required=required)
        if value is None:
            return None
        problem = https_url_problem(value, allow_loopback_http=self.local)
        if problem:
            self.problem(f"{path}.{key}", problem)
            return None
        return str(value)

    def name(self, raw: Mapping[str, Any], key: str, path: str) -> str | None:
        value: str | None = self.get(raw, key, path, str, required=True)
        if value is not None and not RESOURCE_NAME_RE.fullmatch(value):
            self.problem(
                f"{path}.{key}",
                f"must be 1-32 characters of a-z, 0-9 and '-' (not at either end); got {value!r}",
            )
            return None
        return value

    def unique(self, values: Sequence[tuple[str, str | None]], what: str) -> None:
        seen: dict[str, str] = {}
        for path, value in values:
            if value is None:
                continue
            if value in seen:
                self.problem(path, f"duplicate {what} {value!r} (also at {seen[value]})")
            else:
                seen[value] = path


def https_url_problem(url: str, *, allow_loopback_http: bool = False) -> str | None:
    """Why ``url`` is not acceptable as a webhook endpoint, or ``None`` when it is."""
    if len(url) > MAX_ENDPOINT_URL_CHARS:
        return f"must be at most {MAX_ENDPOINT_URL_CHARS} characters"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        return f"is not a valid URL ({error})"
    if allow_loopback_http and parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost", "::1"):
        return None
    if parts.scheme != "https":
        return f"must be an https:// URL; got {url!r}"
    if not parts.hostname:
        return f"must name a host; got {url!r}"
    if parts.username or parts.password:
        return "must not carry credentials in the URL (use auth)"
    if any(ch.isspace() for ch in url):
        return "must not contain whitespace"
    if port is not None and not 1 <= port <= 65535:
        return f"has an invalid port {port}"
    return None


def eventbridge_url_problem(url: str) -> str | None:
    """Why EventBridge refuses ``url`` as an API destination's (or an OAuth connection's) endpoint, else ``None``."""
    index = 0
    while index < len(url) and (char := ENDPOINT_URL_CHAR_RE.match(url, index)):
        index = char.end()
    if index == len(url):
        return None
    return (
        f"has a character EventBridge does not accept in an endpoint URL: {url[index]!r} at position {index} "
        "(allowed: letters, digits, %XX escapes and - ( ) _ . ! ~ * ' ; / ? : @ & = + $ , so no #fragment and no "
        "[IPv6] literal)"
    )


def whsec_problem(value: str) -> str | None:
    """Why ``value`` is not a Standard Webhooks secret (``whsec_`` + canonical base64 of 24..64 bytes).

    The rule is :mod:`functions.whsec`'s, so a secret accepted here is accepted wherever one is used.
    """
    problem = whsec.problem(value)
    return None if problem is None else f"{problem} (the value is not shown)"


def _parse_number(value: str, expected: type) -> Any:
    try:
        return expected(value)
    except ValueError:
        return value


def kind_of(value: Any) -> str:
    """What a value is, as a message shows it (``a list``, ``a number (3)``; never a secret's text)."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"a boolean ({value})"
    if isinstance(value, Secret):
        return "a secret"
    if isinstance(value, (int, float)):
        return f"a number ({value})"
    if isinstance(value, str):
        return f"a string ({value[:40]!r})"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "a mapping"
    return type(value).__name__


def _type_name(expected: type | tuple[type, ...]) -> str:
    names = {str: "a string", int: "a whole number", float: "a number", bool: "true or false", list: "a list"}
    if isinstance(expected, tuple):
        return " or ".join(names.get(t, t.__name__) for t in expected)
    return names.get(expected, expected.__name__)


def _config_path(path: str) -> str:
    return path.split(":", 1)[1] if ":" in path else path
