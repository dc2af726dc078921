"""Every inbound source kind and everything hookstack knows about it, in one table.

A source's ``kind`` names its provider's conventions. The verifier (:mod:`functions.inbound.verify`),
the envelope (:mod:`functions.inbound.envelope`: delivery ids, event types, kept headers) and the
ingest handler (allowed methods, handshakes, replay protection) read :data:`SOURCE_KINDS`; the stack
configuration allows exactly :data:`KIND_NAMES` (and ``SourceKind.secret_problem`` is the secret
format it checks). Adding a provider is one entry here, a signature scheme in
:mod:`functions.inbound.schemes`, and their tests.

Header names are lower-case (function URLs deliver them so); paths are dotted paths into the
parsed payload (``event.type``; list indexes allowed).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from functions import whsec
from functions.inbound import schemes
from functions.inbound.payload import Payload
from functions.inbound.schemes import SignedRequest, Verifier

# The providers' event-type header tokens (GitHub `push`, `pull_request`, `projects_v2_item`; Shopify
# `orders/create`, `customer.tags_added`): lower-case ASCII letters, digits, '_', '.', '/' and '-'.
# The header is not signed, so a value outside this syntax (`Push`, a zero-width character, spaces
# inside) is no provider's and is refused (400) rather than becoming a new event type.
EVENT_TYPE_TOKEN_RE = re.compile(r"^[a-z0-9_./-]+$")

Handshake = Callable[[Payload], Mapping[str, Any] | None]
"""The body to answer 200 with when a verified request is a handshake (nothing is enqueued), else None."""


@dataclass(frozen=True)
class SourceKind:
    """One provider's conventions. Every field is stated for every kind (none has a default)."""

    name: str
    verifier: Verifier
    """The signature scheme (:mod:`functions.inbound.schemes`)."""
    delivery_id_headers: tuple[str, ...]
    """Headers holding the provider's delivery id, first non-empty wins."""
    delivery_id_paths: tuple[str, ...]
    """Payload paths holding it when no header does (without either: a hash of the body)."""
    event_type_headers: tuple[str, ...]
    """Headers holding the event type (after the source's ``eventTypePath``)."""
    event_type_paths: tuple[str, ...]
    """Payload paths holding it when no header does (without either: ``webhook``)."""
    event_type_in_content_key: bool
    """For kinds with ``signed_content``: whether the key of a request's signed content includes its
    event type. Needed when one signed body is a genuine delivery under two event types (Shopify's
    order resource under ``orders/create``, ``orders/paid``...); the event-type header is unsigned, so
    a replay under another valid event type is then a new event. Left out where the body is specific
    to its event type (GitHub), so any relabelled replay is a duplicate."""
    kept_headers: frozenset[str]
    """The provider's headers that travel with the event: useful to consumers, never a signature."""
    methods: tuple[str, ...]
    """HTTP methods the provider may use (Twilio can be configured to send GET)."""
    handshake: Handshake | None
    """Answers the provider's endpoint check instead of enqueueing it (Slack ``url_verification``)."""
    signs_timestamp: bool
    """Whether the signature covers a timestamp, so a captured request stops verifying."""
    signed_content: Callable[[SignedRequest], bytes] | None
    """For kinds that sign no timestamp: exactly what the signature covers, canonical; a second
    request with the same signed content is a replay whatever its (unsigned) delivery id."""
    signs_query: bool
    """Whether the signature covers the query string (Twilio signs the whole URL): only then is the
    query kept with the event and part of a derived delivery key."""
    needs_public_url: bool
    """Whether verifying needs the URL the provider signs (the source secret's ``publicUrl``)."""
    secret_problem: Callable[[str], str | None] | None
    """Why a configured secret is not in the kind's format, or None (no format beyond non-empty)."""

    def __post_init__(self) -> None:
        # The replay defence of a kind follows from what it signs: one fact, checked once, at import.
        if self.signs_timestamp == (self.signed_content is not None):
            raise ValueError(
                f"source kind {self.name}: signed_content is for (and only for) kinds that sign no timestamp"
            )
        if self.event_type_in_content_key and self.signed_content is None:
            raise ValueError(f"source kind {self.name}: event_type_in_content_key needs signed_content")


def slack_url_verification(payload: Payload) -> Mapping[str, Any] | None:
    """Slack's endpoint check: echo the challenge (verified first: Slack signs it like any event)."""
    value = payload.value
    if payload.encoding == "json" and isinstance(value, dict) and value.get("type") == "url_verification":
        return {"challenge": str(value.get("challenge", ""))}
    return None


_KINDS = (
    SourceKind(
        name="github",
        verifier=schemes.verify_github,
        delivery_id_headers=("x-github-delivery",),
        delivery_id_paths=(),
        event_type_headers=("x-github-event",),
        event_type_paths=(),
        # A GitHub body is specific to its event (its fields, `action`, timestamps): never the same under two.
        event_type_in_content_key=False,
        kept_headers=frozenset(
            {
                "x-github-event",
                "x-github-delivery",
                "x-github-hook-id",
                "x-github-hook-installation-target-id",
                "x-github-hook-installation-target-type",
            }
        ),
        methods=("POST",),
        handshake=None,
        signs_timestamp=False,
        signed_content=schemes.body_content,
        signs_query=False,
        needs_public_url=False,
        secret_problem=None,
    ),
    SourceKind(
        name="twilio",
        verifier=schemes.verify_twilio,
        delivery_id_headers=("i-twilio-idempotency-token",),
        delivery_id_paths=(),
        event_type_headers=(),
        event_type_paths=(),
        # No event-type header: the type comes from the signed params (eventTypePath) or is `webhook`.
        event_type_in_content_key=True,
        kept_headers=frozenset({"i-twilio-idempotency-token"}),
        methods=("POST", "GET"),
        handshake=None,
        signs_timestamp=False,
        signed_content=schemes.twilio_content,
        signs_query=True,
        needs_public_url=True,
        secret_problem=None,
    ),
    SourceKind(
        name="stripe",
        verifier=schemes.verify_stripe,
        delivery_id_headers=(),
        delivery_id_paths=("id",),
        event_type_headers=(),
        event_type_paths=("type",),
        event_type_in_content_key=False,
        kept_headers=frozenset(),
        methods=("POST",),
        handshake=None,
        signs_timestamp=True,
        signed_content=None,
        signs_query=False,
        needs_public_url=False,
        secret_problem=None,
    ),
    SourceKind(
        name="slack",
        verifier=schemes.verify_slack,
        delivery_id_headers=(),
        delivery_id_paths=("event_id",),
        event_type_headers=(),
        event_type_paths=("event.type", "type", "command"),
        event_type_in_content_key=False,
        kept_headers=frozenset({"x-slack-retry-num", "x-slack-retry-reason"}),
        methods=("POST",),
        handshake=slack_url_verification,
        signs_timestamp=True,
        signed_content=None,
        signs_query=False,
        needs_public_url=False,
        secret_problem=None,
    ),
    SourceKind(
        name="shopify",
        verifier=schemes.verify_shopify,
        delivery_id_headers=("x-shopify-webhook-id",),
        delivery_id_paths=(),
        event_type_headers=("x-shopify-topic",),
        event_type_paths=(),
        # One order body is a genuine delivery under orders/create, orders/updated, orders/paid...
        event_type_in_content_key=True,
        kept_headers=frozenset(
            {
                "x-shopify-topic",
                "x-shopify-shop-domain",
                "x-shopify-api-version",
                "x-shopify-webhook-id",
                "x-shopify-event-id",
                "x-shopify-triggered-at",
            }
        ),
        methods=("POST",),
        handshake=None,
        signs_timestamp=False,
        signed_content=schemes.body_content,
        signs_query=False,
        needs_public_url=False,
        secret_problem=None,
    ),
    SourceKind(
        name="standard",
        verifier=schemes.verify_standard,
        delivery_id_headers=("webhook-id", "svix-id"),
        delivery_id_paths=(),
        event_type_headers=(),
        event_type_paths=("type",),
        event_type_in_content_key=False,
        kept_headers=frozenset({"webhook-id", "webhook-timestamp", "svix-id", "svix-timestamp"}),
        methods=("POST",),
        handshake=None,
        signs_timestamp=True,
        signed_content=None,
        signs_query=False,
        needs_public_url=False,
        # Standard Webhooks keys are whsec_ + base64: the config refuses any other before deploying.
        secret_problem=whsec.problem,
    ),
)

SOURCE_KINDS: Mapping[str, SourceKind] = MappingProxyType({kind.name: kind for kind in _KINDS})
KIND_NAMES: tuple[str, ...] = tuple(SOURCE_KINDS)
"""The allowed ``kind`` values, in the order the configuration lists them."""


def source_kind(name: str) -> SourceKind:
    """The kind called ``name``; raises ``ValueError`` naming the allowed ones."""
    kind = SOURCE_KINDS.get(name)
    if kind is None:
        raise ValueError(f"unknown source kind {name!r}; allowed: {', '.join(KIND_NAMES)}")
    return kind
