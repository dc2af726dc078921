"""OAuth access tokens shared by every worker (``T#<tenant>`` / ``TOK#<endpointId>``).

``token``, ``expiresAtMs`` and ``refreshAtMs`` (epoch ms); ``leaseUntilMs`` while one worker fetches a
new token, so concurrent workers fetch once between them; TTL a day after expiry. The client secret
is never here (Secrets Manager); the token is a short-lived credential, encrypted at rest like the
rest of the table and never returned by the API.
"""

from __future__ import annotations

from typing import Any

from functions.delivery import schema
from functions.delivery.store.dynamo import TableBase, expression_values, from_item, to_item
from functions.records import record

TOKEN_PREFIX = "TOK#"  # noqa: S105 (a sort-key prefix, not a credential)


@record
class CachedToken:
    value: str
    expires_at_ms: int
    refresh_at_ms: int
    client: str = ""
    """The client it was issued to (:meth:`functions.delivery.oauth.Client.fingerprint`)."""

    def __repr__(self) -> str:
        return f"CachedToken(expires_at_ms={self.expires_at_ms}, refresh_at_ms={self.refresh_at_ms})"


def token_key(tenant_id: str, endpoint_id: str) -> dict[str, str]:
    return {schema.PK: schema.tenant_pk(tenant_id), schema.SK: f"{TOKEN_PREFIX}{endpoint_id}"}


class TokensTable(TableBase):
    def get_token(self, tenant_id: str, endpoint_id: str) -> tuple[CachedToken | None, int | None]:
        """The stored token (if any) and the refresh lease's end (if one is held)."""
        response = self.client.get_item(
            TableName=self.name, Key=to_item(token_key(tenant_id, endpoint_id)), ConsistentRead=True
        )
        item = from_item(response.get("Item") or {})
        lease = item.get("leaseUntilMs")
        token = None
        if item.get("token"):
            token = CachedToken(
                str(item["token"]), int(item["expiresAtMs"]), int(item["refreshAtMs"]), str(item.get("client") or "")
            )
        return token, int(lease) if lease is not None else None

    def take_token_lease(self, tenant_id: str, endpoint_id: str, now_ms: int, until_ms: int, client: str = "") -> bool:
        """Become the one worker fetching the endpoint's next token (until ``until_ms``): only while
        no other worker holds the lease and no token of this ``client`` is still fresh (one may have
        been stored since the caller looked: it must not fetch a second one)."""
        try:
            self.client.update_item(
                TableName=self.name,
                Key=to_item(token_key(tenant_id, endpoint_id)),
                UpdateExpression="SET leaseUntilMs = :until",
                ConditionExpression="(attribute_not_exists(leaseUntilMs) OR leaseUntilMs <= :now) AND "
                "(attribute_not_exists(refreshAtMs) OR refreshAtMs <= :now OR #client <> :client)",
                ExpressionAttributeNames={"#client": "client"},
                ExpressionAttributeValues=expression_values({":until": until_ms, ":now": now_ms, ":client": client}),
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def put_token(self, tenant_id: str, endpoint_id: str, token: CachedToken) -> None:
        """Store a fetched token and give the lease back."""
        self.client.update_item(
            TableName=self.name,
            Key=to_item(token_key(tenant_id, endpoint_id)),
            UpdateExpression="SET #token = :token, expiresAtMs = :exp, refreshAtMs = :refresh, #client = :client, #ttl = :ttl "
            "REMOVE leaseUntilMs",
            ExpressionAttributeNames={"#token": "token", "#client": "client", "#ttl": schema.TTL_ATTRIBUTE},
            ExpressionAttributeValues=expression_values(
                {
                    ":token": token.value,
                    ":exp": token.expires_at_ms,
                    ":refresh": token.refresh_at_ms,
                    ":client": token.client,
                    ":ttl": token.expires_at_ms // 1000 + 86_400,
                }
            ),
        )

    def release_token_lease(self, tenant_id: str, endpoint_id: str, until_ms: int) -> None:
        try:
            self.client.update_item(
                TableName=self.name,
                Key=to_item(token_key(tenant_id, endpoint_id)),
                UpdateExpression="REMOVE leaseUntilMs",
                ConditionExpression="leaseUntilMs = :until",
                ExpressionAttributeValues=expression_values({":until": until_ms}),
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return

    def forget_token(self, tenant_id: str, endpoint_id: str, value: str) -> None:
        """Drop a token the endpoint refused (401), unless another worker already replaced it."""
        request: dict[str, Any] = {
            "TableName": self.name,
            "Key": to_item(token_key(tenant_id, endpoint_id)),
            "UpdateExpression": "REMOVE #token, expiresAtMs, refreshAtMs",
            "ConditionExpression": "#token = :token",
            "ExpressionAttributeNames": {"#token": "token"},
            "ExpressionAttributeValues": expression_values({":token": value}),
        }
        try:
            self.client.update_item(**request)
        except self.client.exceptions.ConditionalCheckFailedException:
            return
