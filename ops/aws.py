"""boto3 clients for the operations tool, and pagination over EventBridge/CloudWatch list calls."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from functools import cached_property
from typing import Any


class Clients:
    """Clients made on first use, in one region, against one endpoint.

    The region is ``region`` (``--region``), else ``AWS_REGION``, else whatever boto3 finds itself
    (``AWS_DEFAULT_REGION``, the profile): boto3 does not read ``AWS_REGION``, which the AWS CLI
    and the other SDKs honour (and prefer over ``AWS_DEFAULT_REGION``).

    ``endpoint_url=None`` lets boto3 apply ``AWS_ENDPOINT_URL`` (and per-service variants) itself,
    so the tool points at a moto server or the local sandbox the same way the functions do.

    ``credentials`` (access key id, secret key) replace boto3's own lookup: the local sandbox's
    outputs file names the ones it accepts, so nothing from the environment is needed (or sent).
    ``region_origin`` says where ``region`` came from, for messages (default ``--region``).
    """

    def __init__(
        self,
        region: str | None = None,
        endpoint_url: str | None = None,
        session: Any = None,
        *,
        credentials: tuple[str, str] | None = None,
        region_origin: str = "--region",
    ) -> None:
        self.region = region or os.environ.get("AWS_REGION") or None
        self.region_origin = (
            region_origin if region else "AWS_REGION" if self.region else "AWS_DEFAULT_REGION / the profile"
        )
        self.endpoint_url = endpoint_url
        self.credentials = credentials
        self._session = session

    def _boto_session(self) -> Any:
        if self._session is None:
            import boto3

            if self.credentials is not None:
                key_id, secret = self.credentials
                self._session = boto3.session.Session(aws_access_key_id=key_id, aws_secret_access_key=secret)
            else:
                self._session = boto3.session.Session()
        return self._session

    def _client(self, service: str) -> Any:
        return self._boto_session().client(service, region_name=self.region, endpoint_url=self.endpoint_url)

    def resolved_region(self) -> str | None:
        """The region the clients call, as boto3 will resolve it (reads configuration, calls nothing)."""
        return self.region or self._boto_session().region_name or None

    @cached_property
    def events(self) -> Any:
        return self._client("events")

    @cached_property
    def sqs(self) -> Any:
        return self._client("sqs")

    @cached_property
    def cloudwatch(self) -> Any:
        return self._client("cloudwatch")

    @cached_property
    def dynamodb(self) -> Any:
        return self._client("dynamodb")


def pages(call: Callable[..., Mapping[str, Any]], key: str, **kwargs: Any) -> list[Mapping[str, Any]]:
    """Every item of a ``NextToken``-paginated list call (EventBridge has no boto3 paginators for most)."""
    items: list[Mapping[str, Any]] = []
    token = None
    while True:
        response = call(**kwargs, **({"NextToken": token} if token else {}))
        items.extend(response.get(key, []))
        token = response.get("NextToken")
        if not token:
            return items
