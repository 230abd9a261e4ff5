"""Every answer of a running server carries the security headers: the API's JSON, PDFs, errors,
the fast paths' answers, and the pages (whose own strict policies are kept)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.e2e.conftest import Server

pytestmark = pytest.mark.e2e

_NON_HTML_CSP = "default-src 'none'; frame-ancestors 'none'"


def _assert_secured(r: httpx.Response, *, cache: str = "no-store") -> None:
    assert r.headers["referrer-policy"] == "no-referrer", r.url
    assert r.headers["x-content-type-options"] == "nosniff", r.url
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"], r.url
    assert r.headers["cache-control"] == cache, r.url


def test_api_answers_carry_the_security_headers(server: Server, issued: dict[str, Any]) -> None:
    auth = server.deployment.auth("market-regulation")
    with server.client() as c:
        answers = [
            c.get("/healthz"),
            c.get("/api/v1/types"),
            c.get(f"/api/v1/certificates/{issued['id']}"),  # the status fast path
            c.get("/api/v1/certificates/NO-SUCH-ID"),  # 404
            c.get(issued["pdf_url"], headers=auth),  # a PDF with personal data
            c.post(f"/api/v1/certificates/{issued['id']}/suspend", headers=auth),  # 422
            c.post("/api/v1/certificates", json={"type": "x", "data": {}}),  # 401
        ]
    assert [r.status_code for r in answers] == [200, 200, 200, 404, 200, 422, 401]
    for r in answers:
        _assert_secured(r)
        # Nothing that is not a page may load or run anything.
        assert r.headers["content-security-policy"] == _NON_HTML_CSP, r.url


def test_pages_keep_their_own_policy_and_get_the_rest(
    server: Server, issued: dict[str, Any]
) -> None:
    link = urlsplit(issued["verify_url"])
    with server.client() as c:
        qr_page = c.get(f"{link.path}?{link.query}")
        docs = c.get("/docs")
    assert qr_page.status_code == 200
    _assert_secured(qr_page, cache=qr_page.headers["cache-control"])
    assert "no-store" in qr_page.headers["cache-control"]
    # The QR page's own strict policy is kept, not replaced by the default.
    assert "script-src" in qr_page.headers["content-security-policy"]
    assert qr_page.headers["content-security-policy"].count("frame-ancestors") == 1
    # Swagger UI sets no policy of its own: framing is refused, its scripts still run.
    assert docs.status_code == 200
    _assert_secured(docs)
    assert docs.headers["content-security-policy"] == "frame-ancestors 'none'"
