"""``python -m ops reauthorize``: UpdateConnection with the credential from stdin, never echoed."""

from __future__ import annotations

from typing import Any

import pytest

from ops.outputs import OpsError
from ops.reauthorize import update_request
from tests.ops.conftest import MotoStack


def test_reauthorize_updates_the_connection_with_stdin_and_never_prints_it(stack: MotoStack) -> None:
    stack.set_connection_state("1/crm", "DEAUTHORIZED")
    secret = "new-key-5f3a9c"

    result = stack.run("reauthorize", "1/crm", stdin=secret + "\n")

    assert result.code == 0, result.err
    name = stack.destinations["1/crm"]["connection"]
    # moto keeps what UpdateConnection sent (and does not change the state: AWS re-authorizes).
    assert stack.backend().connections[name].auth_parameters == {
        "ApiKeyAuthParameters": {"ApiKeyName": "x-api-key", "ApiKeyValue": secret}
    }
    assert secret not in result.out + result.err
    assert name in result.out


def test_an_empty_credential_is_refused_before_any_update(stack: MotoStack) -> None:
    result = stack.run("reauthorize", "1/crm", stdin="\n")

    assert result.code == 2
    assert "must be 1-512 characters" in result.err
    name = stack.destinations["1/crm"]["connection"]
    assert stack.backend().connections[name].auth_parameters["ApiKeyAuthParameters"]["ApiKeyValue"] == "old-key"


@pytest.mark.parametrize("stdin", ["key-one\nkey-two\n", "tab\there\n", "nul\x00\n"])
def test_a_credential_with_control_characters_is_refused_before_any_update(stack: MotoStack, stdin: str) -> None:
    result = stack.run("reauthorize", "1/crm", stdin=stdin)

    assert result.code == 2
    assert "must not contain control characters" in result.err
    assert stdin.strip() not in result.err
    name = stack.destinations["1/crm"]["connection"]
    assert stack.backend().connections[name].auth_parameters["ApiKeyAuthParameters"]["ApiKeyValue"] == "old-key"


@pytest.mark.parametrize(
    ("described", "expected"),
    [
        (
            {"AuthorizationType": "BASIC", "AuthParameters": {"BasicAuthParameters": {"Username": "hookstack"}}},
            {"BasicAuthParameters": {"Username": "hookstack", "Password": "s"}},
        ),
        (
            {
                "AuthorizationType": "OAUTH_CLIENT_CREDENTIALS",
                "AuthParameters": {
                    "OAuthParameters": {
                        "ClientParameters": {"ClientID": "client-2"},
                        "AuthorizationEndpoint": "https://auth.example.net/token",
                        "HttpMethod": "POST",
                    }
                },
            },
            {"OAuthParameters": {"ClientParameters": {"ClientID": "client-2", "ClientSecret": "s"}}},
        ),
    ],
)
def test_request_keeps_the_deployed_non_secret_half(described: dict[str, Any], expected: dict[str, Any]) -> None:
    request = update_request({"Name": "c", **described}, "s")

    assert request == {"Name": "c", "AuthorizationType": described["AuthorizationType"], "AuthParameters": expected}


def test_unknown_authorization_type_is_refused() -> None:
    with pytest.raises(OpsError, match="not one hookstack deploys"):
        update_request({"Name": "c", "AuthorizationType": "DIGEST"}, "s")
