"""Each verifier accepts what the provider's official library signs and rejects everything else."""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import replace

import pytest
import stripe
from slack_sdk.signature import SignatureVerifier
from twilio.request_validator import RequestValidator

from functions.inbound.verify import SignedRequest, VerificationError, verify
from tests.functions.inbound import signers
from tests.functions.inbound.signers import NOW, TWILIO_URL

BODY = json.dumps({"id": "evt_1", "type": "invoice.paid", "data": {"object": {"customer": "cus_9"}}}).encode()
SECRET = "s3cr3t-current"
OLD = "s3cr3t-previous"
WHSEC = signers.whsec(b"current")
WHSEC_OLD = signers.whsec(b"previous")


def reason_of(kind: str, request: SignedRequest, secrets: list[str], **kwargs: object) -> str:
    with pytest.raises(VerificationError) as caught:
        verify(kind, request, secrets, now=NOW, **kwargs)  # type: ignore[arg-type]
    return caught.value.reason


# --- GitHub ----------------------------------------------------------------------------------


def test_github_documented_test_vector_verifies() -> None:
    # From GitHub's "Validating webhook deliveries" documentation.
    request = SignedRequest(
        headers={"x-hub-signature-256": "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"},
        body=b"Hello, World!",
    )
    assert verify("github", request, ["It's a Secret to Everybody"], now=NOW) == 0


def test_github_rejects_tampered_body_wrong_secret_and_bad_headers() -> None:
    request = signers.github(BODY, SECRET)
    assert verify("github", request, [SECRET], now=NOW) == 0
    assert reason_of("github", replace(request, body=BODY + b" "), [SECRET]) == "bad_signature"
    assert reason_of("github", request, ["other"]) == "bad_signature"
    assert reason_of("github", replace(request, headers={}), [SECRET]) == "missing_header"
    sha1 = {"x-hub-signature-256": "sha1=" + hmac.new(SECRET.encode(), BODY, hashlib.sha1).hexdigest()}
    assert reason_of("github", replace(request, headers=sha1), [SECRET]) == "malformed_header"
    truncated = {"x-hub-signature-256": request.headers["x-hub-signature-256"][:-2]}
    assert reason_of("github", replace(request, headers=truncated), [SECRET]) == "malformed_header"


# --- Stripe ----------------------------------------------------------------------------------


def test_stripe_signature_from_official_library_verifies_and_library_agrees() -> None:
    request = signers.stripe_request(BODY, SECRET)
    assert verify("stripe", request, [SECRET], now=NOW) == 0
    # The oracle accepts the same header (sanity check of the test itself).
    stripe.WebhookSignature.verify_header(BODY.decode(), request.headers["stripe-signature"], SECRET, tolerance=None)


def test_stripe_accepts_any_of_several_v1_signatures_during_stripe_rotation() -> None:
    request = signers.stripe_request(BODY, "whsec_rolled", SECRET)
    assert verify("stripe", request, [SECRET], now=NOW) == 0


def test_stripe_rejects_stale_future_tampered_and_malformed() -> None:
    assert reason_of("stripe", signers.stripe_request(BODY, SECRET, timestamp=NOW - 301), [SECRET]) == "stale_timestamp"
    assert reason_of("stripe", signers.stripe_request(BODY, SECRET, timestamp=NOW + 301), [SECRET]) == "stale_timestamp"
    assert verify("stripe", signers.stripe_request(BODY, SECRET, timestamp=NOW - 300), [SECRET], now=NOW) == 0
    request = signers.stripe_request(BODY, SECRET)
    assert reason_of("stripe", replace(request, body=BODY.replace(b"paid", b"void")), [SECRET]) == "bad_signature"
    assert reason_of("stripe", request, [OLD]) == "bad_signature"
    header = request.headers["stripe-signature"]
    for bad in (
        "v1=abc",
        header.split(",")[1],
        f"t=x,{header.split(',')[1]}",
        header.split(",")[0],
        "garbage",
        f"{header},t={NOW}",
    ):
        assert reason_of("stripe", replace(request, headers={"stripe-signature": bad}), [SECRET]) == "malformed_header"


def test_stripe_signed_timestamp_cannot_be_moved() -> None:
    request = signers.stripe_request(BODY, SECRET)
    moved = request.headers["stripe-signature"].replace(f"t={NOW}", f"t={NOW + 1}")
    assert reason_of("stripe", replace(request, headers={"stripe-signature": moved}), [SECRET]) == "bad_signature"


# --- Slack -----------------------------------------------------------------------------------


def test_slack_signature_from_slack_sdk_verifies() -> None:
    request = signers.slack(BODY, SECRET)
    assert verify("slack", request, [SECRET], now=NOW) == 0


def test_slack_rejects_stale_tampered_wrong_secret_and_malformed() -> None:
    assert reason_of("slack", signers.slack(BODY, SECRET, timestamp=NOW - 301), [SECRET]) == "stale_timestamp"
    request = signers.slack(BODY, SECRET)
    assert reason_of("slack", replace(request, body=b"{}"), [SECRET]) == "bad_signature"
    assert reason_of("slack", request, [OLD]) == "bad_signature"
    no_ts = {k: v for k, v in request.headers.items() if k != "x-slack-request-timestamp"}
    assert reason_of("slack", replace(request, headers=no_ts), [SECRET]) == "missing_header"
    v1 = dict(request.headers, **{"x-slack-signature": request.headers["x-slack-signature"].replace("v0=", "v1=")})
    assert reason_of("slack", replace(request, headers=v1), [SECRET]) == "malformed_header"
    bad_ts = dict(request.headers, **{"x-slack-request-timestamp": "1e9"})
    assert reason_of("slack", replace(request, headers=bad_ts), [SECRET]) == "malformed_header"


def test_slack_verifier_agrees_with_slack_sdk_on_a_request_it_accepts() -> None:
    request = signers.slack(BODY, SECRET)

    class Clock:
        def now(self) -> float:
            return NOW

    assert SignatureVerifier(SECRET, clock=Clock()).is_valid_request(BODY, dict(request.headers))  # type: ignore[arg-type]


# --- Shopify ---------------------------------------------------------------------------------


def test_shopify_base64_hmac_verifies_and_rejects_tampering() -> None:
    request = signers.shopify(BODY, SECRET)
    assert verify("shopify", request, [SECRET], now=NOW) == 0
    assert reason_of("shopify", replace(request, body=BODY[:-1]), [SECRET]) == "bad_signature"
    assert reason_of("shopify", request, [OLD]) == "bad_signature"
    hexdigest = {"x-shopify-hmac-sha256": hmac.new(SECRET.encode(), BODY, hashlib.sha256).hexdigest()}
    assert reason_of("shopify", replace(request, headers=hexdigest), [SECRET]) == "malformed_header"


# --- Standard Webhooks / Svix ----------------------------------------------------------------


@pytest.mark.parametrize("prefix", ["webhook-", "svix-"])
def test_standard_webhooks_and_svix_signatures_verify(prefix: str) -> None:
    request = signers.standard(BODY, WHSEC, prefix=prefix)
    assert verify("standard", request, [WHSEC], now=NOW) == 0


def test_standard_accepts_any_listed_signature_and_ignores_other_versions() -> None:
    request = signers.standard(BODY, WHSEC_OLD, WHSEC)
    header = "v1a,AAAA " + request.headers["webhook-signature"]
    assert (
        verify(
            "standard",
            replace(request, headers=dict(request.headers, **{"webhook-signature": header})),
            [WHSEC],
            now=NOW,
        )
        == 0
    )


def test_standard_rejects_stale_future_tampered_wrong_secret_and_mixed_headers() -> None:
    assert reason_of("standard", signers.standard(BODY, WHSEC, timestamp=NOW - 301), [WHSEC]) == "stale_timestamp"
    assert reason_of("standard", signers.standard(BODY, WHSEC, timestamp=NOW + 301), [WHSEC]) == "stale_timestamp"
    request = signers.standard(BODY, WHSEC)
    assert reason_of("standard", replace(request, body=BODY + b"\n"), [WHSEC]) == "bad_signature"
    assert reason_of("standard", request, [WHSEC_OLD]) == "bad_signature"
    other_id = dict(request.headers, **{"webhook-id": "msg_other"})
    assert reason_of("standard", replace(request, headers=other_id), [WHSEC]) == "bad_signature"
    only_v2 = dict(request.headers, **{"webhook-signature": request.headers["webhook-signature"].replace("v1,", "v2,")})
    assert reason_of("standard", replace(request, headers=only_v2), [WHSEC]) == "malformed_header"
    # A svix-signature cannot stand in for a webhook-* request's signature.
    mixed = {k: v for k, v in request.headers.items() if k != "webhook-signature"}
    mixed["svix-signature"] = request.headers["webhook-signature"]
    assert reason_of("standard", replace(request, headers=mixed), [WHSEC]) == "missing_header"


# --- Twilio ----------------------------------------------------------------------------------

PARAMS = [
    ("To", "+15558675310"),
    ("From", "+15017122661"),
    ("Body", "Hello & welcome+1"),
    ("MediaUrl0", ""),
    ("Tag", "b"),
    ("Tag", "a"),
]


def test_twilio_form_post_signed_by_official_library_verifies() -> None:
    request = signers.twilio_form(PARAMS, SECRET)
    assert verify("twilio", request, [SECRET], public_url=TWILIO_URL, now=NOW) == 0


def test_twilio_query_string_is_part_of_the_signed_url() -> None:
    request = signers.twilio_form(PARAMS, SECRET, query="tenant=7&x=a%20b")
    assert verify("twilio", request, [SECRET], public_url=TWILIO_URL, now=NOW) == 0
    assert (
        reason_of("twilio", replace(request, query="tenant=8&x=a%20b"), [SECRET], public_url=TWILIO_URL)
        == "bad_signature"
    )
    assert reason_of("twilio", replace(request, query=""), [SECRET], public_url=TWILIO_URL) == "bad_signature"


def test_twilio_json_body_is_covered_by_body_sha256() -> None:
    document = {"MessageSid": "SM1", "MessageStatus": "delivered"}
    request = signers.twilio_json(document, SECRET, extra_query="a=1")
    assert verify("twilio", request, [SECRET], public_url=TWILIO_URL, now=NOW) == 0
    # The official validator agrees on the same URL and raw body.
    assert RequestValidator(SECRET).validate(
        f"{TWILIO_URL}?{request.query}", request.body.decode(), request.headers["x-twilio-signature"]
    )
    tampered = replace(request, body=request.body.replace(b"delivered", b"failed"))
    assert reason_of("twilio", tampered, [SECRET], public_url=TWILIO_URL) == "bad_signature"


def test_twilio_url_with_and_without_default_port_both_verify() -> None:
    with_port = "https://abc123.lambda-url.us-east-1.on.aws:443/twilio"
    signed_with_port = signers.twilio_form(PARAMS, SECRET, url=with_port)
    assert verify("twilio", signed_with_port, [SECRET], public_url=TWILIO_URL, now=NOW) == 0
    signed_without = signers.twilio_form(PARAMS, SECRET, url=TWILIO_URL)
    assert verify("twilio", signed_without, [SECRET], public_url=with_port, now=NOW) == 0


def test_twilio_public_url_is_the_configured_one_not_another_host() -> None:
    request = signers.twilio_form(PARAMS, SECRET)
    other = "https://attacker.example.com/twilio"
    assert reason_of("twilio", request, [SECRET], public_url=other) == "bad_signature"
    assert reason_of("twilio", request, [SECRET], public_url=TWILIO_URL + "/") == "bad_signature"


def test_twilio_rejects_changed_params_wrong_token_and_unsigned_bodies() -> None:
    request = signers.twilio_form(PARAMS, SECRET)
    changed = signers.twilio_form([*PARAMS[:-1], ("Tag", "c")], "x")
    assert reason_of("twilio", replace(request, body=changed.body), [SECRET], public_url=TWILIO_URL) == "bad_signature"
    assert reason_of("twilio", request, [OLD], public_url=TWILIO_URL) == "bad_signature"
    # A JSON body without bodySHA256 is not covered by the signature: refused, whatever the header.
    unsigned = SignedRequest(
        headers={"x-twilio-signature": request.headers["x-twilio-signature"], "content-type": "application/json"},
        body=b'{"a":1}',
    )
    assert reason_of("twilio", unsigned, [SECRET], public_url=TWILIO_URL) == "unsigned_body"
    assert (
        reason_of(
            "twilio",
            replace(request, headers={"content-type": "application/x-www-form-urlencoded"}),
            [SECRET],
            public_url=TWILIO_URL,
        )
        == "missing_header"
    )


def test_twilio_hmac_sha256_shared_key_signatures_verify() -> None:
    request = signers.twilio_form(PARAMS, SECRET, algorithm="HMAC_SHA256")
    assert verify("twilio", request, [SECRET], public_url=TWILIO_URL, now=NOW) == 0
    downgraded = dict(request.headers)
    downgraded.pop("x-twilio-webhooks-signature-settings")
    assert (
        reason_of("twilio", replace(request, headers=downgraded), [SECRET], public_url=TWILIO_URL) == "malformed_header"
    )
    unknown = dict(request.headers, **{"x-twilio-webhooks-signature-settings": "algorithm=HMAC_MD5"})
    assert reason_of("twilio", replace(request, headers=unknown), [SECRET], public_url=TWILIO_URL) == "malformed_header"


def test_twilio_get_webhook_signs_only_the_url() -> None:
    query = "CallSid=CA1&From=%2B15017122661"
    signature = RequestValidator(SECRET).compute_signature(f"{TWILIO_URL}?{query}", {})
    request = SignedRequest(headers={"x-twilio-signature": signature}, body=b"", query=query)
    assert verify("twilio", request, [SECRET], public_url=TWILIO_URL, now=NOW) == 0


# --- rotation and arguments --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "make", "current", "previous"),
    [
        ("github", lambda secret: signers.github(BODY, secret), SECRET, OLD),
        ("stripe", lambda secret: signers.stripe_request(BODY, secret), SECRET, OLD),
        ("slack", lambda secret: signers.slack(BODY, secret), SECRET, OLD),
        ("shopify", lambda secret: signers.shopify(BODY, secret), SECRET, OLD),
        ("standard", lambda secret: signers.standard(BODY, secret), WHSEC, WHSEC_OLD),
        ("twilio", lambda secret: signers.twilio_form(PARAMS, secret), SECRET, OLD),
    ],
)
def test_previous_secret_is_accepted_during_rotation_and_reported(kind, make, current, previous) -> None:  # type: ignore[no-untyped-def]
    kwargs = {"public_url": TWILIO_URL, "now": NOW}
    assert verify(kind, make(current), [current, previous], **kwargs) == 0
    assert verify(kind, make(previous), [current, previous], **kwargs) == 1
    # Once the previous secret is removed, its signatures fail.
    with pytest.raises(VerificationError):
        verify(kind, make(previous), [current], **kwargs)


def test_unknown_kind_and_empty_secrets_are_programming_errors() -> None:
    request = signers.github(BODY, SECRET)
    with pytest.raises(ValueError, match="unknown source kind 'gitlab'"):
        verify("gitlab", request, [SECRET])
    with pytest.raises(ValueError, match="non-empty secret"):
        verify("github", request, [""])


# --- Standard Webhooks secrets at verification ------------------------------------------------


def empty_key_request(body: bytes = BODY, msg_id: str = "msg_1") -> SignedRequest:
    """Signed with the empty key the reference library would decode 'whsec_' to: anyone can make it."""
    import base64

    signature = base64.b64encode(hmac.new(b"", f"{msg_id}.{NOW}.".encode() + body, hashlib.sha256).digest()).decode()
    return SignedRequest(
        headers={"webhook-id": msg_id, "webhook-timestamp": str(NOW), "webhook-signature": f"v1,{signature}"}, body=body
    )


@pytest.mark.parametrize(
    ("secret", "message"),
    [
        ("whsec_", "24 to 64 bytes of key, got 0"),
        ("whsec_!!!", "canonical base64"),
        ("whsec_" + "A" * 31, "canonical base64"),  # missing padding: refused, not guessed
        ("whsec_" + "A" * 33 + "B==", "canonical base64"),  # stray bits: not the encoding of any key
        ("whsec_AAAAAAAAAAAAAAAAAAAAAA==", "24 to 64 bytes of key, got 16"),
        ("whsec_" + "A" * 90 + "==", "24 to 64 bytes of key, got 67"),
        ("c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0", "must be 'whsec_' followed by base64"),
    ],
)
def test_a_malformed_standard_secret_is_a_misconfiguration_never_a_401(secret: str, message: str) -> None:
    from functions.inbound.source_secrets import SecretFormatError

    with pytest.raises(SecretFormatError, match=message):
        verify("standard", empty_key_request(), [secret], now=NOW)
    # ...also as the previous secret, even when the current one signs the request.
    with pytest.raises(SecretFormatError, match=message):
        verify("standard", signers.standard(BODY, WHSEC), [WHSEC, secret], now=NOW)


def test_whsec_keys_follow_the_same_rule_as_the_configuration() -> None:
    from components.config import whsec_problem
    from functions.inbound.source_secrets import SecretFormatError
    from functions.whsec import key as whsec_key

    for secret in (
        "whsec_",
        "whsec_!!!",
        "whsec_" + "A" * 31,
        "whsec_AAAAAAAAAAAAAAAAAAAAAA==",
        WHSEC,
        signers.whsec(b"x"),
        "whsec_" + "A" * 86 + "==",
        "whsec_" + "A" * 87 + "=",
        "whsec_" + "A" * 33 + "B==",
    ):
        try:
            whsec_key(secret)
            refused = False
        except SecretFormatError:
            refused = True
        assert refused == (whsec_problem(secret) is not None), secret


# --- what a replay cannot change --------------------------------------------------------------


def test_signed_content_is_what_the_signature_covers() -> None:
    from functions.inbound.verify import signed_content

    github = signers.github(BODY, SECRET)
    assert signed_content("github", github) == BODY
    assert signed_content("github", replace(github, headers={**github.headers, "x-github-delivery": "other"})) == BODY
    assert signed_content("shopify", signers.shopify(BODY, SECRET)) == BODY
    for kind, request in (
        ("stripe", signers.stripe_request(BODY, SECRET)),
        ("slack", signers.slack(BODY, SECRET)),
        ("standard", signers.standard(BODY, WHSEC)),
    ):
        assert signed_content(kind, request) is None  # their signed timestamp bounds a replay to 300 s
    form = signers.twilio_form(PARAMS, SECRET, query="a=1")
    reordered = signers.twilio_form(list(reversed(PARAMS)), SECRET, query="a=1")
    assert form.body != reordered.body and signed_content("twilio", form) == signed_content("twilio", reordered)
    assert signed_content("twilio", form) != signed_content("twilio", signers.twilio_form(PARAMS, SECRET, query="a=2"))
    as_json = signers.twilio_json({"a": 1}, SECRET)
    assert signed_content("twilio", as_json) != signed_content("twilio", signers.twilio_json({"a": 2}, SECRET))
