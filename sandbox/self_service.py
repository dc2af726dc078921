"""The sandbox's self-service API: the subscription API for tenant tokens, as ``SignedDelivery``'s
second HTTP API serves it (docs/tokens.md).

A :class:`SelfServiceGate` stands where API Gateway's JWT authorizer and CORS configuration stand:
it answers preflight, declares the same routes (the route table's token routes with their scopes,
and the public discovery routes; IAM-only routes do not exist here: 404), takes ``Authorization:
Bearer <token>``, verifies it with :func:`functions.delivery.jws.verify` against the JWKS the API
itself publishes (fetched through the handler as API Gateway fetches it, again at an unknown
``kid``), answers 401 or 403 with API Gateway's bodies, and passes the verified claims to the real
handler as ``requestContext.authorizer.jwt``. The handler then runs
:func:`functions.delivery.tokens.authorize` (tenant and scope), exactly as on AWS.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from functions.delivery import jws, routes, tokens
from sandbox.lambda_http import GateDecision, LambdaContext, build_event, response_parts

# At most one JWKS refetch per interval for unknown kids (a token with a random kid cannot make
# every request read Secrets Manager).
JWKS_REFRESH_SECONDS = 5.0


def _json(status: int, document: Any, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    return status, {"content-type": "application/json", **(headers or {})}, json.dumps(document).encode()


class SelfServiceGate:
    def __init__(
        self, handler: Callable[[dict[str, Any], Any], Any], *, issuer: Callable[[], str], function_name: str
    ) -> None:
        self.handler = handler
        self.issuer = issuer
        self.function_name = function_name
        self.allowed_origins: list[str] = []
        """Origins allowed to call with CORS (the portal's); ``*`` allows any."""
        self._lock = threading.Lock()
        self._keys: list[dict[str, Any]] = []
        self._fetched_at = float("-inf")

    # -- CORS -----------------------------------------------------------------------------------------

    def _cors(self, headers: dict[str, str]) -> dict[str, str]:
        origin = headers.get("origin")
        if not origin:
            return {}
        if "*" in self.allowed_origins:
            return {"access-control-allow-origin": "*"}
        if origin in self.allowed_origins:
            return {"access-control-allow-origin": origin, "vary": "origin"}
        return {}

    def _preflight(self, headers: dict[str, str]) -> GateDecision:
        allowed = self._cors(headers)
        if allowed:
            allowed.update(
                {
                    "access-control-allow-methods": ",".join(tokens.cors_methods()),
                    "access-control-allow-headers": ",".join(tokens.CORS_ALLOW_HEADERS),
                    "access-control-max-age": str(tokens.CORS_MAX_AGE_SECONDS),
                }
            )
        return GateDecision(response=(204, allowed, b""))

    # -- the authorizer ---------------------------------------------------------------------------------

    def __call__(self, method: str, target: str, headers: dict[str, str]) -> GateDecision:
        cors = self._cors(headers)
        if method == "OPTIONS" and "access-control-request-method" in headers:
            return self._preflight(headers)
        try:
            route, _ = routes.match(method, urlsplit(target).path)
        except routes.NoRoute:
            return GateDecision(response=_json(404, {"message": "Not Found"}, cors))
        if route.public:
            return GateDecision(headers=cors)
        if route.scope is None:  # IAM-only: the self-service API does not declare it
            return GateDecision(response=_json(404, {"message": "Not Found"}, cors))
        token = bearer(headers.get("authorization"))
        if token is None:
            return self._unauthorized("the request has no bearer token", cors)
        try:
            claims = self.verify(token)
        except jws.InvalidToken as error:
            return self._unauthorized(str(error), cors)
        scopes = str(claims.get("scope") or "").split()
        if not set(scopes).intersection(route.token_scopes):
            challenge = f'Bearer scope="{" ".join(route.token_scopes)}" error="insufficient_scope"'
            return GateDecision(response=_json(403, {"message": "Forbidden"}, {**cors, "www-authenticate": challenge}))
        return GateDecision(authorizer={"jwt": {"claims": _claims_as_strings(claims), "scopes": scopes}}, headers=cors)

    def _unauthorized(self, reason: str, cors: dict[str, str]) -> GateDecision:
        challenge = f'Bearer error="invalid_token" error_description="{reason}"'
        return GateDecision(response=_json(401, {"message": "Unauthorized"}, {**cors, "www-authenticate": challenge}))

    def verify(self, token: str) -> dict[str, Any]:
        issuer, now = self.issuer(), time.time()
        try:
            return jws.verify(token, self._jwks(refresh=False), issuer=issuer, audience=tokens.AUDIENCE, now=now)
        except jws.UnknownKey:
            pass  # a key published since the last fetch (a rotation): fetch once more, as API Gateway does
        return jws.verify(token, self._jwks(refresh=True), issuer=issuer, audience=tokens.AUDIENCE, now=now)

    def _jwks(self, *, refresh: bool) -> list[dict[str, Any]]:
        with self._lock:
            due = time.monotonic() - self._fetched_at > JWKS_REFRESH_SECONDS
            if (refresh or not self._keys) and due:
                self._fetched_at = time.monotonic()
                self._keys = self._fetch_jwks()
            return list(self._keys)

    def _fetch_jwks(self) -> list[dict[str, Any]]:
        """``GET <issuer>/.well-known/jwks.json`` through the handler (API Gateway fetches it over HTTPS)."""
        domain = urlsplit(self.issuer()).netloc
        event = build_event("GET", tokens.WELL_KNOWN_JWKS, [], b"", domain=domain)
        status, _, body = response_parts(self.handler(event, LambdaContext(self.function_name)))
        if status != 200:
            return []
        keys = json.loads(body).get("keys")
        return [key for key in keys if isinstance(key, dict)] if isinstance(keys, list) else []


def bearer(value: str | None) -> str | None:
    """The token of an ``Authorization`` header: ``Bearer <token>`` or the bare token (API Gateway takes both)."""
    if not value:
        return None
    scheme, _, rest = value.strip().partition(" ")
    token = rest.strip() if scheme.lower() == "bearer" else value.strip()
    return token or None


def _claims_as_strings(claims: dict[str, Any]) -> dict[str, str]:
    """Claims as API Gateway hands them to the integration: every value a string, lists as ``[a b]``."""
    rendered: dict[str, str] = {}
    for name, value in claims.items():
        if isinstance(value, list):
            rendered[name] = "[" + " ".join(str(v) for v in value) + "]"
        elif isinstance(value, str):
            rendered[name] = value
        else:
            rendered[name] = json.dumps(value)
    return rendered
