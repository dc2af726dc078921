"""The sandbox's self-service gate: API Gateway's JWT authorizer and CORS in front of the handler, with
the verifier the tests hold to PyJWT (sandbox/self_service.py, docs/tokens.md)."""

from __future__ import annotations

import json
import time
from typing import Any

import jwt as pyjwt
import pytest

from functions.delivery import jws, tokens
from sandbox import self_service
from sandbox.self_service import SelfServiceGate, bearer
from tests.token_test_keys import KEY_A, KEY_B

ISSUER = "http://127.0.0.1:4010"


class KeyServer:
    """The handler as far as the gate uses it: the JWKS route (counted)."""

    def __init__(self, *pems: str) -> None:
        self.pems = list(pems)
        self.fetches = 0

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        assert event["rawPath"] == "/.well-known/jwks.json"
        self.fetches += 1
        body = json.dumps({"keys": [jws.public_jwk(pem) for pem in self.pems]})
        return {"statusCode": 200, "headers": {"content-type": "application/json"}, "body": body}


@pytest.fixture(scope="module")
def pems() -> tuple[str, str]:
    return KEY_A, KEY_B


def _token(pem: str, subject: str = "acme", scopes: tuple[str, ...] = ("endpoints:read",), **changes: Any) -> str:
    claims = tokens.claims(issuer=ISSUER, subject=subject, scopes=scopes, now=time.time(), expires_in=600)
    claims.update(changes)
    return jws.sign(claims, pem, jws.public_jwk(pem)["kid"])


def _gate(*pems: str) -> tuple[SelfServiceGate, KeyServer]:
    server = KeyServer(*pems)
    return SelfServiceGate(server, issuer=lambda: ISSUER, function_name="api"), server


def _auth(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def test_a_valid_token_passes_with_its_claims_as_api_gateway_hands_them_over(pems: tuple[str, str]) -> None:
    gate, _ = _gate(pems[0])
    decision = gate("GET", "/tenants/acme/endpoints?limit=5", _auth(_token(pems[0])))
    assert decision.response is None
    claims = decision.authorizer["jwt"]["claims"]  # type: ignore[index]
    assert claims["sub"] == "acme" and claims["aud"] == tokens.AUDIENCE and isinstance(claims["exp"], str)
    assert decision.authorizer["jwt"]["scopes"] == ["endpoints:read"]  # type: ignore[index]
    # PyJWT agrees the token is good.
    token = _token(pems[0])
    pyjwt.decode(
        token, pyjwt.PyJWK(jws.public_jwk(pems[0])).key, algorithms=["RS256"], audience=tokens.AUDIENCE, issuer=ISSUER
    )


@pytest.mark.parametrize(
    "make",
    [
        lambda pem, other: None,
        lambda pem, other: "",
        lambda pem, other: _token(pem, exp=int(time.time()) - 3600),
        lambda pem, other: _token(pem, aud="someone-else"),
        lambda pem, other: _token(pem, iss="http://127.0.0.1:1"),
        lambda pem, other: _token(pem, nbf=int(time.time()) + 3600),
        lambda pem, other: _token(other),  # a key the issuer never published
        lambda pem, other: _token(pem)[:-6] + "AAAAAA",
        lambda pem, other: pyjwt.encode({"sub": "acme"}, "s" * 32, algorithm="HS256"),
        lambda pem, other: "not-a-token",
    ],
    ids=["missing", "empty", "expired", "audience", "issuer", "not-yet", "unknown-key", "tampered", "hs256", "garbage"],
)
def test_an_invalid_token_is_401_with_the_challenge(pems: tuple[str, str], make: Any) -> None:
    gate, _ = _gate(pems[0])
    token = make(*pems)
    headers = {"origin": "https://portal.example.com"}
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    gate.allowed_origins = ["https://portal.example.com"]
    decision = gate("GET", "/tenants/acme/endpoints", headers)
    assert decision.response is not None
    status, response_headers, body = decision.response
    assert status == 401 and json.loads(body) == {"message": "Unauthorized"}
    assert response_headers["www-authenticate"].startswith('Bearer error="invalid_token"')
    assert response_headers["access-control-allow-origin"] == "https://portal.example.com"  # the portal can read it


def test_a_missing_scope_is_403_and_iam_only_or_unknown_routes_do_not_exist(pems: tuple[str, str]) -> None:
    gate, _ = _gate(pems[0])
    token = _token(pems[0], scopes=("endpoints:read",))
    status, headers, _ = gate("POST", "/tenants/acme/endpoints", _auth(token)).response  # type: ignore[misc]
    assert status == 403 and 'error="insufficient_scope"' in headers["www-authenticate"]
    assert gate("POST", "/tenants/acme/tokens", _auth(token)).response[0] == 403  # type: ignore[index]
    assert gate("POST", "/operator/tokens", _auth(token)).response[0] == 404  # type: ignore[index]
    assert gate("GET", "/nothing", _auth(token)).response[0] == 404  # type: ignore[index]
    operator = _token(pems[0], subject="operator", scopes=("operator",))
    assert gate("POST", "/tenants/acme/endpoints", _auth(operator)).response is None
    assert gate("GET", "/.well-known/jwks.json", {}).response is None  # public


def test_preflight_answers_allowed_origins_only(pems: tuple[str, str]) -> None:
    gate, server = _gate(pems[0])
    gate.allowed_origins = ["https://portal.example.com"]
    asked = {"origin": "https://portal.example.com", "access-control-request-method": "PATCH"}
    status, headers, body = gate("OPTIONS", "/tenants/acme/endpoints/ep_1", asked).response  # type: ignore[misc]
    assert status == 204 and body == b""
    assert headers["access-control-allow-origin"] == "https://portal.example.com"
    assert set(headers["access-control-allow-headers"].split(",")) == {"authorization", "content-type"}
    assert {"GET", "POST", "PATCH", "DELETE"} <= set(headers["access-control-allow-methods"].split(","))
    stranger = {"origin": "https://evil.example.com", "access-control-request-method": "GET"}
    status, headers, _ = gate("OPTIONS", "/tenants/acme/endpoints", stranger).response  # type: ignore[misc]
    assert status == 204 and "access-control-allow-origin" not in headers
    assert server.fetches == 0  # no token work for preflight


def test_a_rotated_key_is_fetched_once_and_unknown_kids_cannot_force_fetches(pems: tuple[str, str]) -> None:
    old, new = pems
    gate, server = _gate(old)
    assert gate("GET", "/tenants/acme/endpoints", _auth(_token(old))).response is None
    assert server.fetches == 1
    server.pems = [new, old]  # rotation: the new key signs, the old one stays published
    gate._fetched_at -= self_service.JWKS_REFRESH_SECONDS + 1
    assert gate("GET", "/tenants/acme/endpoints", _auth(_token(new))).response is None
    assert server.fetches == 2
    claims = tokens.claims(issuer=ISSUER, subject="acme", scopes=("endpoints:read",), now=time.time(), expires_in=600)
    unknown = jws.sign(claims, new, "a-kid-nobody-published")
    for _ in range(5):  # at most one refetch per interval, however many such tokens arrive
        assert gate("GET", "/tenants/acme/endpoints", _auth(unknown)).response[0] == 401  # type: ignore[index]
    assert server.fetches == 2


def test_bearer_takes_the_scheme_in_any_case_or_the_bare_token() -> None:
    assert bearer("Bearer abc") == bearer("bearer abc") == bearer("abc") == "abc"
    assert bearer(None) is None and bearer("Bearer ") is None and bearer("  ") is None
