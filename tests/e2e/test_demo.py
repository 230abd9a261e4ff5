"""The demo a newcomer runs (`make demo` → ``python -m verify_api.demo``): its options, and a
real run on a free port whose QR links carry the base URL asked for, with the guide it prints
(where the passphrase is kept, a ready request, example files, the consoles and their
credentials) true to the running server."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from verify_api.demo import DemoOptions, parse_args

from .conftest import ROOT, free_port

pytestmark = pytest.mark.e2e


def test_options_default_and_given() -> None:
    d = parse_args([])
    assert (d.host, d.port, d.base_url, d.tls) == (
        "127.0.0.1",
        8000,
        "http://127.0.0.1:8000",
        False,
    )
    o = parse_args(["--port", "9123", "--home", "x"])
    assert o.base_url == "http://127.0.0.1:9123" and o.home == Path("x")
    lan = parse_args(
        ["--host", "0.0.0.0", "--port", "8443", "--base-url", "https://192.168.1.20:8443/"]
    )
    assert lan.tls and lan.base_url == "https://192.168.1.20:8443"
    assert parse_args(["--host", "0.0.0.0", "--port", "8443"]).base_url.startswith("https://")


@pytest.mark.parametrize(
    "argv",
    [
        ["--port", "0"],
        ["--port", "70000"],
        ["--base-url", "ftp://example"],
        ["--host", "0.0.0.0", "--base-url", "http://192.168.1.20:8000"],  # plain HTTP off loopback
    ],
)
def test_bad_options_are_refused_with_a_reason(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        parse_args(argv)
    assert exc.value.code == 2
    assert "error:" in capsys.readouterr().err


def _start(home: Path, port: int, base_url: str, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERTLEDGER_")}
    env["PYTHONPATH"] = ROOT
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "verify_api.demo", "--home", str(home), "--port", str(port),
             "--base-url", base_url],
            env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
        )  # fmt: skip
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"demo exited {proc.returncode}:\n{log.read_text('utf-8')}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.2)
    proc.kill()
    proc.wait()
    raise AssertionError(f"demo did not serve in 240 s:\n{log.read_text('utf-8')}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture()
def demo_home(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "demo-home"


def test_the_demo_serves_on_the_port_and_links_the_base_url(
    demo_home: Path, tmp_path: Path
) -> None:
    port = free_port()
    # "localhost" rather than the listening address: the links carry what was asked, not the bind.
    base = f"http://localhost:{port}"
    log = tmp_path / "demo.log"
    proc = _start(demo_home, port, base, log)
    try:
        out = log.read_text("utf-8")
        links = re.findall(r"(http://\S+/v/(\S+)\?t=\S+)", out)
        assert len(links) >= 3, out
        assert all(url.startswith(f"{base}/v/") for url, _ in links)
        url, cert_id = links[0]
        page = httpx.get(url.replace("localhost", "127.0.0.1"), timeout=30)
        assert page.status_code == 200 and cert_id in page.text
        # The guide: the passphrase's place, the consoles with their credentials, the examples.
        assert str(demo_home / ".demo-passphrase") in out
        for path in ("/counter", "/agency", "/docs"):
            assert f"{base}{path}" in out
        creds = json.loads((demo_home / "demo-credentials.json").read_text("utf-8"))
        assert oct((demo_home / "demo-credentials.json").stat().st_mode & 0o777) == "0o600"
        assert creds["counter"]["token"] in out
        assert all(token in out for token in creds["agencies"].values())
        request = demo_home / "examples" / "issue-business-licence.json"
        batch = demo_home / "examples" / "qualification-certificates.csv"
        assert (
            str(request) in out and str(batch) in out and batch.read_text("utf-8").count("\n") == 4
        )
        assert f"--data @{request} {base}/api/v1/certificates" in out
        # The ready request works as printed (against the listening address).
        issued = httpx.post(
            f"http://127.0.0.1:{port}/api/v1/certificates",
            headers={
                "Authorization": f"Bearer {creds['agencies']['market-regulation']}",
                "Content-Type": "application/json",
            },
            content=request.read_bytes(),
            timeout=60,
        )
        assert issued.status_code == 201, issued.text
        assert issued.json()["verify_url"].startswith(f"{base}/v/")
        # The counter's credential is a verifier client: the desk takes it.
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as c:
            sign_in = c.get("/counter")
            csrf = re.search(r'name="csrf" value="([^"]+)"', sign_in.text)
            assert csrf is not None, sign_in.text[:500]
            r = c.post(
                "/counter/sign-in",
                data={"csrf": csrf.group(1), "token": creds["counter"]["token"]},
                follow_redirects=True,
            )
            assert r.status_code == 200 and 'id="desk"' in r.text, r.text[:500]
    finally:
        _stop(proc)

    # Another base URL on the same demo: the samples are issued again with it.
    port2 = free_port()
    base2 = f"http://127.0.0.1:{port2}"
    proc = _start(demo_home, port2, base2, tmp_path / "demo2.log")
    try:
        out2 = (tmp_path / "demo2.log").read_text("utf-8")
        links2 = re.findall(r"(http://\S+/v/\S+\?t=\S+)", out2)
        assert links2 and all(u.startswith(f"{base2}/v/") for u in links2), out2
        assert httpx.get(links2[0], timeout=30).status_code == 200
        # Same credentials as the first run: nothing new to hand out.
        again = json.loads((demo_home / "demo-credentials.json").read_text("utf-8"))
        assert again == creds
    finally:
        _stop(proc)


def test_demo_options_type() -> None:
    assert DemoOptions(Path("h"), "::1", 8000, "http://[::1]:8000").tls is False
