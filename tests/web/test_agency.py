"""The agency console in a real browser: sign-in (an issuer only), the issuing form with inline
errors, keyboard-only issuance, the CSV batch with its live progress and downloads, search,
opening a certificate, revoking with a confirmation (and the QR page showing it), the audit
trail, CSRF, headers and axe-core on every page at two sizes."""

from __future__ import annotations

import csv
import io
import json
import re
import sqlite3
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.distinct import distinct
from tests.e2e.conftest import Deployment, Server, licence_row

from .conftest import (
    DESKTOP,
    add_client,
    axe_violations,
    console_client,
    console_sign_in,
    form_csrf,
    new_page,
    screenshot_dir,
    tls_world,
)

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

SMALL_PHONE = {"width": 360, "height": 640}
SIZES = {"phone": SMALL_PHONE, "desktop": DESKTOP}
AGENCY = "market-regulation"


def shot(page: Any, name: str) -> None:
    page.screenshot(path=str(screenshot_dir() / f"agency-{name}.png"), full_page=True)


def check_page(page: Any, name: str) -> None:
    """Every console page: no WCAG 2.1 A/AA violation (axe-core), nothing to scroll
    sideways, and a screenshot kept to look at."""
    shot(page, name)
    violations = axe_violations(page)
    assert violations == [], json.dumps(violations, ensure_ascii=False, indent=1)
    width = page.viewport_size["width"]
    assert page.evaluate("document.documentElement.scrollWidth") <= width, name


def sign_in(page: Any, server: Server, token: str, *, lang: str = "zh") -> None:
    page.goto(f"{server.url}/agency" + ("?lang=en" if lang == "en" else ""))
    page.fill("#token", token)
    with page.expect_navigation():
        page.click("#sign-in button[type=submit]")
    assert page.locator("nav.menu").is_visible()


def certificate_count(dep: Deployment) -> int:
    with sqlite3.connect(dep.home / "certificates.db") as db:
        return int(db.execute("SELECT count(*) FROM certificates").fetchone()[0])


def fill_example(page: Any, catalogue: list[dict[str, Any]], code: str, **override: str) -> None:
    spec = next(t for t in catalogue if t["code"] == code)
    example = distinct(code, spec["example"])  # another holder's each time
    for f in spec["fields"]:
        value = override.get(f["name"], example.get(f["name"], ""))
        if f["kind"] == "enum":
            choice = next(
                c["value"]
                for c in f["choices"]
                if value in (c["value"], c["label_zh"], c["label_en"])
            )
            page.select_option(f"#f-{f['name']}", choice)
        else:
            page.fill(f"#f-{f['name']}", value)


@pytest.fixture(scope="module")
def officer_token(web_deployment: Deployment, web_server: Server) -> str:
    return str(web_deployment.tokens[AGENCY])


def issue_in_browser(
    page: Any, server: Server, catalogue: list[dict[str, Any]], **override: str
) -> tuple[str, str]:
    """Issues a business licence through the form; returns its id and verification link."""
    page.goto(f"{server.url}/agency/issue/business-licence")
    fill_example(page, catalogue, "business-licence", **override)
    with page.expect_navigation() as nav:
        page.click("#issue-form button[type=submit]")
    assert nav.value.status == 201, page.content()[:2000]
    cert_id = page.locator("#cert-id").inner_text().strip()
    link = page.locator("#verify-link").get_attribute("href")
    return cert_id, str(link)


@pytest.fixture(scope="module")
def console_session(web_server: Server, officer_token: str) -> Iterator[httpx.Client]:
    with console_client(web_server, "/agency", officer_token) as c:
        yield c


def session_csrf(c: httpx.Client) -> str:
    return form_csrf(c.get("/agency").text)


# -- sign-in ----------------------------------------------------------------------------


@pytest.mark.parametrize("size", ["phone", "desktop"])
def test_only_an_issuer_credential_signs_in(
    browser: Any,
    web_deployment: Deployment,
    web_server: Server,
    clerk: dict[str, Any],
    licence: dict[str, Any],
    officer_token: str,
    size: str,
) -> None:
    page = new_page(browser, SIZES[size])
    response = page.goto(f"{web_server.url}/agency")
    assert response.status == 200
    check_page(page, f"signin-{size}")

    # A counter clerk's verifier credential is real, but not an issuer's.
    page.fill("#token", clerk["token"])
    with page.expect_navigation() as nav:
        page.click("#sign-in button[type=submit]")
    assert nav.value.status == 403
    alert = page.locator("[role=alert]").inner_text()
    assert "不是签发机构（issuer）的客户端凭证" in alert, alert
    check_page(page, f"signin-refused-{size}")

    # A citizen's QR token is no credential at all.
    citizen = parse_qs(urlsplit(licence["verify_url"]).query)["t"][0]
    page.fill("#token", citizen)
    with page.expect_navigation() as nav:
        page.click("#sign-in button[type=submit]")
    assert nav.value.status == 401
    assert page.locator("#sign-in").is_visible()

    sign_in(page, web_server, officer_token)
    assert "市场监督管理局" in page.locator("header").inner_text()
    check_page(page, f"home-{size}")
    page.goto(f"{web_server.url}/agency?lang=en")
    assert "Market Regulation Bureau" in page.locator("header").inner_text()
    check_page(page, f"home-en-{size}")
    page.context.close()


def test_a_verifier_cannot_use_any_console_page(web_server: Server, clerk: dict[str, Any]) -> None:
    with httpx.Client(base_url=web_server.url, timeout=60, follow_redirects=False) as c:
        r = console_sign_in(c, "/agency", clerk["token"])
        assert r.status_code == 403
        assert "certledger_agency=" not in r.headers.get("set-cookie", "")
        for path in ("/agency/issue/business-licence", "/agency/certificates", "/agency/batch"):
            page = c.get(path)
            assert page.status_code == 200 and 'id="sign-in"' in page.text, path
        # The verifier's own desk session does not open the console either.
        r = console_sign_in(c, "/counter", clerk["token"])
        assert r.status_code == 303
        assert 'id="sign-in"' in c.get("/agency/certificates").text


def test_session_cookie_and_headers(web_server: Server, officer_token: str) -> None:
    with httpx.Client(base_url=web_server.url, timeout=60, follow_redirects=False) as c:
        first = c.get("/agency")
        csp = first.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp
        assert first.headers["referrer-policy"] == "no-referrer"
        assert first.headers["x-content-type-options"] == "nosniff"
        assert first.headers["cache-control"] == "no-store"
        assert " style=" not in first.text and "<script>" not in first.text
        r = c.post("/agency/sign-in", data={"csrf": form_csrf(first.text), "token": officer_token})
        cookie = r.headers["set-cookie"]
        assert "certledger_agency=" in cookie and "HttpOnly" in cookie
        assert "SameSite=strict" in cookie or "SameSite=Strict" in cookie
        assert "Path=/agency" in cookie
        home = c.get("/agency")
        assert home.headers["cache-control"] == "no-store"
        css = re.search(r'href="(/agency/static/agency\.css\?v=[0-9a-f]{16})"', home.text)
        assert css is not None
        asset = c.get(css.group(1))
        assert asset.status_code == 200 and "immutable" in asset.headers["cache-control"]


def test_posts_without_their_csrf_token_are_refused(
    web_deployment: Deployment, console_session: httpx.Client, licence: dict[str, Any]
) -> None:
    c = console_session
    before = certificate_count(web_deployment)
    data = dict(json.loads(web_deployment.cli("types", "--json", check=True).stdout)[0]["example"])
    r = c.post("/agency/issue/business-licence", data=data)
    assert r.status_code == 403
    assert "表单已过期或不是从本控制台页面提交的" in r.text
    r = c.post("/agency/issue/business-licence", data={**data, "csrf": "forged"})
    assert r.status_code == 403
    assert certificate_count(web_deployment) == before
    r = c.post(
        f"/agency/certificates/{licence['id']}/status/confirm",
        data={"action": "revoke", "reason": "forged"},
    )
    assert r.status_code == 403
    status = httpx.get(f"{c.base_url}/api/v1/certificates/{licence['id']}", timeout=10).json()
    assert status["status"] != "revoked"
    # The sign-in form's own token, before any session.
    with httpx.Client(base_url=c.base_url, timeout=60) as fresh:
        r = fresh.post("/agency/sign-in", data={"token": "x"})
        assert r.status_code == 403


# -- issuing one ------------------------------------------------------------------------


@pytest.mark.parametrize("size", ["phone", "desktop"])
def test_two_invalid_fields_show_both_errors_inline_and_store_nothing(
    browser: Any,
    web_deployment: Deployment,
    web_server: Server,
    web_catalogue: list[dict[str, Any]],
    officer_token: str,
    size: str,
) -> None:
    page = new_page(browser, SIZES[size])
    sign_in(page, web_server, officer_token)
    page.goto(f"{web_server.url}/agency/issue/business-licence")
    assert page.locator("label[for=f-credit_code]").inner_text().startswith("统一社会信用代码")
    check_page(page, f"issue-form-{size}")
    before = certificate_count(web_deployment)
    fill_example(
        page,
        web_catalogue,
        "business-licence",
        credit_code="91110108MA01C3Q5R0",  # a wrong check character
        established="2020-13-45",  # no such date
    )
    with page.expect_navigation() as nav:
        page.click("#issue-form button[type=submit]")
    assert nav.value.status == 422
    for name in ("credit_code", "established"):
        field = page.locator(f"#f-{name}")
        assert field.get_attribute("aria-invalid") == "true", name
        error = page.locator(f"#e-{name}")
        assert error.is_visible() and error.inner_text().strip(), name
        assert f"e-{name}" in str(field.get_attribute("aria-describedby"))
    # Only those two are marked; the values typed are all still there.
    assert page.locator("[aria-invalid=true]").count() == 2
    assert page.locator("#f-credit_code").input_value() == "91110108MA01C3Q5R0"
    assert page.locator("#f-name").input_value() == "北京示例科技有限公司"
    assert page.locator("#f-company_type").input_value() == "llc"
    assert page.evaluate("document.activeElement.id") == "errors"  # the summary is read first
    assert certificate_count(web_deployment) == before
    check_page(page, f"issue-errors-{size}")

    page.goto(f"{web_server.url}/agency/issue/business-licence?lang=en")
    fill_example(page, web_catalogue, "business-licence", established="2020-13-45", name="")
    with page.expect_navigation():
        page.click("#issue-form button[type=submit]")
    assert page.locator("[aria-invalid=true]").count() == 2
    assert page.locator("#e-name").inner_text().strip()
    assert not re.search(r"[\u4e00-\u9fff]", page.locator("#e-established").inner_text())
    assert certificate_count(web_deployment) == before
    check_page(page, f"issue-errors-en-{size}")
    page.context.close()


@pytest.mark.parametrize("size", ["phone", "desktop"])
def test_issue_one_and_open_it(
    browser: Any,
    web_deployment: Deployment,
    web_server: Server,
    web_catalogue: list[dict[str, Any]],
    officer_token: str,
    size: str,
) -> None:
    page = new_page(browser, SIZES[size])
    sign_in(page, web_server, officer_token)
    before = certificate_count(web_deployment)
    cert_id, link = issue_in_browser(page, web_server, web_catalogue)
    assert certificate_count(web_deployment) == before + 1
    assert link.startswith(web_server.deployment.base_url + f"/v/{cert_id}?t=")
    check_page(page, f"issued-{size}")
    pdf = page.request.get(f"{web_server.url}/agency/certificates/{cert_id}/pdf?download=1")
    assert pdf.status == 200 and pdf.body().startswith(b"%PDF-")
    assert "attachment" in pdf.headers["content-disposition"]
    page.goto(f"{web_server.url}/agency/certificates/{cert_id}")
    assert page.locator("#cert-id").inner_text() == cert_id
    assert "北京示例科技有限公司" in page.locator("dl.facts").first.inner_text()
    check_page(page, f"certificate-{size}")
    page.context.close()


def test_the_same_form_sent_twice_issues_once(
    web_deployment: Deployment, console_session: httpx.Client, web_catalogue: list[dict[str, Any]]
) -> None:
    c = console_session
    form = c.get("/agency/issue/business-licence").text
    key = re.search(r'name="form_key" value="([^"]+)"', form)
    assert key is not None
    data = {
        **distinct(
            "business-licence",
            next(t for t in web_catalogue if t["code"] == "business-licence")["example"],
        ),
        "company_type": "llc",
        "csrf": session_csrf(c),
        "form_key": key.group(1),
    }
    before = certificate_count(web_deployment)
    first = c.post("/agency/issue/business-licence", data=data)
    again = c.post("/agency/issue/business-licence", data=data)  # the browser's resend
    assert first.status_code == again.status_code == 201
    ids = [re.search(r'id="cert-id">([^<]+)<', r.text) for r in (first, again)]
    assert ids[0] is not None and ids[1] is not None
    assert ids[0].group(1) == ids[1].group(1)
    assert certificate_count(web_deployment) == before + 1
    # Another form shown is another key: a second certificate, on purpose.
    other = re.search(
        r'name="form_key" value="([^"]+)"', c.get("/agency/issue/business-licence").text
    )
    assert other is not None and other.group(1) != key.group(1)


def test_issuing_by_keyboard_only(
    browser: Any,
    web_server: Server,
    web_catalogue: list[dict[str, Any]],
    officer_token: str,
) -> None:
    page = new_page(browser, DESKTOP)
    page.goto(f"{web_server.url}/agency")
    tab_to(page, "#token")
    page.keyboard.type(officer_token)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    tab_to(page, "nav.menu a[href='/agency/issue']")
    with page.expect_navigation():
        page.keyboard.press("Enter")  # one type for this agency: straight to its form
    assert page.locator("#issue-form").is_visible()
    spec = next(t for t in web_catalogue if t["code"] == "business-licence")
    example = distinct("business-licence", spec["example"])  # a company of its own
    for f in spec["fields"]:
        tab_to(page, f"#f-{f['name']}")
        if f["kind"] == "enum":
            page.keyboard.press("ArrowDown")  # the first real choice
        else:
            page.keyboard.type(example[f["name"]])
    tab_to(page, "#issue-form button[type=submit]")
    with page.expect_navigation() as nav:
        page.keyboard.press("Enter")
    assert nav.value.status == 201
    cert_id = page.locator("#cert-id").inner_text()
    tab_to(page, "a[href='/agency/certificates/" + cert_id + "']")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.locator("#cert-id").inner_text() == cert_id
    page.context.close()


def tab_to(page: Any, selector: str, limit: int = 60) -> None:
    seen: list[str] = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("(s) => document.activeElement.matches(s)", selector):
            return
        seen.append(page.evaluate("document.activeElement.id || document.activeElement.tagName"))
    raise AssertionError(f"Tab never reached {selector}; went through {seen}")


# -- search, open, revoke ---------------------------------------------------------------


@pytest.mark.parametrize("size", ["phone", "desktop"])
def test_search_finds_a_certificate_by_id_and_by_holder_name(
    browser: Any,
    web_deployment: Deployment,
    web_server: Server,
    web_catalogue: list[dict[str, Any]],
    officer_token: str,
    size: str,
) -> None:
    page = new_page(browser, SIZES[size])
    sign_in(page, web_server, officer_token)
    holder = f"检索测试{size}有限公司"
    cert_id, _link = issue_in_browser(page, web_server, web_catalogue, name=holder)
    page.goto(f"{web_server.url}/agency/certificates")
    page.fill("#s-name", "检索测试" + size)
    with page.expect_navigation():
        page.click("#search button[type=submit]")
    rows = page.locator("#results tbody tr")
    assert rows.count() == 1
    assert cert_id in rows.first.inner_text() and holder in rows.first.inner_text()
    check_page(page, f"search-{size}")
    page.goto(f"{web_server.url}/agency/certificates?id={cert_id[-6:]}&type=business-licence")
    assert cert_id in page.locator("#results").inner_text()
    # The home page's one box takes an id or a name.
    for q in (cert_id, "检索测试" + size):
        page.goto(f"{web_server.url}/agency")
        page.fill("#q-home", q)
        with page.expect_navigation():
            page.click("form[role=search] button[type=submit]")
        assert cert_id in page.locator("#results").inner_text(), q
    page.goto(f"{web_server.url}/agency/certificates?name=无此名称的主体")
    assert page.locator("#no-results").is_visible()
    page.goto(f"{web_server.url}/agency/certificates?from=2026-99-01")
    assert page.locator("[role=alert]").is_visible()
    check_page(page, f"search-bad-date-{size}")
    # The name is searched without being stored or logged in clear.
    with sqlite3.connect(web_deployment.home / "certificates.db") as db:
        data = db.execute("SELECT data_json FROM certificates WHERE id = ?", (cert_id,)).fetchone()
        assert holder not in data[0]
        assert not db.execute(
            "SELECT count(*) FROM audit_log WHERE reason LIKE ?", (f"%{holder[:4]}%",)
        ).fetchone()[0]
    page.context.close()


def test_another_agencys_certificate_cannot_be_opened(
    web_server: Server,
    web_catalogue: list[dict[str, Any]],
    console_session: httpx.Client,
) -> None:
    from .conftest import issue

    theirs = issue(web_server, web_catalogue, "human-resources", "qualification-certificate")
    c = console_session
    assert c.get(f"/agency/certificates/{theirs['id']}").status_code == 404
    assert c.get(f"/agency/certificates/{theirs['id']}/pdf").status_code == 404
    found = c.get(f"/agency/certificates?id={theirs['id']}")
    assert 'id="no-results"' in found.text and 'id="results"' not in found.text


@pytest.mark.parametrize("size", ["phone", "desktop"])
def test_correct_and_reissue_supersedes_the_old_version(
    browser: Any,
    web_server: Server,
    web_catalogue: list[dict[str, Any]],
    officer_token: str,
    size: str,
) -> None:
    page = new_page(browser, SIZES[size])
    sign_in(page, web_server, officer_token)
    cert_id, link = issue_in_browser(page, web_server, web_catalogue)
    deadline = time.monotonic() + 60
    while (
        httpx.get(f"{web_server.url}/api/v1/certificates/{cert_id}", timeout=10).json()["status"]
        != "active"
    ):  # a correction follows the version on the ledger
        assert time.monotonic() < deadline, "not anchored in time"
        time.sleep(0.2)
    page.goto(f"{web_server.url}/agency/certificates/{cert_id}")
    with page.expect_navigation():
        page.click("#reissue")
    # The form starts from the certificate as issued, and says what will happen.
    assert cert_id in page.locator("h1").inner_text()
    assert "取代" in page.locator(".lead").inner_text()
    name = page.input_value("#f-name")
    assert name and page.input_value("#f-credit_code")
    check_page(page, f"reissue-form-{size}")
    page.fill("#f-address", "北京市海淀区更正路1号")
    with page.expect_navigation() as nav:
        page.click("#issue-form button[type=submit]")
    assert nav.value.status == 201, page.content()[:2000]
    new_id = page.locator("#cert-id").inner_text().strip()
    assert new_id.split("-")[:4] == cert_id.split("-")[:4] and new_id.split("-")[4] == "02"
    assert cert_id in page.locator("#issued").inner_text()
    check_page(page, f"reissued-{size}")
    # The old paper's QR page: invalid, superseded by the new version, in the reason shown.
    deadline = time.monotonic() + 60
    while True:
        old = httpx.get(f"{web_server.url}/api/v1/certificates/{cert_id}", timeout=10).json()
        if old["status"] == "revoked":
            break
        assert time.monotonic() < deadline, old
        time.sleep(0.2)
    citizen = new_page(browser, SIZES[size])
    assert citizen.goto(link).status == 200
    verdict = citizen.locator("section.verdict")
    assert verdict.get_attribute("data-verdict") == "INVALID"
    assert new_id in citizen.locator("body").inner_text()
    citizen.context.close()
    # Changing the credit code is another company, not a correction: refused, nothing issued.
    before = certificate_count_of(web_server)
    page.goto(f"{web_server.url}/agency/certificates/{new_id}/reissue")
    page.fill("#f-credit_code", distinct("business-licence", {"credit_code": ""})["credit_code"])
    with page.expect_navigation() as nav:
        page.click("#issue-form button[type=submit]")
    assert nav.value.status == 422
    assert "统一社会信用代码" in page.locator(".alert").first.inner_text()
    assert certificate_count_of(web_server) == before
    page.context.close()


def certificate_count_of(server: Server) -> int:
    return certificate_count(server.deployment)


@pytest.mark.parametrize("size", ["phone", "desktop"])
def test_revoke_with_confirmation_and_the_qr_page_shows_revoked(
    browser: Any,
    web_server: Server,
    web_catalogue: list[dict[str, Any]],
    officer_token: str,
    clerk: dict[str, Any],
    size: str,
) -> None:
    page = new_page(browser, SIZES[size])
    sign_in(page, web_server, officer_token)
    cert_id, link = issue_in_browser(page, web_server, web_catalogue)
    # Someone looks it up: the citizen page, then the audit trail names it.
    citizen = new_page(browser, SIZES[size])
    assert citizen.goto(link).status == 200
    page.goto(f"{web_server.url}/agency/certificates/{cert_id}")
    trail = page.locator("#trail").inner_text()
    assert "扫码查看" in trail and "公众（二维码页面）" in trail, trail

    reason = "营业执照已被依法吊销"
    page.check("#a-revoke")
    page.fill("#reason", reason)
    with page.expect_navigation():
        page.click("#change button[type=submit]")
    what = page.locator("#h-what").inner_text()
    assert cert_id in what and "无法恢复" in what
    assert page.locator("#confirm-reason").inner_text() == reason
    check_page(page, f"confirm-revoke-{size}")
    # Not yet: the first step changes nothing.
    status = httpx.get(f"{web_server.url}/api/v1/certificates/{cert_id}", timeout=10).json()
    assert status["status"] != "revoked"
    with page.expect_navigation():
        page.click("#confirm button[type=submit]")
    assert page.locator("#changed").is_visible()
    assert "已撤销" in page.locator("#status").inner_text()
    assert page.locator("#status-reason").inner_text() == reason
    history = page.locator("#history").inner_text()
    assert "签发" in history and "撤销" in history and reason in history, history
    assert page.locator("#change").count() == 0  # nothing more to do with a revoked one
    check_page(page, f"revoked-{size}")

    citizen.goto(link)
    banner = citizen.locator("body").inner_text()
    assert "已撤销" in banner and reason in banner
    citizen.context.close()
    page.context.close()


def test_suspend_then_reinstate(
    browser: Any,
    web_server: Server,
    web_catalogue: list[dict[str, Any]],
    officer_token: str,
) -> None:
    page = new_page(browser, DESKTOP)
    sign_in(page, web_server, officer_token, lang="en")
    page.goto(f"{web_server.url}/agency/issue/business-licence?lang=en")
    fill_example(page, web_catalogue, "business-licence")
    with page.expect_navigation():
        page.click("#issue-form button[type=submit]")
    cert_id = page.locator("#cert-id").inner_text()
    page.goto(f"{web_server.url}/agency/certificates/{cert_id}?lang=en")
    # No reason: refused in words, nothing changed.
    page.check("#a-suspend")
    with page.expect_navigation() as nav:
        page.click("#change button[type=submit]")
    assert nav.value.status == 422
    assert "Please give the reason" in page.locator("[role=alert]").inner_text()
    page.check("#a-suspend")
    page.fill("#reason", "Under inspection")
    with page.expect_navigation():
        page.click("#change button[type=submit]")
    check_page(page, "confirm-suspend-en")
    with page.expect_navigation():
        page.click("#confirm button[type=submit]")
    assert "Suspended" in page.locator("#status").inner_text()
    page.check("#a-reinstate")
    page.fill("#reason", "Inspection passed")
    with page.expect_navigation():
        page.click("#change button[type=submit]")
    with page.expect_navigation():
        page.click("#confirm button[type=submit]")
    assert "In force" in page.locator("#status").inner_text()
    page.context.close()


# -- batch ------------------------------------------------------------------------------


def _batch_csv(
    catalogue: list[dict[str, Any]], rows: int, bad: dict[int, dict[str, str]], tag: str = ""
) -> bytes:
    spec = next(t for t in catalogue if t["code"] == "business-licence")
    names = [f["name"] for f in spec["fields"]]
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(names)
    for i in range(1, rows + 1):
        row = dict(licence_row(catalogue, f"console/{tag}", i), name=f"批量示例{tag}{i}有限公司")
        row.update(bad.get(i, {}))
        w.writerow([row[n] for n in names])
    return out.getvalue().encode("utf-8")


@pytest.mark.parametrize("size", ["phone", "desktop"])
def test_batch_of_200_with_three_bad_rows(
    browser: Any,
    web_server: Server,
    web_catalogue: list[dict[str, Any]],
    officer_token: str,
    tmp_path: Path,
    size: str,
) -> None:
    page = new_page(browser, SIZES[size])
    sign_in(page, web_server, officer_token)
    page.goto(f"{web_server.url}/agency/batch")
    check_page(page, f"batch-form-{size}")
    template = page.request.get(f"{web_server.url}/agency/batch/template/business-licence.csv")
    assert template.status == 200
    header = template.body().decode("utf-8-sig").splitlines()[0]
    assert header.split(",")[0] == "credit_code"

    bad = {
        17: {"established": "2020-02-30"},
        88: {"credit_code": "91110108MA01C3Q5R0"},
        150: {"name": ""},
    }
    path = tmp_path / "batch.csv"
    path.write_bytes(_batch_csv(web_catalogue, 200, bad, tag=size))
    page.set_input_files("#b-file", str(path))
    # Hold the progress resource back while axe looks at the page in its running state.
    page.route("**/progress.json", lambda route: route.abort())
    with page.expect_navigation():
        page.click("#batch-form button[type=submit]")
    assert page.locator("#bar").is_visible()
    assert page.locator("#refresh").is_visible()  # the way on without the script
    check_page(page, f"batch-progress-{size}")
    page.unroute("**/progress.json")
    # The script polls the progress resource and reloads the page when the batch is done.
    page.wait_for_selector("#report", timeout=600_000)
    assert page.locator("#bar").get_attribute("value") == "100"
    counts = page.locator("#counts").inner_text()
    assert "200" in counts and "197" in counts and "3" in counts
    failed = page.locator("#report tr.failed")
    assert failed.count() == 3
    text = failed.all_inner_texts()
    for (row, _fields), shown in zip(sorted(bad.items()), text, strict=True):
        cells = shown.split("\t") if "\t" in shown else shown.split()
        assert str(row) in cells[0] and str(row + 1) in shown  # data row and file line
    assert all(re.search(r"[\u4e00-\u9fff]", t) and re.search(r"[a-z]{3}", t) for t in text)
    check_page(page, f"batch-report-{size}")

    zip_url = page.locator("#download-zip").get_attribute("href")
    archive = page.request.get(f"{web_server.url}{zip_url}")
    assert archive.status == 200
    with zipfile.ZipFile(io.BytesIO(archive.body())) as zf:
        names = zf.namelist()
        assert len(names) == 197
        assert zf.read(names[0]).startswith(b"%PDF-")
    csv_url = page.locator("#download-csv").get_attribute("href")
    results = page.request.get(f"{web_server.url}{csv_url}")
    assert results.status == 200
    lines = list(csv.reader(io.StringIO(results.body().decode("utf-8-sig"))))
    assert len(lines) == 201
    page.context.close()


def test_batch_progress_without_script(
    web_server: Server, web_catalogue: list[dict[str, Any]], console_session: httpx.Client
) -> None:
    """Without JavaScript the page offers a link to refresh it (no meta refresh), and the
    progress resource answers JSON."""
    c = console_session
    r = c.post(
        "/agency/batch",
        data={"csrf": session_csrf(c), "type": "business-licence"},
        files={"file": ("b.csv", _batch_csv(web_catalogue, 3, {}), "text/csv")},
    )
    assert r.status_code == 303, r.text
    batch_page = r.headers["location"]
    html = c.get(batch_page).text
    assert "http-equiv" not in html
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        p = c.get(f"{batch_page}/progress.json").json()
        if p["done"]:
            break
        assert 'id="refresh"' in c.get(batch_page).text
        time.sleep(0.3)
    assert p["issued"] == 3 and p["percent"] == 100
    assert 'id="report"' in c.get(batch_page).text
    bad = c.post(
        "/agency/batch",
        data={"csrf": session_csrf(c), "type": "business-licence"},
        files={"file": ("b.csv", b"\xff\xfe not csv", "text/csv")},
    )
    assert 400 <= bad.status_code < 500
    assert 'role="alert"' in bad.text


def test_another_client_cannot_see_the_batch(
    web_deployment: Deployment, web_server: Server, console_session: httpx.Client
) -> None:
    other = add_client(web_deployment, "transport", "运输局签发系统", "issuer")
    with httpx.Client(base_url=web_server.url, timeout=60, follow_redirects=False) as c:
        assert console_sign_in(c, "/agency", other["token"]).status_code == 303
        assert c.get("/agency/batch/nonexistent-batch").status_code == 404


# -- sessions: sign-out, a revoked client, mutual TLS -------------------------------------


def test_sign_out_and_a_revoked_client_end_the_session(
    web_deployment: Deployment, web_server: Server
) -> None:
    temp = add_client(web_deployment, AGENCY, "登记科 · 临时", "issuer")
    with httpx.Client(base_url=web_server.url, timeout=60, follow_redirects=False) as c:
        assert console_sign_in(c, "/agency", temp["token"]).status_code == 303
        assert "登记科 · 临时" in c.get("/agency").text
        r = c.post("/agency/sign-out", data={"csrf": session_csrf(c)})
        assert r.status_code == 303
        assert 'id="sign-in"' in c.get("/agency").text
        console_sign_in(c, "/agency", temp["token"])
        assert 'id="sign-in"' not in c.get("/agency").text
        web_deployment.cli("clients", "revoke", temp["id"], check=True)
        assert 'id="sign-in"' in c.get("/agency").text


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    yield from tls_world(tmp_path_factory, "agency-tls")


def test_sign_in_with_the_agencys_client_certificate(tls: Any) -> None:
    officer = tls.add_client("issuer", "运输局签发系统")
    with tls.client_of(officer) as c:
        page = c.get("/agency")
        assert "使用本机客户端证书登录" in page.text
        r = c.post(
            "/agency/sign-in",
            data={"csrf": form_csrf(page.text, "certificate"), "method": "certificate"},
        )
        assert r.status_code == 303, r.text
        cookie = next(h for h in r.headers.get_list("set-cookie") if "certledger_agency=" in h)
        assert "secure" in cookie.lower() and "httponly" in cookie.lower()
        home = c.get("/agency")
        assert "运输局签发系统" in home.text and "道路运输经营许可证" in home.text
        raw = c.cookies.get("certledger_agency")
    assert raw
    # The same cookie on a connection without that certificate: no session.
    with tls.client() as other:
        other.cookies.set("certledger_agency", raw, domain="127.0.0.1", path="/agency")
        assert 'id="sign-in"' in other.get("/agency").text
    # A verifier's certificate is not an issuer's.
    clerk = tls.add_client("verifier", "运输窗口 5")
    with tls.client_of(clerk) as c:
        page = c.get("/agency")
        r = c.post(
            "/agency/sign-in",
            data={"csrf": form_csrf(page.text, "certificate"), "method": "certificate"},
        )
        assert r.status_code == 403
        assert "certledger_agency=" not in r.headers.get("set-cookie", "")


@pytest.mark.parametrize("size", ["phone", "desktop"])
def test_refusal_pages(browser: Any, web_server: Server, officer_token: str, size: str) -> None:
    """The pages that say something cannot be done: in words, with the way back."""
    page = new_page(browser, SIZES[size])
    sign_in(page, web_server, officer_token)
    missing = page.goto(f"{web_server.url}/agency/certificates/BL-MR-2026-99999999-01-X")
    assert missing.status == 404
    assert "没有这份证照" in page.locator("[role=alert]").inner_text()
    check_page(page, f"not-found-{size}")
    wrong = page.goto(f"{web_server.url}/agency/issue/road-transport-permit?lang=en")
    assert wrong.status == 404
    assert "does not issue this type" in page.locator("[role=alert]").inner_text()
    check_page(page, f"wrong-type-en-{size}")
    page.context.close()
