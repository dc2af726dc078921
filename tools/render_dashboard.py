"""``python -m tools.render_dashboard``: docs/images/dashboard.png from a short sandbox run.

Runs the sandbox (the real handlers on moto) for a stack with worker endpoints that succeed, answer
slowly, 5xx, 4xx, time out or refuse the connection, and an inbound GitHub source; publishes events and
posts webhooks (valid, duplicated, badly signed, to no source) for ``--seconds``; samples the depth of
every dead-letter queue each second; then parses the EMF lines the handlers logged and draws the
stack's dashboard widgets (:func:`components.dashboard.panels` and :func:`~components.dashboard.metric_rows`:
the same metrics, dimensions and statistics as the CloudWatch dashboard) as SVG line charts, which
headless Chromium turns into the PNG. No plotting dependency: the SVG is written here.

The API-destination widget is not drawn: its ``AWS/Events`` metrics exist only in CloudWatch.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import html
import json
import math
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

from components.dashboard import DashboardInputs, metric_rows, panels
from functions import metrics

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "docs" / "images" / "dashboard.png"
CHROMIUM = "/usr/bin/chromium"
GITHUB_SECRET = "render-dashboard-github-secret"  # noqa: S105 (a local sandbox's throwaway secret)
BUCKET_SECONDS = 2
COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22")
WIDTH, HEIGHT, COLUMNS = 430, 250, 3


def closed_port() -> int:
    """A loopback port nothing listens on (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def scenario_stack(receiver: str) -> dict[str, Any]:
    def worker(name: str, url: str, **extra: Any) -> dict[str, Any]:
        return {"name": name, "url": url, "engine": "worker", "auth": {"type": "none"}, **extra}

    return {
        "tenants": [
            {
                "id": "acme",
                "destinations": [
                    worker("orders", f"{receiver}/acme/orders"),
                    worker("reports", f"{receiver}/slow/0.4/acme/reports"),
                    worker("billing", f"{receiver}/flaky/6/acme/billing"),
                ],
            },
            {
                "id": "globex",
                "destinations": [
                    worker("erp", f"{receiver}/status/500/globex/erp"),
                    worker("legacy", f"{receiver}/status/404/globex/legacy"),
                    worker("batch", f"{receiver}/slow/3/globex/batch", timeoutSeconds=1),
                    worker("offline", f"http://127.0.0.1:{closed_port()}/globex/offline"),
                ],
            },
        ],
        "delivery": {"retryScheduleSeconds": [100, 200], "breakerFailureThreshold": 3, "breakerCooldownSeconds": 2},
        "consumer": {"sources": [{"name": "github", "kind": "github", "secret": GITHUB_SECRET}]},
        "tracing": {"propagate": True},
    }


def github_post(url: str, delivery: str, *, secret: str = GITHUB_SECRET) -> int:
    import requests

    body = json.dumps({"action": "opened", "repository": {"id": 42}, "number": delivery}).encode()
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    headers = {
        "content-type": "application/json",
        "x-github-event": "pull_request",
        "x-github-delivery": delivery,
        "x-hub-signature-256": signature,
    }
    return int(requests.post(url, data=body, headers=headers, timeout=10).status_code)


def run_scenario(seconds: float, log_path: Path) -> tuple[list[tuple[float, str, int]], float]:
    """Run the sandbox; the functions' stdout goes to ``log_path``. Returns the DLQ depth samples
    (time, queue name, depth) and the start time."""
    import boto3

    from functions.events import make_event, publish
    from sandbox.receiver import Receiver
    from sandbox.runtime import Sandbox, local_stack

    receiver = Receiver()
    receiver.start()
    sandbox = Sandbox(local_stack(scenario_stack(receiver.url)), time_scale=0.01)
    console, samples = sys.stdout, []
    with log_path.open("w") as log:
        sys.stdout = log
        try:
            sandbox.start()
            state = sandbox.state()

            def client(service: str) -> Any:
                return boto3.client(
                    service,
                    endpoint_url=state["aws_endpoint"],
                    region_name=state["region"],
                    aws_access_key_id="sandbox",
                    aws_secret_access_key="sandbox",  # noqa: S106 (moto's fake credentials)
                )

            events, sqs = client("events"), client("sqs")
            queues = [url for url in sqs.list_queues().get("QueueUrls", []) if "dlq" in url.rsplit("/", 1)[-1]]
            github = state["inbound"]["github"]
            base = github.rsplit("/", 1)[0]
            started = time.time()
            tick = 0
            while time.time() - started < seconds:
                batch = [
                    make_event("app", "order.paid", {"n": tick}, tenant_id=tenant, traceparent=None)
                    for tenant in ("acme", "globex")
                    for _ in range(2)
                ]
                publish(events, batch, state["bus_names"][0])
                github_post(github, f"d-{tick}")
                if tick % 3 == 0:
                    github_post(github, f"d-{tick}")  # the provider's retry: a duplicate
                if tick % 4 == 1:
                    github_post(github, f"d-x{tick}", secret="wrong")  # noqa: S106 (a bad signature on purpose)
                if tick % 5 == 2:
                    github_post(f"{base}/nosuch", f"d-n{tick}")
                for url in queues:
                    depth = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
                    samples.append(
                        (time.time(), url.rsplit("/", 1)[-1], int(depth["Attributes"]["ApproximateNumberOfMessages"]))
                    )
                tick += 1
                time.sleep(0.5)
            time.sleep(3)  # the last retries and dead letters
        finally:
            sandbox.stop()
            receiver.stop()
            sys.stdout = console
    return samples, started


def emf_records(log_path: Path) -> list[dict[str, Any]]:
    found = []
    for line in log_path.read_text().splitlines():
        if '"_aws"' in line:
            try:
                document = json.loads(line)
            except ValueError:
                continue  # a line two threads interleaved
            if document["_aws"]["CloudWatchMetrics"][0]["Namespace"] == metrics.NAMESPACE:
                found.append(document)
    return found


def statistic(values: list[float], stat: str) -> float:
    if not values:
        return math.nan
    if stat == "Sum":
        return float(sum(values))
    if stat == "Maximum":
        return float(max(values))
    rank = float(stat[1:]) / 100  # p50, p99: nearest rank
    ordered = sorted(values)
    return float(ordered[max(0, math.ceil(rank * len(ordered)) - 1)])


def series(row: list[Any], records: list[dict[str, Any]], started: float, buckets: int) -> list[float]:
    name, options = row[1], row[-1]
    dimensions = dict(zip(row[2:-1:2], row[3:-1:2], strict=True))
    per_bucket: dict[int, list[float]] = defaultdict(list)
    for record in records:
        if name in record and all(record.get(k) == v for k, v in dimensions.items()):
            bucket = int((record["_aws"]["Timestamp"] / 1000 - started) // BUCKET_SECONDS)
            if 0 <= bucket < buckets:
                per_bucket[bucket].append(float(record[name]))
    counts = options["stat"] == "Sum"
    return [statistic(per_bucket[b], options["stat"]) if per_bucket[b] or not counts else 0.0 for b in range(buckets)]


def chart(title: str, lines: list[tuple[str, list[float]]], unit: str) -> str:
    """One widget as SVG: a title, a legend, the lines on a shared y axis."""
    left, top, right, bottom = 44, 54, 10, 24
    plot_w, plot_h = WIDTH - left - right, HEIGHT - top - bottom
    finite = [v for _, values in lines for v in values if not math.isnan(v)]
    peak = max(finite, default=0.0) or 1.0
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}">',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white" stroke="#d5dbdb"/>',
        f'<text x="10" y="18" font-size="13" font-weight="bold" fill="#16191f">{html.escape(title)}</text>',
    ]
    for index, (label, _) in enumerate(lines[:9]):
        x, y = 10 + (index % 3) * 140, 32 + (index // 3) * 11
        parts.append(f'<rect x="{x}" y="{y - 7}" width="8" height="8" fill="{COLORS[index % len(COLORS)]}"/>')
        parts.append(f'<text x="{x + 11}" y="{y}" font-size="9" fill="#545b64">{html.escape(label[:24])}</text>')
    top += 11 * max(0, (min(len(lines), 9) - 1) // 3)
    plot_h = HEIGHT - top - bottom
    for fraction in (0, 0.5, 1):
        grid_y = top + plot_h * (1 - fraction)
        parts.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{grid_y:.1f}" y2="{grid_y:.1f}" stroke="#eaeded"/>')
        parts.append(
            f'<text x="{left - 4}" y="{grid_y + 3:.1f}" font-size="9" text-anchor="end" fill="#545b64">{peak * fraction:.3g}</text>'
        )
    parts.append(
        f'<text x="{left}" y="{HEIGHT - 6}" font-size="9" fill="#545b64">{unit}; {BUCKET_SECONDS} s periods</text>'
    )
    if not finite:
        parts.append(
            f'<text x="{WIDTH / 2}" y="{top + plot_h / 2}" font-size="11" text-anchor="middle" fill="#879596">no data</text>'
        )
    for index, (_, values) in enumerate(lines):
        step = plot_w / max(1, len(values) - 1)
        points = [
            f"{left + i * step:.1f},{top + plot_h * (1 - v / peak):.1f}"
            for i, v in enumerate(values)
            if not math.isnan(v)
        ]
        if points:
            parts.append(
                f'<polyline fill="none" stroke-width="1.6" stroke="{COLORS[index % len(COLORS)]}" points="{" ".join(points)}"/>'
            )
    parts.append("</svg>")
    return "".join(parts)


def dead_letter_label(queue: str) -> str:
    """The dashboard's label of a sandbox queue (the component names them in __main__.py)."""
    for part, label in (("delivery-events", "Delivery events"), ("delivery", "Deliveries"), ("inbound", "Inbound")):
        if f"-{part}-dlq" in queue:
            return label
    return "API destinations"


def page(records: list[dict[str, Any]], samples: list[tuple[float, str, int]], started: float, seconds: float) -> str:
    buckets = int(seconds // BUCKET_SECONDS) + 2
    queues = sorted({name for _, name, _ in samples})
    inputs = DashboardInputs(
        stack="sandbox",
        region="local",
        engines=("worker",),
        source_kinds=("github",),
        dead_letter_queues=tuple((dead_letter_label(name), name) for name in queues),
    )
    charts = []
    for panel in panels(inputs):
        names = [metric.name for metric in panel.metrics]
        common = os.path.commonprefix(names) if len(names) > 1 else ""  # noqa: RUF071 (names, not paths)
        drawn: list[tuple[str, list[float]]] = []
        for metric in panel.metrics:
            for row in metric_rows(metric, inputs):
                label = str(row[-1]["label"]).removeprefix(common).replace(" worker", "").replace(" github", "")
                drawn.append((label, series(row, records, started, buckets)))
        # Series that stayed at zero are left out of crowded widgets (CloudWatch draws them flat).
        busy = [(label, values) for label, values in drawn if any(not math.isnan(v) and v for v in values)]
        lines = busy if len(drawn) > 5 and busy else drawn
        unit = next((m.unit for m in panel.metrics), "Count")
        for aws_row in panel.aws_rows:  # the DLQ depths, sampled from the sandbox's queues
            depth: dict[int, list[float]] = defaultdict(list)
            for at, name, value in samples:
                if name == aws_row[3]:
                    depth[int((at - started) // BUCKET_SECONDS)].append(value)
            lines.append((str(aws_row[-1]["label"]), [statistic(depth[b], "Maximum") for b in range(buckets)]))
        charts.append(chart(panel.title, lines, unit))
    header = (
        f"<div style='font:16px sans-serif;margin:6px 4px'><b>hookstack-sandbox</b> "
        f"<span style='color:#545b64'>drawn from {len(records)} EMF records the sandbox's handlers logged "
        f"over {seconds:.0f} s (tools/render_dashboard.py)</span></div>"
    )
    cells = "".join(f"<div style='display:inline-block;margin:3px'>{svg}</div>" for svg in charts)
    return f"<html><body style='margin:4px;background:#f2f3f3;width:{COLUMNS * (WIDTH + 8)}px'>{header}{cells}</body></html>"


def screenshot(markup: str, output: Path, rows: int) -> None:
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as directory:
        source = Path(directory) / "dashboard.html"
        source.write_text(markup)
        width, height = COLUMNS * (WIDTH + 8) + 10, rows * (HEIGHT + 8) + 40
        subprocess.run(  # noqa: S603 (a fixed binary and arguments this script builds)
            [
                CHROMIUM,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                f"--user-data-dir={directory}/profile",
                f"--window-size={width},{height}",
                f"--screenshot={output}",
                source.as_uri(),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=24.0, help="how long the scenario publishes (24)")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    parser.add_argument("--keep-log", type=Path, help="also keep the functions' log here")
    args = parser.parse_args(argv)
    if shutil.which(CHROMIUM) is None:
        parser.error(f"{CHROMIUM} is needed to turn the SVG into a PNG")
    with tempfile.TemporaryDirectory() as directory:
        log_path = Path(directory) / f"functions-{uuid.uuid4().hex[:8]}.log"
        samples, started = run_scenario(args.seconds, log_path)
        if args.keep_log:
            shutil.copy(log_path, args.keep_log)
        records = emf_records(log_path)
    markup = page(records, samples, started, args.seconds)
    shown = len(
        panels(
            DashboardInputs(
                stack="s", region="r", engines=("w",), source_kinds=("g",), dead_letter_queues=(("q", "q"),)
            )
        )
    )
    screenshot(markup, args.output, math.ceil(shown / COLUMNS))
    print(f"{args.output}: {len(records)} EMF records, {len(samples)} DLQ samples")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
