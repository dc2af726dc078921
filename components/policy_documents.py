"""IAM and SQS policy documents as plain data: statements, their text and AWS's size rules.

Pure (no Pulumi): :mod:`components.provider_policies` fits documents to the size limits from resolved
ARNs with these, and :func:`components.common.policy_json` renders statements that still hold
Outputs with the same version and layout, so either way the text sent is the same.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

POLICY_VERSION = "2012-10-17"

# Policy size limits. IAM: 10,240 characters for all inline policies of a role together, white space
# not counted. SQS: 8,192 bytes per queue policy (SQS Developer Guide, "Amazon SQS policy quotas").
IAM_ROLE_INLINE_POLICY_CHARS = 10_240
SQS_QUEUE_POLICY_BYTES = 8_192
# Kept free below each limit. Policies are measured on the exact text sent, so this only absorbs a
# provider re-rendering it (key order, escaping), never an estimate of the ARNs.
POLICY_SIZE_MARGIN = 128


def policy_document(statements: Sequence[Mapping[str, Any]]) -> str:
    """The text :func:`components.common.policy_json` sends for plain statements (same rendering, so no diff)."""
    return json.dumps({"Version": POLICY_VERSION, "Statement": list(statements)})


def log_writing_statement(log_streams_arn: object) -> dict[str, Any]:
    """The statement every function's role starts with: write to its own log group's streams only."""
    return {
        "Sid": "WriteOwnLogs",
        "Effect": "Allow",
        "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
        "Resource": log_streams_arn,
    }


def function_role_statements(
    log_streams_arn: object, statements: Sequence[Mapping[str, Any]]
) -> list[Mapping[str, Any]]:
    """A function's whole inline policy: its own logs, then what its spec allows it
    (:class:`components.common.LambdaFunction` declares it; the sandbox's roles hold the same)."""
    return [log_writing_statement(log_streams_arn), *statements]


def iam_policy_chars(document: str) -> int:
    """What IAM counts against its policy size limits: every character except white space."""
    return sum(1 for character in document if not character.isspace())


def sqs_policy_bytes(document: str) -> int:
    return len(document.encode())


def first_fitting_policy(candidates: Sequence[str], size: Callable[[str], int], limit: int) -> str:
    """The first (most specific) candidate document whose size stays within ``limit``."""
    for document in candidates:
        if size(document) <= limit - POLICY_SIZE_MARGIN:
            return document
    smallest = min(size(document) for document in candidates)
    raise ValueError(f"no policy rendering fits {limit} (smallest is {smallest})")


def tls_only_statement(
    resources: Sequence[object], principal: Any = "*", action: str | Sequence[str] = "*"
) -> dict[str, Any]:
    """Deny every request to ``resources`` (ARNs, or Outputs of them) not made over TLS."""
    return {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": principal,
        "Action": action if isinstance(action, str) else list(action),
        "Resource": list(resources),
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
