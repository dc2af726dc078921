"""The generic HMAC scheme (``kind: hmac``): one source's ``hmac:`` configuration, its rules, its verifier.

A source of kind ``hmac`` describes its provider's scheme instead of naming it::

    hmac:
      header: X-Hub-Signature          # the signature header
      algorithm: sha1                  # sha1 | sha256 | sha512
      encoding: hex                    # hex | base64
      prefix: "sha1="                  # optional literal before the signature
      timestampHeader: X-Zm-Request-Timestamp   # optional; unix seconds, checked against toleranceSeconds
      toleranceSeconds: 300
      signatureParam: h1               # optional: the header is name=value parameters (Paddle's
      timestampParam: ts               #   ``ts=..;h1=..``); signatures and timestamp are taken from it
      paramSeparator: ";"              #   ``,`` (default) or ``;``
      signedContent: "{timestamp}:{body}"   # {body} {timestamp} {url} {header:NAME}; default {body}
      deliveryIdHeader: Linear-Delivery     # optional
      handshake: zoom                  # optional: zoom (endpoint.url_validation) | dropbox (GET ?challenge=)

:func:`parse_hmac` is the one set of rules, used by the stack configuration (each problem reported
with its key path) and by the ingest's contract (``CONSUMER_SOURCES``, where the configuration
travels): a configuration accepted by one is accepted by the other. What the registry derives from
it (delivery id header, replay defence, whether the URL is needed) is in
:func:`functions.inbound.kinds.hmac_source_kind`.

Safety rules beyond syntax: ``{body}`` must be signed (a signature that does not cover the body
authenticates nothing a consumer reads), and a configured timestamp must be signed (an unsigned one
could be replaced at will, so its tolerance would stop nothing). ``{url}`` is the source's public URL
(as for Twilio) plus the request's raw query string when it has one.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from functions import whsec
from functions.inbound.schemes import (
    UNIX_SECONDS_RE,
    SignedRequest,
    VerificationError,
    check_timestamp,
    match,
    required_header,
    signed_url,
)
from functions.records import record

ALGORITHMS: Mapping[str, Callable[..., Any]] = {
    "sha1": hashlib.sha1,
    "sha256": hashlib.sha256,
    "sha512": hashlib.sha512,
}
ENCODINGS = ("hex", "base64")
HANDSHAKES = ("zoom", "dropbox")
PARAM_SEPARATORS = (",", ";")
PLACEHOLDERS = ("{body}", "{timestamp}", "{url}", "{header:NAME}")
HMAC_KEYS = (
    "header",
    "algorithm",
    "encoding",
    "prefix",
    "timestampHeader",
    "toleranceSeconds",
    "signatureParam",
    "timestampParam",
    "paramSeparator",
    "signedContent",
    "deliveryIdHeader",
    "handshake",
)
DEFAULT_SIGNED_CONTENT = "{body}"
DEFAULT_TOLERANCE_SECONDS = 300
MAX_TOLERANCE_SECONDS = 3600
MAX_TEMPLATE_CHARS = 512
# Header names: RFC 9110 tokens restricted to what providers use (letters, digits, '-').
HEADER_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,127}$")
_PARAM_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_PREFIX_RE = re.compile(r"^[\x21-\x7e]{1,32}$")
_PLACEHOLDER_RE = re.compile(r"\{([^{}]*)\}")

Segment = tuple[str, str]
"""One part of a signed-content template: ("text", literal), ("body", ""), ("timestamp", ""), ("url", ""),
("header", lower-case name)."""


@record
class HmacConfig:
    """One source's generic HMAC scheme (header names lower-case, as function URLs deliver them)."""

    header: str
    algorithm: str
    encoding: str
    prefix: str = ""
    timestamp_header: str | None = None
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS
    signature_param: str | None = None
    timestamp_param: str | None = None
    param_separator: str = ","
    signed_content: str = DEFAULT_SIGNED_CONTENT
    delivery_id_header: str | None = None
    handshake: str | None = None

    @property
    def segments(self) -> tuple[Segment, ...]:
        segments, problems = parse_template(self.signed_content)
        if problems:  # parse_hmac refused it: a config object is never built from a bad template
            raise ValueError("; ".join(problems))
        return segments

    @property
    def signs_timestamp(self) -> bool:
        return self.timestamp_header is not None or self.timestamp_param is not None

    @property
    def signed_headers(self) -> frozenset[str]:
        return frozenset(value for kind, value in self.segments if kind == "header")

    @property
    def signs_url(self) -> bool:
        return any(kind == "url" for kind, _ in self.segments)

    def to_json(self) -> dict[str, Any]:
        """The configuration's keys that differ from their defaults (``CONSUMER_SOURCES`` is 4 KB)."""
        document: dict[str, Any] = {"header": self.header, "algorithm": self.algorithm, "encoding": self.encoding}
        optional = {
            "prefix": (self.prefix, ""),
            "timestampHeader": (self.timestamp_header, None),
            "toleranceSeconds": (self.tolerance_seconds, DEFAULT_TOLERANCE_SECONDS),
            "signatureParam": (self.signature_param, None),
            "timestampParam": (self.timestamp_param, None),
            "paramSeparator": (self.param_separator, ","),
            "signedContent": (self.signed_content, DEFAULT_SIGNED_CONTENT),
            "deliveryIdHeader": (self.delivery_id_header, None),
            "handshake": (self.handshake, None),
        }
        document.update({key: value for key, (value, default) in optional.items() if value != default})
        return document


def parse_template(template: str) -> tuple[tuple[Segment, ...], list[str]]:
    """The segments of a ``signedContent`` template, and its problems (each a sentence)."""
    segments: list[Segment] = []
    problems: list[str] = []
    position = 0
    for placeholder in _PLACEHOLDER_RE.finditer(template):
        literal = template[position : placeholder.start()]
        if literal:
            segments.append(("text", literal))
        name = placeholder.group(1)
        if name in ("body", "timestamp", "url"):
            segments.append((name, ""))
        elif name.startswith("header:") and HEADER_NAME_RE.fullmatch(name[len("header:") :]):
            segments.append(("header", name[len("header:") :].lower()))
        elif name.startswith("header:"):
            problems.append(f"{{{name}}}: a header name is 1-128 of A-Z, a-z, 0-9 and '-'")
        else:
            problems.append(f"unknown placeholder {{{name}}}; allowed: {', '.join(PLACEHOLDERS)}")
        position = placeholder.end()
    if template[position:]:
        segments.append(("text", template[position:]))
    if any(kind == "text" and ("{" in value or "}" in value) for kind, value in segments):
        problems.append("has an unmatched '{' or '}' (placeholders are {body}, {timestamp}, {url}, {header:NAME})")
    return tuple(segments), problems


def parse_hmac(raw: Any) -> tuple[HmacConfig | None, list[tuple[str, str]]]:
    """The configuration in ``raw`` (the ``hmac:`` mapping), and its problems as (key, message).

    The key is ``""`` for a problem of the whole mapping. Numbers may be strings (Pulumi's ``--path``
    values are). No configuration is returned when there is any problem.
    """
    if not isinstance(raw, Mapping):
        return None, [("", f"must be a mapping with {', '.join(HMAC_KEYS[:3])} (and optional keys)")]
    problems: list[tuple[str, str]] = [
        (str(key), f"unknown key; allowed keys: {', '.join(HMAC_KEYS)}") for key in raw if key not in HMAC_KEYS
    ]

    def text(key: str, *, required: bool = False) -> str | None:
        value = raw.get(key)
        if value is None or value == "":
            if required:
                problems.append((key, "is required"))
            return None
        if not isinstance(value, str):
            problems.append((key, f"must be a string, got {type(value).__name__}"))
            return None
        return value

    def header_name(key: str, *, required: bool = False) -> str | None:
        value = text(key, required=required)
        if value is not None and not HEADER_NAME_RE.fullmatch(value):
            problems.append((key, f"must be a header name (1-128 of A-Z, a-z, 0-9 and '-'); got {value!r}"))
            return None
        return value.lower() if value else None

    def choice(key: str, allowed: Sequence[str], *, required: bool = False) -> str | None:
        value = text(key, required=required)
        if value is not None and value not in allowed:
            problems.append((key, f"must be one of {', '.join(allowed)}; got {value!r}"))
            return None
        return value

    header = header_name("header", required=True)
    algorithm = choice("algorithm", tuple(ALGORITHMS), required=True)
    encoding = choice("encoding", ENCODINGS, required=True)
    prefix = text("prefix") or ""
    if prefix and not _PREFIX_RE.fullmatch(prefix):
        problems.append(("prefix", f"must be 1-32 printable ASCII characters without spaces; got {prefix!r}"))
    timestamp_header = header_name("timestampHeader")
    signature_param = text("signatureParam")
    timestamp_param = text("timestampParam")
    for key, value in (("signatureParam", signature_param), ("timestampParam", timestamp_param)):
        if value is not None and not _PARAM_NAME_RE.fullmatch(value):
            problems.append((key, f"must be a parameter name (1-32 of A-Z, a-z, 0-9, '_', '-'); got {value!r}"))
    separator = choice("paramSeparator", PARAM_SEPARATORS)
    if signature_param is None:
        for key in ("timestampParam", "paramSeparator"):
            if raw.get(key) is not None:
                problems.append((key, "needs signatureParam (the header is then name=value parameters)"))
    elif prefix:
        problems.append(("prefix", "is for a plain signature header; with signatureParam the parameter name is it"))
    if timestamp_header is not None and timestamp_header == header:
        problems.append(("timestampHeader", "must not be the signature header (header)"))
    if timestamp_param is not None and timestamp_param == signature_param:
        problems.append(("timestampParam", "must not be signatureParam (one parameter cannot hold both)"))
    if timestamp_header is not None and timestamp_param is not None:
        problems.append(("timestampParam", "the timestamp comes from timestampHeader or timestampParam, not both"))
    timed = timestamp_header is not None or timestamp_param is not None
    tolerance = _tolerance(raw.get("toleranceSeconds"), timed, problems)
    template = text("signedContent") or DEFAULT_SIGNED_CONTENT
    segments: tuple[Segment, ...] = ()
    if len(template) > MAX_TEMPLATE_CHARS:
        problems.append(("signedContent", f"must be at most {MAX_TEMPLATE_CHARS} characters"))
    else:
        segments, template_problems = parse_template(template)
        problems.extend(("signedContent", problem) for problem in template_problems)
    kinds = [kind for kind, _ in segments]
    if segments and "body" not in kinds:
        problems.append(("signedContent", "must sign {body}: a signature that does not cover the body proves nothing"))
    if "timestamp" in kinds and not timed:
        problems.append(("signedContent", "{timestamp} needs timestampHeader or timestampParam"))
    if timed and segments and "timestamp" not in kinds:
        problems.append(
            ("signedContent", "must sign {timestamp} when a timestamp is configured (else it can be replaced)")
        )
    if header is not None and ("header", header) in segments:
        problems.append(("signedContent", f"{{header:{header}}} is the signature header itself"))
    delivery_id_header = header_name("deliveryIdHeader")
    if delivery_id_header is not None and delivery_id_header in (header, timestamp_header):
        problems.append(("deliveryIdHeader", "must not be the signature or timestamp header"))
    handshake = choice("handshake", HANDSHAKES)
    if problems or header is None or algorithm is None or encoding is None:
        return None, problems
    config = HmacConfig(
        header=header,
        algorithm=algorithm,
        encoding=encoding,
        prefix=prefix,
        timestamp_header=timestamp_header,
        tolerance_seconds=tolerance,
        signature_param=signature_param,
        timestamp_param=timestamp_param,
        param_separator=separator or ",",
        signed_content=template,
        delivery_id_header=delivery_id_header,
        handshake=handshake,
    )
    return config, []


def _tolerance(value: Any, timed: bool, problems: list[tuple[str, str]]) -> int:
    if value is None:
        return DEFAULT_TOLERANCE_SECONDS
    if not timed:
        problems.append(("toleranceSeconds", "needs timestampHeader or timestampParam"))
        return DEFAULT_TOLERANCE_SECONDS
    # ASCII digits only: str.isdigit() is also true of '²' (int() raises) and '٣' (int() reads 3).
    number = int(value) if isinstance(value, str) and value.isascii() and value.isdigit() else value
    if isinstance(number, bool) or not isinstance(number, int) or not 1 <= number <= MAX_TOLERANCE_SECONDS:
        problems.append(
            ("toleranceSeconds", f"must be a whole number of seconds, 1-{MAX_TOLERANCE_SECONDS}; got {value!r}")
        )
        return DEFAULT_TOLERANCE_SECONDS
    return number


# --------------------------------------------------------------------------------------------
# Verification
# --------------------------------------------------------------------------------------------


def verify_hmac(
    config: HmacConfig, request: SignedRequest, secrets: Sequence[str], *, public_url: str, now: float, **_: object
) -> int:
    """The index of the secret that signed ``request`` under ``config``; raises :class:`VerificationError`."""
    digest = ALGORITHMS[config.algorithm]
    signatures, timestamp = _signatures_and_timestamp(config, request, digest().digest_size)
    if timestamp is not None:
        check_timestamp(int(timestamp), now, config.tolerance_seconds)
    if config.signs_url and not public_url:
        raise ValueError("an hmac source that signs {url} needs the public URL the provider was configured with")
    message = _expand(config, request, timestamp or "", url=signed_url(public_url, request.query))
    return match(secrets, lambda key: hmac.new(key.encode("utf-8"), message, digest).digest(), signatures)


def hmac_signed_content(config: HmacConfig, request: SignedRequest) -> bytes:
    """What the signature covers, canonical: the signed message with the source's constant public URL
    left out (its query string kept), so the same signed request always gives the same bytes."""
    timestamp = _timestamp(config, request) if config.signs_timestamp else ""
    return _expand(config, request, timestamp or "", url=f"?{request.query}" if request.query else "")


def _expand(config: HmacConfig, request: SignedRequest, timestamp: str, *, url: str) -> bytes:
    parts: list[bytes] = []
    for kind, value in config.segments:
        if kind == "text":
            parts.append(value.encode("utf-8"))
        elif kind == "body":
            parts.append(request.body)
        elif kind == "timestamp":
            parts.append(timestamp.encode("ascii"))
        elif kind == "url":
            parts.append(url.encode("utf-8"))
        else:  # a signed header: absent means the request is not what the provider signs
            parts.append(required_header(request, value).encode("utf-8"))
    return b"".join(parts)


def _signatures_and_timestamp(config: HmacConfig, request: SignedRequest, size: int) -> tuple[list[bytes], str | None]:
    header = required_header(request, config.header)
    if config.signature_param is None:
        if not header.startswith(config.prefix):
            raise VerificationError("malformed_header", f"{config.header} must start with {config.prefix!r}")
        decoded = _decode(header[len(config.prefix) :], config.encoding, size)
        if decoded is None:
            raise VerificationError(
                "malformed_header", f"{config.header} must be a {config.encoding} {config.algorithm} HMAC"
            )
        return [decoded], _timestamp(config, request)
    signatures = []
    for part in header.split(config.param_separator):
        name, separator, value = part.strip().partition("=")
        # Entries that do not decode are skipped (a provider may add ones of another version).
        if separator and name == config.signature_param and (decoded := _decode(value, config.encoding, size)):
            signatures.append(decoded)
    if not signatures:
        raise VerificationError("malformed_header", f"{config.header} has no {config.signature_param}= signature")
    return signatures, _timestamp(config, request)


def _timestamp(config: HmacConfig, request: SignedRequest) -> str | None:
    """The signed timestamp (unix seconds) of a timed configuration, else None."""
    if config.timestamp_header is not None:
        value = required_header(request, config.timestamp_header)
    elif config.timestamp_param is not None:
        values = [
            part.strip().partition("=")[2]
            for part in required_header(request, config.header).split(config.param_separator)
            if part.strip().partition("=")[0] == config.timestamp_param
        ]
        if len(values) != 1:
            raise VerificationError("malformed_header", f"{config.header} needs exactly one {config.timestamp_param}=")
        value = values[0]
    else:
        return None
    if not UNIX_SECONDS_RE.fullmatch(value):
        raise VerificationError("malformed_header", "the signed timestamp must be unix seconds")
    return value


def _decode(text: str, encoding: str, size: int) -> bytes | None:
    """Strict: hex of exactly ``size`` bytes (either case), or canonical base64 of ``size`` bytes."""
    if encoding == "hex":
        if len(text) != 2 * size or not all(c in "0123456789abcdefABCDEF" for c in text):
            return None
        return bytes.fromhex(text)
    decoded = whsec.strict_b64decode(text)
    return decoded if decoded is not None and len(decoded) == size else None


# --------------------------------------------------------------------------------------------
# Handshakes of generic-HMAC providers
# --------------------------------------------------------------------------------------------


def zoom_encrypted_token(secret: str, plain_token: str) -> str:
    """Zoom's answer to ``endpoint.url_validation``: hex HMAC-SHA256 of ``plainToken`` with the secret token."""
    return hmac.new(secret.encode("utf-8"), plain_token.encode("utf-8"), hashlib.sha256).hexdigest()
