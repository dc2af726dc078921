"""Screenshots of the tenant portal's main pages for docs/portal.md, from a running sandbox.

    python -m sandbox up --config examples/stack.yaml --state-file /tmp/hs/state.json &
    python -m tools.portal_screenshots --state-file /tmp/hs/state.json [--out docs/images]

Creates a tenant's endpoints on a local receiver (one healthy, one failing), sends test events,
then opens the portal in the same headless Chromium the browser tests use (tools/portal_browser.py)
and saves endpoints, endpoint, messages, message and operator pages as PNG files.
"""

from __future__ import annotations

import argparse
import json
import time
import urllib.request
from pathlib import Path
from typing import Any

from sandbox.receiver import Receiver
from tools.portal_browser import chromium_driver, mint_token

ROOT = Path(__file__).resolve().parent.parent
TENANT = "acme-docs"


def _call(method: str, url: str, body: Any = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"content-type": "application/json"})  # noqa: S310
    with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - the sandbox's loopback API
        return json.load(response)


def _wait(driver: Any, css: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 30).until(expected_conditions.visibility_of_element_located((By.CSS_SELECTOR, css)))
    time.sleep(0.3)  # let the focus ring and layout settle


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.portal_screenshots", description=__doc__.split("\n")[0])
    parser.add_argument("--state-file", required=True, help="the running sandbox's state file")
    parser.add_argument("--out", default=str(ROOT / "docs" / "images"), help="where the PNG files go")
    args = parser.parse_args(argv)
    state = json.loads(Path(args.state_file).read_text())
    api, portal = state["subscriptions_api"], state["portal_url"]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    receiver = Receiver()
    receiver.start()
    driver = chromium_driver()
    try:
        healthy = _call(
            "POST",
            f"{api}/tenants/{TENANT}/endpoints",
            {"url": f"{receiver.url}/orders", "description": "Order system", "eventTypes": ["order.*"]},
        )
        failing = _call(
            "POST",
            f"{api}/tenants/{TENANT}/endpoints",
            {"url": f"{receiver.url}/status/500/crm", "description": "CRM (answers 500)", "rateLimitPerSecond": 10},
        )
        for _ in range(3):
            tested = _call("POST", f"{api}/tenants/{TENANT}/endpoints/{healthy['id']}/test", {})
        _call("POST", f"{api}/tenants/{TENANT}/endpoints/{failing['id']}/test", {})
        token = mint_token(api, TENANT)
        driver.get(f"{portal}?token={token}")
        _wait(driver, "#endpoints-table")
        driver.save_screenshot(str(out / "portal-endpoints.png"))
        driver.set_window_size(1280, 1700)  # the detail pages are long: their attempts are below the fold
        driver.get(f"{portal}#/endpoints/{healthy['id']}")
        _wait(driver, "#endpoint-attempts table")
        driver.save_screenshot(str(out / "portal-endpoint.png"))
        driver.set_window_size(1280, 900)
        driver.get(f"{portal}#/messages")
        _wait(driver, "#messages-heading")
        driver.save_screenshot(str(out / "portal-messages.png"))
        driver.set_window_size(1280, 1300)
        driver.get(f"{portal}#/messages/{tested['eventId']}")
        _wait(driver, "#message-heading")
        driver.save_screenshot(str(out / "portal-message.png"))
        driver.set_window_size(1280, 900)
        driver.get(f"{portal}?token={mint_token(api, None)}")
        _wait(driver, "#operator-endpoints")
        driver.save_screenshot(str(out / "portal-operator.png"))
    finally:
        driver.quit()
        receiver.stop()
    for name in sorted(out.glob("portal-*.png")):
        print(name.relative_to(ROOT) if name.is_relative_to(ROOT) else name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
