"""The inbound ingest's cold start against ``import boto3``, per source kind (issue 14).

The Lambda runtime provides boto3; the ingest must add little to its import. Issue 14's target: the
ingest's cold start within :data:`TARGET_RATIO` of ``import boto3`` for every source that does not
use the crypto layer (SendGrid and Discord do, and pay the import of ``cryptography`` on their first
request only). Measured here, in fresh interpreters with the same prelude, CPU time with
``time.process_time`` and wall time with ``time.perf_counter`` (no ``-X importtime`` overhead):

- ``import boto3`` alone (the baseline row);
- ``import boto3`` (which the ingest imports at its first request), ``import functions.inbound.ingest``
  and then the first verification of a request signed for a source of each kind: what a cold
  invocation does before touching AWS (creating the clients costs the same for every kind). The
  requests are signed in this process, so the child imports nothing a verifier would not.

Every child times its own ``import boto3`` first: the judged ratio of a run is its whole CPU time over
that import in the same process (paired), and the figure is the median of those ratios. The ratio of
two medians of separate processes, shown beside it, moves by about 0.1x between runs on a shared or
virtualised machine (the speed of the machine drifts between processes); the paired one by about 0.01x.

The children import ``functions/`` from a source-only copy, with ``-B``: the Lambda package ships no
bytecode and ``/var/task`` is read-only, so every cold start compiles our modules, while boto3 comes
with its bytecode (the runtime's). The runs are interleaved (baseline, then each kind, repeated) so
that a busy machine slows them alike; the figures are medians. Run through
``python -m benchmarks.cold_start``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TARGET_RATIO = 1.15
"""Issue 14: the ingest's cold start within this factor of ``import boto3`` (sources without crypto)."""
CRYPTO_KINDS = ("sendgrid", "discord")

# Both children run this first, so the interpreter's own start-up is no part of either figure.
PRELUDE = "import base64, json, sys, time\n"
# Every child imports boto3 first and times it alone: a row's judged ratio is its whole CPU time over
# that process's own ``import boto3`` (paired), which a machine's drift between processes cannot move.
# The handlers import boto3 anyway (at import or at their first request): the order changes no total.
START_BOTO3 = "c0, t0 = time.process_time(), time.perf_counter()\nimport boto3\ncb = time.process_time()\n"
BASELINE = PRELUDE + (
    START_BOTO3 + "c1, t1 = time.process_time(), time.perf_counter()\n"
    "print(json.dumps({'import': t1 - t0, 'verify': 0.0, 'cpu': c1 - c0, 'boto3_cpu': cb - c0, 'crypto': 'cryptography' in sys.modules}))\n"
)
INGEST = (
    PRELUDE
    + (
        "case = json.loads(sys.argv[1])\n"
        + START_BOTO3  # the ingest imports boto3 at its first request (functions.runtime), to make its clients
        + "import functions.inbound.ingest\n"
        "t1 = time.perf_counter()\n"
        "from functions.inbound.kinds import kind_of\n"
        "from functions.inbound.settings import parse_sources\n"
        "from functions.inbound.verify import SignedRequest, verify\n"
        # As the ingest's first request reads CONSUMER_SOURCES: only an hmac source imports its scheme.
        "source = {'kind': case['kind'], 'secretId': 's', **({'hmac': case['hmac']} if case['hmac'] else {})}\n"
        "config = parse_sources({'src': source})['src'].hmac\n"
        "request = SignedRequest(headers=case['headers'], body=base64.b64decode(case['body']))\n"
        "assert verify(kind_of(case['kind'], config), request, [case['secret']], public_url=case['url'], now=case['now']) == 0\n"
        "c2, t2 = time.process_time(), time.perf_counter()\n"
        "print(json.dumps({'import': t1 - t0, 'verify': t2 - t1, 'cpu': c2 - c0, 'boto3_cpu': cb - c0,\n"
        "                  'crypto': 'cryptography' in sys.modules}))\n"
    )
)

BODY = json.dumps({"type": "order.created", "id": "evt_1", "data": {"object": {"id": "o_1", "amount": 1200}}}).encode()
PADDLE = {  # the Paddle recipe of docs/consumer.md: parameters, a signed timestamp, a template
    "header": "Paddle-Signature",
    "algorithm": "sha256",
    "encoding": "hex",
    "signatureParam": "h1",
    "timestampParam": "ts",
    "paramSeparator": ";",
    "signedContent": "{timestamp}:{body}",
}


def cases(now: int) -> dict[str, dict[str, Any]]:
    """A request signed for a source of each kind, with the secret (or public key) that verifies it."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519

    def case(kind: str, secret: str, headers: dict[str, str], body: bytes = BODY, **extra: Any) -> dict[str, Any]:
        encoded = base64.b64encode(body).decode()
        return {"kind": kind, "secret": secret, "headers": headers, "body": encoded, "url": "", "now": now} | {
            "hmac": None,
            **extra,
        }

    key = "benchmark-secret"
    github = "sha256=" + hmac.new(key.encode(), BODY, hashlib.sha256).hexdigest()
    paddle = hmac.new(key.encode(), f"{now}:".encode() + BODY, hashlib.sha256).hexdigest()
    graph = json.dumps({"value": [{"clientState": key, "resource": "users/1/messages"}]}).encode()
    token = "b" * 50
    mailgun = json.dumps(
        {
            "signature": {
                "timestamp": str(now),
                "token": token,
                "signature": hmac.new(key.encode(), f"{now}{token}".encode(), hashlib.sha256).hexdigest(),
            },
            "event-data": {"event": "delivered"},
        }
    ).encode()
    ec_key = ec.derive_private_key(0x1234_5678_9ABC_DEF0, ec.SECP256R1())
    ec_public = ec_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    sendgrid = ec_key.sign(f"{now}".encode() + BODY, ec.ECDSA(hashes.SHA256()))
    ed_key = ed25519.Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    ed_public = ed_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {
        "github": case("github", key, {"x-hub-signature-256": github}),
        "hmac": case("hmac", key, {"paddle-signature": f"ts={now};h1={paddle}"}, hmac=PADDLE),
        "msgraph": case("msgraph", key, {"content-type": "application/json"}, body=graph),
        "mailgun": case("mailgun", key, {"content-type": "application/json"}, body=mailgun),
        "sendgrid": case(
            "sendgrid",
            base64.b64encode(ec_public).decode(),
            {
                "x-twilio-email-event-webhook-signature": base64.b64encode(sendgrid).decode(),
                "x-twilio-email-event-webhook-timestamp": str(now),
            },
        ),
        "discord": case(
            "discord",
            ed_public.hex(),
            {"x-signature-ed25519": ed_key.sign(f"{now}".encode() + BODY).hex(), "x-signature-timestamp": str(now)},
        ),
    }


def _run(script: str, *argv: str, cwd: Path = ROOT) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-B", "-c", script, *argv], cwd=cwd, capture_output=True, text=True, check=False, timeout=120
    )
    if result.returncode != 0:
        raise RuntimeError(f"benchmark child failed:\n{result.stderr[-2000:]}")
    figures: dict[str, Any] = json.loads(result.stdout)
    return figures


MODES = {
    "bytecode": "our modules' bytecode cached, as boto3's is (how issue 14's 1.10x was measured)",
    "source": "our modules compiled at import: what a Lambda cold start does (the package ships sources only)",
}


def measure(runs: int) -> dict[str, dict[str, dict[str, Any]]]:
    """Per mode (:data:`MODES`), median milliseconds per row (``boto3`` and each kind)."""
    signed = cases(int(time.time()))
    samples: dict[str, dict[str, list[dict[str, Any]]]] = {
        mode: {"boto3": [], **{kind: [] for kind in signed}} for mode in MODES
    }
    with tempfile.TemporaryDirectory() as scratch:
        packages = {mode: Path(scratch) / mode for mode in MODES}
        for package in packages.values():
            shutil.copytree(ROOT / "functions", package / "functions", ignore=shutil.ignore_patterns("__pycache__"))
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(packages["bytecode"])], check=True, timeout=300)
        for _ in range(runs):
            for mode, package in packages.items():
                samples[mode]["boto3"].append(_run(BASELINE, cwd=package))
                for kind, case in signed.items():
                    samples[mode][kind].append(_run(INGEST, json.dumps(case), cwd=package))
    return {mode: _medians(rows) for mode, rows in samples.items()}


def _medians(samples: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = {}
    for row, figures in samples.items():
        rows[row] = {
            "verify": statistics.median(f["verify"] * 1000 for f in figures),
            "total": statistics.median((f["import"] + f["verify"]) * 1000 for f in figures),
            "cpu": statistics.median(f["cpu"] * 1000 for f in figures),
            "boto3_cpu": statistics.median(f["boto3_cpu"] * 1000 for f in figures),
            # The judged ratio: each run's CPU time over its own import of boto3, then the median.
            "paired": statistics.median(f["cpu"] / f["boto3_cpu"] for f in figures),
            "crypto": figures[-1]["crypto"],
        }
    return rows


def mode_tables(
    measured: dict[str, dict[str, dict[str, Any]]],
    first_use: str,
    target_header: str,
    label: Callable[[str, float], tuple[str, str]],
) -> list[str]:
    """One table per mode (the delivery benchmark's too): ``label(row, paired CPU ratio)`` names a measured
    row and gives its verdict; ``first_use`` heads the first-use column. The judged column is the paired
    ratio; the ratio of the medians of separate processes is shown beside it (it moves by about 0.1x
    between runs on a shared machine, the paired one by about 0.01x)."""
    lines: list[str] = []
    for mode, rows in measured.items():
        cpu_baseline = rows["boto3"]["cpu"]
        lines += [
            "",
            f"**{mode}**: {MODES[mode]}.",
            "",
            "| row | total, wall | total, CPU | of which `import boto3`, CPU | vs its own `import boto3`, CPU (judged) "
            f"| vs the baseline row, CPU | of which {first_use}, wall | `cryptography` loaded | {target_header} |",
            "|---|---:|---:|---:|---:|---:|---:|---|---|",
        ]
        for row, figures in rows.items():
            name, verdict = ("`import boto3` (baseline)", "") if row == "boto3" else label(row, figures["paired"])
            lines.append(
                f"| {name} | {figures['total']:.0f} | {figures['cpu']:.0f} | {figures['boto3_cpu']:.0f} | "
                f"{figures['paired']:.3f}x | {figures['cpu'] / cpu_baseline:.2f}x | {figures['verify']:.1f} | "
                f"{'yes' if figures['crypto'] else 'no'} | {verdict} |"
            )
    return lines


def _ingest_row(kind: str, ratio: float) -> tuple[str, str]:
    if kind in CRYPTO_KINDS:
        return f"ingest + `{kind}`", "not bound (its first request imports `cryptography`)"
    return f"ingest + `{kind}`", "met" if ratio <= TARGET_RATIO else "**missed**"


def section(measured: dict[str, dict[str, dict[str, Any]]], runs: int) -> list[str]:
    """The Markdown section of ``docs/benchmarks/cold-start.md``."""
    lines = [
        "## The inbound ingest against `import boto3`, per source kind (issue 14)",
        "",
        f"Written by `python -m benchmarks.cold_start` (`benchmarks/ingest_cold_start.py`). Medians of {runs} "
        "interleaved runs: a fresh interpreter imports boto3 alone, or imports boto3 (which the ingest imports at "
        "its first request) and `functions.inbound.ingest`, reads the source's configuration and verifies one "
        "request signed for it (no AWS call: making the clients costs the same for every kind). Milliseconds; wall "
        "time (`perf_counter`) and CPU time (`process_time`). Judged: each run's CPU time over its own "
        "`import boto3` (timed first, in the same process), median over the runs; the ratio to the separate "
        "baseline row is shown beside it and moves by about 0.1x between runs on a shared machine.",
    ]
    lines += mode_tables(
        measured, "first verification", f"<= {TARGET_RATIO}x (sources without the crypto layer)", _ingest_row
    )
    lines += [
        "",
        "`cryptography`, the public-key verifiers, the handshakes and the generic HMAC scheme are imported at their",
        "first use (`functions/lazy.py`): a stack without such sources never compiles them, and a function with the",
        "crypto layer pays for `cryptography` on the first public-key request of a process, not before",
        "(`tests/functions/inbound/test_asymmetric.py` checks which imports load what). The layer is attached only",
        "to a stack that has such a source (`tests/components/test_consumer.py`). The inbound records are made by",
        "`functions.records.record`, not `@dataclass(frozen=True)` (six methods compiled per class at import).",
        "",
        "The target is met as issue 14 measured it (bytecode cached). Compiled at import, as the Lambda package is",
        "today (it ships sources: bytecode is specific to the Python that compiles it, and the machine running",
        "`pulumi up` need not have the runtime's 3.12), the ingest was already above it before issue 14 (see",
        "`docs/consumer.md`, Public-key providers); shipping bytecode compiled by a python3.12 would lower it.",
    ]
    return lines
