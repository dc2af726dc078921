"""A source's ``dedupe`` mode: its allowed values and which sources may turn deduplication off, once.

``content`` (the default, every kind): a delivery is looked up in the ledger and recorded there, on
its record key (its signed content for kinds that sign no timestamp, else its delivery key), and the
FIFO queue deduplicates its sends for 5 minutes. ``off``: the ingest neither reads nor writes the
ledger and gives each accepted request a record key of its own (``req:`` + a random uuid4,
:func:`functions.inbound.envelope.request_key`), so every request becomes its own event.

``off`` is for providers whose genuine notifications repeat byte for byte and carry neither a
delivery id nor a signed timestamp (Dropbox, Microsoft Graph): their "go and sync" signals are
harmless twice, and deduplicating them loses every later change for ``dedupeTtlHours``. It is
refused for sources whose provider sends a delivery id (every other kind, and an ``hmac`` source
with ``hmac.deliveryIdHeader``): there a repeat is told from a retry by its id, and ``off`` would
only turn retries and replays into extra events. The stack configuration
(``components/config/consumer.py``) and the ingest's contract (:mod:`functions.inbound.settings`)
both check a source with :func:`dedupe_problem`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from functions.inbound.kinds import SourceKind

DEDUPE_CONTENT = "content"
DEDUPE_OFF = "off"
DEDUPE_MODES = (DEDUPE_CONTENT, DEDUPE_OFF)
"""The allowed values of a source's ``dedupe``; the first is the default."""
DEFAULT_DEDUPE = DEDUPE_CONTENT
DEDUPE_OFF_KINDS = ("hmac", "msgraph")
"""The kinds that accept ``dedupe: off`` (an ``hmac`` source only without a delivery id header)."""


def dedupe_problem(mode: object, kind: SourceKind | None) -> str | None:
    """Why ``mode`` is not a valid ``dedupe`` for a source of ``kind`` (its conventions), or ``None``.

    ``kind`` ``None``: the source's kind is not known (invalid); only the value is checked. The text
    follows the key path (``...dedupe: <text>`` in the configuration, ``...dedupe <text>`` in settings).
    """
    if mode not in DEDUPE_MODES:
        return f"must be one of {', '.join(DEDUPE_MODES)}; got {mode!r}"
    if mode != DEDUPE_OFF or kind is None:
        return None
    has_delivery_id = bool(kind.delivery_id_headers or kind.delivery_id_paths)
    if kind.name in DEDUPE_OFF_KINDS and not has_delivery_id:
        return None
    which = "an hmac source with hmac.deliveryIdHeader" if kind.name == "hmac" else f"a {kind.name} source"
    return (
        f"must be {DEDUPE_CONTENT} for {which}: {DEDUPE_OFF} is accepted only for kinds "
        f"{' and '.join(DEDUPE_OFF_KINDS)} (an hmac source without hmac.deliveryIdHeader), whose providers may "
        "repeat a notification byte for byte with no delivery id (Dropbox, Microsoft Graph)"
    )
