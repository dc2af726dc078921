"""How the worker delivers to an endpoint: the endpoint model's fields beyond ``url`` and ``eventTypes``.

Stored on the endpoint's definition item (``EP#``), each attribute only when it differs from the
default, so an endpoint that uses none of them (every endpoint created before they existed, and a
config-declared ``auth.type: signed`` one) keeps exactly the item it had:

=====================  ==========================================  ======================
attribute              holds                                       default (absent)
=====================  ==========================================  ======================
``method``             ``PUT`` / ``PATCH``                         ``POST``
``auth``               ``{type, header}`` / ``{type, username}``   ``{type: none}``
``headers``            static headers                              none
``transform``          ``{paths, template}``                       the Standard Webhooks body
``filter``             the EventBridge pattern, as JSON text       none (every event)
``rateLimitPerSecond`` 1-300                                       none
``timeoutSeconds``     1-60                                        ``DELIVERY_TIMEOUT_SECONDS``
``signingScheme``      ``v1a``                                     ``v1``
=====================  ==========================================  ======================

The auth's secret value (API key, password, token) is never here: it lives in the endpoint's
secrets item (``SK#``, ``authSecret``), which no read of an endpoint returns. The filter is kept as
JSON text so its numbers stay what the user wrote (DynamoDB numbers would come back as decimals).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import field
from typing import Any

from functions.delivery.endpoint_fields import BEARER_PREFIX
from functions.delivery.signing import DEFAULT_SCHEME
from functions.records import record

NO_AUTH = "none"


@record
class EndpointAuth:
    """An endpoint's auth without its secret value."""

    type: str = NO_AUTH
    header: str | None = None
    """``apiKey``: the header carrying the key."""
    username: str | None = None
    """``basic``: the user name."""
    token_url: str | None = None
    """``oauth``: the token endpoint (``authorizationEndpoint``); ``client_id`` and ``scope`` with it."""
    client_id: str | None = None
    scope: str | None = None

    def to_document(self) -> dict[str, Any]:
        document: dict[str, Any] = {"type": self.type}
        if self.header is not None:
            document["header"] = self.header
        if self.username is not None:
            document["username"] = self.username
        for key, value in (
            ("authorizationEndpoint", self.token_url),
            ("clientId", self.client_id),
            ("scope", self.scope),
        ):
            if value is not None:
                document[key] = value
        return document

    def headers(self, secret: str | None) -> dict[str, str]:
        """The request headers this auth adds, given its secret value (``{}`` for ``none``)."""
        if self.type == NO_AUTH:
            return {}
        if secret is None:
            raise ValueError(f"auth {self.type} has no secret value stored")
        if self.type == "apiKey" and self.header:
            return {self.header: secret}
        if self.type == "basic":
            pair = f"{self.username}:{secret}".encode()
            return {"Authorization": "Basic " + base64.b64encode(pair).decode("ascii")}
        if self.type in ("bearer", "oauth"):  # oauth: the access token (functions/delivery/oauth.py)
            return {"Authorization": BEARER_PREFIX + secret}
        raise ValueError(f"auth {self.type} is not delivered by the worker")


def auth_from(document: Mapping[str, Any] | None) -> EndpointAuth:
    if not document:
        return EndpointAuth()
    return EndpointAuth(
        type=str(document.get("type") or NO_AUTH),
        header=document.get("header"),
        username=document.get("username"),
        token_url=document.get("authorizationEndpoint"),
        client_id=document.get("clientId"),
        scope=document.get("scope"),
    )


@record
class EndpointOptions:
    method: str = "POST"
    auth: EndpointAuth = field(default_factory=EndpointAuth)
    headers: Mapping[str, str] = field(default_factory=dict)
    transform: Mapping[str, Any] | None = None
    """``{"paths": {...}, "template": "..."}`` (:mod:`functions.transform`)."""
    filter: Mapping[str, Any] | None = None
    rate_limit_per_second: int | None = None
    timeout_seconds: int | None = None
    signing_scheme: str = DEFAULT_SCHEME

    def item_attributes(self) -> dict[str, Any]:
        """The definition item's attributes for these options (``None``: remove the attribute)."""
        return {
            "method": None if self.method == "POST" else self.method,
            "auth": None if self.auth.type == NO_AUTH else self.auth.to_document(),
            "headers": dict(self.headers) or None,
            "transform": dict(self.transform) if self.transform else None,
            "filter": json.dumps(self.filter, separators=(",", ":")) if self.filter else None,
            "rateLimitPerSecond": self.rate_limit_per_second,
            "timeoutSeconds": self.timeout_seconds,
            "signingScheme": None if self.signing_scheme == DEFAULT_SCHEME else self.signing_scheme,
        }

    def to_api(self) -> dict[str, Any]:
        return {
            "engine": "worker",
            "method": self.method,
            "signing": {"scheme": self.signing_scheme},
            "auth": self.auth.to_document(),
            "headers": dict(self.headers),
            "transform": dict(self.transform) if self.transform else None,
            "filter": self.filter,
            "rateLimitPerSecond": self.rate_limit_per_second,
            "timeoutSeconds": self.timeout_seconds,
        }


ATTRIBUTES = tuple(EndpointOptions().item_attributes())


def options_from(definition: Mapping[str, Any]) -> EndpointOptions:
    raw_filter = definition.get("filter")
    return EndpointOptions(
        method=str(definition.get("method") or "POST"),
        auth=auth_from(definition.get("auth")),
        headers={str(k): str(v) for k, v in (definition.get("headers") or {}).items()},
        transform=definition.get("transform") or None,
        filter=json.loads(raw_filter) if isinstance(raw_filter, str) and raw_filter else None,
        rate_limit_per_second=_int_or_none(definition.get("rateLimitPerSecond")),
        timeout_seconds=_int_or_none(definition.get("timeoutSeconds")),
        signing_scheme=str(definition.get("signingScheme") or DEFAULT_SCHEME),
    )


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)
