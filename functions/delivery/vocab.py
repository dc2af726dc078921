"""The delivery area's status words, defined once: stored in the table, returned by the API, logged.

They are ``StrEnum``s, so a member is the plain string it stands for: it compares equal to what a
read from DynamoDB returns, and serialises (boto3, ``json.dumps``, f-strings) as its value.
"""

from __future__ import annotations

from enum import StrEnum


class DeliveryStatus(StrEnum):
    """A delivery run (one event to one endpoint): ``pending`` until it ends in one of the others."""

    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    """Retries exhausted, a failure that is not retried, or the endpoint was disabled: replayable."""
    CANCELLED = "cancelled"
    """The endpoint was deleted while the run was pending."""


class DisabledReason(StrEnum):
    """Why an endpoint does not receive deliveries (kept in its state item, shown by the API)."""

    MANUAL = "manual"
    """``PATCH ... {"enabled": false}``."""
    GONE = "gone"
    """The receiver answered 410 Gone."""
    FAILURES = "failures"
    """``hookstack:delivery.disableAfterFailures`` messages failed for good in a row."""
    CONFIG = "config"
    """The stack config declares the endpoint with ``enabled: false`` (reported, never stored)."""


class ManagedBy(StrEnum):
    """Who owns an endpoint's definition: the subscription API, or the stack config (via Pulumi)."""

    API = "api"
    CONFIG = "config"
