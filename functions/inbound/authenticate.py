"""The ingest's authentication step: the source's secrets, then its kind's signature scheme.

A failed signature is a 401 (counted in ``SignatureFailures``); a secret that cannot be read is a
503 (the provider retries); a malformed stored secret is a 500 and logged as such, never a 401 that
would hide the misconfiguration. A failure first re-reads the secret once (rate limited by the
cache): it may have been rotated since it was cached.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from functions import logs
from functions.inbound import metrics
from functions.inbound.answers import STORE_ERRORS, Answer, unavailable
from functions.inbound.request import InboundRequest
from functions.inbound.source_secrets import SecretCache, SecretFormatError, SourceSecrets
from functions.inbound.verify import VerificationError, verify


def authenticate(request: InboundRequest, secrets: SecretCache, now: float, log: Mapping[str, Any]) -> str:
    """The secret that signed ``request`` (a handshake may answer with it); raises :class:`Answer` otherwise."""
    source = request.source.name
    try:
        used, secret = _secret_that_signed(request, secrets, now)
    except VerificationError as error:
        metrics.emit(metrics.SIGNATURE_FAILURES, source, reason=error.reason)
        logs.warning("signature rejected", **log, reason=error.reason, detail=error.detail)
        raise Answer(401, {"error": f"signature verification failed ({error.reason})"}) from None
    except STORE_ERRORS as error:
        logs.error("source secret unavailable", **log, error=type(error).__name__)
        raise unavailable("the source secret could not be read") from None
    except SecretFormatError as error:
        logs.error("source secret is malformed", **log, detail=str(error))
        raise Answer(500, {"error": "source is misconfigured; nothing was accepted"}) from None
    if used > 0:
        metrics.emit(metrics.PREVIOUS_SECRET_ACCEPTED, source)
    return secret


def _secret_that_signed(request: InboundRequest, secrets: SecretCache, now: float) -> tuple[int, str]:
    """Index of the secret (0 current, 1 previous) that signed the request, and that secret."""
    secret_id = request.source.secret_id
    cached = secrets.get(secret_id)
    try:
        return _verify_with(request, cached, now)
    except VerificationError:
        # The secret may have been rotated since it was cached: re-read once (rate limited) and retry.
        fresh = secrets.refresh(secret_id)
        if fresh is None or fresh == cached:
            raise
        return _verify_with(request, fresh, now)


def _verify_with(request: InboundRequest, secrets: SourceSecrets, now: float) -> tuple[int, str]:
    kind = request.kind
    if kind.needs_public_url and not secrets.public_url:
        raise SecretFormatError(f"a {kind.name} source secret needs publicUrl (the URL {kind.name} signs)")
    candidates = secrets.candidates
    index = verify(kind, request.signed, candidates, public_url=secrets.public_url or "", now=now)
    return index, candidates[index]
