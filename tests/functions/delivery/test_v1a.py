"""``v1a`` (ed25519) signatures: the key formats, signatures checked by independent ed25519
implementations (PyNaCl's libsodium and ``cryptography``'s OpenSSL), key pairs of API-created
endpoints in Secrets Manager, the public-key route, and deliveries a receiver verifies with it."""

from __future__ import annotations

import base64
import re
import subprocess
import sys
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

from functions.delivery import signing, v1a
from tests.functions.delivery.conftest import DeliveryStack, bus_event
from tests.functions.delivery.receiver import Receiver, Reply

SEED = bytes(range(32))
PRIVATE = v1a.private_key_from_seed(SEED)


def verify(public: str, headers: dict[str, str], body: bytes) -> None:
    """A receiver's check with libsodium: any v1a signature in the header, by the public key."""
    key = VerifyKey(v1a.public_key_bytes(public))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    for entry in headers["webhook-signature"].split(" "):
        version, _, value = entry.partition(",")
        if version == "v1a":
            key.verify(signed, base64.b64decode(value))
            return
    raise AssertionError("no v1a signature")


def test_the_public_key_is_libsodiums() -> None:
    expected = bytes(SigningKey(SEED).verify_key)
    assert v1a.public_key(PRIVATE) == "whpk_" + base64.b64encode(expected).decode()
    # The libsodium form of the secret key (seed || public key) is read as the same key.
    libsodium = "whsk_" + base64.b64encode(SEED + expected).decode()
    assert v1a.public_key(libsodium) == v1a.public_key(PRIVATE)


def test_signatures_verify_with_libsodium_and_openssl() -> None:
    body = b'{"type":"a.b","data":{}}'
    header = signing.delivery_headers([PRIVATE], "evt_1", 1_767_225_600, body, scheme="v1a")
    assert header["webhook-signature"].startswith("v1a,")
    verify(v1a.public_key(PRIVATE), header, body)
    raw = base64.b64decode(header["webhook-signature"].removeprefix("v1a,"))
    Ed25519PublicKey.from_public_bytes(v1a.public_key_bytes(v1a.public_key(PRIVATE))).verify(
        raw, b"evt_1.1767225600." + body
    )
    # ed25519 is deterministic: libsodium makes the very same signature.
    assert raw == SigningKey(SEED).sign(b"evt_1.1767225600." + body).signature
    for tampered in (
        {**header, "webhook-id": "evt_2"},
        {**header, "webhook-timestamp": "1767225601"},
    ):
        with pytest.raises(BadSignatureError):
            verify(v1a.public_key(PRIVATE), tampered, body)
    with pytest.raises(BadSignatureError):
        verify(v1a.public_key(PRIVATE), header, body + b" ")


@pytest.mark.parametrize(
    "value",
    [
        "",
        "whsec_" + base64.b64encode(SEED).decode(),
        "whsk_",
        "whsk_" + base64.b64encode(SEED[:31]).decode(),
        "whsk_" + base64.b64encode(SEED).decode().rstrip("="),  # not canonical
        "whsk_" + base64.b64encode(SEED + bytes(32)).decode(),  # a public half that is not the seed's
        "whsk_" + "%" * 44,
    ],
)
def test_malformed_private_keys_are_refused_without_echoing_them(value: str) -> None:
    with pytest.raises(v1a.KeyFormatError) as error:
        v1a.seed(value)
    assert "AAECAwQF" not in str(error.value)  # the start of SEED's base64: no key material in messages


def test_secret_names_stay_within_what_secrets_manager_allows() -> None:
    name = v1a.secret_name("hookstack-delivery-table", "org:acme.eu", "cfg_crm-abcdef")
    assert name == "hookstack-delivery-table/v1a/org@acme.eu/cfg_crm-abcdef/key"
    for tenant in ("a:b", "A-Z_a.z:0-9", "x" * 64):
        assert re.fullmatch(r"[A-Za-z0-9/_+=.@-]{1,512}", v1a.secret_name("hookstack-delivery-table", tenant, "ep_1"))


def test_handlers_do_not_import_cryptography() -> None:
    code = (
        "import sys, functions.delivery.worker, functions.delivery.api, functions.delivery.fanout;"
        "print([m for m in sys.modules if m.startswith(('cryptography', 'nacl'))])"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


# -- the API and the worker on moto ---------------------------------------------------------------


def _secrets(stack: DeliveryStack) -> Any:
    import boto3

    return boto3.client("secretsmanager")


def test_a_v1a_endpoint_gets_a_key_pair_and_deliveries_verify(stack: DeliveryStack, receiver: Receiver) -> None:
    receiver.script("/v1a", Reply(200))
    created = stack.create_endpoint("1", receiver.url("/v1a"), signing={"scheme": "v1a"})
    public = created["publicKey"]
    assert public.startswith("whpk_") and created["signing"] == {"scheme": "v1a"}
    status, served = stack.api("GET", f"/tenants/1/endpoints/{created['id']}/public-key")
    assert status == 200 and served == {"endpointId": created["id"], "scheme": "v1a", "publicKey": public}
    name = v1a.secret_name("hookstack-delivery-test", "1", created["id"])
    private = _secrets(stack).get_secret_value(SecretId=name)["SecretString"]
    assert private.startswith("whsk_") and v1a.public_key(private) == public
    assert "whsk_" not in str(stack.api("GET", f"/tenants/1/endpoints/{created['id']}")[1])

    stack.publish(bus_event("1", "widget.created", {"n": 1}, event_id="evt_v1a"))
    stack.drain()
    (request,) = receiver.to("/v1a")
    assert request.headers["webhook-signature"].startswith("v1a,")
    verify(public, request.headers, request.body)

    status, _ = stack.api("DELETE", f"/tenants/1/endpoints/{created['id']}")
    assert status == 204
    described = _secrets(stack).describe_secret(SecretId=name)
    assert "DeletedDate" in described  # scheduled for deletion (recoverable for 7 days)


def test_switching_to_v1a_makes_the_key_pair(stack: DeliveryStack) -> None:
    created = stack.create_endpoint("1", "https://hooks.example.com/x")
    status, error = stack.api("GET", f"/tenants/1/endpoints/{created['id']}/public-key")
    assert status == 404 and "no public key" in error["error"]["message"]
    status, patched = stack.api("PATCH", f"/tenants/1/endpoints/{created['id']}", {"signing": {"scheme": "v1a"}})
    assert status == 200 and patched["signing"] == {"scheme": "v1a"}
    status, served = stack.api("GET", f"/tenants/1/endpoints/{created['id']}/public-key")
    assert status == 200 and served["publicKey"].startswith("whpk_")
    # Switching again keeps the same pair (receivers keep their key).
    stack.api("PATCH", f"/tenants/1/endpoints/{created['id']}", {"signing": {"scheme": "v1"}})
    stack.api("PATCH", f"/tenants/1/endpoints/{created['id']}", {"signing": {"scheme": "v1a"}})
    assert stack.api("GET", f"/tenants/1/endpoints/{created['id']}/public-key")[1] == served


@pytest.mark.parametrize("key", ["secret", "previousSecret"])
def test_v1a_refuses_a_given_secret(stack: DeliveryStack, key: str) -> None:
    value = "whsec_" + base64.b64encode(bytes(32)).decode()
    status, error = stack.api(
        "POST", "/tenants/1/endpoints", {"url": "https://hooks.example.com/x", "signing": {"scheme": "v1a", key: value}}
    )
    assert status == 400 and error["error"]["field"] == f"signing.{key}"
    assert value not in error["error"]["message"]


def test_public_key_of_a_missing_endpoint_is_404(stack: DeliveryStack) -> None:
    status, error = stack.api("GET", "/tenants/1/endpoints/ep_missing/public-key")
    assert status == 404 and error["error"]["field"] == "endpointId"
