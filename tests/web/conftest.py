"""Browser tests of the consoles: a real deployment and server on a free port (the e2e
fixtures), driven through Debian's Chromium by Playwright (``executable_path``: Playwright's
own browser download is never used).

Screenshots are kept as test artefacts in ``build/web-screenshots`` (or
``CERTLEDGER_SCREENSHOTS``); axe-core comes from the repository's ``node_modules`` (``npm ci``,
pinned in package.json / package-lock.json).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import (
    Deployment,
    Server,
    example,
    make_deployment,
    start_server,
    stop_server,
)

ROOT = Path(__file__).resolve().parents[2]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
UPLOAD_LIMIT = 2 * 1024 * 1024
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
# Flags that keep Chromium from calling home, and that work in a container without a GPU.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str:
    exe = os.environ.get("CERTLEDGER_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(exe).exists():
        pytest.fail("chromium is not installed: run `make install` (Debian package chromium)")
    return exe


def screenshot_dir() -> Path:
    out = Path(os.environ.get("CERTLEDGER_SCREENSHOTS") or ROOT / "build" / "web-screenshots")
    out.mkdir(parents=True, exist_ok=True)
    return out


@pytest.fixture(scope="session")
def web_deployment(tmp_path_factory: pytest.TempPathFactory) -> Deployment:
    return make_deployment(tmp_path_factory.mktemp("web") / "home")


@pytest.fixture(scope="session")
def web_server(web_deployment: Deployment) -> Iterator[Server]:
    srv = start_server(web_deployment, {"CERTLEDGER_MAX_UPLOAD_BYTES": str(UPLOAD_LIMIT)})
    yield srv
    stop_server(srv)


@pytest.fixture(scope="session")
def web_catalogue(web_deployment: Deployment) -> list[dict[str, Any]]:
    return list(json.loads(web_deployment.cli("types", "--json", check=True).stdout))


def add_client(dep: Deployment, agency: str, name: str, *roles: str) -> dict[str, Any]:
    args = ["clients", "add", "--agency", agency, "--name", name, "--json"]
    for role in roles:
        args += ["--role", role]
    return dict(json.loads(dep.cli(*args, check=True).stdout))


@pytest.fixture(scope="session")
def clerk(web_deployment: Deployment, web_server: Server) -> dict[str, Any]:
    """A counter clerk of the market regulator: a verifier client."""
    return add_client(web_deployment, "market-regulation", "窗口 3 · 王敏", "verifier")


def issue(
    server: Server, catalogue: list[dict[str, Any]], agency: str, cert_type: str
) -> dict[str, Any]:
    with server.client() as c:
        r = c.post(
            "/api/v1/certificates",
            headers=server.deployment.auth(agency),
            json={"type": cert_type, "data": example(catalogue, cert_type)},
        )
        assert r.status_code == 201, r.text
        body = dict(r.json())
        pdf = c.get(body["pdf_url"], headers=server.deployment.auth(agency))
        assert pdf.status_code == 200
        body["pdf"] = pdf.content
    return body


def wait_anchored(server: Server, cert_id: str) -> None:
    """Until the certificate's digest is on the ledger (the server anchors in batches)."""
    import time

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        r = httpx.get(f"{server.url}/api/v1/certificates/{cert_id}", timeout=5)
        if r.status_code == 200 and r.json()["status"] == "active":
            return
        time.sleep(0.2)
    raise AssertionError(f"{cert_id} was not anchored in 30 s")


@pytest.fixture(scope="session")
def licence(web_server: Server, web_catalogue: list[dict[str, Any]]) -> dict[str, Any]:
    """A business licence of the clerk's own agency, anchored."""
    body = issue(web_server, web_catalogue, "market-regulation", "business-licence")
    wait_anchored(web_server, body["id"])
    return body


@pytest.fixture(scope="module")
def playwright_driver() -> Iterator[Any]:
    # Playwright's sync API allows one driver at a time in a process: one per test module,
    # so that it never overlaps another suite's (tests/e2e/test_browser.py has its own).
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright_driver: Any) -> Iterator[Any]:
    b = playwright_driver.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
    yield b
    b.close()


@pytest.fixture()
def profile_dir() -> Iterator[Path]:
    """A fresh --user-data-dir for a persistent browser (the fake camera's)."""
    with tempfile.TemporaryDirectory(prefix="chromium-") as d:
        yield Path(d)


def new_page(
    browser: Any, viewport: dict[str, int] = DESKTOP, *, bypass_csp: bool = True, **options: Any
) -> Any:
    # bypass_csp: so the tests can inject axe-core; the camera test runs with the pages' real
    # Content-Security-Policy, which proves the desk's script works under it.
    context = browser.new_context(
        viewport=viewport,
        bypass_csp=bypass_csp,
        device_scale_factor=1,
        is_mobile=viewport["width"] < 500,
        has_touch=viewport["width"] < 500,
        **options,
    )
    return context.new_page()


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """axe-core's WCAG 2.0/2.1 A and AA violations on the page as it is."""
    if not AXE.is_file():
        pytest.fail("axe-core is not installed: run `npm ci` at the repository root")
    page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        """async () => {
            const r = await axe.run(document, {runOnly: {type: 'tag',
                values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}});
            return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.map(n => n.target.join(' ') + ' :: ' + n.failureSummary)}));
        }"""
    )
    return list(result)


def sign_in(page: Any, server: Server, token: str, *, lang: str = "zh") -> None:
    page.goto(f"{server.url}/counter" + ("?lang=en" if lang == "en" else ""))
    page.fill("#token", token)
    page.click("#sign-in button[type=submit]")
    page.wait_for_selector("#desk")


def form_csrf(html: str, method: str | None = None) -> str:
    """The CSRF token of a console page's form (of the sign-in form for ``method``, where
    the page offers more than one)."""
    if method is not None:
        form = re.search(
            r'<form[^>]*>(?:(?!</form>).)*name="method" value="' + method + r'"', html, re.S
        )
        assert form is not None, html
        html = form.group(0)
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m is not None
    return m.group(1)


def tls_world(tmp_path_factory: pytest.TempPathFactory, name: str) -> Iterator[Any]:
    """A deployment served over mutual TLS, with its client-certificate world (the body of
    the consoles' module-scoped ``tls`` fixtures)."""
    from tests.e2e.conftest import free_port
    from tests.e2e.test_mtls import TlsWorld, start_tls_server

    root = tmp_path_factory.mktemp(name)
    dep = make_deployment(root / "home", free_port())
    catalogue = json.loads(dep.cli("types", "--json", check=True).stdout)
    permit = dict(next(t for t in catalogue if t["code"] == "road-transport-permit")["example"])
    server = start_tls_server(dep)
    try:
        yield TlsWorld(server, root / "client-certs", permit)
    finally:
        stop_server(server)


def console_sign_in(c: httpx.Client, console: str, token: str, **extra: str) -> httpx.Response:
    """Signs ``c`` in to a console (``/counter`` or ``/agency``) with a client token, as its
    sign-in form would: the answer, for the caller to check."""
    csrf = form_csrf(c.get(console).text)
    return c.post(f"{console}/sign-in", data={"csrf": csrf, "token": token, **extra})


@contextlib.contextmanager
def console_client(
    server: Server, console: str, token: str, **extra: str
) -> Iterator[httpx.Client]:
    """An HTTP client signed in to a console (for the checks a browser does not make)."""
    with httpx.Client(base_url=server.url, timeout=60, follow_redirects=False) as c:
        r = console_sign_in(c, console, token, **extra)
        assert r.status_code == 303, r.text
        yield c
