"""Headless Chromium for the portal: the browser tests (tests/e2e/test_portal.py) and the screenshots
(python -m tools.portal_screenshots) drive the same one, Debian's ``chromium`` + ``chromedriver``."""

from __future__ import annotations

import json
import shutil
import urllib.request
from typing import Any

CHROMIUM = ("/usr/bin/chromium", "chromium", "chromium-browser")
CHROMEDRIVER = ("/usr/bin/chromedriver", "chromedriver")
WINDOW = (1280, 900)


def _find(names: tuple[str, ...]) -> str | None:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    return None


def chromium_paths() -> tuple[str, str] | None:
    """(browser, driver), or None when either is not installed."""
    browser, driver = _find(CHROMIUM), _find(CHROMEDRIVER)
    return (browser, driver) if browser and driver else None


def chromium_driver() -> Any:
    """A headless Chromium WebDriver (Selenium), console logs kept for CSP and script errors."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    paths = chromium_paths()
    if paths is None:
        raise RuntimeError("chromium and chromedriver are needed: apt-get install chromium chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = paths[0]
    for argument in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root in a container
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--no-first-run",
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
        "--lang=en-US",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(paths[1]), options=options)
    driver.set_page_load_timeout(30)
    driver.set_script_timeout(30)
    return driver


def mint_token(api_url: str, tenant_id: str | None, scopes: list[str] | None = None) -> str:
    """A token from the IAM-only subscription API (the sandbox does not check SigV4): a tenant's, or
    with ``tenant_id=None`` an operator's. What the SaaS backend does before opening the portal."""
    if tenant_id is None:
        path, body = "/operator/tokens", {}
    else:
        path = f"/tenants/{tenant_id}/tokens"
        body = {"scopes": scopes or ["endpoints:read", "endpoints:write", "messages:read", "messages:replay"]}
    request = urllib.request.Request(  # noqa: S310 - the sandbox's loopback API
        api_url + path,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"content-type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - the sandbox's loopback API
        return str(json.load(response)["token"])
