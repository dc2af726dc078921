"""Tokens: our RS256 signer and verifier held to PyJWT (the independent oracle), every rejection rule
of the verifier, the mint request's checks and :func:`tokens.authorize` (docs/tokens.md)."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives import serialization

from functions.delivery import jws, routes, tokens
from tests.token_test_keys import KEY_A, KEY_B

ISSUER = "https://abc123.execute-api.us-east-1.amazonaws.com"
NOW = 1_800_000_000.0


@pytest.fixture(scope="module")
def key() -> tuple[str, dict[str, str]]:
    return KEY_A, jws.public_jwk(KEY_A)


@pytest.fixture(scope="module")
def other_key() -> tuple[str, dict[str, str]]:
    return KEY_B, jws.public_jwk(KEY_B)


def test_generated_keys_are_rsa_2048_pkcs8_with_distinct_thumbprints() -> None:
    pem = jws.generate_private_pem()
    assert pem.startswith("-----BEGIN PRIVATE KEY-----")
    loaded = serialization.load_pem_private_key(pem.encode(), None)
    assert loaded.key_size == jws.RSA_BITS  # type: ignore[union-attr]
    assert jws.public_jwk(pem)["kid"] != jws.public_jwk(KEY_A)["kid"]


def _claims(**changes: Any) -> dict[str, Any]:
    claims = tokens.claims(issuer=ISSUER, subject="acme", scopes=("endpoints:read",), now=NOW, expires_in=3600)
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def _verify(token: str, jwk: dict[str, str], now: float = NOW) -> dict[str, Any]:
    return jws.verify(token, [jwk], issuer=ISSUER, audience=tokens.AUDIENCE, now=now)


def _b64(document: dict[str, Any]) -> str:
    return jws.b64url(json.dumps(document).encode())


# -- interoperability with PyJWT ----------------------------------------------------------------------


def test_our_tokens_verify_under_pyjwt_with_the_published_jwk(key: tuple[str, dict[str, str]]) -> None:
    pem, jwk = key
    token = jws.sign(_claims(), pem, jwk["kid"])
    header = pyjwt.get_unverified_header(token)
    assert header["alg"] == "RS256" and header["kid"] == jwk["kid"]
    decoded = pyjwt.decode(
        token,
        pyjwt.PyJWK(jwk).key,
        algorithms=["RS256"],
        audience=tokens.AUDIENCE,
        issuer=ISSUER,
        options={"verify_exp": False, "verify_iat": False},
    )
    assert decoded["sub"] == "acme" and decoded["scope"] == "endpoints:read"
    assert set(decoded) == {"iss", "aud", "sub", "scope", "iat", "exp", "jti"}


def test_pyjwt_tokens_verify_under_ours_and_the_kid_is_the_rfc7638_thumbprint(key: tuple[str, dict[str, str]]) -> None:
    pem, jwk = key
    token = pyjwt.encode(_claims(), pem, algorithm="RS256", headers={"kid": jwk["kid"]})
    assert _verify(token, jwk)["sub"] == "acme"
    public = serialization.load_pem_private_key(pem.encode(), None).public_key()
    thumbprint = pyjwt.PyJWK(jwk).key_id
    assert thumbprint == jwk["kid"]
    assert pyjwt.algorithms.RSAAlgorithm.to_jwk(public, as_dict=True)["n"] == jwk["n"]
    # RFC 7638: SHA-256 of {"e","kty","n"} in that order, no spaces, base64url without padding.
    import hashlib

    canonical = json.dumps({"e": jwk["e"], "kty": "RSA", "n": jwk["n"]}, separators=(",", ":")).encode()
    assert jwk["kid"] == base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).rstrip(b"=").decode()


# -- every rejection ------------------------------------------------------------------------------------


def test_alg_none_and_hs256_keyed_with_the_public_key_are_refused(key: tuple[str, dict[str, str]]) -> None:
    pem, jwk = key
    unsigned = f"{_b64({'alg': 'none', 'kid': jwk['kid']})}.{_b64(_claims())}."
    with pytest.raises(jws.InvalidToken):
        _verify(unsigned, jwk)
    unsigned_with_signature = f"{_b64({'alg': 'none', 'kid': jwk['kid']})}.{_b64(_claims())}.AAAA"
    with pytest.raises(jws.InvalidToken, match="alg"):
        _verify(unsigned_with_signature, jwk)
    # The classic confusion: HMAC with the verifier's public key bytes as the secret.
    import hashlib
    import hmac

    public_pem = (
        serialization.load_pem_private_key(pem.encode(), None)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    signing_input = f"{_b64({'alg': 'HS256', 'kid': jwk['kid']})}.{_b64(_claims())}"
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    with pytest.raises(jws.InvalidToken, match="alg"):
        _verify(f"{signing_input}.{jws.b64url(mac)}", jwk)
    for alg in ("RS512", "ES256", "PS256", "EdDSA", "rs256"):
        token = f"{_b64({'alg': alg, 'kid': jwk['kid']})}.{_b64(_claims())}.{jws.b64url(b'x' * 256)}"
        with pytest.raises(jws.InvalidToken, match="alg"):
            _verify(token, jwk)


def test_a_wrong_or_missing_kid_and_another_key_s_signature_are_refused(
    key: tuple[str, dict[str, str]], other_key: tuple[str, dict[str, str]]
) -> None:
    pem, jwk = key
    other_pem, other_jwk = other_key
    with pytest.raises(jws.UnknownKey):
        _verify(jws.sign(_claims(), pem, other_jwk["kid"]), jwk)
    with pytest.raises(jws.UnknownKey):
        _verify(pyjwt.encode(_claims(), pem, algorithm="RS256"), jwk)  # no kid at all
    # Signed by another key but naming ours.
    with pytest.raises(jws.InvalidToken, match="signature"):
        _verify(jws.sign(_claims(), other_pem, jwk["kid"]), jwk)


def test_a_tampered_payload_header_or_signature_is_refused(key: tuple[str, dict[str, str]]) -> None:
    pem, jwk = key
    token = jws.sign(_claims(), pem, jwk["kid"])
    header, payload, signature = token.split(".")
    forged = _b64({**json.loads(base64.urlsafe_b64decode(payload + "==")), "sub": "other"})
    with pytest.raises(jws.InvalidToken, match="signature"):
        _verify(f"{header}.{forged}.{signature}", jwk)
    forged_scope = _b64({**_claims(), "scope": "endpoints:read endpoints:write"})
    with pytest.raises(jws.InvalidToken, match="signature"):
        _verify(f"{header}.{forged_scope}.{signature}", jwk)
    flipped = signature[:10] + ("A" if signature[10] != "A" else "B") + signature[11:]
    with pytest.raises(jws.InvalidToken):
        _verify(f"{header}.{payload}.{flipped}", jwk)
    typ_changed = _b64({"alg": "RS256", "kid": jwk["kid"], "typ": "at+jwt"})
    with pytest.raises(jws.InvalidToken, match="signature"):
        _verify(f"{typ_changed}.{payload}.{signature}", jwk)
    for broken in (
        "",
        "a.b",
        "a.b.c.d",
        f"{header}..{signature}",
        f"{header}.{payload}.!!",
        "x" * 9000,
        f"{header}.\u00e9.{signature}",  # a known kid, then a payload that is not ASCII (was UnicodeEncodeError)
        f"{header}.{payload}\u00e9.{signature}",
    ):
        with pytest.raises(jws.InvalidToken):
            _verify(broken, jwk)


@pytest.mark.parametrize(
    ("changes", "rule"),
    [
        ({"exp": NOW - jws.LEEWAY_SECONDS - 1}, "expired"),
        ({"exp": None}, "expired"),
        ({"exp": "9999999999"}, "expired"),
        ({"exp": True}, "expired"),
        ({"nbf": NOW + jws.LEEWAY_SECONDS + 1}, "not valid yet"),
        ({"iat": NOW + jws.LEEWAY_SECONDS + 1}, "future"),
        ({"aud": "another-api"}, "audience"),
        ({"aud": None}, "audience"),
        ({"iss": ISSUER + "/"}, "issuer"),
        ({"iss": "https://evil.example.com"}, "issuer"),
    ],
)
def test_claims_outside_the_rules_are_refused_by_ours_and_by_pyjwt(
    key: tuple[str, dict[str, str]], changes: dict[str, Any], rule: str
) -> None:
    pem, jwk = key
    token = jws.sign(_claims(**changes), pem, jwk["kid"])
    with pytest.raises(jws.InvalidToken, match=rule):
        _verify(token, jwk)
    with pytest.raises(pyjwt.InvalidTokenError):  # the oracle agrees
        pyjwt.decode(
            token,
            pyjwt.PyJWK(jwk).key,
            algorithms=["RS256"],
            audience=tokens.AUDIENCE,
            issuer=ISSUER,
            leeway=jws.LEEWAY_SECONDS,
            options={"require": ["exp", "iss", "aud"]},
        ) if rule != "future" else _pyjwt_at(token, jwk)


def _pyjwt_at(token: str, jwk: dict[str, str]) -> None:
    # PyJWT checks iat against the real clock: refuse an iat in the future as ours does.
    claims = pyjwt.decode(
        token,
        pyjwt.PyJWK(jwk).key,
        algorithms=["RS256"],
        audience=tokens.AUDIENCE,
        options={"verify_exp": False, "verify_iat": False},
    )
    if claims["iat"] > NOW + jws.LEEWAY_SECONDS:
        raise pyjwt.ImmatureSignatureError("iat in the future")


def test_a_non_finite_exp_is_refused(key: tuple[str, dict[str, str]]) -> None:
    pem, jwk = key
    header = _b64({"alg": "RS256", "kid": jwk["kid"]})
    payload = jws.b64url(json.dumps(_claims(exp=float("inf"))).encode())  # "Infinity": JSON as Python writes it
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    private = serialization.load_pem_private_key(pem.encode(), None)
    signature = private.sign(f"{header}.{payload}".encode(), padding.PKCS1v15(), hashes.SHA256())  # type: ignore[union-attr,call-arg]
    with pytest.raises(jws.InvalidToken, match="expired"):
        _verify(f"{header}.{payload}.{jws.b64url(signature)}", jwk)


def test_the_leeway_is_small_and_exact_at_its_edges(key: tuple[str, dict[str, str]]) -> None:
    pem, jwk = key
    token = jws.sign(_claims(exp=int(NOW)), pem, jwk["kid"])
    assert _verify(token, jwk, now=NOW + jws.LEEWAY_SECONDS)
    with pytest.raises(jws.InvalidToken, match="expired"):
        _verify(token, jwk, now=NOW + jws.LEEWAY_SECONDS + 1)
    assert jws.LEEWAY_SECONDS <= 60


def test_a_key_set_of_two_keys_verifies_both_the_current_and_the_previous_key(
    key: tuple[str, dict[str, str]], other_key: tuple[str, dict[str, str]]
) -> None:
    (pem, jwk), (other_pem, other_jwk) = key, other_key
    keys = [other_jwk, jwk]
    for signer, signer_jwk in ((pem, jwk), (other_pem, other_jwk)):
        token = jws.sign(_claims(), signer, signer_jwk["kid"])
        assert jws.verify(token, keys, issuer=ISSUER, audience=tokens.AUDIENCE, now=NOW)["sub"] == "acme"


# -- the mint request --------------------------------------------------------------------------------


def test_scopes_must_be_a_non_empty_list_of_the_four_scopes() -> None:
    assert tokens.check_scopes(["messages:read", "endpoints:read", "messages:read"]) == (
        "endpoints:read",
        "messages:read",
    )
    for bad, field in (
        ([], "scopes"),
        (None, "scopes"),
        ("endpoints:read", "scopes"),
        (["endpoints:read", "operator"], "scopes[1]"),
        (["admin"], "scopes[0]"),
        ([["endpoints:read"]], "scopes[0]"),
    ):
        with pytest.raises(tokens.TokenRequestError) as caught:
            tokens.check_scopes(bad)
        assert caught.value.field == field
        assert "endpoints:read, endpoints:write, messages:read, messages:replay" in str(caught.value)


def test_expires_defaults_to_an_hour_and_takes_60_to_86400_whole_seconds() -> None:
    assert tokens.check_expires(None) == 3600
    assert tokens.check_expires(60) == 60 and tokens.check_expires(86_400) == 86_400
    for bad in (59, 86_401, 0, -1, 3600.0, "3600", True):
        with pytest.raises(tokens.TokenRequestError, match="expiresInSeconds") as caught:
            tokens.check_expires(bad)
        assert caught.value.field == "expiresInSeconds"


def test_claims_carry_the_contract_and_expires_at_is_iso_utc() -> None:
    claims = tokens.claims(
        issuer=ISSUER, subject="t1", scopes=("endpoints:read", "messages:read"), now=NOW + 0.9, expires_in=60
    )
    assert claims["scope"] == "endpoints:read messages:read" and claims["aud"] == tokens.AUDIENCE
    assert claims["exp"] == claims["iat"] + 60 == int(NOW) + 60
    assert tokens.iso_utc(claims["exp"]) == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(NOW) + 60))
    assert (
        tokens.claims(issuer=ISSUER, subject="t1", scopes=("endpoints:read",), now=NOW, expires_in=60)["jti"]
        != claims["jti"]
    )


# -- who a token lets in ----------------------------------------------------------------------------------


def _caller(subject: str, *scopes: str) -> tokens.Caller:
    return tokens.Caller(subject, frozenset(scopes))


def _params(route: routes.Route, tenant: str) -> dict[str, str]:
    found = routes.match(
        route.method,
        route.path.replace("{tenantId}", tenant).replace("{endpointId}", "ep_x").replace("{eventId}", "evt_1"),
    )
    return found[1]


@pytest.mark.parametrize("route", routes.TENANT_ROUTES, ids=lambda r: r.key)
def test_a_tenant_token_needs_the_route_s_scope_and_its_own_tenant(route: routes.Route) -> None:
    if route.scope == routes.OPERATOR_SCOPE:
        with pytest.raises(tokens.Denied) as caught:
            tokens.authorize(_caller("acme", *routes.TENANT_SCOPES), route, _params(route, "acme"))
        assert caught.value.status == 403
        return
    assert route.scope in routes.TENANT_SCOPES
    tokens.authorize(_caller("acme", route.scope), route, _params(route, "acme"))
    others = [s for s in routes.TENANT_SCOPES if s != route.scope]
    with pytest.raises(tokens.Denied, match=route.scope) as caught:
        tokens.authorize(_caller("acme", *others), route, _params(route, "acme"))
    assert caught.value.status == 403 and caught.value.code == "insufficient_scope"
    for path_tenant in ("other", "ACME", "acme%20", "acm%65", "acme%2F..%2Fother", "acme2", "acm"):
        with pytest.raises(tokens.Denied, match="not for this tenant") as caught:
            tokens.authorize(_caller("acme", *routes.TENANT_SCOPES), route, _params(route, path_tenant))
        assert caught.value.status == 403


def test_a_route_any_scope_may_call_names_the_scopes_it_takes_when_a_token_has_none() -> None:
    route = routes.match("GET", "/event-types")[0]
    with pytest.raises(tokens.Denied) as caught:
        tokens.authorize(_caller("acme"), route, {})
    assert caught.value.code == "insufficient_scope" and "*" not in caught.value.message
    assert all(scope in caught.value.message for scope in routes.TENANT_SCOPES)


def test_the_operator_token_passes_every_token_route_and_no_iam_only_route() -> None:
    operator = _caller(tokens.OPERATOR_SUBJECT, routes.OPERATOR_SCOPE)
    for route in routes.ROUTES:
        params = _params(route, "anyone") if "{tenantId}" in route.path else {}
        if route.scope is None:
            with pytest.raises(tokens.Denied, match="IAM"):
                tokens.authorize(operator, route, params)
        else:
            tokens.authorize(operator, route, params)
    # "operator" as a tenant's id is no operator: the scope makes the operator.
    route = routes.match("GET", "/tenants/other/endpoints")[0]
    with pytest.raises(tokens.Denied):
        tokens.authorize(_caller("operator", *routes.TENANT_SCOPES), route, {"tenantId": "other"})


def test_the_caller_is_read_from_the_jwt_authorizer_context_only() -> None:
    event = {"requestContext": {"authorizer": {"jwt": {"claims": {"sub": "acme", "scope": "a b"}, "scopes": None}}}}
    assert tokens.token_caller(event) == _caller("acme", "a", "b")
    assert tokens.token_caller({"requestContext": {"authorizer": {"iam": {"userArn": "arn"}}}}) is None
    assert tokens.token_caller({}) is None
    assert tokens.token_caller({"requestContext": {"authorizer": {"jwt": {"claims": {}}}}}) == _caller("")
