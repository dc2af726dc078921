"""OAuth 2.0 client credentials for worker endpoints (``auth: {type: oauth, authorizationEndpoint,
clientId, clientSecret, scope}``): one token fetched for all workers, cached, refreshed before expiry.

- The token request (RFC 6749 section 4.4): ``POST`` to the token URL, form-encoded
  ``grant_type=client_credentials`` (and ``scope``), client id and secret in HTTP Basic auth. It goes
  through the same SSRF guard and pinned connection as a delivery (:mod:`functions.delivery.sender`).
- The client secret lives in Secrets Manager only (:func:`client_secret_name`), read once per
  process and kept :data:`SECRET_CACHE_SECONDS`.
- The token is cached in the process and in the delivery table (:mod:`~.store.tokens`). A token is
  refreshed once :data:`REFRESH_FRACTION` of its life has passed (at least :data:`REFRESH_MARGIN_SECONDS`
  before it expires); one worker takes a lease and fetches, the others keep using the current token
  meanwhile, or, when there is none, wait for the fetching worker up to :data:`LEASE_SECONDS`.
- An endpoint answering 401 drops the token it refused, so the next attempt fetches a new one.

Cost per delivery: nothing while the process's copy is fresh; a ``GetItem`` when a process first
needs it; per refresh, two ``UpdateItem`` and one token request for the whole fleet.
"""

from __future__ import annotations

import base64
import json
import math
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from functions.delivery import sender
from functions.delivery.endpoint_fields import OAUTH
from functions.delivery.store.tokens import CachedToken, TokensTable
from functions.records import record

TYPE = OAUTH
REFRESH_FRACTION = 0.8
REFRESH_MARGIN_SECONDS = 30
DEFAULT_TOKEN_SECONDS = 300  # a token response without expires_in
MAX_TOKEN_SECONDS = 86_400  # a longer promise is still refreshed daily
LEASE_SECONDS = 10.0
WAIT_STEP_SECONDS = 0.2
TOKEN_TIMEOUT_SECONDS = 5.0
MAX_TOKEN_RESPONSE_BYTES = 16_384
SECRET_CACHE_SECONDS = 300.0
ERROR_KIND = "oauth"
_NAME_TRANSLATION = str.maketrans({":": "@"})


class TokenError(Exception):
    """No token could be had (the message names the cause, never a secret)."""


def client_secret_name(table_name: str, tenant_id: str, endpoint_id: str) -> str:
    """The Secrets Manager name of an endpoint's OAuth client secret (``<table>/oauth/`` prefix)."""
    return f"{client_secret_prefix(table_name)}{tenant_id.translate(_NAME_TRANSLATION)}/{endpoint_id}/client-secret"


def client_secret_prefix(table_name: str) -> str:
    return f"{table_name}/{TYPE}/"


@record
class Client:
    """An endpoint's OAuth client, without its secret."""

    token_url: str
    client_id: str
    scope: str | None = None

    def fingerprint(self) -> str:
        """Which client a stored token belongs to (not a secret: no client secret in it)."""
        return "\n".join((self.token_url, self.client_id, self.scope or ""))


def token_request(client: Client, client_secret: str) -> tuple[bytes, dict[str, str]]:
    form = {"grant_type": "client_credentials"}
    if client.scope:
        form["scope"] = client.scope
    basic = base64.b64encode(f"{client.client_id}:{client_secret}".encode()).decode("ascii")
    headers = {
        "content-type": "application/x-www-form-urlencoded",
        "accept": "application/json",
        "authorization": f"Basic {basic}",
        "user-agent": "hookstack-webhooks/1.0",
    }
    return urlencode(form).encode("ascii"), headers


def parse_token_response(response: sender.Response, now_ms: int, client: str = "") -> CachedToken:
    """The token in a token endpoint's answer; :class:`TokenError` for anything else."""
    if response.status is None:
        raise TokenError(f"token request failed: {response.error}")
    if response.status != 200:
        raise TokenError(f"token endpoint answered HTTP {response.status}")
    if response.truncated:
        raise TokenError(f"token response larger than {MAX_TOKEN_RESPONSE_BYTES} bytes")
    try:
        document = json.loads(response.body)
    except ValueError:
        raise TokenError("token response is not JSON") from None
    if not isinstance(document, dict):
        raise TokenError("token response is not a JSON object")
    token, kind = document.get("access_token"), document.get("token_type", "Bearer")
    if not isinstance(token, str) or not token or not token.isascii() or not token.isprintable() or " " in token:
        raise TokenError("token response has no usable access_token")
    if not isinstance(kind, str) or kind.lower() != "bearer":
        raise TokenError("token_type must be Bearer")
    lifetime = document.get("expires_in", DEFAULT_TOKEN_SECONDS)
    if isinstance(lifetime, str) and lifetime.isascii() and lifetime.isdigit() and len(lifetime) <= 10:
        lifetime = int(lifetime)  # ASCII only: "²".isdigit() holds and int() refuses it
    if isinstance(lifetime, float) and math.isfinite(lifetime) and lifetime >= 1:
        lifetime = int(min(lifetime, MAX_TOKEN_SECONDS))  # a JSON number may have a fraction (3599.9)
    if not isinstance(lifetime, int) or isinstance(lifetime, bool) or lifetime <= 0:
        raise TokenError("expires_in must be a positive number of seconds")
    lifetime_ms = min(lifetime, MAX_TOKEN_SECONDS) * 1000
    refresh_after = min(int(lifetime_ms * REFRESH_FRACTION), lifetime_ms - REFRESH_MARGIN_SECONDS * 1000)
    return CachedToken(token, now_ms + lifetime_ms, now_ms + max(0, refresh_after), client)


Fetch = Callable[[Client, str], sender.Response]


class TokenSource:
    """Tokens per (tenant, endpoint) for one process, shared with the others through the table."""

    def __init__(
        self,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._clock, self._sleep = clock, sleep
        self._tokens: dict[tuple[str, str, str], CachedToken] = {}
        self._secrets: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()

    def bearer(
        self,
        table: TokensTable,
        tenant_id: str,
        endpoint_id: str,
        client: Client,
        client_secret: Callable[[], str],
        fetch: Fetch,
    ) -> str:
        """A valid access token for the endpoint; :class:`TokenError` when none can be had."""
        # A changed client (token URL, id, scope) never uses the old client's token.
        key = (tenant_id, endpoint_id, client.fingerprint())
        now_ms = self._now_ms()
        with self._lock:
            local = self._tokens.get(key)
        if local is not None and now_ms < local.refresh_at_ms:
            return local.value
        stored, lease = table.get_token(tenant_id, endpoint_id)
        if stored is not None and stored.client != client.fingerprint():
            stored = None
        if stored is not None and now_ms < stored.refresh_at_ms:
            return self._keep(key, stored)
        until_ms = now_ms + int(LEASE_SECONDS * 1000)
        if table.take_token_lease(tenant_id, endpoint_id, now_ms, until_ms, client.fingerprint()):
            try:
                fresh = parse_token_response(fetch(client, client_secret()), self._now_ms(), client.fingerprint())
            except Exception as error:
                table.release_token_lease(tenant_id, endpoint_id, until_ms)  # the others need not wait it out
                if not isinstance(error, TokenError):
                    raise
                if stored is not None and self._now_ms() < stored.expires_at_ms:
                    return self._keep(key, stored)  # still valid: retry the refresh next time
                raise
            table.put_token(tenant_id, endpoint_id, fresh)
            return self._keep(key, fresh)
        if stored is not None and now_ms < stored.expires_at_ms:
            return self._keep(key, stored)  # another worker is refreshing it
        deadline = (lease or until_ms) / 1000
        while True:
            stored, _ = table.get_token(tenant_id, endpoint_id)
            if stored is not None and stored.client == client.fingerprint() and self._now_ms() < stored.expires_at_ms:
                return self._keep(key, stored)
            if self._clock() >= deadline:
                raise TokenError("another worker's token request did not finish in time")
            self._sleep(WAIT_STEP_SECONDS)

    def forget(self, table: TokensTable, tenant_id: str, endpoint_id: str, value: str) -> None:
        """The endpoint refused ``value`` (401): no worker uses it again."""
        with self._lock:
            for key in [k for k, t in self._tokens.items() if k[:2] == (tenant_id, endpoint_id) and t.value == value]:
                del self._tokens[key]
        table.forget_token(tenant_id, endpoint_id, value)

    def client_secret(self, secretsmanager: Any, name: str) -> str:
        now = self._clock()
        with self._lock:
            cached = self._secrets.get(name)
        if cached is not None and now - cached[0] < SECRET_CACHE_SECONDS:
            return cached[1]
        value = str(secretsmanager.get_secret_value(SecretId=name)["SecretString"])
        with self._lock:
            self._secrets[name] = (now, value)
        return value

    def _keep(self, key: tuple[str, str, str], token: CachedToken) -> str:
        with self._lock:
            self._tokens[key] = token
        return token.value

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)


tokens = TokenSource()


# -- the worker's hooks ------------------------------------------------------------------------------


def client_of(auth: Any) -> Client:
    """The :class:`Client` of an endpoint's ``oauth`` :class:`~functions.delivery.store.EndpointAuth`."""
    if not auth.token_url or not auth.client_id:
        raise TokenError("the endpoint's oauth auth has no token URL or client id stored")
    return Client(auth.token_url, auth.client_id, auth.scope)


def with_access_token(
    table: TokensTable,
    secretsmanager: Any,
    table_name: str,
    allowed: Any,
    tenant_id: str,
    endpoint_id: str,
    auth: Any,
    secrets: Any,
) -> tuple[Any, sender.Response | None]:
    """The endpoint's secrets with the access token as the auth's value, or the failed attempt's
    response when no token can be had (retried on the schedule: error kind ``oauth``)."""
    import dataclasses

    def fetch(client: Client, client_secret: str) -> sender.Response:
        body, headers = token_request(client, client_secret)
        return sender.post(
            client.token_url,
            body,
            headers,
            timeout=TOKEN_TIMEOUT_SECONDS,
            allowed=allowed,
            max_response_bytes=MAX_TOKEN_RESPONSE_BYTES,
        )

    name = client_secret_name(table_name, tenant_id, endpoint_id)

    def client_secret() -> str:
        try:
            return tokens.client_secret(secretsmanager, name)
        except secretsmanager.exceptions.ResourceNotFoundException:
            # Deleted outside the API: an attempt that says so, retried (a PATCH of auth stores it again).
            raise TokenError(f"no client secret {name} in Secrets Manager") from None

    try:
        token = tokens.bearer(table, tenant_id, endpoint_id, client_of(auth), client_secret, fetch)
    except TokenError as error:
        return secrets, sender.Response(None, 0, error=f"oauth: {error}", error_kind=ERROR_KIND)
    return dataclasses.replace(secrets, auth_secret=token), None


def after_response(table: TokensTable, tenant_id: str, endpoint_id: str, token: str | None, status: int | None) -> None:
    if token is not None and status == 401:
        tokens.forget(table, tenant_id, endpoint_id, token)
