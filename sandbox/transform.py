"""EventBridge input transformers, with AWS's semantics (moto differs on unquoted strings).

AWS fills each ``<placeholder>`` of the template with the value its input path selects:

- inside a JSON string (``"Widget <name> created"``) the value's text is inserted as is;
- outside quotes (``{"name": <name>}``) a string value is inserted *quoted* and any other value as
  JSON, so the result stays valid JSON (moto answers 500 here, see docs/sandbox.md);
- in a template that is not JSON (plain text), values are inserted as text;
- a path that selects nothing inserts ``null`` outside quotes and nothing inside quotes;
- ``<aws.events.event>`` / ``<aws.events.event.json>`` insert the whole event, ``<aws.events.rule-arn>``,
  ``<aws.events.rule-name>`` and ``<aws.events.event.ingestion-time>`` what their names say.

The sandbox applies the same ``paths`` and ``template`` the Pulumi component declares.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from functions.bounded_json import StringScan

_SEGMENT = re.compile(r"\.([A-Za-z0-9_@$-]+)|\[(\d+)\]|\['([^'\]]+)'\]")
_MISSING = object()
_PLACEHOLDER = re.compile(r"<([A-Za-z0-9_.-]+)>")


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
) -> str:
    """The body EventBridge sends for ``event`` through this transformer."""
    values: dict[str, Any] = {key: select(event, path) for key, path in paths.items()}
    values["aws.events.event"] = event
    values["aws.events.event.json"] = event
    values["aws.events.rule-arn"] = rule_arn
    values["aws.events.rule-name"] = rule_name
    values["aws.events.event.ingestion-time"] = ingestion_time or event.get("time", "")

    if not template.lstrip().startswith(("{", "[", '"')):
        # A plain-text template: values are inserted as text.
        return _PLACEHOLDER.sub(lambda m: _text(values[m.group(1)]) if m.group(1) in values else m.group(0), template)
    out: list[str] = []
    strings = StringScan()
    index = 0
    while index < len(template):
        char = template[index]
        if char == "<":
            end = template.find(">", index + 1)
            name = template[index + 1 : end] if end != -1 else ""
            if end != -1 and name in values:
                out.append(_render(values[name], strings.inside))
                index = end + 1
                continue
        out.append(char)
        strings.outside(char)
        index += 1
    return "".join(out)


def _text(value: Any) -> str:
    if value is _MISSING:
        return ""
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


def _render(value: Any, in_string: bool) -> str:
    if value is _MISSING:
        return "" if in_string else "null"
    if in_string:
        if isinstance(value, str):
            return json.dumps(value)[1:-1]  # escaped for the surrounding JSON string
        return json.dumps(value, separators=(",", ":")).replace('"', '\\"')
    return json.dumps(value, separators=(",", ":"))
