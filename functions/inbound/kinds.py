"""Every inbound source kind and everything hookstack knows about it, in one table.

A source's ``kind`` names its provider's conventions. The verifier (:mod:`functions.inbound.verify`),
the envelope (:mod:`functions.inbound.envelope`: delivery ids, event types, kept headers) and the
ingest handler (allowed methods, handshakes, replay protection) read :data:`SOURCE_KINDS`; the stack
configuration allows exactly :data:`KIND_NAMES` (and ``SourceKind.secret_problem`` is the secret
format it checks). Adding a provider is one entry here, a signature scheme in
:mod:`functions.inbound.schemes`, and their tests.

One kind is configured per source: ``hmac`` (:mod:`functions.inbound.hmac_scheme`), whose entry
here is a template; :func:`kind_of` gives a source its kind, deriving an ``hmac`` source's
conventions (delivery id header, replay defence, URL, handshake) from its ``hmac:`` configuration.

Header names are lower-case (function URLs deliver them so); paths are dotted paths into the
parsed payload (``event.type``; list indexes allowed).
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from functions import whsec
from functions.inbound import mailgun, schemes
from functions.inbound.schemes import SignedRequest, Verifier
from functions.lazy import lazy
from functions.records import record

if TYPE_CHECKING:  # the modules themselves are imported where a source uses them (functions.lazy)
    from functions.inbound.handshakes import Challenge, Handshake
    from functions.inbound.hmac_scheme import HmacConfig


# The providers' event-type header tokens (GitHub `push`, `pull_request`, `projects_v2_item`; Shopify
# `orders/create`, `customer.tags_added`): lower-case ASCII letters, digits, '_', '.', '/' and '-'.
# The header is not signed, so a value outside this syntax (`Push`, a zero-width character, spaces
# inside) is no provider's and is refused (400) rather than becoming a new event type.
EVENT_TYPE_TOKEN_RE = re.compile(r"^[a-z0-9_./-]+$")


@record
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
    """Answers the provider's signed endpoint check instead of enqueueing it (Slack ``url_verification``,
    Discord's PING, Zoom's ``endpoint.url_validation``)."""
    challenge: Challenge | None
    """Answers the provider's unsigned endpoint check, before verification (Dropbox, Microsoft Graph):
    it only ever echoes a short printable token, as text."""
    signs_timestamp: bool
    """Whether the signature covers a timestamp, so a captured request stops verifying."""
    signed_content: Callable[[SignedRequest], bytes] | None
    """Exactly what the signature covers, canonical, for kinds where that is what stops a replay: a
    second request with the same signed content is a duplicate whatever its (unsigned) delivery id.
    Required for kinds that sign no timestamp; also set for a timed ``hmac`` source whose delivery id
    header is not signed (a replay inside the tolerance under a new id would be a new event)."""
    signs_query: bool
    """Whether the signature covers the query string (Twilio signs the whole URL): only then is the
    query kept with the event and part of a derived delivery key."""
    needs_public_url: bool
    """Whether verifying needs the URL the provider signs (the source secret's ``publicUrl``)."""
    secret_problem: Callable[[str], str | None] | None
    """Why a configured secret is not in the kind's format, or None (no format beyond non-empty)."""
    needs_crypto: bool
    """Whether verifying needs ``cryptography`` (public-key schemes): the ingest function then gets the
    crypto layer; no other source's ingest loads it."""

    def __post_init__(self) -> None:
        # The replay defence of a kind follows from what it signs: one fact, checked once, at import.
        if not self.signs_timestamp and self.signed_content is None:
            raise ValueError(f"source kind {self.name}: a kind that signs no timestamp needs signed_content")
        if self.event_type_in_content_key and self.signed_content is None:
            raise ValueError(f"source kind {self.name}: event_type_in_content_key needs signed_content")


def _unconfigured(request: SignedRequest, secrets: Any, **_: object) -> int:
    raise ValueError("an hmac source is verified with its own hmac: configuration (kinds.kind_of)")


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
        challenge=None,
        signs_timestamp=False,
        signed_content=schemes.body_content,
        signs_query=False,
        needs_public_url=False,
        secret_problem=None,
        needs_crypto=False,
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
        challenge=None,
        signs_timestamp=False,
        signed_content=schemes.twilio_content,
        signs_query=True,
        needs_public_url=True,
        secret_problem=None,
        needs_crypto=False,
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
        challenge=None,
        signs_timestamp=True,
        signed_content=None,
        signs_query=False,
        needs_public_url=False,
        secret_problem=None,
        needs_crypto=False,
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
        handshake=lazy("functions.inbound.handshakes", "slack_url_verification"),
        challenge=None,
        signs_timestamp=True,
        signed_content=None,
        signs_query=False,
        needs_public_url=False,
        secret_problem=None,
        needs_crypto=False,
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
        challenge=None,
        signs_timestamp=False,
        signed_content=schemes.body_content,
        signs_query=False,
        needs_public_url=False,
        secret_problem=None,
        needs_crypto=False,
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
        challenge=None,
        signs_timestamp=True,
        signed_content=None,
        signs_query=False,
        needs_public_url=False,
        # Standard Webhooks keys are whsec_ + base64: the config refuses any other before deploying.
        secret_problem=whsec.problem,
        needs_crypto=False,
    ),
    SourceKind(
        # A template: every hmac source's own kind is derived from its hmac: configuration (kind_of).
        name="hmac",
        verifier=_unconfigured,
        delivery_id_headers=(),
        delivery_id_paths=(),
        event_type_headers=(),
        event_type_paths=(),
        event_type_in_content_key=False,
        kept_headers=frozenset(),
        methods=("POST",),
        handshake=None,
        challenge=None,
        signs_timestamp=False,
        signed_content=schemes.body_content,
        signs_query=False,
        needs_public_url=False,
        secret_problem=None,
        needs_crypto=False,
    ),
    SourceKind(
        name="sendgrid",
        verifier=lazy("functions.inbound.asymmetric", "verify_sendgrid"),
        delivery_id_headers=(),
        delivery_id_paths=(),  # a batch of events: each has its sg_event_id; the batch is keyed by its body
        event_type_headers=(),
        event_type_paths=(),  # a batch mixes event types: `webhook`, or the source's eventTypePath
        event_type_in_content_key=False,
        kept_headers=frozenset(),
        methods=("POST",),
        handshake=None,
        challenge=None,
        signs_timestamp=True,
        signed_content=None,
        signs_query=False,
        needs_public_url=False,
        # The "secret" is SendGrid's public verification key.
        secret_problem=lazy("functions.inbound.asymmetric", "sendgrid_key_problem"),
        needs_crypto=True,
    ),
    SourceKind(
        name="discord",
        verifier=lazy("functions.inbound.asymmetric", "verify_discord"),
        delivery_id_headers=(),
        delivery_id_paths=(),
        event_type_headers=(),
        event_type_paths=("event.type",),  # Webhook Events: {"type": 1, "event": {"type": "APPLICATION_AUTHORIZED"}}
        event_type_in_content_key=False,
        kept_headers=frozenset(),
        methods=("POST",),
        handshake=lazy("functions.inbound.handshakes", "discord_ping"),
        challenge=None,
        signs_timestamp=True,
        signed_content=None,
        signs_query=False,
        needs_public_url=False,
        secret_problem=lazy("functions.inbound.asymmetric", "discord_key_problem"),
        needs_crypto=True,
    ),
    SourceKind(
        # The signature covers timestamp + token, not the body (functions/inbound/mailgun.py): the
        # signed token is the delivery id, so each signed pair admits one body, the first to arrive.
        name="mailgun",
        verifier=mailgun.verify_mailgun,
        delivery_id_headers=(),
        delivery_id_paths=mailgun.TOKEN_PATHS,
        event_type_headers=(),
        event_type_paths=mailgun.EVENT_TYPE_PATHS,
        event_type_in_content_key=False,
        kept_headers=frozenset(),
        methods=("POST",),
        handshake=None,
        challenge=None,
        signs_timestamp=True,
        signed_content=None,
        signs_query=False,
        needs_public_url=False,
        secret_problem=None,
        needs_crypto=False,
    ),
    SourceKind(
        name="msgraph",
        verifier=schemes.verify_msgraph,
        delivery_id_headers=(),
        delivery_id_paths=(),
        event_type_headers=(),
        event_type_paths=("value.0.changeType", "value.0.lifecycleEvent"),
        event_type_in_content_key=False,
        kept_headers=frozenset(),
        methods=("POST",),
        handshake=None,
        challenge=lazy("functions.inbound.handshakes", "graph_validation"),
        # Nothing is signed: the same notification body again is a duplicate (content claim).
        signs_timestamp=False,
        signed_content=schemes.body_content,
        signs_query=False,
        needs_public_url=False,
        secret_problem=lambda secret: (
            None if len(secret) <= 128 else "must be at most 128 characters (Graph's clientState)"
        ),
        needs_crypto=False,
    ),
)

SOURCE_KINDS: Mapping[str, SourceKind] = MappingProxyType({kind.name: kind for kind in _KINDS})
KIND_NAMES: tuple[str, ...] = tuple(SOURCE_KINDS)
"""The allowed ``kind`` values, in the order the configuration lists them."""


def source_kind(name: str | SourceKind) -> SourceKind:
    """The kind called ``name`` (a kind given is returned as it is); raises ``ValueError`` naming the allowed ones."""
    if isinstance(name, SourceKind):
        return name
    kind = SOURCE_KINDS.get(name)
    if kind is None:
        raise ValueError(f"unknown source kind {name!r}; allowed: {', '.join(KIND_NAMES)}")
    return kind


def kind_of(kind: str, hmac: HmacConfig | None = None) -> SourceKind:
    """The kind of a source: the registry's entry, or for ``hmac`` the one its configuration derives."""
    if kind == "hmac":
        if hmac is None:
            raise ValueError("an hmac source needs its hmac: configuration")
        return hmac_source_kind(hmac)
    return source_kind(kind)


@functools.lru_cache(maxsize=64)
def hmac_source_kind(config: HmacConfig) -> SourceKind:
    """An ``hmac`` source's conventions, each derived from its configuration.

    Delivery id: ``deliveryIdHeader`` (else a hash of the body). Event type: the source's
    ``eventTypePath`` (signed: ``{body}`` is always signed), else ``webhook``; never an unsigned header.
    Replay: a signed timestamp stops a captured request after ``toleranceSeconds``; when none is
    signed, or the delivery id header is not signed, the signed content is claimed too (issue 10's
    defence), so the same signed request under a new id is a duplicate.
    """
    from functions.inbound import hmac_scheme

    handshake = challenge = None
    if config.handshake:  # the handshakes module is imported by a source that answers one, not by every hmac source
        from functions.inbound.handshakes import dropbox_challenge, zoom_url_validation

        handshake = zoom_url_validation if config.handshake == "zoom" else None
        challenge = dropbox_challenge if config.handshake == "dropbox" else None
    id_signed = config.delivery_id_header is None or config.delivery_id_header in config.signed_headers
    claims_content = not config.signs_timestamp or not id_signed
    methods = ("POST", "GET") if config.handshake == "dropbox" else ("POST",)
    return dataclasses.replace(
        SOURCE_KINDS["hmac"],
        verifier=functools.partial(hmac_scheme.verify_hmac, config),
        delivery_id_headers=(config.delivery_id_header,) if config.delivery_id_header else (),
        methods=methods,
        handshake=handshake,
        challenge=challenge,
        signs_timestamp=config.signs_timestamp,
        signed_content=functools.partial(hmac_scheme.hmac_signed_content, config) if claims_content else None,
        signs_query=config.signs_url,
        needs_public_url=config.signs_url,
    )
