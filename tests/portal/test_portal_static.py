"""The portal's static files: no string ever becomes markup or code, no inline script or style (the
CSP forbids both), one owner for shared numbers; and the sandbox serves them as CloudFront does."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from types import SimpleNamespace

import pytest

from components.config import PortalSettings
from components.specs.portal import PORTAL_DIR, portal_files, security_headers
from functions.delivery.api.operator import HEALTH_WINDOW
from sandbox.portal import LocalPortal

SCRIPTS = sorted((PORTAL_DIR / "js").glob("*.js"))
# Every API that parses a string as HTML or code (Trusted Types' sinks and their older cousins).
SINKS = re.compile(
    r"\.innerHTML|\.outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function|setTimeout\(\s*[\"'`]"
    r"|setInterval\(\s*[\"'`]|createContextualFragment|DOMParser|\.srcdoc|setAttribute\(\s*[\"'](?:on|style)"
)


def test_no_script_turns_a_string_into_markup_or_code() -> None:
    assert len(SCRIPTS) >= 5
    offenders = {path.name: SINKS.findall(path.read_text()) for path in SCRIPTS}
    assert not {name: found for name, found in offenders.items() if found}


def test_the_page_has_no_inline_script_style_or_handler() -> None:
    html = (PORTAL_DIR / "index.html").read_text()
    assert re.findall(r"<script\b[^>]*>", html) == ['<script type="module" src="js/main.js">']
    assert "</script>" in html and re.search(r"<script[^>]*>\s*</script>", html)  # empty: src only
    assert not re.search(r"<style\b|\sstyle=|\son[a-z]+=", html, re.I)
    assert not re.search(r"\s(?:src|href)=\"(?:https?:)?//", html)  # nothing from another origin, no CDN


def test_the_browser_and_the_operator_route_compute_health_over_the_same_window() -> None:
    health_js = (PORTAL_DIR / "js" / "health.js").read_text()
    assert re.search(rf"export const HEALTH_WINDOW = {HEALTH_WINDOW};", health_js)


class FakeGate:
    def __init__(self) -> None:
        self.allowed_origins: list[str] = []


@pytest.fixture
def served() -> Iterator[tuple[LocalPortal, SimpleNamespace]]:
    delivery = SimpleNamespace(
        self_service_gate=FakeGate(), self_service_server=SimpleNamespace(url="http://127.0.0.1:9")
    )
    portal = LocalPortal(PortalSettings(theme=(("accent", "#0a6"),)), lambda: delivery)
    portal.create()
    portal.start()
    yield portal, delivery
    portal.stop()


def fetch(url: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_the_sandbox_serves_every_file_with_its_type_and_the_security_headers(
    served: tuple[LocalPortal, SimpleNamespace],
) -> None:
    portal, delivery = served
    assert delivery.self_service_gate.allowed_origins == [portal.url]  # the API answers CORS for it
    expected = security_headers("http://127.0.0.1:9", ())
    for key, path, content_type in portal_files():
        status, headers, body = fetch(f"{portal.url}/{key}")
        assert (status, headers["Content-Type"], body) == (200, content_type, path.read_bytes())
        for name, value in expected.items():
            assert headers[name] == value
    status, headers, body = fetch(f"{portal.url}/?token=abc")
    assert status == 200 and body == (PORTAL_DIR / "index.html").read_bytes()
    status, headers, body = fetch(f"{portal.url}/config.json")
    assert json.loads(body) == {"apiBaseUrl": "http://127.0.0.1:9", "theme": {"accent": "#0a6"}}
    assert headers["Cache-Control"] == "no-cache"
    for outside in ("/../components/specs/portal.py", "/%2e%2e/README.md", "/js/../../README.md", "/nothing.js"):
        status, headers, _ = fetch(portal.url + outside)
        assert status == 404 and headers["X-Content-Type-Options"] == "nosniff", outside
    assert portal.state() == {"portal_url": f"{portal.url}/"}
