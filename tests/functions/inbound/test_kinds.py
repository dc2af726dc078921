"""The source kind registry: every kind states every convention, and the rest of hookstack reads it."""

from __future__ import annotations

import dataclasses
import re

import pytest

from components.config import SOURCE_KINDS as CONFIG_KINDS
from components.config import parse_stack_config
from functions import whsec
from functions.inbound import envelope
from functions.inbound.handshakes import Reply, slack_url_verification
from functions.inbound.kinds import KIND_NAMES, SOURCE_KINDS, SourceKind, source_kind
from functions.inbound.payload import Payload
from functions.inbound.verify import SignedRequest, signed_content

SIGNATURE_HEADERS = {
    "x-hub-signature-256",
    "x-twilio-signature",
    "stripe-signature",
    "x-slack-signature",
    "x-shopify-hmac-sha256",
    "webhook-signature",
    "svix-signature",
    "x-twilio-email-event-webhook-signature",
    "x-signature-ed25519",
}
# A valid secret per kind whose secret has a format (public keys for sendgrid and discord).
SENDGRID_KEY = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE83T4O/n84iotIvIW4mdBgQ/7dAfSmpqIM8kF9mN1flpVKS3GRqe62gw+2fNNRaINXvVpiglSI8eNEc6wEA3F+g=="
DISCORD_KEY = "e" * 64
LOWER_HEADER = re.compile(r"^[a-z0-9-]+$")


def test_every_kind_states_every_convention() -> None:
    # No field has a default: a new kind (or a new convention) cannot be added without deciding it.
    assert all(
        f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        for f in dataclasses.fields(SourceKind)
    )
    assert KIND_NAMES == (
        "github",
        "twilio",
        "stripe",
        "slack",
        "shopify",
        "standard",
        "hmac",
        "sendgrid",
        "discord",
        "mailgun",
        "msgraph",
    )
    for name, kind in SOURCE_KINDS.items():
        assert kind.name == name and source_kind(name) is kind
        assert callable(kind.verifier)
        headers = (*kind.delivery_id_headers, *kind.event_type_headers, *kind.kept_headers)
        assert all(LOWER_HEADER.match(header) for header in headers), name  # function URLs deliver lower case
        assert not SIGNATURE_HEADERS & kind.kept_headers, name
        assert "POST" in kind.methods and all(m.isupper() for m in kind.methods)
        assert kind.signs_timestamp or kind.signed_content is not None, name
        assert kind.handshake is None or callable(kind.handshake)
        assert kind.challenge is None or callable(kind.challenge)
        assert kind.secret_problem is None or callable(kind.secret_problem)


def test_the_conventions_the_registry_took_over() -> None:
    """What verify, envelope, ingest and the config each held before, now read from one table."""
    untimed = {name for name, kind in SOURCE_KINDS.items() if not kind.signs_timestamp}
    assert untimed == {"github", "shopify", "twilio", "hmac", "msgraph"}  # hmac: its template entry
    assert {name for name, kind in SOURCE_KINDS.items() if kind.signed_content} == untimed
    assert {name for name, kind in SOURCE_KINDS.items() if kind.signs_query} == {"twilio"}
    assert {name for name, kind in SOURCE_KINDS.items() if kind.needs_public_url} == {"twilio"}
    assert {name: kind.methods for name, kind in SOURCE_KINDS.items() if kind.methods != ("POST",)} == {
        "twilio": ("POST", "GET")
    }
    assert {name for name, kind in SOURCE_KINDS.items() if kind.handshake} == {"slack", "discord"}
    assert {name for name, kind in SOURCE_KINDS.items() if kind.challenge} == {"msgraph"}
    assert {name for name, kind in SOURCE_KINDS.items() if kind.secret_problem} == {
        "standard",
        "sendgrid",
        "discord",
        "msgraph",
    }
    assert {name for name, kind in SOURCE_KINDS.items() if kind.needs_crypto} == {"sendgrid", "discord"}
    # The headers kept with an event are the same set as before the registry (whatever the kind).
    before = {
        "content-type",
        "user-agent",
        "x-github-event",
        "x-github-delivery",
        "x-github-hook-id",
        "x-github-hook-installation-target-id",
        "x-github-hook-installation-target-type",
        "x-shopify-topic",
        "x-shopify-shop-domain",
        "x-shopify-api-version",
        "x-shopify-webhook-id",
        "x-shopify-event-id",
        "x-shopify-triggered-at",
        "x-slack-retry-num",
        "x-slack-retry-reason",
        "i-twilio-idempotency-token",
        "webhook-id",
        "webhook-timestamp",
        "svix-id",
        "svix-timestamp",
    }
    assert before == envelope.KEPT_HEADERS


def test_the_configuration_allows_exactly_the_registered_kinds() -> None:
    assert tuple(CONFIG_KINDS) == KIND_NAMES
    secrets = {"sendgrid": SENDGRID_KEY, "discord": DISCORD_KEY}
    sources = [
        {
            "name": f"s-{name}",
            "kind": name,
            "secret": secrets.get(name, whsec.generate()),
            "publicUrl": "https://x.example.com/s",
            **({"hmac": {"header": "X-Sig", "algorithm": "sha256", "encoding": "hex"}} if name == "hmac" else {}),
        }
        for name in KIND_NAMES
    ]
    parsed = parse_stack_config({"consumer": {"sources": sources}}).consumer.sources
    assert tuple(source.kind for source in parsed) == KIND_NAMES


def test_secret_formats_are_the_registrys() -> None:
    standard = source_kind("standard").secret_problem
    assert standard is not None
    assert standard(whsec.generate()) is None
    assert standard("not-a-whsec-secret")
    assert standard("whsec_")  # an empty key would let anyone sign


def test_unknown_kind_names_the_allowed_ones() -> None:
    with pytest.raises(
        ValueError,
        match="unknown source kind 'gitlab'; allowed: github, twilio, stripe, slack, shopify, standard, hmac, "
        "sendgrid, discord, mailgun, msgraph",
    ):
        source_kind("gitlab")


def test_slack_handshake_answers_only_url_verification() -> None:
    challenge = Payload({"type": "url_verification", "challenge": "abc"}, "json")
    assert slack_url_verification(challenge) == Reply.json({"challenge": "abc"})
    assert slack_url_verification(Payload({"type": "event_callback"}, "json")) is None
    assert slack_url_verification(Payload("type=url_verification", "text")) is None


def test_signed_content_follows_the_kind() -> None:
    request = SignedRequest(headers={}, body=b"body", query="a=1")
    assert signed_content("github", request) == b"body" and signed_content("shopify", request) == b"body"
    assert signed_content("stripe", request) is None and signed_content("standard", request) is None
    assert signed_content("twilio", SignedRequest(headers={}, body=b"", query="a=1")) == b"3:a=1"


def test_a_kind_whose_replay_defence_contradicts_what_it_signs_is_refused() -> None:
    github = source_kind("github")
    with pytest.raises(ValueError, match="signs no timestamp needs signed_content"):
        dataclasses.replace(github, signed_content=None)
