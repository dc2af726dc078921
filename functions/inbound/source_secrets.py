"""Source secrets from Secrets Manager, cached in the function for a short time.

Each source has one secret whose value is JSON::

    {"current": "<signing secret>", "previous": "<old secret or null>", "publicUrl": "https://..."}

``previous`` bridges a rotation for providers that hold a single secret (GitHub, Twilio): both are
accepted until the operator removes ``previous`` from the stack config. ``publicUrl`` is the URL the
provider signs (Twilio) and is written by the deployment, so the function never guesses it from
Host headers.

The cache keeps a value for ``ttl_seconds`` (300 by default, far below the caching client's hour),
so a rotation reaches every warm function within minutes. :meth:`SecretCache.refresh` re-reads a
value early (at most once per ``min_refresh_seconds``) when a signature did not verify, which closes
most of that window without letting bad requests hammer Secrets Manager.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from functions import whsec
from functions.records import record

# One error for a malformed source secret: the JSON document, or a whsec_ key inside it.
SecretFormatError = whsec.SecretFormatError


@record
class SourceSecrets:
    current: str
    previous: str | None
    public_url: str | None

    @property
    def candidates(self) -> list[str]:
        """Secrets to try, current first."""
        return [self.current] + ([self.previous] if self.previous else [])


def secret_document(current: str, previous: str | None, public_url: str) -> str:
    """The secret's value as the deployment (and the sandbox) writes it; :func:`parse_secret` reads it."""
    return json.dumps({"current": current, "previous": previous or None, "publicUrl": public_url})


def parse_secret(text: str) -> SourceSecrets:
    try:
        document = json.loads(text)
    except ValueError:
        raise SecretFormatError("source secret is not JSON") from None
    if not isinstance(document, dict):
        raise SecretFormatError("source secret must be a JSON object")
    current = document.get("current")
    previous = document.get("previous")
    public_url = document.get("publicUrl")
    if not isinstance(current, str) or not current:
        raise SecretFormatError("source secret needs a non-empty 'current'")
    if previous is not None and not isinstance(previous, str):
        raise SecretFormatError("source secret 'previous' must be a string or null")
    if public_url is not None and not isinstance(public_url, str):
        raise SecretFormatError("source secret 'publicUrl' must be a string or null")
    return SourceSecrets(current=current, previous=previous or None, public_url=public_url or None)


class SecretCache:
    """``get(secret_id)`` with a time-to-live; ``fetch(secret_id)`` returns the secret string."""

    def __init__(
        self,
        fetch: Callable[[str], str],
        *,
        ttl_seconds: float = 300,
        min_refresh_seconds: float = 30,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self._ttl = ttl_seconds
        self._min_refresh = min_refresh_seconds
        self._clock = clock
        self._entries: dict[str, tuple[float, SourceSecrets]] = {}

    def get(self, secret_id: str) -> SourceSecrets:
        entry = self._entries.get(secret_id)
        if entry is not None and self._clock() - entry[0] < self._ttl:
            return entry[1]
        return self._load(secret_id)

    def refresh(self, secret_id: str) -> SourceSecrets | None:
        """Re-read early; ``None`` when the cached value is too fresh to be worth re-reading."""
        entry = self._entries.get(secret_id)
        if entry is not None and self._clock() - entry[0] < self._min_refresh:
            return None
        return self._load(secret_id)

    def clear(self) -> None:
        self._entries.clear()

    def _load(self, secret_id: str) -> SourceSecrets:
        value = parse_secret(self._fetch(secret_id))
        self._entries[secret_id] = (self._clock(), value)
        return value
