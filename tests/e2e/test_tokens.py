"""Tenant tokens end to end in the running sandbox: ``python -m ops token`` mints through the IAM API,
the self-service API (its URL in the state and outputs files) takes the token for its own tenant
only, within its scopes, and answers the portal's preflight (docs/tokens.md)."""

from __future__ import annotations

import http.client
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jwt as pyjwt
import pytest
import requests

from ops.cli import main as ops_main

pytestmark = pytest.mark.e2e


def _raw_get(base: str, path: str, token: str) -> int:
    """A GET with the path exactly as given (requests would normalize percent-encodings)."""
    parts = urlsplit(base)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=15)
    try:
        connection.request("GET", path, headers={"Authorization": f"Bearer {token}"})
        return connection.getresponse().status
    finally:
        connection.close()


def test_a_minted_token_reaches_its_own_tenant_only_within_its_scopes(
    sandbox_state: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    outputs = json.loads(Path(sandbox_state["outputs_file"]).read_text())
    base = sandbox_state["self_service_api_url"]
    assert outputs["selfServiceApiUrl"] == base != sandbox_state["subscriptions_api"]
    # The operator CLI, in this process (its own process costs seconds of start-up here).
    code = ops_main(
        ["token", "--tenant", "7", "--scopes", "endpoints:read,endpoints:write", "--expires", "10m"]
        + ["--outputs", sandbox_state["outputs_file"]]
    )
    printed = capsys.readouterr()
    assert code == 0, printed.err
    token = printed.out.strip()
    assert token.count(".") == 2 and "\n" not in token  # the token and nothing else

    # PyJWT verifies it with the published JWKS (the discovery document names it).
    discovery = requests.get(f"{base}/.well-known/openid-configuration", timeout=15).json()
    assert discovery["issuer"] == base
    jwks = requests.get(discovery["jwks_uri"], timeout=15).json()
    key = next(k for k in jwks["keys"] if k["kid"] == pyjwt.get_unverified_header(token)["kid"])
    claims = pyjwt.decode(
        token, pyjwt.PyJWK(key).key, algorithms=["RS256"], audience="hookstack-self-service", issuer=base
    )
    assert claims["sub"] == "7" and claims["scope"] == "endpoints:read endpoints:write"
    assert claims["exp"] - claims["iat"] == 600

    bearer = {"Authorization": f"Bearer {token}"}
    listed = requests.get(f"{base}/tenants/7/endpoints", headers=bearer, timeout=15)
    assert listed.status_code == 200, listed.text
    created = requests.post(
        f"{base}/tenants/7/endpoints", headers=bearer, json={"url": "http://127.0.0.1:9999/token-e2e"}, timeout=15
    )
    assert created.status_code == 201, created.text
    assert (
        requests.delete(f"{base}/tenants/7/endpoints/{created.json()['id']}", headers=bearer, timeout=15).status_code
        == 204
    )
    # Another tenant, in any spelling, is 403; a missing scope is 403; no token or a tampered one 401.
    for path in (
        "/tenants/1/endpoints",
        "/tenants/%37/endpoints",
        "/tenants/7%2F..%2F1/endpoints",
        "/tenants/7 /endpoints",
    ):
        assert _raw_get(base, path.replace(" ", "%20"), token) == 403, path
    assert requests.get(f"{base}/tenants/7/attempts", headers=bearer, timeout=15).status_code == 403
    assert requests.get(f"{base}/tenants/7/endpoints", timeout=15).status_code == 401
    assert (
        _raw_get(base, "/tenants/7/endpoints", token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")) == 401
    )
    # The IAM-only route does not exist on the self-service API.
    assert requests.post(f"{base}/operator/tokens", headers=bearer, json={}, timeout=15).status_code == 404
