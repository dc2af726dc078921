"""An endpoint's secrets in the delivery table (``SK#``): a separate item, so no read of an endpoint
ever returns them. ``current`` and ``previous`` sign (``previous`` until it expires after an API
rotation, or until the stack config removes it); ``authSecret`` is the value of the endpoint's auth
(API key, Basic password or bearer token) the worker sends."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from functions.delivery import schema
from functions.delivery.store.dynamo import Conflict, TableBase, expression_values, from_item, iso, to_item
from functions.records import record


@record
class SigningSecrets:
    current: str
    previous: str | None = None
    previous_expires_at: float | None = None
    """Epoch seconds after which ``previous`` stops signing; ``None`` = until removed (config)."""
    rotated_at: str | None = None
    auth_secret: str | None = None
    """The endpoint auth's value (API key, password, token); ``None`` for ``auth.type: none``."""

    def active(self, now: float) -> list[str]:
        secrets = [self.current]
        if self.previous and (self.previous_expires_at is None or now < self.previous_expires_at):
            secrets.append(self.previous)
        return secrets

    def __repr__(self) -> str:
        return (
            f"SigningSecrets(rotated_at={self.rotated_at!r}, previous={'set' if self.previous else 'none'}, "
            f"auth_secret={'set' if self.auth_secret else 'none'})"
        )


def secrets_from(item: Mapping[str, Any] | None) -> SigningSecrets | None:
    if not item or not item.get("current"):
        return None
    expires = item.get("previousExpiresAt")
    return SigningSecrets(
        current=str(item["current"]),
        previous=item.get("previous"),
        previous_expires_at=float(expires) if expires is not None else None,
        rotated_at=item.get("rotatedAt"),
        auth_secret=item.get("authSecret"),
    )


class SecretsTable(TableBase):
    def rotate_secret(
        self, tenant_id: str, endpoint_id: str, new_secret: str, overlap_seconds: float, now: float
    ) -> SigningSecrets:
        """Make ``new_secret`` current; the old one keeps signing for ``overlap_seconds``."""
        key = to_item(schema.secret_key(tenant_id, endpoint_id))
        current = self.client.get_item(TableName=self.name, Key=key, ConsistentRead=True).get("Item")
        if not current:
            raise Conflict("the endpoint has no secret")
        old = from_item(current)
        expires = now + overlap_seconds
        values: dict[str, Any] = {":new": new_secret, ":old": old["current"], ":now": iso(now)}
        if overlap_seconds > 0:
            expression = "SET #current = :new, previous = :old, previousExpiresAt = :exp, rotatedAt = :now"
            values[":exp"] = int(expires)
        else:
            expression = "SET #current = :new, rotatedAt = :now REMOVE previous, previousExpiresAt"
        try:
            self.client.update_item(
                TableName=self.name,
                Key=key,
                UpdateExpression=expression,
                # Two rotations racing: the second must see the first's result, not clobber it.
                ConditionExpression="#current = :old",
                ExpressionAttributeNames={"#current": "current"},
                ExpressionAttributeValues=expression_values(values),
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            raise Conflict("the secret was rotated concurrently; retry") from None
        return SigningSecrets(
            current=new_secret,
            previous=old["current"] if overlap_seconds > 0 else None,
            previous_expires_at=int(expires) if overlap_seconds > 0 else None,
            rotated_at=iso(now),
            auth_secret=old.get("authSecret"),
        )
