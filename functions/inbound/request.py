"""The ingest's first and second steps: what a function URL event asks, and what its body says.

:func:`read_request` turns the Lambda function URL event (payload format 2.0, which HTTP APIs send
too) into an :class:`InboundRequest`, before anything is verified or stored: the source named by the
path (404), a method its kind allows (405), the raw body decoded from base64 when the event says so
(400) and within the function URL's 6 MB (413). :func:`read_payload` parses the body once its
signature verified (400 when it contradicts its content type).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from functions import logs
from functions.inbound.answers import Answer
from functions.inbound.kinds import SourceKind, kind_of
from functions.inbound.payload import MalformedPayload, Payload, parse_payload
from functions.inbound.schemes import SignedRequest
from functions.inbound.settings import SourceConfig
from functions.records import record

# Function URLs buffer at most 6 MB of request (Lambda's synchronous payload limit).
FUNCTION_URL_MAX_BYTES = 6 * 1024 * 1024
# The same limit as base64 text (4 characters per 3 bytes, padded), checked before decoding.
_MAX_BASE64_CHARS = FUNCTION_URL_MAX_BYTES * 4 // 3 + 4


@record
class InboundRequest:
    source: SourceConfig
    kind: SourceKind
    signed: SignedRequest
    """Lower-case headers, the raw body and the raw query string: what the signature is checked on."""
    request_id: str | None
    method: str = "POST"

    @property
    def content_type(self) -> str:
        return self.signed.headers.get("content-type", "")

    @property
    def kept_query(self) -> str:
        """The query string travels with the event only when it is signed (an unsigned one is not kept)."""
        return self.signed.query if self.kind.signs_query else ""

    def log_fields(self) -> dict[str, Any]:
        return {"source": self.source.name, "requestId": self.request_id}


def read_request(event: Mapping[str, Any], sources: Mapping[str, SourceConfig]) -> InboundRequest:
    """The request ``event`` makes of a configured source; raises :class:`Answer` otherwise."""
    context = event.get("requestContext") or {}
    http = context.get("http") or {}
    path = str(event.get("rawPath") or http.get("path") or "/")
    source = sources.get(path.strip("/"))
    if source is None:
        raise Answer(404, {"error": "unknown webhook source; POST to /<source name>"})
    kind = kind_of(source.kind, source.hmac)  # an hmac source's conventions come from its configuration
    method = str(http.get("method") or "").upper()
    if method not in kind.methods:
        raise Answer(
            405,
            {"error": f"method {method or '?'} not allowed; use {' or '.join(kind.methods)}"},
            headers={"allow": ", ".join(kind.methods)},
        )
    headers = {str(name).lower(): str(value) for name, value in (event.get("headers") or {}).items()}
    body = _body(event)
    query = str(event.get("rawQueryString") or "")
    return InboundRequest(
        source, kind, SignedRequest(headers=headers, body=body, query=query), context.get("requestId"), method
    )


def _body(event: Mapping[str, Any]) -> bytes:
    raw_body = event.get("body") or ""
    if not isinstance(raw_body, str):
        raise Answer(400, {"error": "body must be a string in the event"})
    encoded = bool(event.get("isBase64Encoded"))
    if len(raw_body) > (_MAX_BASE64_CHARS if encoded else FUNCTION_URL_MAX_BYTES):
        raise Answer(413, {"error": f"body exceeds {FUNCTION_URL_MAX_BYTES} bytes"})
    if encoded:
        try:
            body = base64.b64decode(raw_body, validate=True)
        except (binascii.Error, ValueError):
            raise Answer(400, {"error": "body is flagged isBase64Encoded but is not valid base64"}) from None
    else:
        body = raw_body.encode("utf-8")
    if len(body) > FUNCTION_URL_MAX_BYTES:
        raise Answer(413, {"error": f"body exceeds {FUNCTION_URL_MAX_BYTES} bytes"})
    return body


def read_payload(request: InboundRequest, log: Mapping[str, Any]) -> Payload:
    """The verified body as consumers will see it; 400 when it contradicts its content type."""
    try:
        return parse_payload(request.signed.body, request.content_type)
    except MalformedPayload as error:
        logs.warning("malformed body", **log, detail=str(error))
        raise Answer(400, {"error": str(error)}) from None
