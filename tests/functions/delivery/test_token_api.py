"""The token routes and token callers through the real API handler on moto: minting (IAM), the JWKS
and discovery documents, the key secret made once and rotated, and every route of tenant B refused to
tenant A's token, in every spelling of B (docs/tokens.md)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import boto3
import jwt as pyjwt
import pytest

from functions.delivery import api, jws, routes, token_keys, tokens
from tests.functions.delivery.conftest import TABLE, DeliveryStack, configure
from tests.functions.delivery.openapi_check import check_response
from tests.token_test_keys import KEY_A

ISSUER = "https://selfsvc.execute-api.us-east-1.amazonaws.com"
DOMAIN = "selfsvc.execute-api.us-east-1.amazonaws.com"


@pytest.fixture(scope="module")
def pem() -> str:
    return KEY_A


@pytest.fixture
def tokens_on(stack: DeliveryStack, monkeypatch: pytest.MonkeyPatch, pem: str) -> DeliveryStack:
    """The issuer configured and a key already in the secret (generating one per test is slow)."""
    configure(monkeypatch, TOKEN_ISSUER=ISSUER)
    boto3.client("secretsmanager").create_secret(
        Name=token_keys.secret_name(TABLE), SecretString=json.dumps({"keys": [{"privateKey": pem}]})
    )
    token_keys.CACHE.clear()
    yield stack
    token_keys.CACHE.clear()


def call(
    method: str,
    path: str,
    body: Any = None,
    *,
    claims: dict[str, str] | None = None,
    domain: str = "iamapi.execute-api.us-east-1.amazonaws.com",
) -> tuple[int, Any]:
    """The handler as API Gateway invokes it: IAM (no claims) or through the JWT authorizer (claims)."""
    context: dict[str, Any] = {
        "http": {"method": method, "path": path},
        "requestId": f"req-{uuid.uuid4().hex[:8]}",
        "domainName": domain,
    }
    if claims is not None:
        context["authorizer"] = {"jwt": {"claims": claims, "scopes": None}}
        context["domainName"] = DOMAIN
    event = {
        "version": "2.0",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"content-type": "application/json"},
        "requestContext": context,
        "body": json.dumps(body) if body is not None else None,
    }
    response = api.handler(event, None)
    document = json.loads(response["body"]) if response["body"] else None
    check_response(method, path, response["statusCode"], document)  # the OpenAPI document tells the truth
    return response["statusCode"], document


def mint(tenant: str, scopes: list[str], expires: int | None = None) -> tuple[int, Any]:
    body: dict[str, Any] = {"scopes": scopes}
    if expires is not None:
        body["expiresInSeconds"] = expires
    return call("POST", f"/tenants/{tenant}/tokens", body)


def claims_of(token: str) -> dict[str, Any]:
    """Verified as the authorizer verifies, then as API Gateway hands them to the integration."""
    _, jwks = call("GET", "/.well-known/jwks.json")
    verified = jws.verify(token, jwks["keys"], issuer=ISSUER, audience=tokens.AUDIENCE, now=pyjwt_now())
    return {k: (v if isinstance(v, str) else json.dumps(v)) for k, v in verified.items()}


def pyjwt_now() -> float:
    import time

    return time.time()


def test_minting_answers_the_token_and_its_expiry_and_pyjwt_verifies_it(tokens_on: DeliveryStack) -> None:
    status, document = mint("acme", ["messages:read", "endpoints:read"], 120)
    assert status == 201 and set(document) == {"token", "expiresAt"}
    _, jwks = call("GET", "/.well-known/jwks.json")
    _, discovery = call("GET", "/.well-known/openid-configuration")
    assert discovery["issuer"] == ISSUER and discovery["jwks_uri"] == f"{ISSUER}/.well-known/jwks.json"
    (jwk,) = jwks["keys"]
    assert set(jwk) == {"kty", "n", "e", "kid", "alg", "use"}  # no private member
    claims = pyjwt.decode(
        document["token"], pyjwt.PyJWK(jwk).key, algorithms=["RS256"], audience=tokens.AUDIENCE, issuer=ISSUER
    )
    assert claims["sub"] == "acme" and claims["scope"] == "endpoints:read messages:read"
    assert claims["exp"] - claims["iat"] == 120
    assert document["expiresAt"] == tokens.iso_utc(claims["exp"]) and document["expiresAt"].endswith("Z")
    status, default = mint("acme", ["endpoints:read"])
    assert status == 201
    assert pyjwt.decode(default["token"], options={"verify_signature": False})["exp"] - claims["iat"] in range(
        3600, 3610
    )


BAD_MINTS = (
    ({"scopes": []}, "scopes"),
    ({}, "scopes"),
    ({"scopes": ["endpoints:read", "operator"]}, "scopes[1]"),
    ({"scopes": ["endpoints:admin"]}, "scopes[0]"),
    ({"scopes": ["endpoints:read"], "expiresInSeconds": 59}, "expiresInSeconds"),
    ({"scopes": ["endpoints:read"], "expiresInSeconds": 86_401}, "expiresInSeconds"),
    ({"scopes": ["endpoints:read"], "expiresInSeconds": "3600"}, "expiresInSeconds"),
    ({"scopes": ["endpoints:read"], "tenant": "other"}, "tenant"),
)


def test_operator_tokens_come_from_iam_only_and_pass_every_tenant(tokens_on: DeliveryStack) -> None:
    status, document = call("POST", "/operator/tokens", {"expiresInSeconds": 600})
    assert status == 201
    operator = claims_of(document["token"])
    assert operator["sub"] == "operator" and operator["scope"] == "operator"
    assert call("GET", "/tenants/anyone/endpoints", claims=operator)[0] == 200
    # The operator page opens a tenant's portal view: it mints that tenant's token.
    status, minted = call("POST", "/tenants/anyone/tokens", {"scopes": ["endpoints:read"]}, claims=operator)
    assert status == 201 and claims_of(minted["token"])["sub"] == "anyone"
    # No token mints an operator token, and no tenant token mints any token.
    assert call("POST", "/operator/tokens", {}, claims=operator)[0] == 403
    tenant = claims_of(mint("acme", list(routes.TENANT_SCOPES))[1]["token"])
    assert call("POST", "/tenants/acme/tokens", {"scopes": ["endpoints:read"]}, claims=tenant)[0] == 403


def _path(route: routes.Route, tenant: str) -> str:
    return (
        route.path.replace("{tenantId}", tenant).replace("{endpointId}", "ep_" + "0" * 28).replace("{eventId}", "evt_1")
    )


def test_tenant_a_s_token_gets_403_on_every_route_of_tenant_b_in_every_spelling(tokens_on: DeliveryStack) -> None:
    claims = claims_of(mint("acme", list(routes.TENANT_SCOPES))[1]["token"])
    spellings = (
        "bravo",
        "ACME",
        "Acme",
        "acm%65",
        "%61cme",
        "acme%2F..%2Fbravo",
        "acme%00",
        "acme%20",
        "acme.",
        "acme2",
    )
    for route in routes.TENANT_ROUTES:
        for tenant in spellings:
            status, document = call(route.method, _path(route, tenant), {}, claims=claims)
            assert status == 403, (route.key, tenant, document)
        # Its own tenant passes the authorization (whatever the route then answers).
        if route.scope != routes.OPERATOR_SCOPE:
            assert call(route.method, _path(route, "acme"), {}, claims=claims)[0] not in (401, 403), route.key


def test_scopes_are_enforced_per_route(tokens_on: DeliveryStack) -> None:
    for route in routes.TENANT_ROUTES:
        if route.scope == routes.OPERATOR_SCOPE:
            continue
        without = [s for s in routes.TENANT_SCOPES if s != route.scope]
        status, document = call(
            route.method, _path(route, "acme"), {}, claims=claims_of(mint("acme", without)[1]["token"])
        )
        assert status == 403 and document["error"]["code"] == "insufficient_scope", route.key
        status, _ = call(
            route.method, _path(route, "acme"), {}, claims=claims_of(mint("acme", [route.scope])[1]["token"])
        )
        assert status not in (401, 403), route.key
    # The self-service domain without verified claims is a 401; IAM callers are unchanged.
    status, document = call("GET", "/tenants/acme/endpoints", domain=DOMAIN)
    assert status == 401 and document["error"]["code"] == "unauthorized"
    assert call("GET", "/tenants/acme/endpoints")[0] == 200  # IAM API
    assert call("GET", "/.well-known/jwks.json", domain=DOMAIN)[0] == 200  # public


def test_the_key_secret_is_made_once_and_rotation_keeps_the_previous_key_published(
    stack: DeliveryStack, monkeypatch: pytest.MonkeyPatch, pem: str
) -> None:
    status, document = mint("acme", ["endpoints:read"])  # no issuer yet
    assert status == 503 and "DELIVERY_TOKEN_ISSUER" in document["error"]["message"]
    assert call("GET", "/.well-known/jwks.json")[0] == 503
    configure(monkeypatch, TOKEN_ISSUER=ISSUER)
    token_keys.CACHE.clear()
    generated: list[str] = []
    patched = pytest.MonkeyPatch()
    patched.setattr(jws, "generate_private_pem", lambda: generated.append(pem) or pem)
    status, first = mint("acme", ["endpoints:read"])
    assert status == 201 and len(generated) == 1
    assert mint("acme", ["endpoints:read"])[0] == 201 and len(generated) == 1  # read back, not made again
    manager = boto3.client("secretsmanager")
    assert token_keys.read(manager, TABLE).private_pems == (pem,)
    # A second process racing to make it uses the key that won.
    with pytest.raises(manager.exceptions.ResourceExistsException):
        manager.create_secret(Name=token_keys.secret_name(TABLE), SecretString="{}")
    patched.undo()
    old_kid = pyjwt.get_unverified_header(first["token"])["kid"]
    ring = token_keys.rotate(manager, TABLE)
    assert ring.private_pems[1] == pem and ring.current[1] != old_kid
    _, jwks = call("GET", "/.well-known/jwks.json")
    assert [k["kid"] for k in jwks["keys"]] == [ring.current[1], old_kid]  # fresh, not the signing cache
    assert claims_of(first["token"])["sub"] == "acme"  # the old token still verifies
    token_keys.rotate(manager, TABLE)
    _, jwks = call("GET", "/.well-known/jwks.json")
    assert old_kid not in [k["kid"] for k in jwks["keys"]] and len(jwks["keys"]) == 2
    token_keys.CACHE.clear()
