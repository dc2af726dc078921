"""OAuth client credentials on worker endpoints: the token response rules, one token shared by
many workers through the table (injected clocks, no sleeping), and deliveries through the pipeline
with the client secret in Secrets Manager only."""

from __future__ import annotations

import base64
import json
import zlib
from collections.abc import Iterator
from typing import Any

import pytest

from functions.delivery import oauth, schema, sender, store
from functions.delivery.store.tokens import CachedToken
from tests.functions.delivery.conftest import TABLE, DeliveryStack, bus_event
from tests.functions.delivery.receiver import Receiver, Reply

NOW = 1_700_000_000.0
CLIENT = oauth.Client("https://auth.example.com/token", "client-1", "hooks.write")


def answer(status: int = 200, **document: Any) -> sender.Response:
    return sender.Response(status, 5, body=json.dumps(document).encode())


# -- the token response ------------------------------------------------------------------------------


def test_a_token_is_refreshed_well_before_it_expires() -> None:
    token = oauth.parse_token_response(answer(access_token="t1", token_type="bearer", expires_in=3600), 0)
    assert token == CachedToken("t1", 3_600_000, 2_880_000)  # 80 % of its life
    short = oauth.parse_token_response(answer(access_token="t1", expires_in="60"), 0)
    assert short.refresh_at_ms == 30_000  # at least 30 s before expiry
    assert oauth.parse_token_response(answer(access_token="t1"), 0).expires_at_ms == 300_000  # no expires_in
    capped = oauth.parse_token_response(answer(access_token="t1", expires_in=10**9), 0)
    assert capped.expires_at_ms == oauth.MAX_TOKEN_SECONDS * 1000
    assert "t1" not in repr(token)


@pytest.mark.parametrize(
    ("response", "message"),
    [
        (sender.Response(None, 5, error="connect timed out", error_kind="timeout"), "token request failed"),
        (answer(401, error="invalid_client"), "HTTP 401"),
        (sender.Response(200, 5, body=b"<html>"), "not JSON"),
        (answer(200), "no usable access_token"),
        (answer(access_token="a b"), "no usable access_token"),
        (answer(access_token="t\r\nx-evil: 1"), "no usable access_token"),
        (answer(access_token="t", token_type="mac"), "Bearer"),
        (answer(access_token="t", expires_in=0), "expires_in"),
        (answer(access_token="t", expires_in=True), "expires_in"),
        (answer(access_token="t", expires_in="²"), "expires_in"),  # isdigit() holds; int() raised ValueError
        (answer(access_token="t", expires_in="٣"), "expires_in"),
        (answer(access_token="t", expires_in="9" * 5000), "expires_in"),
    ],
)
def test_unusable_token_responses_are_errors(response: sender.Response, message: str) -> None:
    with pytest.raises(oauth.TokenError, match=message):
        oauth.parse_token_response(response, 0)


@pytest.mark.parametrize(("expires_in", "seconds"), [(3599.9, 3599), (1.0, 1), (1e300, oauth.MAX_TOKEN_SECONDS)])
def test_a_fractional_expires_in_counts_in_whole_seconds(expires_in: float, seconds: int) -> None:
    token = oauth.parse_token_response(answer(access_token="t", expires_in=expires_in), 0)
    assert token.expires_at_ms == seconds * 1000


@pytest.mark.parametrize("expires_in", [0.5, float("nan"), float("inf"), -3.0])
def test_an_expires_in_that_is_no_lifetime_is_an_error(expires_in: float) -> None:
    with pytest.raises(oauth.TokenError, match="expires_in"):
        oauth.parse_token_response(answer(access_token="t", expires_in=expires_in), 0)


def test_the_token_request_is_client_credentials_with_basic_auth() -> None:
    body, headers = oauth.token_request(CLIENT, "s3cret")
    assert body == b"grant_type=client_credentials&scope=hooks.write"
    assert headers["authorization"] == "Basic " + base64.b64encode(b"client-1:s3cret").decode()
    assert headers["content-type"] == "application/x-www-form-urlencoded"


# -- one token for every worker ------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def table(aws: None) -> Iterator[store.DeliveryTable]:
    import boto3

    client = boto3.client("dynamodb")
    client.create_table(**schema.create_table_request(TABLE))
    yield store.DeliveryTable(client, TABLE)


class TokenServer:
    def __init__(self, clock: Clock) -> None:
        self.calls = 0
        self.clock = clock
        self.fail = False

    def __call__(self, client: oauth.Client, secret: str) -> sender.Response:
        assert secret == "s3cret"
        self.calls += 1
        if self.fail:
            return answer(503)
        return answer(access_token=f"tok-{self.calls}", expires_in=100)


def _bearer(source: oauth.TokenSource, table: store.DeliveryTable, server: TokenServer) -> str:
    return source.bearer(table, "t", "ep", CLIENT, lambda: "s3cret", server)


def test_many_workers_fetch_one_token_and_refresh_it_once(table: store.DeliveryTable) -> None:
    clock = Clock()
    server = TokenServer(clock)
    workers = [oauth.TokenSource(clock, clock.sleep) for _ in range(3)]
    assert {_bearer(w, table, server) for w in workers for _ in range(5)} == {"tok-1"}
    assert server.calls == 1
    clock.now += 81  # past the refresh point (80 s of 100), still valid
    assert {_bearer(w, table, server) for w in workers} == {"tok-2"}
    assert server.calls == 2


def test_while_one_worker_refreshes_the_others_use_the_current_token(table: store.DeliveryTable) -> None:
    clock = Clock()
    server = TokenServer(clock)
    first, second = oauth.TokenSource(clock, clock.sleep), oauth.TokenSource(clock, clock.sleep)
    assert _bearer(first, table, server) == "tok-1"
    clock.now += 81
    assert table.take_token_lease("t", "ep", int(clock.now * 1000), int(clock.now * 1000) + 10_000)  # another worker
    assert _bearer(second, table, server) == "tok-1" and server.calls == 1


def test_without_a_token_a_worker_waits_for_the_one_fetching(table: store.DeliveryTable) -> None:
    clock = Clock()
    server = TokenServer(clock)
    now_ms = int(NOW * 1000)
    assert table.take_token_lease("t", "ep", now_ms, now_ms + 10_000)

    def sleep(seconds: float) -> None:  # the other worker finishes while this one waits
        clock.sleep(seconds)
        if clock.now >= NOW + 1:
            table.put_token(
                "t", "ep", CachedToken("from-other", now_ms + 100_000, now_ms + 80_000, CLIENT.fingerprint())
            )

    assert oauth.TokenSource(clock, sleep).bearer(table, "t", "ep", CLIENT, lambda: "s3cret", server) == "from-other"
    assert server.calls == 0


def test_a_waiting_worker_gives_up_after_the_lease(table: store.DeliveryTable) -> None:
    clock = Clock()
    now_ms = int(NOW * 1000)
    table.take_token_lease("t", "ep", now_ms, now_ms + 10_000)
    with pytest.raises(oauth.TokenError, match="did not finish in time"):
        _bearer(oauth.TokenSource(clock, clock.sleep), table, TokenServer(clock))
    assert NOW + oauth.LEASE_SECONDS <= clock.now < NOW + oauth.LEASE_SECONDS + 1


def test_a_failed_refresh_keeps_the_valid_token_and_frees_the_lease(table: store.DeliveryTable) -> None:
    clock = Clock()
    server = TokenServer(clock)
    source = oauth.TokenSource(clock, clock.sleep)
    assert _bearer(source, table, server) == "tok-1"
    clock.now += 81
    server.fail = True
    assert _bearer(source, table, server) == "tok-1"  # still valid for 19 s
    assert table.get_token("t", "ep")[1] is None  # lease given back: the next attempt tries again
    clock.now += 20  # expired
    with pytest.raises(oauth.TokenError, match="HTTP 503"):
        _bearer(source, table, server)


def test_a_refused_token_is_forgotten_by_every_worker(table: store.DeliveryTable) -> None:
    clock = Clock()
    server = TokenServer(clock)
    source = oauth.TokenSource(clock, clock.sleep)
    assert _bearer(source, table, server) == "tok-1"
    source.forget(table, "t", "ep", "tok-1")
    assert table.get_token("t", "ep")[0] is None
    assert _bearer(oauth.TokenSource(clock, clock.sleep), table, server) == "tok-2"


# -- the API and the pipeline --------------------------------------------------------------------------


def _oauth(url: str, **extra: Any) -> dict[str, Any]:
    return {"type": "oauth", "authorizationEndpoint": url, "clientId": "client-1", "clientSecret": "s3cret", **extra}


def test_deliveries_share_one_token_and_the_secret_stays_in_secrets_manager(
    stack: DeliveryStack, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(oauth, "tokens", oauth.TokenSource())
    receiver.script("/token", Reply(200, body=b'{"access_token":"tok-abc","token_type":"Bearer","expires_in":3600}'))
    receiver.script("/hook", Reply(200))
    endpoint = stack.create_endpoint("1", receiver.url("/hook"), auth=_oauth(receiver.url("/token"), scope="w"))
    assert endpoint["auth"] == {
        "type": "oauth",
        "authorizationEndpoint": receiver.url("/token"),
        "clientId": "client-1",
        "scope": "w",
    }
    stack.publish(*(bus_event("1", "widget.created", event_id=f"evt_o{n}") for n in range(6)))
    stack.drain()
    hooks = receiver.to("/hook")
    assert len(hooks) == 6 and {r.headers["authorization"] for r in hooks} == {"Bearer tok-abc"}
    # One token request, plus one per attempt whose token request failed (timed out on a loaded machine).
    _, page = stack.api("GET", f"/tenants/1/endpoints/{endpoint['id']}/attempts", query={"limit": "100"})
    failed_fetches = sum(1 for a in page["data"] if (a.get("error") or "").startswith("oauth:"))
    assert len(receiver.to("/token")) == 1 + failed_fetches
    assert all(r.body == b"grant_type=client_credentials&scope=w" for r in receiver.to("/token"))
    import boto3

    name = oauth.client_secret_name(TABLE, "1", endpoint["id"])
    assert boto3.client("secretsmanager").get_secret_value(SecretId=name)["SecretString"] == "s3cret"
    # Binary attributes are compressed message bodies (docs/delivery.md, "Cost"): searched uncompressed.
    unpacked = json.dumps(stack.dynamodb.scan(TableName=TABLE)["Items"], default=lambda b: zlib.decompress(b).decode())
    assert "s3cret" not in unpacked


def test_a_token_endpoint_that_is_down_retries_the_delivery(
    stack: DeliveryStack, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(oauth, "tokens", oauth.TokenSource())
    receiver.script("/token", Reply(503), Reply(200, body=b'{"access_token":"tok-2","expires_in":60}'))
    receiver.script("/hook", Reply(200))
    stack.create_endpoint("1", receiver.url("/hook"), auth=_oauth(receiver.url("/token")))
    stack.publish(bus_event("1", "widget.created", event_id="evt_down"))
    stack.drain()
    (hook,) = receiver.to("/hook")
    assert hook.headers["authorization"] == "Bearer tok-2"
    assert stack.dead_letters() == []


def test_a_client_secret_read_that_fails_frees_the_lease(table: store.DeliveryTable) -> None:
    clock = Clock()

    def unreadable() -> str:
        raise RuntimeError("Secrets Manager throttled")

    with pytest.raises(RuntimeError):
        oauth.TokenSource(clock, clock.sleep).bearer(table, "t", "ep", CLIENT, unreadable, TokenServer(clock))
    assert table.get_token("t", "ep")[1] is None  # the other workers need not wait for a lease nobody holds


def test_a_deleted_client_secret_is_a_recorded_attempt_not_a_crashing_task(
    stack: DeliveryStack, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3

    monkeypatch.setattr(oauth, "tokens", oauth.TokenSource())
    endpoint = stack.create_endpoint("1", receiver.url("/hook"), auth=_oauth(receiver.url("/token")))
    name = oauth.client_secret_name(TABLE, "1", endpoint["id"])
    boto3.client("secretsmanager").delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)
    stack.publish(bus_event("1", "widget.created", event_id="evt_nosecret"))
    stack.drain()
    assert receiver.requests == []
    _, page = stack.api("GET", f"/tenants/1/endpoints/{endpoint['id']}/attempts", query={"limit": "100"})
    assert page["data"] and all(f"oauth: no client secret {name}" in a["error"] for a in page["data"])
    status, message = stack.api("GET", "/tenants/1/messages/evt_nosecret")
    assert status == 200 and message["deliveries"][0]["status"] == "failed"
    assert [letter["eventId"] for letter in stack.dead_letters()] == ["evt_nosecret"]


@pytest.mark.parametrize(
    ("auth", "field", "message"),
    [
        ({"type": "oauth", "clientId": "c", "clientSecret": "s"}, "auth.authorizationEndpoint", "is required"),
        (_oauth("https://hooks.example.com/t", tokenUrl="https://x"), "auth.tokenUrl", "send one of them"),
        ({**_oauth("https://hooks.example.com/t"), "clientSecret": None}, "auth.clientSecret", "1-4096"),
        ({**_oauth("https://hooks.example.com/t"), "clientId": "a:b"}, "auth.clientId", "without ':'"),
        (_oauth("https://hooks.example.com/t", audience="x"), "auth.audience", "unknown field"),
        (_oauth("http://hooks.example.com/t"), "auth.authorizationEndpoint", "https"),
        (_oauth("https://169.254.169.254/latest"), "auth.authorizationEndpoint", ""),
        (_oauth("https://translated.example.com/t"), "auth.authorizationEndpoint", ""),
    ],
)
def test_oauth_fields_are_validated_by_name(
    stack: DeliveryStack, auth: dict[str, Any], field: str, message: str
) -> None:
    status, error = stack.api("POST", "/tenants/1/endpoints", {"url": "https://hooks.example.com/x", "auth": auth})
    assert status == 400, error
    assert error["error"]["field"] == field and message in error["error"]["message"]
    assert "s3cret" not in error["error"]["message"]


def test_token_url_alias_and_changing_the_secret(stack: DeliveryStack) -> None:
    import boto3

    created = stack.create_endpoint(
        "1",
        "https://hooks.example.com/x",
        auth={"type": "oauth", "tokenUrl": "https://hooks.example.com/t", "clientId": "c", "clientSecret": "one"},
    )
    assert created["auth"]["authorizationEndpoint"] == "https://hooks.example.com/t"
    new_auth = {"type": "oauth", "tokenUrl": "https://hooks.example.com/t", "clientId": "c", "clientSecret": "two"}
    status, _ = stack.api("PATCH", f"/tenants/1/endpoints/{created['id']}", {"auth": new_auth})
    assert status == 200
    name = oauth.client_secret_name(TABLE, "1", created["id"])
    assert boto3.client("secretsmanager").get_secret_value(SecretId=name)["SecretString"] == "two"
    assert stack.api("DELETE", f"/tenants/1/endpoints/{created['id']}")[0] == 204
    assert "DeletedDate" in boto3.client("secretsmanager").describe_secret(SecretId=name)


def test_a_changed_client_never_uses_the_old_clients_token(table: store.DeliveryTable) -> None:
    clock = Clock()
    server = TokenServer(clock)
    source = oauth.TokenSource(clock, clock.sleep)
    assert _bearer(source, table, server) == "tok-1"
    other = oauth.Client(CLIENT.token_url, "client-2", CLIENT.scope)
    for worker in (source, oauth.TokenSource(clock, clock.sleep)):  # this process, and another
        assert worker.bearer(table, "t", "ep", other, lambda: "s3cret", server) == f"tok-{server.calls}"
    assert server.calls == 2


def test_a_token_stored_since_a_worker_looked_is_not_fetched_again(table: store.DeliveryTable) -> None:
    # Worker B found no token; worker A stored one (and gave its lease back) before B asked for the lease.
    now_ms = int(NOW * 1000)
    fresh = CachedToken("from-a", now_ms + 100_000, now_ms + 80_000, CLIENT.fingerprint())
    table.put_token("t", "ep", fresh)
    assert not table.take_token_lease("t", "ep", now_ms, now_ms + 10_000, CLIENT.fingerprint())
    # A token of another client, or one due for refresh, does not stand in the way.
    assert table.take_token_lease("t", "ep", now_ms, now_ms + 10_000, "another client")
    table.release_token_lease("t", "ep", now_ms + 10_000)
    assert table.take_token_lease("t", "ep", now_ms + 80_000, now_ms + 90_000, CLIENT.fingerprint())
