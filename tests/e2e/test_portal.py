"""The tenant portal in a real headless Chromium, on the session's sandbox (one browser for the module).

A tenant opens the portal with a minted token (magic link), creates an endpoint, sends a test event
and sees it delivered with its attempt, rotates the signing secret; the page never shows another
tenant's data and cannot fetch it; hostile values (an HTML response body, an HTML description) are
shown as text and never run; the operator view lists every tenant and opens a tenant's portal.
Skips only when chromium or chromedriver is missing (CI installs both: .ci/run).
"""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest

from sandbox.lambda_http import LocalHttpServer
from tools.portal_browser import chromium_driver, chromium_paths, mint_token

pytestmark = pytest.mark.skipif(chromium_paths() is None, reason="chromium and chromedriver are not installed")

TENANT = "portal-e2e"
OTHER = "7"  # tests/e2e/conftest.py: tenant 7 has worker endpoints declared in the stack config
HOSTILE_BODY = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>'
HOSTILE_DESCRIPTION = '<img src=x onerror="window.__pwned=3">billing'
WAIT_SECONDS = 30


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    driver = chromium_driver()
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def hostile_endpoint() -> Iterator[str]:
    """A webhook receiver that answers every delivery with HTML meant to run in the portal."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = HOSTILE_BODY.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = LocalHttpServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hooks?<b>x</b>"
    finally:
        server.shutdown()
        server.server_close()


def wait_for(browser: Any, css: str, text: str | None = None) -> Any:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    locator = (By.CSS_SELECTOR, css)
    condition = (
        expected_conditions.text_to_be_present_in_element(locator, text)
        if text is not None
        else expected_conditions.visibility_of_element_located(locator)
    )
    WebDriverWait(browser, WAIT_SECONDS).until(condition, message=f"{css} {text or ''}: {alert_text(browser)}")
    return browser.find_element(*locator)


def alert_text(browser: Any) -> str:
    return str(browser.execute_script("return document.getElementById('alert').textContent"))


def open_portal(browser: Any, state: dict[str, Any], token: str, view: str = "") -> None:
    browser.get(f"{state['portal_url']}?token={token}{view}")


def page_problems(browser: Any) -> list[str]:
    """Console errors: script errors and CSP or Trusted Types violations would show here."""
    return [entry["message"] for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]


def test_a_tenant_creates_an_endpoint_sees_its_test_delivery_and_rotates_the_secret(
    browser: Any, sandbox_state: dict[str, Any], hostile_endpoint: str
) -> None:
    from selenium.webdriver.common.by import By

    token = mint_token(sandbox_state["subscriptions_api"], TENANT)
    page_problems(browser)
    open_portal(browser, sandbox_state, token)
    wait_for(browser, "#endpoints-heading")
    # The magic link's token leaves the address bar and the history at once; it lives in sessionStorage.
    assert "token" not in browser.current_url
    assert browser.execute_script("return sessionStorage.getItem('hookstack.portal.token')") == token
    assert browser.execute_script("return localStorage.length") == 0
    assert f"Tenant {TENANT}" in browser.find_element(By.ID, "who").text

    form = browser.find_element(By.ID, "create-form")
    form.find_element(By.NAME, "url").send_keys(hostile_endpoint)
    form.find_element(By.NAME, "description").send_keys(HOSTILE_DESCRIPTION)
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait_for(browser, "#secret-card")
    secret_value = browser.find_element(By.ID, "secret-value")
    assert not secret_value.is_displayed()  # hidden until revealed
    browser.find_element(By.CSS_SELECTOR, "#secret-card button[aria-controls=secret-value]").click()
    first_secret = wait_for(browser, "#secret-value").text
    assert first_secret.startswith("whsec_")

    browser.find_element(By.ID, "created-link").click()
    wait_for(browser, "#endpoint-heading")
    assert browser.find_element(By.ID, "endpoint-url").text == hostile_endpoint

    browser.find_element(By.ID, "send-test").click()
    wait_for(browser, "#test-result", "succeeded")
    wait_for(browser, "#endpoint-attempts", "200")
    attempts = browser.find_element(By.ID, "endpoint-attempts")
    assert "hookstack.test" in attempts.text or "succeeded" in attempts.text
    details = attempts.find_element(By.CSS_SELECTOR, "details")
    details.find_element(By.TAG_NAME, "summary").click()
    # The response body is text on the page, never markup.
    assert details.find_element(By.CSS_SELECTOR, "pre.body").text == HOSTILE_BODY

    browser.find_element(By.ID, "rotate-secret").click()
    wait_for(browser, "#secret-card")
    browser.find_element(By.CSS_SELECTOR, "#secret-card button[aria-controls=secret-value]").click()
    second_secret = wait_for(browser, "#secret-value").text
    assert second_secret.startswith("whsec_") and second_secret != first_secret

    # Edit and disable: the API has the change (the form sends only what the model accepts).
    edit = browser.find_element(By.ID, "edit-form")
    rate = edit.find_element(By.NAME, "rateLimitPerSecond")
    rate.clear()
    rate.send_keys("7")
    edit.find_element(By.NAME, "headers").send_keys("x-team: billing")
    edit.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait_for(browser, "#status", "Changes saved.")
    browser.find_element(By.ID, "toggle-enabled").click()
    wait_for(browser, "#endpoint-status", "disabled")
    endpoint_id = browser.find_element(By.CSS_SELECTOR, ".facts dd.mono").text
    with urllib.request.urlopen(
        f"{sandbox_state['subscriptions_api']}/tenants/{TENANT}/endpoints/{endpoint_id}", timeout=30
    ) as reply:
        stored = json.load(reply)
    assert (stored["rateLimitPerSecond"], stored["headers"], stored["enabled"]) == (7, {"x-team": "billing"}, False)

    browser.get(f"{sandbox_state['portal_url']}#/endpoints")  # a reload: the session survives it
    row = wait_for(browser, "#endpoints-table", hostile_endpoint)
    assert HOSTILE_DESCRIPTION in row.text and "disabled" in row.text

    assert browser.execute_script("return window.__pwned") is None
    assert browser.find_elements(By.CSS_SELECTOR, "main img, main script, main b") == []
    assert page_problems(browser) == []


def test_the_page_never_shows_or_reaches_another_tenants_data(browser: Any, sandbox_state: dict[str, Any]) -> None:
    from selenium.webdriver.common.by import By

    with urllib.request.urlopen(f"{sandbox_state['subscriptions_api']}/tenants/{OTHER}/endpoints", timeout=30) as reply:
        others = json.load(reply)["data"]
    assert others, "tenant 7 has endpoints in the e2e stack"
    secrets = [value for path, value in sandbox_state["local_secrets"].items() if path.startswith("tenants[")]
    forbidden = [e["id"] for e in others] + [e["url"] for e in others] + secrets

    token = mint_token(sandbox_state["subscriptions_api"], TENANT)
    open_portal(browser, sandbox_state, token)
    wait_for(browser, "#endpoints-heading")
    for view, ready in (("#/endpoints", "#endpoints-heading"), ("#/messages", "#messages-heading")):
        browser.get(f"{sandbox_state['portal_url']}{view}")
        wait_for(browser, ready)
        text = browser.find_element(By.TAG_NAME, "body").text
        assert not [value for value in forbidden if value in text], view
    # Another tenant's endpoint id under this tenant's path: not found, nothing of it shown.
    browser.get(f"{sandbox_state['portal_url']}#/endpoints/{others[0]['id']}")
    wait_for(browser, "#alert", "no such endpoint")
    assert others[0]["url"] not in browser.find_element(By.TAG_NAME, "body").text

    # And the page's own token cannot fetch another tenant's routes, however the path is spelled.
    script = """
        const [api, token, paths, done] = arguments;
        Promise.all(paths.map((p) => fetch(api + p, {headers: {Authorization: 'Bearer ' + token}}).then((r) => r.status)))
          .then(done, (e) => done(String(e)));
    """
    paths = [f"/tenants/{OTHER}/endpoints", f"/tenants/{OTHER}/attempts", f"/tenants/{TENANT}%2F..%2F{OTHER}/endpoints"]
    api = json.loads(urllib.request.urlopen(f"{sandbox_state['portal_url']}config.json", timeout=30).read())[
        "apiBaseUrl"
    ]
    statuses = browser.execute_async_script(script, api, token, paths)
    assert all(status in (400, 403, 404) for status in statuses), statuses
    assert statuses[0] == 403 and statuses[1] == 403


def test_the_operator_view_lists_every_tenant_and_opens_a_tenants_portal(
    browser: Any, sandbox_state: dict[str, Any]
) -> None:
    from selenium.webdriver.common.by import By

    token = mint_token(sandbox_state["subscriptions_api"], None)
    page_problems(browser)  # drained: the previous test's refused requests are logged as errors
    open_portal(browser, sandbox_state, token)
    wait_for(browser, "#operator-heading")
    queues = browser.find_element(By.ID, "dlq-table").text
    assert "hookstack-delivery-dlq" in queues
    tenants = browser.find_element(By.ID, "tenants-table").text
    assert OTHER in tenants and TENANT in tenants
    assert "t7/crm" in browser.find_element(By.ID, "operator-endpoints").text
    assert page_problems(browser) == []

    home = browser.current_window_handle
    browser.find_element(By.CSS_SELECTOR, f"button[data-tenant='{TENANT}']").click()
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, WAIT_SECONDS).until(lambda b: len(b.window_handles) == 2)
    browser.switch_to.window(next(h for h in browser.window_handles if h != home))
    try:
        wait_for(browser, "#endpoints-heading")
        assert f"Tenant {TENANT}" in browser.find_element(By.ID, "who").text
        assert "token" not in browser.current_url
    finally:
        browser.close()
        browser.switch_to.window(home)
