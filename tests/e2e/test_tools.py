"""Independent tools agree with us: poppler's pdfsig, openssl ts, and a QR decoder reading the
printed code from a rendered page image."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from .conftest import Server, require_tool

pytestmark = [pytest.mark.e2e, pytest.mark.tools]


def test_pdfsig_reports_the_seal_valid(issued: dict[str, Any], tmp_path: Path) -> None:
    pdfsig = require_tool("pdfsig")
    f = tmp_path / "certificate.pdf"
    f.write_bytes(issued["pdf"])
    out = subprocess.run([pdfsig, str(f)], capture_output=True, text=True, timeout=60)
    assert "Signature is Valid." in out.stdout, out.stdout + out.stderr
    assert "ECDSA" in out.stdout or "ecdsa" in out.stdout.lower() or "Signature Type" in out.stdout


def test_openssl_accepts_the_project_tsa_tokens(server: Server, tmp_path: Path) -> None:
    openssl = require_tool("openssl")
    data = tmp_path / "data.bin"
    data.write_bytes(b"certledger timestamp check\n" * 100)
    req = tmp_path / "req.tsq"
    subprocess.run(
        [openssl, "ts", "-query", "-data", str(data), "-sha256", "-cert", "-out", str(req)],
        check=True,
        capture_output=True,
        timeout=30,
    )
    with server.client() as c:
        r = c.post(
            "/tsa",
            content=req.read_bytes(),
            headers={"Content-Type": "application/timestamp-query"},
        )
        bad = c.post("/tsa", content=b"x", headers={"Content-Type": "text/plain"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/timestamp-reply")
    assert bad.status_code == 415
    resp = tmp_path / "resp.tsr"
    resp.write_bytes(r.content)
    pki = server.deployment.home / "pki"
    untrusted = tmp_path / "chain.pem"
    untrusted.write_bytes((pki / "tsa.pem").read_bytes() + (pki / "issuing-ca.pem").read_bytes())
    v = subprocess.run(
        [
            openssl,
            "ts",
            "-verify",
            "-in",
            str(resp),
            "-data",
            str(data),
            "-CAfile",
            str(pki / "trust-roots.pem"),
            "-untrusted",
            str(untrusted),
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert v.returncode == 0 and "Verification: OK" in v.stdout, v.stdout + v.stderr


def test_qr_code_opens_the_right_verification_page(
    server: Server, issued: dict[str, Any], tmp_path: Path
) -> None:
    pdftoppm = require_tool("pdftoppm")
    import zxingcpp
    from PIL import Image

    f = tmp_path / "certificate.pdf"
    f.write_bytes(issued["pdf"])
    subprocess.run(
        [pdftoppm, "-r", "150", "-png", "-singlefile", str(f), str(tmp_path / "page")],
        capture_output=True,
        timeout=60,
        check=True,
    )
    codes = zxingcpp.read_barcodes(Image.open(tmp_path / "page.png"))
    urls = [c.text for c in codes if c.format == zxingcpp.BarcodeFormat.QRCode]
    assert urls == [issued["verify_url"]]
    parts = urlsplit(urls[0])
    assert f"{parts.scheme}://{parts.netloc}" == server.url
    with server.client() as c:
        page = c.get(f"{parts.path}?{parts.query}")
        assert page.status_code == 200
        assert 'data-verdict="VALID"' in page.text
        assert "证照有效" in page.text  # Chinese by default
        en = c.get(f"{parts.path}?{parts.query}&lang=en&size=large")
        assert "Certificate is valid" in en.text and "--fs:22px" in en.text
        wrong = c.get(f"{parts.path}?t=wrong-token")
        unknown = c.get("/v/BL-MR-2026-99999999-01-0?t=x")
        assert wrong.status_code == unknown.status_code == 404
        assert wrong.text == unknown.text  # no way to tell an existing id from a missing one
