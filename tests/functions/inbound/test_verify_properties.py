"""Property-based: thousands of mutated signed requests, none accepted.

Each example signs a random body with a provider's official library, checks that the untouched
request verifies (so a rejection below is due to the mutation), then applies one mutation that
changes what the provider signed: a body byte, a signature character, the signed timestamp, the
message id, the secret, the URL or query (Twilio), or a form parameter (Twilio; form bodies are
compared as parsed params, so byte-level edits that keep the same params are not mutations).
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import replace
from urllib.parse import urlencode

import nacl.signing
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from functions.inbound.verify import SignedRequest, VerificationError, verify
from tests.functions.inbound import recipes, signers
from tests.functions.inbound.signers import NOW, TWILIO_URL

# 1,100 + 500 + 400 = 2,000 mutated requests per run (the Twilio form strategy is the slowest to draw),
# and 500 more of the kinds issue 14 added.
SETTINGS = settings(max_examples=1100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FORM_SETTINGS = settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])

secrets = st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=8, max_size=40)
bodies = st.binary(min_size=1, max_size=300).map(base64.b64encode)  # signers need text bodies
SIGNATURE_HEADERS = {
    "github": "x-hub-signature-256",
    "stripe": "stripe-signature",
    "slack": "x-slack-signature",
    "shopify": "x-shopify-hmac-sha256",
    "standard": "webhook-signature",
    "twilio": "x-twilio-signature",
}
Signer = Callable[[bytes, str], SignedRequest]
SIGNERS: dict[str, Signer] = {
    "github": signers.github,
    "stripe": signers.stripe_request,
    "slack": signers.slack,
    "shopify": signers.shopify,
    "standard": signers.standard,
}


def rejected(kind: str, request: SignedRequest, secret: str) -> bool:
    try:
        verify(kind, request, [secret], public_url=TWILIO_URL, now=NOW)
    except VerificationError:
        return True
    return False


def flip_byte(data: bytes, index: int, bit: int) -> bytes:
    position = index % len(data)
    return data[:position] + bytes([data[position] ^ (1 << bit)]) + data[position + 1 :]


def change_char(text: str, index: int, replacement: str) -> str:
    position = index % len(text)
    if text[position].lower() == replacement.lower():
        replacement = "#"  # hex is case-insensitive: a case change is the same signature
    return text[:position] + replacement + text[position + 1 :]


def standard_secret(seed: str) -> str:
    return signers.whsec(seed.encode())


@SETTINGS
@given(
    kind=st.sampled_from(sorted(SIGNERS)),
    body=bodies,
    seed=secrets,
    mutation=st.sampled_from(["body", "signature", "secret", "timestamp", "message_id", "header"]),
    index=st.integers(min_value=0, max_value=10_000),
    bit=st.integers(min_value=0, max_value=7),
    char=st.sampled_from(list("0aZ+/=,x ")),
    shift=st.integers(min_value=1, max_value=100_000),
)
def test_mutated_hmac_requests_are_never_accepted(kind, body, seed, mutation, index, bit, char, shift) -> None:  # type: ignore[no-untyped-def]
    secret = standard_secret(seed) if kind == "standard" else seed
    request = SIGNERS[kind](body, secret)
    assert not rejected(kind, request, secret)

    headers = dict(request.headers)
    if mutation == "body":
        mutated = replace(request, body=flip_byte(body, index, bit))
    elif mutation == "signature":
        name = SIGNATURE_HEADERS[kind]
        headers[name] = change_char(headers[name], index, char)
        mutated = replace(request, headers=headers)
    elif mutation == "secret":
        other = standard_secret(seed + "x") if kind == "standard" else seed + "x"
        assert not rejected(kind, request, secret)
        assert rejected(kind, request, other)
        return
    elif mutation == "timestamp" and kind in ("stripe", "slack", "standard"):
        if kind == "stripe":
            headers["stripe-signature"] = headers["stripe-signature"].replace(f"t={NOW}", f"t={NOW + shift}")
        elif kind == "slack":
            headers["x-slack-request-timestamp"] = str(NOW - shift)
        else:
            headers["webhook-timestamp"] = str(NOW + shift)
        mutated = replace(request, headers=headers)
    elif mutation == "message_id" and kind == "standard":
        headers["webhook-id"] = headers["webhook-id"] + char.strip() + "1"
        mutated = replace(request, headers=headers)
    else:
        # Drop the signature header entirely.
        headers.pop(SIGNATURE_HEADERS[kind])
        mutated = replace(request, headers=headers)
    assert rejected(kind, mutated, secret)


param_names = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefgh0123456789", min_size=1, max_size=12)
param_values = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=0x2FF), max_size=30)
params_lists = st.lists(st.tuples(param_names, param_values), min_size=1, max_size=8)


@FORM_SETTINGS
@given(
    params=params_lists,
    token=secrets,
    query=st.sampled_from(["", "tenant=7", "a=1&b=%20x"]),
    mutation=st.sampled_from(["add", "change_value", "remove", "url", "query", "token", "signature"]),
    extra=st.tuples(param_names, param_values),
    index=st.integers(min_value=0, max_value=10_000),
    char=st.sampled_from(list("0aZ+/=")),
)
def test_mutated_twilio_form_requests_are_never_accepted(params, token, query, mutation, extra, index, char) -> None:  # type: ignore[no-untyped-def]
    request = signers.twilio_form(params, token, query=query)
    assert not rejected("twilio", request, token)
    names = {name for name, _ in params}
    if mutation == "add":
        name, value = extra
        # Twilio signs each distinct value once, so re-adding an existing (name, value) is no change.
        if (name, value) in params:
            value += "!"
        mutated = replace(request, body=urlencode([*params, (name, value)]).encode())
    elif mutation == "change_value":
        position = index % len(params)
        name, value = params[position]
        changed = list(params)
        changed[position] = (name, value + "x")
        if sorted(set(changed)) == sorted(set(params)):  # the old value is still present elsewhere
            changed = [(n, v) for n, v in changed if n != name] + [(name, "only-" + value)]
        mutated = replace(request, body=urlencode(changed).encode())
    elif mutation == "remove":
        name = sorted(names)[index % len(names)]
        mutated = replace(request, body=urlencode([(n, v) for n, v in params if n != name]).encode())
    elif mutation == "url":
        try:
            verify("twilio", request, [token], public_url=TWILIO_URL + "x", now=NOW)
        except VerificationError:
            return
        raise AssertionError("a different public URL was accepted")
    elif mutation == "query":
        mutated = replace(request, query=(query + "&z=1") if query else "z=1")
    elif mutation == "token":
        assert rejected("twilio", request, token + "x")
        return
    else:
        headers = dict(request.headers)
        headers["x-twilio-signature"] = change_char(headers["x-twilio-signature"], index, char)
        mutated = replace(request, headers=headers)
    assert rejected("twilio", mutated, token)


@settings(max_examples=400, deadline=None)
@given(
    document=st.dictionaries(param_names, param_values, min_size=1, max_size=5),
    token=secrets,
    index=st.integers(min_value=0, max_value=10_000),
    bit=st.integers(min_value=0, max_value=7),
)
def test_mutated_twilio_json_bodies_are_never_accepted(document, token, index, bit) -> None:  # type: ignore[no-untyped-def]
    request = signers.twilio_json(document, token)
    assert not rejected("twilio", request, token)
    assert rejected("twilio", replace(request, body=flip_byte(request.body, index, bit)), token)


# --------------------------------------------------------------------------------------------
# Issue 14: the generic-HMAC recipes (signed by formulas written from each provider's docs) and the
# public-key providers (SendGrid's SDK and PyNaCl as oracles).
# --------------------------------------------------------------------------------------------

OTHER_SENDGRID_KEY = ec.derive_private_key(0x0DD_C0FFEE, ec.SECP256R1())
OTHER_DISCORD_KEY = nacl.signing.SigningKey(bytes(range(1, 33)))
PUBLIC_KEY_SIGNATURE_HEADERS = {"sendgrid": "x-twilio-email-event-webhook-signature", "discord": "x-signature-ed25519"}
TIMESTAMP_HEADERS = {
    "sendgrid": "x-twilio-email-event-webhook-timestamp",
    "discord": "x-signature-timestamp",
    "hmac:zoom": "x-zm-request-timestamp",
}
NEW_KINDS = sorted([f"hmac:{name}" for name in recipes.SIGNERS] + ["sendgrid", "discord"])


def sign_new(kind: str, body: bytes, secret: str, timestamp: int = NOW) -> tuple[object, SignedRequest, str]:
    """(the kind to verify with, the signed request, the secret or public key that verifies it)."""
    if kind == "sendgrid":
        return "sendgrid", signers.sendgrid(body, timestamp=timestamp), signers.sendgrid_public_key()
    if kind == "discord":
        return "discord", signers.discord(body, timestamp=timestamp), signers.discord_public_key()
    name = kind.removeprefix("hmac:")
    return recipes.kind(name), recipes.SIGNERS[name](body, secret, timestamp), secret


def rejected_new(kind: object, request: SignedRequest, secret: str) -> bool:
    try:
        verify(kind, request, [secret], public_url=recipes.SQUARE_URL, now=NOW)  # type: ignore[arg-type]
    except VerificationError:
        return True
    return False


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kind=st.sampled_from(NEW_KINDS),
    body=bodies,
    secret=secrets,
    mutation=st.sampled_from(["body", "signature", "secret", "timestamp", "header", "url"]),
    index=st.integers(min_value=0, max_value=10_000),
    bit=st.integers(min_value=0, max_value=7),
    char=st.sampled_from(list("0aZ+/=,;x ")),
    shift=st.integers(min_value=1, max_value=4),  # inside every tolerance: refused for the signature, not staleness
)
def test_mutated_requests_of_the_new_kinds_are_never_accepted(
    kind, body, secret, mutation, index, bit, char, shift
) -> None:  # type: ignore[no-untyped-def]
    verifier, request, key = sign_new(kind, body, secret)
    assert not rejected_new(verifier, request, key)
    signature_header = PUBLIC_KEY_SIGNATURE_HEADERS.get(kind) or recipes.SIGNATURE_HEADERS[kind.removeprefix("hmac:")]
    headers = dict(request.headers)
    if mutation == "body":
        mutated = replace(request, body=flip_byte(body, index, bit))
    elif mutation == "signature":
        headers[signature_header] = change_char(headers[signature_header], index, char)
        mutated = replace(request, headers=headers)
    elif mutation == "secret":
        if kind == "sendgrid":
            other = signers.sendgrid_public_key(OTHER_SENDGRID_KEY)
        elif kind == "discord":
            other = signers.discord_public_key(OTHER_DISCORD_KEY)
        else:
            other = secret + "x"
        assert rejected_new(verifier, request, other)
        return
    elif mutation == "timestamp" and (kind in TIMESTAMP_HEADERS or kind == "hmac:paddle"):
        if kind == "hmac:paddle":
            headers["paddle-signature"] = headers["paddle-signature"].replace(f"ts={NOW}", f"ts={NOW + shift}")
        else:
            headers[TIMESTAMP_HEADERS[kind]] = str(NOW - shift)
        mutated = replace(request, headers=headers)
    elif mutation == "url" and kind == "hmac:square":
        try:
            verify(verifier, request, [key], public_url=recipes.SQUARE_URL + "x", now=NOW)  # type: ignore[arg-type]
        except VerificationError:
            return
        raise AssertionError("a different notification URL was accepted")
    else:
        headers.pop(signature_header)
        mutated = replace(request, headers=headers)
    assert rejected_new(verifier, mutated, key)
