"""Config-declared worker endpoints' Secrets Manager secrets (v1a keys, OAuth client secrets), the
public keys (table items and the ``signingPublicKeys`` output) and the crypto layer, under Pulumi mocks."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest
from nacl.signing import SigningKey

from components.plan import resource_key
from functions.delivery import oauth, v1a
from sandbox.preview import Program
from tests import harness
from tests.harness import contains_text, is_secret, reveal

SECRET = "aws:secretsmanager/secret:Secret"
VERSION = "aws:secretsmanager/secretVersion:SecretVersion"
V1A = {
    "name": "ledger",
    "url": "https://ledger.example.com/hooks",
    "signing": {"scheme": "v1a"},
    "auth": {"type": "none"},
}
OAUTH = {
    "name": "crm",
    "url": "https://crm.example.com/hooks",
    "engine": "worker",
    "auth": {
        "type": "oauth",
        "authorizationEndpoint": "https://auth.example.com/token",
        "clientId": "hookstack",
        "clientSecret": "oauth-client-secret",
        "scope": "hooks",
    },
}


@pytest.fixture(autouse=True)
def random_bytes_in_mocks(monkeypatch: pytest.MonkeyPatch) -> None:
    original = harness._computed

    def computed(typ: str, logical: str, inputs: Any) -> dict[str, Any]:
        state = original(typ, logical, inputs)
        if typ == "random:index/randomBytes:RandomBytes":
            raw = hashlib.sha256(logical.encode()).digest()[: int(inputs["length"])]
            state.update(base64=base64.b64encode(raw).decode(), hex=raw.hex())
        return state

    monkeypatch.setattr(harness, "_computed", computed)


@pytest.fixture
def deployed(program: Any) -> Program:
    tenants = [{"id": "acme:eu", "destinations": [V1A, OAUTH]}]
    return program({"tenants": tenants}, secret_keys=["hookstack:tenants[0].destinations[1].auth.clientSecret"])


def test_a_v1a_destination_gets_its_key_in_secrets_manager_and_its_public_key_exported(deployed: Program) -> None:
    table = deployed.one("aws:dynamodb/table:Table").physical_name
    seed = hashlib.sha256(f"hookstack-delivery-{resource_key('acme:eu', 'ledger')}-v1a-seed".encode()).digest()
    expected_public = "whpk_" + base64.b64encode(bytes(SigningKey(seed).verify_key)).decode()

    secret = deployed.one(SECRET, lambda r: "v1a-key" in r.name)
    assert secret["name"] == v1a.secret_name(table, "acme:eu", "cfg_ledger") == f"{table}/v1a/acme@eu/cfg_ledger/key"
    version = deployed.one(VERSION, lambda r: "v1a-key" in r.name)
    assert is_secret(version["secretString"])
    assert reveal(version["secretString"]) == "whsk_" + base64.b64encode(seed).decode()

    assert deployed.outputs["signingPublicKeys"] == {"acme:eu": {"ledger": expected_public}}
    assert "signingPublicKeys" not in deployed.secret_outputs  # a public key is not a secret
    item = deployed.one("aws:dynamodb/tableItem:TableItem", lambda r: "public-key" in r.name)
    assert json.loads(item["item"])["publicKey"] == {"S": expected_public}
    assert not contains_text(deployed.outputs, "whsk_")


def test_an_oauth_destination_keeps_its_client_secret_in_secrets_manager_only(deployed: Program) -> None:
    table = deployed.one("aws:dynamodb/table:Table").physical_name
    secret = deployed.one(SECRET, lambda r: "oauth-client-secret" in r.name)
    assert secret["name"] == oauth.client_secret_name(table, "acme:eu", "cfg_crm")
    version = deployed.one(VERSION, lambda r: "oauth-client-secret" in r.name)
    assert is_secret(version["secretString"]) and reveal(version["secretString"]) == "oauth-client-secret"
    definition = deployed.one(
        "aws:dynamodb/tableItem:TableItem", lambda r: r.name.endswith("-endpoint") and "cfg_crm" in str(r["item"])
    )
    assert json.loads(definition["item"])["auth"]["M"] == {
        "type": {"S": "oauth"},
        "authorizationEndpoint": {"S": "https://auth.example.com/token"},
        "clientId": {"S": "hookstack"},
        "scope": {"S": "hooks"},
    }
    for item in deployed.of_type("aws:dynamodb/tableItem:TableItem"):
        assert not contains_text(item.state, "oauth-client-secret")
        assert "oauth-client-secret" not in json.dumps(reveal(item["item"]))


def test_the_crypto_layer_is_on_the_api_and_the_worker_only(deployed: Program) -> None:
    layer = deployed.one("aws:lambda/layerVersion:LayerVersion")
    assert layer["compatibleArchitectures"] == ["arm64"] and layer["compatibleRuntimes"] == ["python3.12"]
    for part, attached in (("api", True), ("worker", True), ("fanout", False)):
        function = deployed.named(f"hookstack-delivery-{part}-fn")
        assert (function.get("layers") == [layer.arn]) is attached, part
    others = [f for f in deployed.of_type("aws:lambda/function:Function") if "delivery" not in f.name]
    assert all(not f.get("layers") for f in others)
