"""The generic HMAC kind: providers' published vectors, the documented recipes, what the registry derives
from a source's configuration, and the configuration's rules (with their key paths)."""

from __future__ import annotations

import base64
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.config import StackConfigError, parse_stack_config
from functions.inbound.envelope import delivery_key, event_type
from functions.inbound.hmac_scheme import HMAC_KEYS, parse_hmac
from functions.inbound.kinds import kind_of
from functions.inbound.payload import Payload
from functions.inbound.settings import SettingsError, parse_sources, sources_environment
from functions.inbound.verify import SignedRequest, VerificationError, signed_content, verify
from tests.functions.inbound import recipes
from tests.functions.inbound.recipes import RECIPES, SQUARE_URL
from tests.functions.inbound.signers import NOW

ROOT = Path(__file__).resolve().parents[3]


def accepted(kind: Any, request: SignedRequest, secrets: list[str], **kwargs: Any) -> int | None:
    try:
        return verify(kind, request, secrets, **kwargs)
    except VerificationError:
        return None


# --------------------------------------------------------------------------------------------
# Vectors published by the providers
# --------------------------------------------------------------------------------------------


def test_paddle_sdk_vector() -> None:
    """PaddleHQ/paddle-python-sdk, tests/Unit/Notification/test_Verifier.py
    (test_validate_paddle_signature_header_integrity): a dummy h1 first, three secrets, the third signs."""
    request = SignedRequest(
        headers={
            "paddle-signature": "ts=1696195954;h1=dummy;h1=d96299976a6eb066f484d7fde011ac56fc32b38fc9940bc419d6e537fdc6ef02"
        },
        body=b"hello-world",
    )
    secrets = [
        "pdl_ntf_01hbpjmytsa32fhr36nqgc3kgb_TjIG2BXbm83HPXqNfziwe506sBEdqL/4",
        "pdl_ntf_01hbpjmytsa32fhr36nqgc3kgb_WvRO0eL4Bj9rgYYIBZY6wZhG4EHy9jzh",
    ]
    assert accepted(recipes.kind("paddle"), request, secrets, now=1696195954 + 3) == 1
    assert accepted(recipes.kind("paddle"), request, secrets[:1], now=1696195954) is None
    # Paddle recommends a 5 s tolerance: the recipe refuses the same request 6 s later.
    with pytest.raises(VerificationError, match="stale_timestamp"):
        verify(recipes.kind("paddle"), request, secrets, now=1696195954 + 6)


SQUARE_BODY = (
    b'{"merchant_id":"MLEFBHHSJGVHD","type":"webhooks.test_notification","event_id":"ac3ac95b-f97d-458c-a6e6-'
    b'18981597e05f","created_at":"2022-07-13T20:30:59.037339943Z","data":{"type":"webhooks","id":"bc368e64-01aa-'
    b'407e-b46e-3231809b1129"}}'
)


def test_square_sdk_vector() -> None:
    """square/square-python-sdk, tests/integration/test_webhooks_helper.py: body, signature key,
    notification URL and the x-square-hmacsha256-signature they give; a different URL or key fails."""
    request = SignedRequest(
        headers={"x-square-hmacsha256-signature": "GF4YkrJgGBDZ9NIYbNXBnMzqb2HoL4RW/S6vkZ9/2N4="}, body=SQUARE_BODY
    )
    url = "https://webhook.site/679a4f3a-dcfa-49ee-bac5-9d0edad886b9"
    assert accepted(recipes.kind("square"), request, ["Ibxx_5AKakO-3qeNVR61Dw"], public_url=url, now=NOW) == 0
    assert accepted(recipes.kind("square"), request, ["MCmhFRxGX82xMwg5FsaoQA"], public_url=url, now=NOW) is None
    other_url = "https://webhook.site/79a4f3a-dcfa-49ee-bac5-9d0edad886b9"
    assert accepted(recipes.kind("square"), request, ["Ibxx_5AKakO-3qeNVR61Dw"], public_url=other_url, now=NOW) is None
    escaped = SignedRequest(
        headers={"x-square-hmacsha256-signature": "Cxt7+aTi4rKgcA0bC4g9EHdVtLSDWdqccmL5MvihU4U="},
        body=b'{"data":{"type":"webhooks","id":">id<"}}',
    )
    assert (
        accepted(
            recipes.kind("square"), escaped, ["signature-key"], public_url="https://webhook.site/webhooks", now=NOW
        )
        == 0
    )


def test_intercom_documented_request_shape() -> None:
    """Intercom's "Signed Notifications" page shows ``X-Hub-Signature: sha1=21ff2e14...`` (40 hex digits
    of HMAC-SHA1 over the JSON body with the hub secret) but not the secret that made it, so the
    documented form is checked here and the scheme with a known secret (RFC 2202 test case 2)."""
    documented = SignedRequest(headers={"x-hub-signature": "sha1=21ff2e149e0fdcac6f947740f6177f6434bda921"}, body=b"{}")
    with pytest.raises(VerificationError, match="bad_signature"):  # well-formed: only the secret is unknown
        verify(recipes.kind("intercom"), documented, ["not-their-secret"], now=NOW)
    rfc2202 = SignedRequest(
        headers={"x-hub-signature": "sha1=effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"},
        body=b"what do ya want for nothing?",
    )
    assert accepted(recipes.kind("intercom"), rfc2202, ["Jefe"], now=NOW) == 0


def test_linear_scheme_as_its_sdk_verifies_it() -> None:
    """linear/linear packages/sdk/src/webhooks/client.ts: the ``linear-signature`` header is the hex
    HMAC-SHA256 of the raw body (compared as a string). RFC 4231 test case 2 is that HMAC's vector."""
    request = SignedRequest(
        headers={"linear-signature": "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
        body=b"what do ya want for nothing?",
    )
    assert accepted(recipes.kind("linear"), request, ["Jefe"], now=NOW) == 0


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_every_recipe_accepts_its_providers_signature_and_refuses_another_secret(name: str) -> None:
    body = b'{"type":"Issue","topic":"user.created","event":"meeting.started","id":"e1"}'
    request = recipes.SIGNERS[name](body, "the-secret")
    assert accepted(recipes.kind(name), request, ["old", "the-secret"], public_url=SQUARE_URL, now=NOW) == 1
    assert accepted(recipes.kind(name), request, ["another"], public_url=SQUARE_URL, now=NOW) is None


def test_the_documented_recipes_are_the_tested_ones() -> None:
    """Each recipe in docs/consumer.md (a ```yaml block under its provider) is the one tested here."""
    text = (ROOT / "docs" / "consumer.md").read_text()
    documented: dict[str, Any] = {}
    for block in re.findall(r"```yaml\n(.*?)```", text, flags=re.S):
        for source in (yaml.safe_load(block) or {}).get("sources", []):
            if source.get("kind") == "hmac":
                documented[source["name"]] = source["hmac"]
    assert documented == RECIPES
    for config in documented.values():
        assert parse_hmac(config)[1] == []


# --------------------------------------------------------------------------------------------
# What the registry derives from a source's configuration
# --------------------------------------------------------------------------------------------


def test_the_registry_entry_is_derived_from_the_configuration() -> None:
    linear, paddle, square, zoom, dropbox = (recipes.kind(n) for n in ("linear", "paddle", "square", "zoom", "dropbox"))
    assert linear.delivery_id_headers == ("linear-delivery",) and paddle.delivery_id_headers == ()
    # No timestamp signed: the signed content is claimed (a replay under a new Linear-Delivery is a duplicate).
    assert not linear.signs_timestamp and linear.signed_content is not None
    # Timed, no delivery id header: the timestamp and the body-derived id stop replays; no content claim.
    assert paddle.signs_timestamp and paddle.signed_content is None
    # Timed, but an unsigned delivery id header: a replay inside the tolerance under a new id would be new.
    timed_unsigned_id = kind_of("hmac", replace(recipes.config("zoom"), delivery_id_header="x-zm-trackingid"))
    assert timed_unsigned_id.signs_timestamp and timed_unsigned_id.signed_content is not None
    signed_id = replace(
        recipes.config("zoom"), delivery_id_header="x-id", signed_content="v0:{timestamp}:{header:x-id}:{body}"
    )
    assert kind_of("hmac", signed_id).signed_content is None
    assert square.needs_public_url and square.signs_query and not linear.needs_public_url
    assert zoom.handshake is not None and zoom.challenge is None and zoom.methods == ("POST",)
    assert dropbox.challenge is not None and dropbox.methods == ("POST", "GET")
    # Event types come from the signed body (eventTypePath), never from an unsigned header.
    assert all(recipes.kind(n).event_type_headers == () for n in RECIPES)
    payload = Payload({"type": "Issue"}, "json")
    assert event_type(linear, {"linear-event": "Forged"}, payload, "type") == "Issue"
    assert event_type(linear, {}, payload, None) == "webhook"
    assert delivery_key(linear, {"linear-delivery": "d-1"}, payload, b"{}") == "id:d-1"
    assert delivery_key(paddle, {}, payload, b"{}").startswith("body:")


def test_signed_content_is_what_the_signature_covers_without_the_constant_url() -> None:
    square = recipes.kind("square")
    request = recipes.square(b'{"a":1}', "k")
    assert signed_content(square, request) == b'{"a":1}'
    assert signed_content(square, replace(request, query="x=1")) == b'?x=1{"a":1}'
    linear = recipes.kind("linear")
    one, other = recipes.linear(b"{}", "k"), recipes.linear(b"{}", "k")
    other = replace(other, headers={**other.headers, "linear-delivery": "forged-new-id"})
    assert signed_content(linear, one) == signed_content(linear, other)  # the id is not signed: same content


def test_a_signed_header_that_is_missing_is_refused() -> None:
    config = replace(recipes.config("linear"), signed_content="{header:linear-delivery}.{body}")
    request = SignedRequest(headers={"linear-signature": "00" * 32}, body=b"{}")
    with pytest.raises(VerificationError, match="missing_header: linear-delivery is required"):
        verify(kind_of("hmac", config), request, ["k"], now=NOW)


def test_decoding_is_strict() -> None:
    kind = recipes.kind("square")
    good = recipes.square(b"{}", "k")
    signature = good.headers["x-square-hmacsha256-signature"]
    for bad in (signature.rstrip("="), signature + "=", " " + signature + "x", signature[:-2] + "A="):
        request = replace(good, headers={"x-square-hmacsha256-signature": bad})
        with pytest.raises(VerificationError):
            verify(kind, request, ["k"], public_url=SQUARE_URL, now=NOW)
    intercom = recipes.intercom(b"{}", "k")
    short = {"x-hub-signature": intercom.headers["x-hub-signature"][:-2]}
    unprefixed = {"x-hub-signature": intercom.headers["x-hub-signature"].removeprefix("sha1=")}
    for headers in (short, unprefixed):
        with pytest.raises(VerificationError, match="malformed_header"):
            verify(recipes.kind("intercom"), replace(intercom, headers=headers), ["k"], now=NOW)


# --------------------------------------------------------------------------------------------
# Configuration rules, with their key paths
# --------------------------------------------------------------------------------------------


def problems_of(hmac: Any, **source: Any) -> list[str]:
    raw = {"consumer": {"sources": [{"name": "x", "kind": "hmac", "secret": "s", "hmac": hmac, **source}]}}
    with pytest.raises(StackConfigError) as raised:
        parse_stack_config(raw)
    return [f"{p.path}: {p.message}" for p in raised.value.problems]


BASE = {"header": "X-Sig", "algorithm": "sha256", "encoding": "hex"}
P = "hookstack:consumer.sources[0].hmac"


@pytest.mark.parametrize(
    ("hmac", "expected"),
    [
        (
            {**BASE, "signedContent": "{body}{nope}"},
            f"{P}.signedContent: unknown placeholder {{nope}}; allowed: {{body}}, {{timestamp}}, {{url}}, {{header:NAME}}",
        ),
        (
            {**BASE, "signedContent": "{timestamp}.{body}"},
            f"{P}.signedContent: {{timestamp}} needs timestampHeader or timestampParam",
        ),
        (
            {**BASE, "timestampHeader": "X-Ts"},
            f"{P}.signedContent: must sign {{timestamp}} when a timestamp is configured",
        ),
        ({**BASE, "signedContent": "{header:x y}{body}"}, f"{P}.signedContent: {{header:x y}}: a header name is"),
        ({**BASE, "signedContent": "{body}}"}, f"{P}.signedContent: has an unmatched"),
        ({**BASE, "header": "X Sig"}, f"{P}.header: must be a header name"),
        ({**BASE, "deliveryIdHeader": "id:"}, f"{P}.deliveryIdHeader: must be a header name"),
        ({**BASE, "algorithm": "md5"}, f"{P}.algorithm: must be one of sha1, sha256, sha512; got 'md5'"),
        ({**BASE, "encoding": "base32"}, f"{P}.encoding: must be one of hex, base64"),
        ({"algorithm": "sha256", "encoding": "hex"}, f"{P}.header: is required"),
        ({**BASE, "toleranceSeconds": 60}, f"{P}.toleranceSeconds: needs timestampHeader or timestampParam"),
        (
            {**BASE, "timestampHeader": "X-Ts", "signedContent": "{timestamp}{body}", "toleranceSeconds": 0},
            f"{P}.toleranceSeconds: must be a whole number of seconds, 1-3600",
        ),
        ({**BASE, "timestampParam": "t"}, f"{P}.timestampParam: needs signatureParam"),
        ({**BASE, "signatureParam": "v1", "prefix": "v1="}, f"{P}.prefix: is for a plain signature header"),
        ({**BASE, "handshake": "slack"}, f"{P}.handshake: must be one of zoom, dropbox"),
        ({**BASE, "extra": 1}, f"{P}.extra: unknown key; allowed keys: {', '.join(HMAC_KEYS)}"),
        (
            {**BASE, "signedContent": "{header:x-sig}{body}"},
            f"{P}.signedContent: {{header:x-sig}} is the signature header itself",
        ),
        (
            {**BASE, "timestampHeader": "X-Ts", "signedContent": "{timestamp}{body}", "toleranceSeconds": "\u00b2"},
            f"{P}.toleranceSeconds: must be a whole number of seconds, 1-3600; got '\u00b2'",
        ),
        (
            {**BASE, "timestampHeader": "X-Ts", "signedContent": "{timestamp}{body}", "toleranceSeconds": "\u0663"},
            f"{P}.toleranceSeconds: must be a whole number of seconds, 1-3600",
        ),
        (
            {**BASE, "timestampHeader": "x-sig", "signedContent": "{timestamp}{body}"},
            f"{P}.timestampHeader: must not be the signature header",
        ),
        (
            {**BASE, "signatureParam": "v1", "timestampParam": "v1", "signedContent": "{timestamp}{body}"},
            f"{P}.timestampParam: must not be signatureParam",
        ),
        ("sha256", f"{P}: must be a mapping"),
    ],
)
def test_configuration_problems_name_their_key_path(hmac: Any, expected: str) -> None:
    found = problems_of(hmac)
    assert any(problem.startswith(expected) for problem in found), found


def test_hmac_is_required_for_and_only_for_kind_hmac() -> None:
    raw = {"consumer": {"sources": [{"name": "x", "kind": "hmac", "secret": "s"}]}}
    with pytest.raises(StackConfigError, match=r"sources\[0\]\.hmac: is required for kind hmac"):
        parse_stack_config(raw)
    raw = {"consumer": {"sources": [{"name": "x", "kind": "github", "secret": "s", "hmac": BASE}]}}
    with pytest.raises(StackConfigError, match=r"sources\[0\]\.hmac: is only for sources of kind hmac"):
        parse_stack_config(raw)


def test_numbers_given_as_strings_by_pulumi_paths_are_read() -> None:
    config, problems = parse_hmac({**RECIPES["paddle"], "toleranceSeconds": "30"})
    assert problems == [] and config is not None and config.tolerance_seconds == 30


def test_mailgun_does_not_fit_and_is_refused_with_the_reason() -> None:
    """Mailgun puts {timestamp, token, signature} in the BODY and signs only timestamp + token, not the
    event (Mailgun's "Securing Webhooks"). The closest the model comes, a template without {body}, is
    refused: such a signature would authenticate any body attached to a captured token."""
    found = problems_of({**BASE, "signedContent": "{header:x-timestamp}{header:x-token}"})
    assert f"{P}.signedContent: must sign {{body}}: a signature that does not cover the body proves nothing" in found


def test_the_function_contract_carries_the_configuration_and_applies_the_same_rules() -> None:
    parsed = parse_stack_config(
        {"consumer": {"sources": [{"name": "p", "kind": "hmac", "secret": "s", "hmac": RECIPES["paddle"]}]}}
    )
    source = parsed.consumer.sources[0]
    from components.specs.consumer import source_configs

    text = sources_environment(source_configs([source], ["secret-name"]))
    assert parse_sources(__import__("json").loads(text))["p"].hmac == source.hmac
    with pytest.raises(
        SettingsError, match=r"CONSUMER_SOURCES\['p'\]\.hmac is not a valid hmac scheme \(algorithm: must be one of"
    ):
        parse_sources({"p": {"kind": "hmac", "secretId": "s", "hmac": {**BASE, "algorithm": "md5"}}})
    with pytest.raises(SettingsError, match="only for sources of kind hmac"):
        parse_sources({"p": {"kind": "github", "secretId": "s", "hmac": BASE}})


def test_sha512_base64_and_a_template_over_timestamp_header_and_body() -> None:
    """The keys no recipe uses: sha512 (RFC 4231 test case 2, base64), and an internal service signing
    ``{timestamp}.{header:x-request-id}.{body}`` with its delivery id signed too (no content claim)."""
    plain, problems = parse_hmac({"header": "X-Sig", "algorithm": "sha512", "encoding": "base64"})
    assert plain is not None, problems
    # RFC 4231 test case 2, HMAC-SHA-512, as the RFC prints it (hex); this source expects base64.
    rfc_hex = (
        "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554"
        "9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737"
    )
    rfc4231 = SignedRequest(
        headers={"x-sig": base64.b64encode(bytes.fromhex(rfc_hex)).decode()},
        body=b"what do ya want for nothing?",
    )
    assert accepted(kind_of("hmac", plain), rfc4231, ["Jefe"], now=NOW) == 0
    assert accepted(kind_of("hmac", plain), replace(rfc4231, body=b"what do ya want for nothing!"), ["Jefe"]) is None

    internal, problems = parse_hmac(
        {
            "header": "X-Sig",
            "algorithm": "sha512",
            "encoding": "hex",
            "prefix": "v1=",
            "timestampHeader": "X-Ts",
            "toleranceSeconds": 60,
            "signedContent": "{timestamp}.{header:x-request-id}.{body}",
            "deliveryIdHeader": "X-Request-Id",
        }
    )
    assert internal is not None, problems
    kind = kind_of("hmac", internal)
    assert kind.signs_timestamp and kind.signed_content is None  # timestamp + signed id: no content claim

    def sign(body: bytes, request_id: str, timestamp: int) -> SignedRequest:
        import hashlib
        import hmac as hmac_module

        message = f"{timestamp}.{request_id}.".encode() + body
        digest = hmac_module.new(b"svc-key", message, hashlib.sha512).hexdigest()
        headers = {"x-sig": "v1=" + digest, "x-ts": str(timestamp), "x-request-id": request_id}
        return SignedRequest(headers=headers, body=body)

    request = sign(b'{"n": 1}', "req-1", NOW)
    assert accepted(kind, request, ["svc-key"], now=NOW + 60) == 0
    assert accepted(kind, request, ["svc-key"], now=NOW + 61) is None  # toleranceSeconds
    relabelled = replace(request, headers={**request.headers, "x-request-id": "req-2"})
    assert accepted(kind, relabelled, ["svc-key"], now=NOW) is None  # the id is signed
    payload = Payload({"n": 1}, "json")
    assert delivery_key(kind, request.headers, payload, request.body, "") == "id:req-1"
