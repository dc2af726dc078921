"""An endpoint's signing secret: rotation (the new secret is shown once; the old one keeps signing
for ``DELIVERY_ROTATION_OVERLAP_HOURS``, so deliveries carry both signatures meanwhile)."""

from __future__ import annotations

from typing import Any

from functions import logs, whsec
from functions.delivery import store
from functions.delivery.api.endpoints import endpoint_of
from functions.delivery.api.http import ApiError, ApiRuntime, Request, only
from functions.delivery.vocab import ManagedBy


def rotate_secret(request: Request, state: ApiRuntime) -> tuple[int, Any]:
    body = request.body
    only(body, ("secret",))
    endpoint = endpoint_of(request, state)
    if endpoint.managed_by != ManagedBy.API:
        raise ApiError(
            409,
            "managed_by_config",
            "this endpoint's secret is set in the stack config (auth.secret; keep the old one in auth.previousSecret while receivers switch)",
        )
    new_secret = body.get("secret")
    if new_secret is None:
        new_secret = whsec.generate()
    else:
        try:
            whsec.key(new_secret)
        except whsec.SecretFormatError as error:
            raise ApiError(400, "validation_error", f"secret {error}", "secret") from None
    overlap = state.settings.rotation_overlap_hours * 3600
    rotated = state.table.rotate_secret(request.tenant_id, endpoint.endpoint_id, new_secret, overlap, request.now)
    logs.info("endpoint secret rotated", tenantId=request.tenant_id, endpointId=endpoint.endpoint_id)
    expires = rotated.previous_expires_at
    return 200, {
        "id": endpoint.endpoint_id,
        "secret": new_secret,
        "previousSecretValidUntil": store.iso(expires) if expires is not None else None,
    }
