"""CloudWatch metrics as Embedded Metric Format log lines (no API call, no extra permission).

Lambda ships stdout to CloudWatch Logs, which turns a JSON line with an ``_aws`` block into metric
data points. Each metric is published twice: per function (what the alarms watch) and per function
and source (to see which provider is affected). These two are the signature alarms' own; the inbound
pipeline's volume metrics (accepted, duplicates, rejections, claim checks, enqueue latency) are
:mod:`functions.metrics`' (namespace ``hookstack``), whose writer this module shares.
"""

from __future__ import annotations

import os
import time

from functions.metrics import write

NAMESPACE = "hookstack/Inbound"
SIGNATURE_FAILURES = "SignatureFailures"
PREVIOUS_SECRET_ACCEPTED = "PreviousSecretAccepted"  # noqa: S105 (a metric name)


def emit(metric: str, source: str, value: float = 1, **properties: str) -> None:
    """Write one EMF record; ``properties`` are extra searchable log fields (never secrets)."""
    function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "local")
    record = {
        "_aws": {
            "Timestamp": int(time.time() * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": NAMESPACE,
                    "Dimensions": [["FunctionName"], ["FunctionName", "Source"]],
                    "Metrics": [{"Name": metric, "Unit": "Count"}],
                }
            ],
        },
        "FunctionName": function_name,
        "Source": source,
        metric: value,
        **properties,
    }
    write(record)
