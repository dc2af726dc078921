"""Config validation of the phase-2 endpoint fields: the breaker's keys, v1a signing, OAuth on
engine worker (its token URL through the SSRF guard), each problem with its key path."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from components.config import StackConfigError, parse_stack_config
from components.specs.delivery import endpoint_options

NS = "hookstack"
SECRET = "whsec_" + base64.b64encode(b"s" * 32).decode()


def _problems(raw: dict[str, Any]) -> list[str]:
    with pytest.raises(StackConfigError) as caught:
        parse_stack_config(raw)
    return [str(p) for p in caught.value.problems]


def _worker(**fields: Any) -> dict[str, Any]:
    return {"tenants": [{"id": "1", "destinations": [{"name": "d", "url": "https://hooks.example.com/x", **fields}]}]}


def _oauth(url: str) -> dict[str, Any]:
    return {"type": "oauth", "authorizationEndpoint": url, "clientId": "c", "clientSecret": "s"}


def test_breaker_keys_default_and_bounds() -> None:
    defaults = parse_stack_config({}).delivery
    assert (defaults.breaker_failure_threshold, defaults.breaker_cooldown_seconds) == (5, 60)
    parsed = parse_stack_config({"delivery": {"breakerFailureThreshold": 1, "breakerCooldownSeconds": 3600}}).delivery
    assert (parsed.breaker_failure_threshold, parsed.breaker_cooldown_seconds) == (1, 3600)
    problems = _problems({"delivery": {"breakerFailureThreshold": 0, "breakerCooldownSeconds": 3601}})
    assert any(p.startswith(f"{NS}:delivery.breakerFailureThreshold:") for p in problems), problems
    assert any(p.startswith(f"{NS}:delivery.breakerCooldownSeconds:") for p in problems), problems


def test_v1a_signing_is_accepted_and_takes_no_secret() -> None:
    destination = (
        parse_stack_config(_worker(signing={"scheme": "v1a"}, auth={"type": "none"})).tenants[0].destinations[0]
    )
    assert destination.signing is not None and destination.signing.scheme == "v1a"
    assert endpoint_options(destination).signing_scheme == "v1a"
    for key in ("secret", "previousSecret"):
        problems = _problems(_worker(signing={"scheme": "v1a", key: SECRET}, auth={"type": "none"}))
        assert any(p.startswith(f"{NS}:tenants[0].destinations[0].signing.{key}: is not taken") for p in problems)
        assert all(SECRET not in p for p in problems)


def test_oauth_on_engine_worker_is_accepted_and_stored_without_its_secret() -> None:
    destination = (
        parse_stack_config(_worker(engine="worker", auth={**_oauth("https://auth.example.com/token"), "scope": "w"}))
        .tenants[0]
        .destinations[0]
    )
    auth = endpoint_options(destination).auth
    assert (auth.type, auth.token_url, auth.client_id, auth.scope) == (
        "oauth",
        "https://auth.example.com/token",
        "c",
        "w",
    )
    assert "clientSecret" not in auth.to_document()


@pytest.mark.parametrize(
    "url", ["https://169.254.169.254/token", "https://10.0.0.1/token", "https://[::ffff:127.0.0.1]/t"]
)
def test_an_oauth_token_url_the_ssrf_guard_refuses_is_a_config_error(url: str) -> None:
    problems = _problems(_worker(engine="worker", auth=_oauth(url)))
    assert any(p.startswith(f"{NS}:tenants[0].destinations[0].auth.authorizationEndpoint:") for p in problems), problems
