"""The citizen page for everyone, elderly people included, in Chromium: the verdict read aloud
(the browser's voice, or the server's WAV where the browser has none), large text and high
contrast remembered, the verdict and the audio link with JavaScript off, no WCAG 2.1 AA
violation, and the page's own Content-Security-Policy honoured by its script."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Server

from .conftest import (
    DESKTOP,
    PHONE,
    axe_violations,
    issue,
    new_page,
    screenshot_dir,
    wait_anchored,
)

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


def _font_size(page: Any) -> float:
    return float(page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)"))


def test_read_aloud_plays_the_spoken_answer(
    browser: Any, web_server: Server, licence: dict[str, Any]
) -> None:
    # The page's real CSP: its one inline script must run under it.
    page = new_page(browser, PHONE, bypass_csp=False)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    audio: list[Any] = []
    page.on("response", lambda r: audio.append(r) if "/audio?" in r.url else None)
    response = page.goto(licence["verify_url"])
    assert response is not None and response.status == 200
    assert "script-src 'sha256-" in response.headers["content-security-policy"]
    button = page.locator("#speak")
    assert button.is_visible() and "朗读" in button.inner_text()
    assert not page.locator("#listen").is_visible()  # the no-script link gives way
    spoken = page.locator("#spoken").text_content() or ""
    assert spoken.startswith("证照有效") and "营业执照" in spoken
    with page.expect_response(lambda r: "/audio?" in r.url) as answer:
        button.click()
    # Headless Chromium has no Mandarin voice: the server's audio is played instead.
    assert answer.value.status == 200
    assert answer.value.headers["content-type"] == "audio/wav"
    assert button.get_attribute("data-spoke") == "audio"
    assert not [e for e in errors if "Content Security Policy" in e], errors
    page.context.close()


def test_audio_is_a_wav_of_the_answer_and_guarded_like_the_page(
    web_server: Server, licence: dict[str, Any]
) -> None:
    base = licence["verify_url"].replace("?", "/audio?", 1)
    r = httpx.get(base + "&lang=en", timeout=30)
    assert r.status_code == 200
    assert r.headers["content-type"] == "audio/wav"
    assert "no-store" in r.headers["cache-control"]
    wav = r.content
    assert wav[:4] == b"RIFF" and wav[8:12] == b"WAVE"
    assert int.from_bytes(wav[4:8], "little") == len(wav) - 8  # sizes filled in
    assert len(wav) > 20_000  # seconds of speech, not an empty file
    wrong = httpx.get(base.split("?")[0] + "?t=guess", timeout=30)
    assert wrong.status_code == 404
    body = wrong.json()
    assert body["code"] == "NOT_FOUND" and body["message"]["zh"] and body["message"]["en"]


def test_large_text_and_high_contrast_are_remembered(
    browser: Any, web_server: Server, licence: dict[str, Any]
) -> None:
    page = new_page(browser, PHONE)
    page.goto(licence["verify_url"])
    normal = _font_size(page)
    page.click("text=大字版")
    page.click("text=高对比度")
    assert _font_size(page) >= normal * 1.25
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(0, 0, 0)"
    # The plain QR link again, as on the next certificate scanned: both choices hold.
    page.goto(licence["verify_url"])
    assert _font_size(page) >= normal * 1.25
    assert page.evaluate("document.body.className") == "hc"
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert axe_violations(page) == []
    page.screenshot(path=str(screenshot_dir() / "citizen-phone-large-contrast.png"), full_page=True)
    page.click("text=标准字号")
    page.click("text=标准对比度")
    page.goto(licence["verify_url"])
    assert _font_size(page) == normal
    assert page.evaluate("document.body.className") == ""
    page.context.close()


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_no_wcag_violations(
    browser: Any, web_server: Server, licence: dict[str, Any], viewport: dict[str, int]
) -> None:
    for lang in ("zh", "en"):
        page = new_page(browser, viewport)
        page.goto(licence["verify_url"] + f"&lang={lang}")
        assert axe_violations(page) == [], lang
        name = f"citizen-{lang}-{viewport['width']}.png"
        page.screenshot(path=str(screenshot_dir() / name), full_page=True)
        page.context.close()


def test_with_javascript_off_the_verdict_and_the_audio_link_remain(
    browser: Any, web_server: Server, licence: dict[str, Any]
) -> None:
    page = new_page(browser, PHONE, java_script_enabled=False)
    page.goto(licence["verify_url"])
    verdict = page.locator("section.verdict")
    assert verdict.get_attribute("data-verdict") == "VALID"
    assert "证照有效" in verdict.inner_text()
    assert not page.locator("#speak").is_visible()
    link = page.locator("#listen")
    assert link.is_visible() and "/audio?" in (link.get_attribute("href") or "")
    page.context.close()


# -- what people tripped over (issue 12): a small phone, a revoked certificate --------------

SMALL_PHONE = {"width": 360, "height": 640}


@pytest.fixture(scope="module")
def revoked(web_server: Server, web_catalogue: list[dict[str, Any]]) -> dict[str, Any]:
    """A business licence with no expiry date, revoked with a reason."""
    body = issue(web_server, web_catalogue, "market-regulation", "business-licence")
    wait_anchored(web_server, body["id"])
    r = httpx.post(
        f"{web_server.url}/api/v1/certificates/{body['id']}/revoke",
        headers=web_server.deployment.auth("market-regulation"),
        json={"reason": "营业执照已注销 licence cancelled"},
        timeout=60,
    )
    assert r.status_code == 200, r.text
    return body


def _rgb(css: str) -> tuple[int, int, int]:
    r, g, b = (int(x) for x in re.findall(r"\d+", css)[:3])
    return r, g, b


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_revoked_certificate_says_why_in_the_banner_at_360x640(
    browser: Any, web_server: Server, revoked: dict[str, Any], lang: str
) -> None:
    page = new_page(browser, SMALL_PHONE)
    page.goto(revoked["verify_url"] + f"&lang={lang}")
    banner = page.locator("section.verdict")
    assert banner.get_attribute("data-verdict") == "INVALID"
    said = banner.inner_text()
    assert "营业执照已注销 licence cancelled" in said
    assert ("已被撤销" if lang == "zh" else "revoked") in said
    assert "下方" not in said and "below" not in said  # no pointer to lines further down
    # The whole banner, reason included, is on the first screen without scrolling.
    box = banner.bounding_box()
    assert box is not None and box["y"] + box["height"] <= SMALL_PHONE["height"], box
    assert page.evaluate("document.documentElement.scrollWidth") <= SMALL_PHONE["width"]
    text = page.locator("main").inner_text()
    # Nothing reassuring under a red verdict: no "long-term valid", no green line.
    assert "长期有效" not in text and "long-term" not in text.lower()
    for item in page.locator("ul.checks li").all():
        r, g, b = _rgb(item.evaluate("e => getComputedStyle(e).color"))
        assert not (g > r + 40 and g > b + 40), item.inner_text()  # not green
    # Each line says its outcome in words with an icon, the failing one first.
    first = page.locator("ul.checks li").first
    assert first.get_attribute("class") == "FAILED"
    assert first.locator(".mark").inner_text().startswith("✖")
    assert ("未通过" if lang == "zh" else "Failed") in first.inner_text()
    passed = page.locator("ul.checks li.PASSED .mark").first.inner_text()
    assert passed.startswith("✔") and ("通过" if lang == "zh" else "Passed") in passed
    assert axe_violations(page) == []
    page.screenshot(path=str(screenshot_dir() / f"citizen-revoked-{lang}-360.png"), full_page=True)
    page.context.close()


@pytest.mark.parametrize("viewport", [SMALL_PHONE, DESKTOP], ids=["360", "1280"])
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_times_are_beijing_time_and_words_are_not_split(
    browser: Any,
    web_server: Server,
    licence: dict[str, Any],
    revoked: dict[str, Any],
    viewport: dict[str, int],
    lang: str,
) -> None:
    for name, cert, size in (
        ("valid", licence, "normal"),
        ("revoked", revoked, "normal"),
        ("valid-large", licence, "large"),
    ):
        page = new_page(browser, viewport)
        page.goto(cert["verify_url"] + f"&lang={lang}&size={size}")
        footer = page.locator("footer").inner_text()
        zone = "北京时间" if lang == "zh" else "Beijing time (UTC+8)"
        assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d " + re.escape(zone), footer), footer
        assert "UTC " not in footer.replace("UTC+8", "")
        styles = page.evaluate(
            "[...document.querySelectorAll('dd')].map(e => getComputedStyle(e).wordBreak)"
        )
        assert "break-all" not in styles
        # The certificate number stays on one line, unbroken.
        number = page.locator("dd.id")
        assert number.inner_text() == cert["id"]
        line = float(number.evaluate("e => parseFloat(getComputedStyle(e).lineHeight)"))
        box = number.bounding_box()
        assert box is not None and box["height"] < 1.5 * line, (name, box)
        assert number.evaluate("e => e.scrollWidth <= e.clientWidth"), name  # nothing cut off
        assert axe_violations(page) == [], (name, lang)
        page.screenshot(
            path=str(screenshot_dir() / f"citizen-{name}-{lang}-{viewport['width']}.png"),
            full_page=True,
        )
        page.context.close()
