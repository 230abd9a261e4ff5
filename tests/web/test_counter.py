"""The counter desk in a real browser: sign-in, the three ways in (upload, camera, keyboard
wedge), the result page, the printed receipt, the day's list, CSRF, refusals and axe-core."""

from __future__ import annotations

import contextlib
import io
import json
import re
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import segno
import zxingcpp
from PIL import Image

from tests import tamper
from tests.e2e.conftest import Deployment, Server, server_log

from .conftest import (
    CHROMIUM_ARGS,
    DESKTOP,
    PHONE,
    UPLOAD_LIMIT,
    add_client,
    axe_violations,
    chromium_path,
    console_client,
    form_csrf,
    new_page,
    screenshot_dir,
    sign_in,
)

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

SIZES = {"phone": PHONE, "desktop": DESKTOP}


def shot(page: Any, name: str) -> None:
    page.screenshot(path=str(screenshot_dir() / f"{name}.png"), full_page=True)


def check_page(page: Any, name: str) -> None:
    """Every desk page: no WCAG 2.1 A/AA violation (axe-core), nothing to scroll sideways,
    and a screenshot kept to look at."""
    shot(page, name)
    violations = axe_violations(page)
    assert violations == [], json.dumps(violations, ensure_ascii=False, indent=1)
    width = page.viewport_size["width"]
    assert page.evaluate("document.documentElement.scrollWidth") <= width, name


def upload(page: Any, pdf: bytes, tmp_path: Path, name: str = "certificate.pdf") -> None:
    path = tmp_path / name
    path.write_bytes(pdf)
    page.set_input_files("#file", str(path))
    page.click("#upload-form button[type=submit]")


def desk_session(server: Server, token: str) -> contextlib.AbstractContextManager[httpx.Client]:
    """An HTTP client signed in to the desk (for the checks a browser does not make)."""
    return console_client(server, "/counter", token, method="token")


def desk_csrf(c: httpx.Client) -> str:
    return form_csrf(c.get("/counter").text)


# -- sign-in ------------------------------------------------------------------------------


@pytest.mark.parametrize("size", ["phone", "desktop"])
def test_sign_in_refuses_bad_tokens_and_admits_the_clerk(
    browser: Any, web_server: Server, clerk: dict[str, Any], size: str
) -> None:
    page = new_page(browser, SIZES[size])
    response = page.goto(f"{web_server.url}/counter")
    assert response.status == 200
    assert page.locator("label[for=token]").inner_text() == "客户端令牌"
    check_page(page, f"signin-{size}")

    page.fill("#token", "clt_market-regulation_not-a-real-token")
    with page.expect_navigation() as nav:
        page.click("#sign-in button[type=submit]")
    assert nav.value.status == 401
    alert = page.locator("[role=alert]").inner_text()
    assert "客户端令牌无效或已吊销" in alert and "The client token is not valid or revoked" in alert
    assert page.locator("#token").get_attribute("aria-invalid") == "true"
    assert page.evaluate("document.activeElement.id") == "token"  # ready to try again
    check_page(page, f"signin-error-{size}")

    # An agency's issuing token is a real credential, but not a counter clerk's.
    page.fill("#token", web_server.deployment.tokens["market-regulation"])
    with page.expect_navigation() as nav:
        page.click("#sign-in button[type=submit]")
    assert nav.value.status == 403
    assert "verifier" in page.locator("[role=alert]").inner_text()

    sign_in(page, web_server, clerk["token"])
    assert clerk["name"] in page.locator("header").inner_text()
    # Ready for the scanner on a desktop; on a phone no keyboard pops up over the page.
    focused = page.evaluate("document.activeElement.id")
    assert focused == ("link" if size == "desktop" else ""), focused
    check_page(page, f"desk-{size}")
    page.context.close()


def test_english_pages(
    browser: Any, web_server: Server, clerk: dict[str, Any], licence: dict[str, Any], tmp_path: Path
) -> None:
    page = new_page(browser, DESKTOP)
    page.goto(f"{web_server.url}/counter?lang=en")
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.locator("label[for=token]").inner_text() == "Client token"
    page.fill("#token", "nope")
    page.click("#sign-in button[type=submit]")
    alert = page.locator("[role=alert]").inner_text()
    assert alert.index("The client token is not valid") < alert.index("客户端令牌无效")
    sign_in(page, web_server, clerk["token"], lang="en")
    assert "Counter desk" in page.locator("h1").inner_text()
    check_page(page, "desk-en-desktop")
    upload(page, tamper.add_annotation(licence["pdf"]), tmp_path)
    assert page.locator("html").get_attribute("lang") == "en"
    assert "Certificate is NOT valid" in page.locator("#verdict").inner_text()
    assert "Failed" in page.locator("#checks li").first.inner_text()
    assert "Verification receipt" in page.locator("#receipt").inner_text()
    assert "Beijing time (UTC+8)" in page.locator("#receipt").inner_text()
    check_page(page, "result-annotated-en-desktop")
    page.context.close()


def test_session_cookie_and_sign_out(web_server: Server, clerk: dict[str, Any]) -> None:
    with desk_session(web_server, clerk["token"]) as c:
        cookie = next(x for x in c.cookies.jar if x.name == "certledger_desk")
        # What the browser was told (httpx keeps the flags in the raw header).
        r = c.get("/counter")
        assert r.status_code == 200 and 'id="desk"' in r.text
        raw = cookie.value
        # The server keeps only the session id's digest.
        db = web_server.deployment.home / "certificates.db"  # the store: sessions are rows
        rows = sqlite3.connect(db).execute("SELECT * FROM console_sessions").fetchall()
        assert rows and all(raw not in json.dumps(row) for row in rows)
        assert clerk["token"] not in db.read_bytes().decode("latin-1")
        csrf = desk_csrf(c)
        out = c.post("/counter/sign-out", data={"csrf": csrf})
        assert out.status_code == 303
        c.cookies.set("certledger_desk", raw, path="/counter")  # a copied cookie after sign-out
        again = c.get("/counter")
        assert 'id="sign-in"' in again.text and 'id="desk"' not in again.text
    # Neither the token nor the session id reaches the server's log.
    port = int(web_server.url.rsplit(":", 1)[1])
    log = server_log(web_server.deployment, port)
    assert "serving" in log  # the right file (the server logs no access lines)
    assert clerk["token"] not in log and raw not in log


def test_cookie_flags(web_server: Server, clerk: dict[str, Any]) -> None:
    with httpx.Client(base_url=web_server.url, timeout=60) as c:
        first = c.get("/counter")
        presign = first.headers["set-cookie"]
        assert "HttpOnly" in presign and "SameSite=strict" in presign.replace("Strict", "strict")
        csrf = re.search(r'name="csrf" value="([^"]+)"', first.text)
        assert csrf is not None
        r = c.post(
            "/counter/sign-in",
            data={"csrf": csrf.group(1), "token": clerk["token"]},
            follow_redirects=False,
        )
        assert r.status_code == 303
        header = next(h for h in r.headers.get_list("set-cookie") if "certledger_desk=" in h)
        assert "HttpOnly" in header and "Path=/counter" in header
        assert "samesite=strict" in header.lower()
        assert "secure" not in header.lower()  # plain HTTP here; Secure under TLS


def test_security_headers(web_server: Server) -> None:
    r = httpx.get(f"{web_server.url}/counter", timeout=30)
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert r.headers["referrer-policy"] == "no-referrer"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["cache-control"] == "no-store"
    assert "<script>" not in r.text and " style=" not in r.text


# -- CSRF and sessions --------------------------------------------------------------------


def test_forms_without_their_csrf_token_are_refused(
    web_server: Server, clerk: dict[str, Any], licence: dict[str, Any]
) -> None:
    # The sign-in form, without the pre-session token of its cookie.
    with httpx.Client(base_url=web_server.url, timeout=60) as c:
        r = c.post("/counter/sign-in", data={"token": clerk["token"], "csrf": "made-up"})
        assert r.status_code == 403
        assert "表单已过期" in r.text and "This form has expired" in r.text
        assert "certledger_desk=" not in r.headers.get("set-cookie", "")
    with desk_session(web_server, clerk["token"]) as c:
        before = _today_count(c)
        for data in ({"link": licence["verify_url"]}, {"link": licence["verify_url"], "csrf": "x"}):
            r = c.post("/counter/scan", data=data)
            assert r.status_code == 403, r.text
            assert "This form has expired" in r.text
        r = c.post("/counter/verify", files={"file": ("a.pdf", licence["pdf"])})
        assert r.status_code == 403
        r = c.post("/counter/sign-out", data={})
        assert r.status_code == 403
        assert _today_count(c) == before  # nothing was verified, nothing recorded


def _today_count(c: httpx.Client) -> int:
    return c.get("/counter").text.count('<tr class="v-')


def test_no_session_gets_the_sign_in_page(web_server: Server, licence: dict[str, Any]) -> None:
    with httpx.Client(base_url=web_server.url, timeout=60) as c:
        r = c.post("/counter/scan", data={"link": licence["verify_url"], "csrf": "x"})
        assert r.status_code == 401 and 'id="sign-in"' in r.text
        assert "请重新登录" in r.text and "please sign in again" in r.text
        r = c.get("/counter/records/1")
        assert 'id="sign-in"' in r.text
        # A citizen's QR token is no credential here.
        token = licence["verify_url"].split("t=")[1]
        r = c.get("/counter", headers={"Authorization": f"Bearer {token}"})
        assert 'id="sign-in"' in r.text


def test_revoked_client_loses_its_session(web_deployment: Deployment, web_server: Server) -> None:
    temp = add_client(web_deployment, "market-regulation", "窗口 9", "verifier")
    with desk_session(web_server, temp["token"]) as c:
        assert 'id="desk"' in c.get("/counter").text
        web_deployment.cli("clients", "revoke", temp["id"], check=True)
        assert 'id="sign-in"' in c.get("/counter").text


# -- the three ways in --------------------------------------------------------------------


@pytest.mark.parametrize("size", ["phone", "desktop"])
def test_genuine_upload_is_valid_with_checks_facts_and_receipt(
    browser: Any,
    web_server: Server,
    clerk: dict[str, Any],
    licence: dict[str, Any],
    tmp_path: Path,
    size: str,
) -> None:
    page = new_page(browser, SIZES[size])
    sign_in(page, web_server, clerk["token"])
    upload(page, licence["pdf"], tmp_path)
    verdict = page.locator("#verdict")
    assert verdict.get_attribute("data-verdict") == "VALID"
    assert "✔" in verdict.inner_text() and "证照有效" in verdict.inner_text()
    assert verdict.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(10, 125, 50)"
    statuses = page.locator("#checks li").evaluate_all("els => els.map(e => e.dataset.status)")
    assert len(statuses) >= 10 and set(statuses) == {"PASSED"}
    assert "电子印章完好" in page.locator("#checks").inner_text()
    facts = page.locator("#facts").inner_text()
    assert licence["id"] in facts and "营业执照" in facts
    # Own agency's certificate: the sharing service releases every field.
    assert page.locator(".basis").get_attribute("data-basis") == "OWN_AGENCY"
    assert "统一社会信用代码" in facts
    ledger = page.locator("#ledger").inner_text()
    assert "embedded" in ledger
    receipt = page.locator("#receipt").inner_text()
    seq = int(re.search(r"审计记录号\s*(\d+)", receipt).group(1))  # type: ignore[union-attr]
    assert clerk["id"] in receipt and licence["id"] in receipt
    assert f"/counter/records/{seq}" in receipt
    check_page(page, f"result-valid-{size}")
    page.context.close()


def test_tampered_upload_is_invalid_with_failures_first(
    browser: Any, web_server: Server, clerk: dict[str, Any], licence: dict[str, Any], tmp_path: Path
) -> None:
    for size, label in (("phone", "appended"), ("desktop", "flipped")):
        page = new_page(browser, SIZES[size])
        sign_in(page, web_server, clerk["token"])
        altered = (
            tamper.append_visible_content(licence["pdf"])
            if label == "appended"
            else tamper.flip_byte_in_first_stream(licence["pdf"])
        )
        upload(page, altered, tmp_path, f"{label}.pdf")
        verdict = page.locator("#verdict")
        assert verdict.get_attribute("data-verdict") != "VALID"
        assert "✖" in verdict.inner_text() or "?" in verdict.inner_text()
        items = page.locator("#checks li")
        statuses = items.evaluate_all("els => els.map(e => e.dataset.status)")
        assert "FAILED" in statuses and statuses[0] == "FAILED"
        # Failures first, then undecided, then passed.
        order = {"FAILED": 0, "INDETERMINATE": 1, "PASSED": 2}
        assert statuses == sorted(statuses, key=order.__getitem__)
        first = items.first
        assert "failed" in (first.get_attribute("class") or "")
        assert first.evaluate("e => getComputedStyle(e).borderTopColor") == "rgb(179, 0, 27)"
        assert "未通过" in first.inner_text()
        # The one-line reason in the banner is the first failing check's message.
        reason = page.locator(".reason").inner_text()
        assert first.locator(".text").inner_text() in reason
        check_page(page, f"result-{label}-{size}")
        page.context.close()


def test_keyboard_wedge_scanner_reaches_the_result(
    browser: Any, web_server: Server, clerk: dict[str, Any], licence: dict[str, Any]
) -> None:
    page = new_page(browser, DESKTOP)
    sign_in(page, web_server, clerk["token"])
    # A wedge scanner is a keyboard: it types the URL into the focused field and presses Enter.
    assert page.evaluate("document.activeElement.id") == "link"
    page.keyboard.type(licence["verify_url"], delay=2)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.locator("#verdict").get_attribute("data-verdict") == "VALID"
    receipt = page.locator("#receipt").inner_text()
    assert licence["id"] in receipt
    # The next certificate is scanned while this result is on screen: no click needed.
    assert page.evaluate("document.activeElement.id") == "next-link"
    page.keyboard.type(licence["verify_url"], delay=2)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.locator("#verdict").get_attribute("data-verdict") == "VALID"
    assert page.locator("#receipt").inner_text() != receipt  # a new audit record
    page.context.close()


def test_unrecognised_link_and_wrong_token(
    browser: Any, web_server: Server, clerk: dict[str, Any], licence: dict[str, Any]
) -> None:
    page = new_page(browser, DESKTOP)
    sign_in(page, web_server, clerk["token"])
    page.fill("#link", "hello there")
    with page.expect_navigation() as nav:
        page.keyboard.press("Enter")
    assert nav.value.status == 422
    alert = page.locator("[role=alert]").inner_text()
    assert "无法识别" in alert and "not a verification link" in alert
    assert page.locator("#link").input_value() == "hello there"
    # The refused text is selected: the next scan replaces it.
    assert page.evaluate("document.activeElement.id") == "link"
    selected = "(() => { const e = document.activeElement;"
    selected += " return e.id + ':' + e.value.substring(e.selectionStart, e.selectionEnd); })()"
    assert page.evaluate(selected) == "link:hello there"
    check_page(page, "desk-error-desktop")
    # The scanner's next code replaces the refused text.
    page.keyboard.type(licence["verify_url"].split("?")[0] + "?t=guess")
    with page.expect_navigation() as nav:
        page.keyboard.press("Enter")
    assert nav.value.status == 404
    assert "未找到该证照" in page.locator("[role=alert]").inner_text()
    page.context.close()


def web_catalogue_fields(dep: Deployment) -> list[dict[str, Any]]:
    catalogue = json.loads(dep.cli("types", "--json", check=True).stdout)
    return list(next(t for t in catalogue if t["code"] == "business-licence")["fields"])


def _qr_video(url: str, path: Path, *, width: int = 640, height: int = 480) -> Path:
    """A Y4M video (YUV 4:2:0) of the QR code printed on the certificate, for Chromium's
    fake camera: the code on white paper, filling most of the frame."""
    qr = segno.make(url, error="m")
    buf = io.BytesIO()
    qr.save(buf, kind="png", scale=10, border=4)
    code = Image.open(buf).convert("L")
    side = min(width, height) - 40
    code = code.resize((side, side), Image.NEAREST)
    frame = Image.new("L", (width, height), 255)
    frame.paste(code, ((width - side) // 2, (height - side) // 2))
    y = frame.tobytes()
    chroma = bytes([128]) * ((width // 2) * (height // 2))
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(10):
            out.write(b"FRAME\n" + y + chroma + chroma)
    return path


def test_camera_reads_the_printed_qr_code(
    playwright_driver: Any,
    web_server: Server,
    clerk: dict[str, Any],
    licence: dict[str, Any],
    tmp_path: Path,
    profile_dir: Path,
) -> None:
    video = _qr_video(licence["verify_url"], tmp_path / "qr.y4m")
    context = playwright_driver.chromium.launch_persistent_context(
        str(profile_dir),
        executable_path=chromium_path(),
        args=[
            *CHROMIUM_ARGS,
            "--use-fake-device-for-media-stream",
            "--use-fake-ui-for-media-stream",
            f"--use-file-for-fake-video-capture={video}",
        ],
        viewport=PHONE,
        permissions=["camera"],
    )
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        # The page's real Content-Security-Policy applies here: the script works under it.
        sign_in(page, web_server, clerk["token"])
        camera = page.locator("#camera")
        assert camera.is_visible()
        with page.expect_navigation(timeout=30_000):
            camera.click()
        assert page.locator("#verdict").get_attribute("data-verdict") == "VALID"
        assert licence["id"] in page.locator("#receipt").inner_text()
        assert "counter-scan" not in page.content()  # words, not codes
        assert not [e for e in errors if "Content Security Policy" in e], errors
    finally:
        context.close()


# -- the receipt and the day's list -------------------------------------------------------


def test_printed_receipt_names_the_audit_record_and_its_qr_opens_it(
    browser: Any, web_server: Server, clerk: dict[str, Any], licence: dict[str, Any], tmp_path: Path
) -> None:
    page = new_page(browser, DESKTOP)
    sign_in(page, web_server, clerk["token"])
    upload(page, licence["pdf"], tmp_path)
    receipt = page.locator("#receipt").inner_text()
    seq = re.search(r"审计记录号\s*(\d+)", receipt).group(1)  # type: ignore[union-attr]
    pdf = screenshot_dir() / "receipt.pdf"  # kept with the screenshots, to look at
    page.emulate_media(media="print")
    shot(page, "receipt-print-desktop")
    page.pdf(path=str(pdf), prefer_css_page_size=True, print_background=True)
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert seq in text and licence["id"] in text and "证照有效" in text
    assert "核验回执" in text and clerk["name"].split(" ")[0] in text
    assert "核验明细" not in text  # the print stylesheet keeps only the receipt
    pages = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True).stdout
    assert re.search(r"Pages:\s+1\b", pages), pages

    # The receipt's QR code, read from the page as a scanner would read it.
    page.emulate_media(media="screen")
    png = page.locator("#receipt .qr").screenshot()
    found = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
    assert found, "no QR code on the receipt"
    url = found[0].text
    assert url.endswith(f"/counter/records/{seq}")
    page.goto(url)
    record = page.locator("#record").inner_text()
    assert seq in record and licence["id"] in record and clerk["id"] in record
    check_page(page, "record-desktop")
    page.context.close()


def test_todays_list_shows_the_clerks_verifications(
    browser: Any,
    web_deployment: Deployment,
    web_server: Server,
    licence: dict[str, Any],
    tmp_path: Path,
) -> None:
    me = add_client(web_deployment, "market-regulation", "窗口 5 · 李华", "verifier")
    other = add_client(web_deployment, "market-regulation", "窗口 6", "verifier")
    page = new_page(browser, PHONE)
    sign_in(page, web_server, me["token"])
    assert page.locator("#today-none").is_visible()
    upload(page, licence["pdf"], tmp_path)
    first = page.locator("#receipt").inner_text()
    page.click("text=继续核验")
    page.fill("#link", licence["verify_url"])
    with page.expect_navigation():
        page.keyboard.press("Enter")
    second = page.locator("#receipt").inner_text()
    seqs = [re.search(r"审计记录号\s*(\d+)", t).group(1) for t in (first, second)]  # type: ignore[union-attr]
    page.goto(f"{web_server.url}/counter")
    rows = page.locator("#today tbody tr")
    assert rows.count() == 2
    table = page.locator("#today").inner_text()
    assert all(s in table for s in seqs) and licence["id"] in table
    assert "上传文件" in table and "扫码" in table
    # Newest first.
    assert rows.first.inner_text().find(seqs[1]) >= 0
    check_page(page, "desk-today-phone")
    page.context.close()
    # Another clerk's list holds none of them; their records stay readable at the agency.
    with desk_session(web_server, other["token"]) as c:
        html = c.get("/counter").text
        assert 'id="today-none"' in html
        assert c.get(f"/counter/records/{seqs[0]}").status_code == 200


def test_other_agencies_clerk_sees_what_its_agreements_allow(
    browser: Any,
    web_deployment: Deployment,
    web_server: Server,
    licence: dict[str, Any],
    tmp_path: Path,
) -> None:
    foreign = add_client(web_deployment, "transport", "运输窗口 1", "verifier")
    page = new_page(browser, DESKTOP)
    sign_in(page, web_server, foreign["token"])
    page.fill("#link", licence["verify_url"])
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.locator("#verdict").get_attribute("data-verdict") == "VALID"
    assert page.locator(".basis").get_attribute("data-basis") == "NO_AGREEMENT"
    facts = page.locator("#facts").inner_text()
    assert "统一社会信用代码" not in facts  # no agreement: no fields beyond the public summary
    seq = re.search(r"审计记录号\s*(\d+)", page.locator("#receipt").inner_text()).group(1)  # type: ignore[union-attr]
    # The market regulator grants the transport counter two fields for this purpose.
    fields = [f["name"] for f in web_catalogue_fields(web_deployment)[:2]]
    args = ["agreements", "add", "--agency", "market-regulation", "--grantee", "transport"]
    args += ["--type", "business-licence", "--purpose", "counter-verification"]
    args += [a for f in fields for a in ("--field", f)]
    web_deployment.cli(*args, "--valid-until", "2099-12-31", check=True)
    time.sleep(1.5)  # the server re-reads agreements within a second (sharing.md, Caches)
    page.goto(f"{web_server.url}/counter")
    page.fill("#link", licence["verify_url"])
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.locator(".basis").get_attribute("data-basis") == "AGREEMENT"
    released = page.locator("dl.released dt").all_inner_texts()
    assert len(released) == 2, released
    page.context.close()
    # A receipt of the transport counter does not open at the market regulator's desk.
    clerk = add_client(web_deployment, "market-regulation", "窗口 7", "verifier")
    with desk_session(web_server, clerk["token"]) as c:
        assert c.get(f"/counter/records/{seq}").status_code == 404


# -- refusals: the API's limits and words -------------------------------------------------


def test_refusals_match_the_api(
    browser: Any, web_server: Server, clerk: dict[str, Any], tmp_path: Path
) -> None:
    junk = b"%PDF-1.7\nthis is not really a PDF\n"
    api = httpx.post(f"{web_server.url}/api/v1/verify", files={"file": ("x.pdf", junk)}, timeout=60)
    assert api.status_code == 400
    words = api.json()["detail"]["message"]
    page = new_page(browser, DESKTOP)
    sign_in(page, web_server, clerk["token"])
    with page.expect_navigation() as nav:
        upload(page, junk, tmp_path, "junk.pdf")
    assert nav.value.status == 400
    alert = page.locator("[role=alert]").inner_text()
    assert words["zh"] in alert and words["en"] in alert

    # Too large: the desk says what the API's body limit says, before sending anything.
    big = tmp_path / "big.pdf"
    big.write_bytes(b"%PDF-1.7\n" + b"0" * (UPLOAD_LIMIT + 1))
    api = httpx.post(
        f"{web_server.url}/api/v1/verify", files={"file": ("big.pdf", big.read_bytes())}, timeout=60
    )
    assert api.status_code == 413
    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    page.set_input_files("#file", str(big))
    page.click("#upload-form button[type=submit]")
    status = page.locator("#upload-status")
    assert status.inner_text() == api.json()["detail"]["message"]["zh"]
    page.wait_for_timeout(300)
    assert posts == []  # nothing was sent
    page.context.close()
    # Without the page's script the server's own limit answers, as for the API.
    with desk_session(web_server, clerk["token"]) as c:
        r = c.post(
            "/counter/verify",
            data={"csrf": desk_csrf(c)},
            files={"file": ("big.pdf", big.read_bytes())},
        )
        assert r.status_code == 413
        r = c.post("/counter/verify", data={"csrf": desk_csrf(c)}, files={"file": ("e.pdf", b"")})
        assert r.status_code == 400 and "上传的文件是空的" in r.text


def test_static_assets_are_pinned_and_licensed(web_server: Server) -> None:
    html = httpx.get(f"{web_server.url}/counter", timeout=30).text
    with httpx.Client(base_url=web_server.url, timeout=30) as c:
        r = c.get("/counter/static/jsQR.LICENSE.txt")
        assert r.status_code == 200 and "Apache License" in r.text
        r = c.get("/counter/static/nothing.js")
        assert r.status_code == 404
        css = re.search(r'href="(/counter/static/counter\.css\?v=[0-9a-f]{16})"', html)
        assert css is not None
        assert "immutable" in c.get(css.group(1)).headers["cache-control"]


# -- keyboard only ------------------------------------------------------------------------


def _tab_to(page: Any, selector: str, limit: int = 40) -> list[str]:
    """Presses Tab until ``selector`` has focus; returns what had focus on the way."""
    seen: list[str] = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("(s) => document.activeElement.matches(s)", selector):
            return seen
        seen.append(page.evaluate("document.activeElement.id || document.activeElement.tagName"))
    raise AssertionError(f"Tab never reached {selector}; went through {seen}")


def test_every_desk_action_is_reachable_by_keyboard(
    browser: Any, web_server: Server, clerk: dict[str, Any], licence: dict[str, Any], tmp_path: Path
) -> None:
    page = new_page(browser, DESKTOP)
    page.goto(f"{web_server.url}/counter")
    _tab_to(page, "#token")
    page.keyboard.type(clerk["token"])
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.locator("#desk").is_visible()
    path = tmp_path / "kb.pdf"
    path.write_bytes(licence["pdf"])
    page.goto(f"{web_server.url}/counter")
    _tab_to(page, "#file")
    with page.expect_file_chooser() as chooser:
        page.keyboard.press("Space")
    chooser.value.set_files(str(path))
    _tab_to(page, "#upload-form button[type=submit]")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.locator("#verdict").get_attribute("data-verdict") == "VALID"
    _tab_to(page, "button.print")
    _tab_to(page, "a.button.secondary")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.locator("#desk").is_visible()
    _tab_to(page, "#today a")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.locator("#record").is_visible()
    page.goto(f"{web_server.url}/counter")
    _tab_to(page, "header button.link")  # sign-out
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.locator("#sign-in").is_visible()
    page.context.close()


def test_bad_inputs_get_a_4xx_in_both_languages(
    web_server: Server, clerk: dict[str, Any], licence: dict[str, Any]
) -> None:
    with desk_session(web_server, clerk["token"]) as c:
        csrf = desk_csrf(c)
        bad = {"content-type": "multipart/form-data; boundary=xyz"}
        r = c.post("/counter/verify", content=b"--xyz\r\nnot a part\r\n", headers=bad)
        assert (
            r.status_code == 400 and "无法读取提交的表单" in r.text and "cannot be read" in r.text
        )
        many = {f"f{i}": "x" for i in range(40)} | {"csrf": csrf}
        r = c.post("/counter/scan", data=many)
        assert r.status_code == 400 and "cannot be read" in r.text
        r = c.post("/counter/scan", data={"csrf": csrf, "link": "x" * 5000})
        assert r.status_code == 422 and "not a verification link" in r.text
        r = c.post("/counter/scan", data={"csrf": csrf, "link": "https://h/v/NOT-AN-ID?t=1"})
        assert r.status_code == 422
        r = c.post("/counter/scan", data={"csrf": csrf})
        assert r.status_code == 422
        r = c.post("/counter/verify", data={"csrf": csrf})
        assert r.status_code == 400 and "请选择要核验的 PDF 文件" in r.text
        for seq in ("abc", "9" * 30, "-1", "999999999"):
            r = c.get(f"/counter/records/{seq}")
            assert r.status_code == 404 and "No such verification record" in r.text, seq
        r = c.get("/counter?lang=<script>")
        assert r.status_code == 200 and "<script>" not in r.text
        assert r.text.startswith("<!doctype html>")
        r = c.post("/counter/sign-in", json={"token": clerk["token"]})
        assert r.status_code == 403 and "This form has expired" in r.text
