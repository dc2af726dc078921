"""The AWS limits the stack configuration is checked against, each named after the API field or quota.

Checking them here turns what AWS would refuse halfway through ``pulumi up`` into a configuration
error with its key path. A limit the Lambda code needs too lives in ``functions/`` and is imported
(``functions`` never imports ``components``): e.g. the size of an EventBridge entry is
``functions.events.MAX_REQUEST_BYTES``.
"""

from __future__ import annotations

import json
import re
from typing import Any

from functions.delivery.endpoint_fields import MAX_HEADER_VALUE_CHARS, MAX_RATE_LIMIT
from functions.patterns import MAX_EVENT_PATTERN_CHARS
from functions.transform import MAX_INPUT_PATHS, MAX_INPUT_TEMPLATE_CHARS

# EventBridge target RetryPolicy: MaximumRetryAttempts 0-185, MaximumEventAgeInSeconds 60-86400.
MAX_RETRY_ATTEMPTS = 185
MIN_EVENT_AGE_SECONDS, MAX_EVENT_AGE_SECONDS = 60, 86_400
# Owned by functions/ (the subscription API checks them too) and re-exported here: API destination
# InvocationRateLimitPerSecond 1-300 (MAX_RATE_LIMIT), event patterns of at most 2,048 characters
# (MAX_EVENT_PATTERN_CHARS), InputPathsMap at most 100 entries and InputTemplate at most 8,192
# characters (MAX_INPUT_PATHS, MAX_INPUT_TEMPLATE_CHARS), connection auth and invocation HTTP
# parameters at most 512 characters per value (MAX_CONNECTION_PARAMETER_CHARS).
MAX_CONNECTION_PARAMETER_CHARS = MAX_HEADER_VALUE_CHARS
# EventBridge service quotas per account and region (adjustable; rules per bus is 100 in some regions).
MAX_RULES_PER_BUS = 300
MAX_API_DESTINATIONS = 3000
MAX_CONNECTIONS = 3000
MAX_BUSES = 100
# Each bus gets 3 Metrics Insights alarms and a region allows 200 of those: 48 shards + the entry bus
# use 147. 48 shards of 295 rules hold far more than the 3,000 API destinations an account may have.
MAX_SHARDS = 48
# API destination InvocationEndpoint: at most 2,048 characters.
MAX_ENDPOINT_URL_CHARS = 2048
# One character (or %XX escape) of EventBridge's InvocationEndpoint and AuthorizationEndpoint pattern,
# ^((%[0-9A-Fa-f]{2}|[-()_.!~*';/?:@\x26=+$,A-Za-z0-9])+)([).!';/?:,])?$ : no '#', no '[' (IPv6 literal).
ENDPOINT_URL_CHAR_RE = re.compile(r"%[0-9A-Fa-f]{2}|[-()_.!~*';/?:@&=+$,A-Za-z0-9]")
# Connection parameters (API key, Basic user and password, OAuth client id, secret and body parameters):
# EventBridge's pattern refuses control characters.
CONNECTION_PARAMETER_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
# Lambda SQS event source ScalingConfig.MaximumConcurrency: 2-1000.
MIN_MAXIMUM_CONCURRENCY, MAX_MAXIMUM_CONCURRENCY = 2, 1000
# An inline webhook body travels in one SQS message and one EventBridge entry (at most
# functions.events.MAX_REQUEST_BYTES, 256 KiB, each); the claim-check envelope and the headers kept
# with the body need the rest, so a larger body always goes to S3.
MAX_INLINE_PAYLOAD_BYTES = 240_000


def to_json(value: Any) -> str:
    """Compact, key-sorted JSON (event patterns and policies are compared and measured as this)."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


__all__ = [
    "CONNECTION_PARAMETER_CONTROL_RE",
    "ENDPOINT_URL_CHAR_RE",
    "MAX_API_DESTINATIONS",
    "MAX_BUSES",
    "MAX_CONNECTIONS",
    "MAX_CONNECTION_PARAMETER_CHARS",
    "MAX_ENDPOINT_URL_CHARS",
    "MAX_EVENT_AGE_SECONDS",
    "MAX_EVENT_PATTERN_CHARS",
    "MAX_INLINE_PAYLOAD_BYTES",
    "MAX_INPUT_PATHS",
    "MAX_INPUT_TEMPLATE_CHARS",
    "MAX_MAXIMUM_CONCURRENCY",
    "MAX_RATE_LIMIT",
    "MAX_RETRY_ATTEMPTS",
    "MAX_RULES_PER_BUS",
    "MAX_SHARDS",
    "MIN_EVENT_AGE_SECONDS",
    "MIN_MAXIMUM_CONCURRENCY",
    "to_json",
]
