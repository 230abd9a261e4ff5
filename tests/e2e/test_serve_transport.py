"""`certledger serve` serves plain HTTP on loopback only: elsewhere it wants --tls, or
--insecure-http (a proxy in front terminates TLS) with an https:// base URL for the QR codes."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import httpx
import pytest

from verify_api.cli.main import plain_http_refusal

from .conftest import CLI, make_deployment, server_log, start_server, stop_server

pytestmark = pytest.mark.e2e

HTTPS_BASE = "https://certs.example.gov"


def _serve(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The real CLI, in a data directory made by hand: the transport is decided before the
    passphrase is asked for or the deployment is opened, so none is needed to be refused."""
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in ("CERTLEDGER_PASSPHRASE", "CERTLEDGER_BASE_URL", "CERTLEDGER_HOME")
    }
    return subprocess.run(
        [*CLI, "--home", str(home), "serve", *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def _home(tmp_path: Path, base_url: str) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    (home / "settings.json").write_text(json.dumps({"base_url": base_url}), "utf-8")
    return home


def test_plain_http_outside_loopback_is_refused_before_anything_starts(tmp_path: Path) -> None:
    home = tmp_path / "never-made"
    proc = _serve(home, "--host", "0.0.0.0", "--port", "8000")
    assert proc.returncode == 5, proc.stderr
    assert "refusing to serve plain HTTP on 0.0.0.0" in proc.stderr
    assert "拒绝在非回环地址 0.0.0.0 上以明文 HTTP 提供服务" in proc.stderr
    for way_out in ("--tls", "--insecure-http"):
        assert way_out in proc.stderr
    assert "serving" not in proc.stdout
    assert not home.exists()  # nothing opened, nothing created


def test_insecure_http_without_an_https_base_url_is_refused(tmp_path: Path) -> None:
    home = _home(tmp_path, "http://certs.example.gov")
    proc = _serve(home, "--host", "0.0.0.0", "--insecure-http")
    assert proc.returncode == 5, proc.stderr
    assert "base URL in QR codes must start with https://" in proc.stderr
    assert "二维码中的基础地址须以 https:// 开头" in proc.stderr
    assert "http://certs.example.gov" in proc.stderr
    assert "WARNING" not in proc.stderr
    # The process's override counts, both ways.
    proc = _serve(home, "--insecure-http", CERTLEDGER_BASE_URL="http://override.example")
    assert proc.returncode == 5 and "must start with https://" in proc.stderr
    https_home = tmp_path / "https"
    https_home.mkdir()
    (https_home / "settings.json").write_text(json.dumps({"base_url": HTTPS_BASE}), "utf-8")
    proc = _serve(https_home, "--insecure-http", CERTLEDGER_BASE_URL="http://override.example")
    assert proc.returncode == 5 and "must start with https://" in proc.stderr


def test_insecure_http_with_an_https_base_url_passes_the_transport_check(tmp_path: Path) -> None:
    """Accepted (one WARNING line); the start then stops at the missing passphrase, before
    anything is bound."""
    home = _home(tmp_path, "http://certs.example.gov")
    proc = _serve(home, "--host", "0.0.0.0", "--insecure-http", CERTLEDGER_BASE_URL=HTTPS_BASE)
    assert "must start with https://" not in proc.stderr
    assert "refusing" not in proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("WARNING")]
    assert len(warnings) == 1 and "--insecure-http" in warnings[0], proc.stderr
    assert "CERTLEDGER_PASSPHRASE" in proc.stderr and proc.returncode == 5


def test_tls_and_insecure_http_together_are_refused(tmp_path: Path) -> None:
    proc = _serve(tmp_path / "never-made", "--host", "0.0.0.0", "--tls", "--insecure-http")
    assert proc.returncode == 4, proc.stderr
    assert "not both" in proc.stderr and "只能选其一" in proc.stderr


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1", "127.3.4.5", "::1", "[::1]", "localhost", "LOCALHOST", "localhost."],
)
def test_loopback_may_serve_plain_http(host: str) -> None:
    assert plain_http_refusal(host, tls=False, insecure_http=False, base_url=None) is None


@pytest.mark.parametrize(
    "host",
    ["0.0.0.0", "::", "", "192.168.1.10", "10.0.0.2", "2001:db8::1", "certs.example.gov"],
)
def test_other_hosts_need_tls_or_insecure_http(host: str) -> None:
    refusal = plain_http_refusal(host, tls=False, insecure_http=False, base_url=None)
    assert refusal is not None
    assert "--tls" in refusal and "--insecure-http" in refusal and "拒绝" in refusal
    assert plain_http_refusal(host, tls=True, insecure_http=False, base_url=None) is None
    assert plain_http_refusal(host, tls=False, insecure_http=True, base_url=HTTPS_BASE) is None
    upper = "HTTPS://X.EXAMPLE"
    assert plain_http_refusal(host, tls=False, insecure_http=True, base_url=upper) is None


@pytest.mark.parametrize("base_url", ["http://certs.example.gov", "", None, "httpsx://a"])
def test_insecure_http_wants_an_https_base_url(base_url: str | None) -> None:
    refusal = plain_http_refusal("0.0.0.0", tls=False, insecure_http=True, base_url=base_url)
    assert refusal is not None and "https://" in refusal


def test_insecure_http_server_starts_and_warns_once(tmp_path: Path) -> None:
    """The real server with --insecure-http (on loopback, so the test binds nothing outside
    it) and an https base URL: it starts, answers, and logged one WARNING line."""
    dep = make_deployment(tmp_path / "home")
    port = int(dep.base_url.rsplit(":", 1)[1])
    server = start_server(dep, {"CERTLEDGER_BASE_URL": HTTPS_BASE}, args=["--insecure-http"])
    try:
        assert httpx.get(f"{dep.base_url}/healthz", timeout=10).status_code == 200
    finally:
        stop_server(server)
    log = server_log(dep, port)
    warnings = [line for line in log.splitlines() if line.startswith("WARNING")]
    assert len(warnings) == 1 and "--insecure-http" in warnings[0], log
