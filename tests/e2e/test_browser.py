"""The citizen's page in a real browser (Debian's Chromium driven by Playwright), at a phone's
viewport: verdict in colour, icon and words; language and large-text switches; no third-party
requests; no sideways scrolling."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import Server, example

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

PHONE = {"width": 390, "height": 844}
GREEN = "rgb(10, 125, 50)"
RED = "rgb(179, 0, 27)"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    exe = shutil.which("chromium")
    if exe is None:
        pytest.fail("chromium is not installed: run `make install` (Debian package chromium)")
    with sync_playwright() as p:
        # Flags keep Chromium from calling home on a machine with no internet access.
        b = p.chromium.launch(
            executable_path=exe,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield b
        b.close()


def open_page(browser: Any, url: str, requests: list[str]) -> Any:
    page = browser.new_page(viewport=PHONE, device_scale_factor=2, is_mobile=True)
    page.on("request", lambda r: requests.append(r.url))
    response = page.goto(url)
    assert response is not None
    return page, response.status


def test_valid_certificate_page_on_a_phone(
    browser: Any, issued: dict[str, Any], server: Server, tmp_path: Path
) -> None:
    requests: list[str] = []
    page, status = open_page(browser, issued["verify_url"], requests)
    assert status == 200
    verdict = page.locator("section.verdict")
    assert verdict.get_attribute("data-verdict") == "VALID"
    assert verdict.evaluate("e => getComputedStyle(e).backgroundColor") == GREEN
    assert "✔" in verdict.inner_text() and "证照有效" in verdict.inner_text()
    assert issued["id"] in page.inner_text("dl")
    # Fits the phone's width: nothing to scroll sideways.
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.screenshot(path=str(tmp_path / "valid-zh.png"), full_page=True)

    page.click("text=English")
    assert "Certificate is valid" in page.locator("section.verdict").inner_text()
    normal = page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)")
    page.click("text=Large text")
    large = page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)")
    assert large >= normal * 1.25
    assert "lang=en" in page.url and "size=large" in page.url
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.screenshot(path=str(tmp_path / "valid-en-large.png"), full_page=True)
    # Everything the page loaded came from our own server.
    assert requests and all(r.startswith(server.url) for r in requests)
    page.close()


def test_revoked_certificate_page_is_red_with_reason(
    browser: Any, server: Server, catalogue: list[dict[str, Any]]
) -> None:
    dep = server.deployment
    with server.client() as c:
        r = c.post(
            "/api/v1/certificates",
            headers=dep.auth("transport"),
            json={
                "type": "road-transport-permit",
                "data": example(catalogue, "road-transport-permit"),
            },
        )
        assert r.status_code == 201, r.text
        body = r.json()
        rv = c.post(
            f"/api/v1/certificates/{body['id']}/revoke",
            headers=dep.auth("transport"),
            json={"reason": "经营资质被注销"},
        )
        assert rv.status_code == 200
    page, status = open_page(browser, body["verify_url"], [])
    assert status == 200
    verdict = page.locator("section.verdict")
    assert verdict.get_attribute("data-verdict") == "INVALID"
    assert verdict.evaluate("e => getComputedStyle(e).backgroundColor") == RED
    assert "✖" in verdict.inner_text()
    assert "经营资质被注销" in page.inner_text("details")  # reasons are open, not hidden
    page.close()


def test_suspended_certificate_page_says_so_until_reinstated(
    browser: Any, server: Server, issued: dict[str, Any]
) -> None:
    dep = server.deployment

    def change(action: str, reason: str) -> None:
        with server.client() as c:
            r = c.post(
                f"/api/v1/certificates/{issued['id']}/{action}",
                headers=dep.auth("market-regulation"),
                json={"reason": reason},
            )
        assert r.status_code == 200, r.text

    change("suspend", "annual inspection overdue")
    page, status = open_page(browser, issued["verify_url"] + "&lang=en", [])
    assert status == 200
    verdict = page.locator("section.verdict")
    assert verdict.get_attribute("data-verdict") == "INVALID"
    assert verdict.evaluate("e => getComputedStyle(e).backgroundColor") == RED
    facts = page.inner_text("dl")
    assert "Suspended" in facts and "In force" not in facts
    assert "annual inspection overdue" in page.inner_text("details")
    page.close()
    change("reinstate", "inspection done")
    page, status = open_page(browser, issued["verify_url"] + "&lang=en", [])
    verdict = page.locator("section.verdict")
    assert verdict.get_attribute("data-verdict") == "VALID"
    assert verdict.evaluate("e => getComputedStyle(e).backgroundColor") == GREEN
    assert "In force" in page.inner_text("dl")
    page.close()


def test_wrong_token_page(browser: Any, issued: dict[str, Any]) -> None:
    url = issued["verify_url"].split("?")[0] + "?t=guess"
    page, status = open_page(browser, url, [])
    assert status == 404
    assert "二维码" in page.inner_text("body")
    page.close()
