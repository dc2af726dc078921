"""Signature verification of inbound webhooks, by source kind: pure functions, no AWS, no I/O.

The public face of verification: :func:`verify` checks a request with the scheme its kind names
in :mod:`functions.inbound.kinds`, :func:`signed_content` gives what a verified request's signature
covers for kinds whose replay defence claims it. The schemes themselves, their rules and their failure
reasons are in :mod:`functions.inbound.schemes`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from functions.inbound.kinds import SourceKind, source_kind
from functions.inbound.schemes import TOLERANCE_SECONDS, SignedRequest, VerificationError

__all__ = ["TOLERANCE_SECONDS", "SignedRequest", "VerificationError", "signed_content", "verify"]


def verify(
    kind: str | SourceKind,
    request: SignedRequest,
    secrets: Sequence[str],
    *,
    public_url: str = "",
    now: float | None = None,
    tolerance: int = TOLERANCE_SECONDS,
) -> int:
    """The index in ``secrets`` of the secret that signed ``request``; raises otherwise.

    ``public_url`` is the URL the provider was configured with, without query string (Twilio, and
    ``hmac`` sources that sign ``{url}``). ``kind`` is a registry name or a source's own kind
    (:func:`functions.inbound.kinds.kind_of`: an ``hmac`` source's comes from its configuration).
    """
    if not secrets or any(not s for s in secrets):
        raise ValueError("at least one non-empty secret is required")
    verifier = source_kind(kind).verifier
    current = time.time() if now is None else now
    return verifier(request, secrets, public_url=public_url, now=current, tolerance=tolerance)


def signed_content(kind: str | SourceKind, request: SignedRequest) -> bytes | None:
    """What the signature of a verified ``request`` covers, canonical; ``None`` when the kind's signed
    timestamp (and signed or body-derived id) is its replay defence.

    Two requests with the same signed content carry the same signature, whatever else differs
    (unsigned headers such as the delivery id, the order or encoding of Twilio's form params), so
    this is what a replay cannot change. Call it only after :func:`verify` accepted the request.
    """
    content = source_kind(kind).signed_content
    return None if content is None else content(request)
