"""EventBridge input transformers: one implementation for both engines.

The API destination engine hands ``paths`` and ``template`` to EventBridge (``InputTransformer``);
the worker engine and the sandbox's API destination emulator apply them here, so a transform gives
the same body whichever engine sends it. The semantics follow the AWS documentation
("Amazon EventBridge input transformation"), not moto, which differs (tests/functions/test_transform.py):

- inside a JSON string (``"Widget <name> created"``) the value's text is inserted as is: AWS "doesn't
  escape values extracted by Input Path", so a value holding ``"`` makes the body invalid JSON there
  as it does on AWS (place it unquoted to get a JSON string); numbers, booleans, objects and arrays
  are inserted as their JSON text;
- outside quotes (``{"name": <name>}``) every value is inserted as JSON: a string quoted and escaped
  (moto answers 500), ``false``, ``0`` and ``""`` as themselves (moto leaves the placeholder), an
  array of numbers as numbers (moto turns them into strings);
- in a template that is not JSON (plain text), values are inserted as text (moto cannot: it parses
  the result as JSON);
- a path that selects nothing inserts ``null`` outside quotes and nothing inside quotes;
- ``<aws.events.event>`` is the event without ``detail``, ``<aws.events.event.json>`` the whole event
  (moto knows neither), ``<aws.events.rule-arn>`` / ``<aws.events.rule-name>`` the rule's ARN and
  name (API destinations only: a worker endpoint has no rule of its own, so :func:`problems` refuses
  them there), ``<aws.events.event.ingestion-time>`` the time EventBridge received the event (the
  worker and the sandbox use the event's ``time``).

Input paths are the JSONPath subset both engines evaluate alike: ``$``, ``$.a.b``, ``$.a[0]`` and
``$.a['key with space']``; AWS's ``[*]`` wildcards are refused, not emulated.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from functions.bounded_json import StringScan

# InputTransformer: InputPathsMap at most 100 entries, InputTemplate at most 8,192 characters.
MAX_INPUT_PATHS = 100
MAX_INPUT_TEMPLATE_CHARS = 8192
# JSONPath as EventBridge input transformers accept it: $, $.a.b, $.a[0], $.a['key with space'].
INPUT_PATH_RE = re.compile(r"^\$(?:\.[A-Za-z0-9_@$-]+|\[\d+\]|\['[^'\]]+'\])*$")
INPUT_PATH_KEY_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
PLACEHOLDER_RE = re.compile(r"<([A-Za-z0-9_.-]+)>")
RULE_PLACEHOLDERS = frozenset({"aws.events.rule-arn", "aws.events.rule-name"})
# The most a worker's filled template may hold (UTF-8 bytes): an event's size (PutEvents, 256 KiB).
# Without it, 8,192 characters of "<whole>" with whole = "$" repeat a 256 KiB event 2,730 times (700 MB)
# and the worker runs out of memory for every task in its batch.
MAX_OUTPUT_BYTES = 256 * 1024
# Placeholders EventBridge fills in itself, without an input path.
PREDEFINED_PLACEHOLDERS = RULE_PLACEHOLDERS | {
    "aws.events.event",
    "aws.events.event.json",
    "aws.events.event.ingestion-time",
}

_SEGMENT = re.compile(r"\.([A-Za-z0-9_@$-]+)|\[(\d+)\]|\['([^'\]]+)'\]")
_MISSING = object()


def problems(paths: Any, template: Any, *, rule_placeholders: bool = True) -> list[tuple[str, str]]:
    """What is wrong with a transform, as ``(where, message)`` pairs; ``where`` is ``paths``,
    ``paths.<key>`` or ``template`` (the config prefixes its key path, the API its field name).

    ``rule_placeholders=False`` for the worker engine: there is no rule whose ARN or name to insert.
    """
    found: list[tuple[str, str]] = []
    if paths is None:
        paths = {}
    if not isinstance(paths, Mapping):
        found.append(("paths", "must be a mapping of placeholder names to JSONPaths"))
        paths = {}
    for key, input_path in paths.items():
        if not INPUT_PATH_KEY_RE.fullmatch(str(key)) or str(key).startswith("AWS"):
            found.append(
                (f"paths.{key}", "key must be 1-64 characters of A-Z, a-z, 0-9, '_' and '-', not starting 'AWS'")
            )
        elif not isinstance(input_path, str) or not INPUT_PATH_RE.fullmatch(input_path):
            found.append(
                (
                    f"paths.{key}",
                    f"must be a JSONPath like $.detail.name, $.detail.items[0] or $.detail['a key']; got {input_path!r}",
                )
            )
    if len(paths) > MAX_INPUT_PATHS:
        found.append(("paths", f"must have at most {MAX_INPUT_PATHS} entries"))
    if template is None:
        found.append(("template", "is required"))
        return found
    if not isinstance(template, str):
        found.append(("template", "must be a string"))
        return found
    if len(template) > MAX_INPUT_TEMPLATE_CHARS:
        found.append(("template", f"must be at most {MAX_INPUT_TEMPLATE_CHARS} characters"))
    for placeholder in PLACEHOLDER_RE.findall(template):
        if not rule_placeholders and placeholder in RULE_PLACEHOLDERS:
            found.append(
                (
                    "template",
                    f"uses <{placeholder}>, which only an API destination fills in (a worker endpoint has no "
                    "EventBridge rule of its own)",
                )
            )
        elif placeholder not in paths and placeholder not in PREDEFINED_PLACEHOLDERS:
            found.append(
                (
                    "template",
                    f"uses <{placeholder}>, which is neither a key of paths nor one of "
                    f"{', '.join(sorted(PREDEFINED_PLACEHOLDERS))}",
                )
            )
    return found


def select(document: Any, path: str) -> Any:
    """Evaluate the JSONPath subset input transformers accept (``$.a.b``, ``$.a[0]``, ``$['k']``)."""
    if not path.startswith("$"):
        raise ValueError(f"input path must start with '$': {path!r}")
    value = document
    position = 1
    while position < len(path):
        match = _SEGMENT.match(path, position)
        if not match:
            raise ValueError(f"unsupported input path {path!r} at {path[position:]!r}")
        key, index, quoted = match.groups()
        position = match.end()
        if index is not None:
            if not isinstance(value, list) or int(index) >= len(value):
                return _MISSING
            value = value[int(index)]
        else:
            name = key if key is not None else quoted
            if not isinstance(value, Mapping) or name not in value:
                return _MISSING
            value = value[name]
    return value


def apply(
    template: str,
    paths: Mapping[str, str],
    event: Mapping[str, Any],
    *,
    rule_arn: str = "",
    rule_name: str = "",
    ingestion_time: str = "",
    max_bytes: int | None = None,
) -> str:
    """The body EventBridge sends for ``event`` through this transformer; :class:`TransformTooLarge`
    as soon as it grows past ``max_bytes`` UTF-8 bytes (the worker passes :data:`MAX_OUTPUT_BYTES`)."""
    values: dict[str, Any] = {key: select(event, path) for key, path in paths.items()}
    values["aws.events.event"] = {key: value for key, value in event.items() if key != "detail"}
    values["aws.events.event.json"] = event
    values["aws.events.rule-arn"] = rule_arn
    values["aws.events.rule-name"] = rule_name
    values["aws.events.event.ingestion-time"] = ingestion_time or event.get("time", "")

    out = _Output(max_bytes)
    if not template.lstrip().startswith(("{", "[", '"')):
        # A plain-text template: values are inserted as text.
        start = 0
        for match in PLACEHOLDER_RE.finditer(template):
            out.append(template[start : match.start()])
            name = match.group(1)
            out.append(_text(values[name]) if name in values else match.group(0))
            start = match.end()
        out.append(template[start:])
        return out.text()
    strings = StringScan()
    index = 0
    while index < len(template):
        char = template[index]
        if char == "<":
            end = template.find(">", index + 1)
            name = template[index + 1 : end] if end != -1 else ""
            if end != -1 and name in values:
                out.append(_text(values[name]) if strings.inside else _json(values[name]))
                index = end + 1
                continue
        out.append(char)
        strings.outside(char)
        index += 1
    return out.text()


class TransformTooLarge(ValueError):
    """The filled template is larger than its bound."""


class _Output:
    """The body being filled, refused as soon as it passes ``max_bytes`` (not after building it)."""

    def __init__(self, max_bytes: int | None) -> None:
        self.parts: list[str] = []
        self.size = 0
        self.max_bytes = max_bytes

    def append(self, text: str) -> None:
        self.parts.append(text)
        if self.max_bytes is not None:
            self.size += len(text.encode("utf-8", "surrogatepass"))
            if self.size > self.max_bytes:
                raise TransformTooLarge(f"the transformed body is larger than {self.max_bytes} bytes")

    def text(self) -> str:
        return "".join(self.parts)


def _text(value: Any) -> str:
    """A value as text: strings as they are (not escaped, as AWS does), the rest as compact JSON."""
    if value is _MISSING:
        return ""
    return value if isinstance(value, str) else _json(value)


def _json(value: Any) -> str:
    if value is _MISSING:
        return "null"
    return json.dumps(value, separators=(",", ":"))
