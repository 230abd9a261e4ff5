"""The counter desk under `certledger serve --tls`: sign-in with the clerk's client certificate
(mutual TLS, checked by the API's ClientAuth), Secure cookies, and a certificate session that
holds only on a connection presenting that certificate."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.test_mtls import TlsWorld

from .conftest import add_client, form_csrf, tls_world

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsWorld]:
    yield from tls_world(tmp_path_factory, "desk-tls")


_csrf = form_csrf


def _session_cookie(r: httpx.Response) -> str:
    return next(h for h in r.headers.get_list("set-cookie") if "certledger_desk=" in h)


def test_sign_in_with_the_clerks_client_certificate(tls: TlsWorld) -> None:
    clerk = tls.add_client("verifier", "运输窗口 2")
    with tls.client_of(clerk) as c:
        page = c.get("/counter")
        assert page.status_code == 200
        assert "使用本机客户端证书登录" in page.text
        assert "secure" in page.headers["set-cookie"].lower()  # the pre-session cookie too
        r = c.post(
            "/counter/sign-in",
            data={"csrf": _csrf(page.text, "certificate"), "method": "certificate"},
        )
        assert r.status_code == 303, r.text
        header = _session_cookie(r).lower()
        assert "secure" in header and "httponly" in header and "samesite=strict" in header
        desk = c.get("/counter")
        assert 'id="desk"' in desk.text and "运输窗口 2" in desk.text
        raw = c.cookies.get("certledger_desk")
    assert raw
    # The same cookie on a connection without that certificate: no session.
    with tls.client() as other:
        other.cookies.set("certledger_desk", raw, domain="127.0.0.1", path="/counter")
        r = other.get("/counter")
        assert 'id="sign-in"' in r.text and 'id="desk"' not in r.text
        assert "使用本机客户端证书登录" not in r.text  # no certificate here to offer


def test_certificate_sign_in_without_a_certificate_is_refused(tls: TlsWorld) -> None:
    with tls.client() as c:
        page = c.get("/counter")
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert csrf is not None
        r = c.post("/counter/sign-in", data={"csrf": csrf.group(1), "method": "certificate"})
        assert r.status_code == 400
        assert "没有出示客户端证书" in r.text and "presented no client certificate" in r.text


def test_issuer_certificate_is_not_a_clerk(tls: TlsWorld) -> None:
    issuer = tls.add_client("issuer", "transport permit system")
    with tls.client_of(issuer) as c:
        page = c.get("/counter")
        r = c.post(
            "/counter/sign-in",
            data={"csrf": _csrf(page.text, "certificate"), "method": "certificate"},
        )
        assert r.status_code == 403
        assert "verifier" in r.text
        assert "certledger_desk=" not in r.headers.get("set-cookie", "")


def test_token_sign_in_over_tls_sets_a_secure_cookie(tls: TlsWorld) -> None:
    clerk: dict[str, Any] = add_client(tls.dep, "transport", "运输窗口 3", "verifier")
    with tls.client() as c:
        page = c.get("/counter")
        r = c.post(
            "/counter/sign-in",
            data={"csrf": _csrf(page.text, "token"), "method": "token", "token": clerk["token"]},
        )
        assert r.status_code == 303, r.text
        assert "secure" in _session_cookie(r).lower()
        assert 'id="desk"' in c.get("/counter").text
