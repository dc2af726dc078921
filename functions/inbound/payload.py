"""A webhook body as consumers see it: pure functions, no AWS.

The ingest parses a verified body once (:func:`parse_payload`): to refuse a body that contradicts
its content type (400), to read delivery ids, event types and ordering keys from it, and to answer
handshakes. The enrichment parses it again to put it in the event (:mod:`functions.inbound.target`).
"""

from __future__ import annotations

import base64
import json
import math
import re
import sys
from typing import Any
from urllib.parse import parse_qsl

from functions.records import record

JSON_MEDIA_RE = re.compile(r"^application/(?:[\w.+-]+\+)?json$")
# An escaped UTF-16 surrogate (``\ud800``): alone it decodes to a string that has no UTF-8.
_ESCAPED_SURROGATE_RE = re.compile(r"\\u[dD][89a-fA-F]")
_MAX_INTEGER_DIGITS = sys.get_int_max_str_digits() or 4300  # 0: unlimited; keep the default bound
FORM_MEDIA_TYPE = "application/x-www-form-urlencoded"


class MalformedPayload(ValueError):
    """The body does not match what its content type declares (a 400 for the provider)."""


@record
class Payload:
    """A body as consumers see it: parsed JSON, form fields, text or base64."""

    value: Any
    encoding: str
    """``json`` | ``form`` | ``text`` | ``base64``."""


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError("a number is beyond a float (no event can carry it)")
    return number


def _whole(text: str) -> int:
    # Python refuses longer integers with a hint about its own settings; say it in the payload's terms.
    if len(text) - text.startswith("-") > _MAX_INTEGER_DIGITS:
        raise ValueError(f"a number has more than {_MAX_INTEGER_DIGITS} digits")
    return int(text)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def loads_json(text: str | bytes) -> Any:
    """``json.loads`` refusing (``ValueError``) what no event can carry: ``NaN``, infinities and
    numbers beyond a float (they have no JSON text, so the event would never publish), a lone
    surrogate (no UTF-8 for it), and nesting deeper than the parser's recursion limit
    (``RecursionError``); each would otherwise be a 500 or a dead letter."""
    try:
        value = json.loads(text, parse_constant=_no_constant, parse_float=_finite, parse_int=_whole)
        if _ESCAPED_SURROGATE_RE.search(text if isinstance(text, str) else text.decode("utf-8", "replace")):
            json.dumps(value, ensure_ascii=False).encode("utf-8")  # only bodies that escape a surrogate pay this
    except RecursionError:
        raise ValueError("nested too deeply") from None
    except UnicodeEncodeError:
        raise ValueError("a string holds a lone surrogate (\\ud800-\\udfff without its pair)") from None
    return value


def media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def parse_payload(body: bytes, content_type: str) -> Payload:
    """The body as consumers see it.

    JSON when the content type says JSON (malformed JSON raises :class:`MalformedPayload`) or when
    an undeclared body parses as JSON; url-encoded forms as a field mapping (a form whose only field
    is ``payload`` holding JSON, as GitHub and Slack send, as that JSON); other UTF-8 as text;
    anything else as base64.
    """
    media = media_type(content_type)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        if JSON_MEDIA_RE.fullmatch(media) or media == FORM_MEDIA_TYPE:
            raise MalformedPayload(f"body is not UTF-8 although content-type is {media}") from None
        return Payload(base64.b64encode(body).decode("ascii"), "base64")
    if JSON_MEDIA_RE.fullmatch(media):
        try:
            return Payload(loads_json(text), "json")
        except ValueError as error:
            raise MalformedPayload(f"body is not valid JSON although content-type is {media} ({error})") from None
    if media == FORM_MEDIA_TYPE:
        fields = form_fields(text)
        if set(fields) == {"payload"} and isinstance(fields["payload"], str):
            try:
                return Payload(loads_json(fields["payload"]), "json")
            except ValueError:
                pass
        return Payload(fields, "form")
    stripped = text.lstrip()
    if stripped[:1] in ("{", "["):
        try:
            return Payload(loads_json(text), "json")
        except ValueError:
            pass
    return Payload(text, "text")


def form_fields(text: str) -> dict[str, str | list[str]]:
    """Form fields; a repeated name keeps every value, in order."""
    fields: dict[str, str | list[str]] = {}
    for name, value in parse_qsl(text, keep_blank_values=True):
        existing = fields.get(name)
        if existing is None:
            fields[name] = value
        elif isinstance(existing, list):
            existing.append(value)
        else:
            fields[name] = [existing, value]
    return fields
