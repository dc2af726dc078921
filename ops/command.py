"""What every ``python -m ops`` command shares: its exit codes, the region check before its first AWS
call, and printing its report as text or JSON.

Separate from :mod:`ops.cli` so that the modules running commands (:mod:`ops.replay_cli`,
:mod:`ops.inbound_cli`, :mod:`ops.queue_run_cli`) use these with plain imports; :mod:`ops.cli`
imports those modules to dispatch to them.

Exit codes: 0 all good; 1 something needs an operator (a problem in ``status``, a message left in
the queue or a run cut short by its time limit in ``redrive --execute``, a FAILED replay); 2 bad
input or an AWS call that failed.
"""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from typing import Any

from ops.aws import Clients
from ops.outputs import OpsError, StackOutputs

EXIT_OK, EXIT_ATTENTION, EXIT_ERROR = 0, 1, 2


def check_region(clients: Clients, outputs: StackOutputs) -> None:
    """Before any AWS call: the clients' region must be the stack's, which its ARNs and queue URL
    name. In another region every resource looks missing and the DLQ empty, misleading the operator."""
    stack_regions = outputs.regions()
    if not stack_regions:
        return  # nothing in the outputs names a region (flags only, or a local endpoint's URLs)
    region = clients.resolved_region()
    expected = next(iter(stack_regions))
    if region is None:
        raise OpsError(f"no AWS region: pass --region {expected} or set AWS_REGION={expected} (the stack's region)")
    if region not in stack_regions:
        where = "; ".join(f"{r} ({named})" for r, named in stack_regions.items())
        raise OpsError(
            f"region mismatch: AWS calls would go to {region} ({clients.region_origin}) but the stack is in {where}. "
            f"Pass --region {expected} or set AWS_REGION={expected}"
        )


def emit(args: argparse.Namespace, data: Any, text: str, *, json_lines: bool = False) -> None:
    """Print ``text``, or ``data`` as JSON (one line per record when several follow: ``--wait``)."""
    if args.output == "json":
        print(json.dumps(data, indent=None if json_lines else 2, default=json_default), flush=json_lines)
    else:
        print(text, flush=True)


def json_default(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else str(value)
