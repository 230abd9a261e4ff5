"""The start page (``/``) in Chromium: where each kind of user goes, in Chinese and English,
with no WCAG 2.1 AA violation at 360×640 and 1280×800, reachable by keyboard, and under a
Content-Security-Policy that allows nothing but its own stylesheet."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Server

from .conftest import DESKTOP, axe_violations, new_page, screenshot_dir

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

SMALL_PHONE = {"width": 360, "height": 640}


def test_headers_and_no_personal_data(web_server: Server) -> None:
    r = httpx.get(f"{web_server.url}/", timeout=30)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    csp = r.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert "script-src" not in csp and "unsafe-inline" not in csp
    assert r.headers["referrer-policy"] == "no-referrer"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "<script" not in r.text
    for href in ('href="/counter"', 'href="/agency"', 'href="/docs"'):
        assert href in r.text
    en = httpx.get(f"{web_server.url}/?lang=en", timeout=30)
    assert 'lang="en"' in en.text and 'href="/counter?lang=en"' in en.text
    # An unknown language is the default page, not an error.
    assert httpx.get(f"{web_server.url}/?lang=xx", timeout=30).status_code == 200
    # The consoles it links to are there (the agency console is another page's work).
    assert httpx.get(f"{web_server.url}/counter", timeout=30).status_code == 200
    assert httpx.get(f"{web_server.url}/docs", timeout=30).status_code == 200


@pytest.mark.parametrize("viewport", [SMALL_PHONE, DESKTOP], ids=["360", "1280"])
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_start_page_is_accessible(
    browser: Any, web_server: Server, viewport: dict[str, int], lang: str
) -> None:
    # The page's real CSP: its stylesheet must apply under it.
    page = new_page(browser, viewport, bypass_csp=False)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(f"{web_server.url}/" + ("?lang=en" if lang == "en" else ""))
    assert page.evaluate("document.documentElement.lang") == ("zh-CN" if lang == "zh" else "en")
    main = page.locator("main").inner_text()
    assert ("二维码" if lang == "zh" else "QR code") in main
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(244, 245, 247)"
    assert not errors, errors
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
    # Keyboard only: Tab reaches the language switch and each console's link, in order.
    reached = []
    for _ in range(4):
        page.keyboard.press("Tab")
        reached.append(page.evaluate("document.activeElement.getAttribute('href')"))
    suffix = "?lang=en" if lang == "en" else ""
    assert reached[1:] == [f"/counter{suffix}", f"/agency{suffix}", "/docs"], reached
    page.screenshot(
        path=str(screenshot_dir() / f"start-{lang}-{viewport['width']}.png"), full_page=True
    )
    page.context.close()
    # axe-core is injected, so this half runs with the page's CSP bypassed.
    page = new_page(browser, viewport)
    page.goto(f"{web_server.url}/" + ("?lang=en" if lang == "en" else ""))
    assert axe_violations(page) == []
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url.split("?")[0].endswith("/counter")
    page.context.close()
