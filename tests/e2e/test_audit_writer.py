"""The audit writer process of a real `certledger serve`: every worker's audited answers go
through it; killed, it is restarted, and meanwhile audited requests are refused (503), never
answered without their entry; the server's end is the writer's end."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.distinct import distinct

from .conftest import (
    Deployment,
    Server,
    example,
    make_deployment,
    server_log,
    start_server,
    stop_server,
)

pytestmark = pytest.mark.e2e

# The supervisor waits this long before restarting a writer (verify_api.http.audit_writer).
RESTART_DELAY = 0.5


# -- processes, from /proc (Linux; psutil is not a dependency) ---------------------------------


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, parent pid) of a process, or None if there is no such process."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[1].split()  # the command name may hold spaces and parens
    return fields[0], int(fields[1])


def _alive(pid: int) -> bool:
    stat = _stat(pid)
    return stat is not None and stat[0] not in ("Z", "X")  # a zombie has ended


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return raw.decode(errors="replace").split("\0")


def _pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def _is_writer_of(pid: int, server: int) -> bool:
    cmd = _cmdline(pid)
    return (
        "audit" in cmd
        and "writer" in cmd
        and "--parent" in cmd
        and cmd[cmd.index("--parent") + 1] == str(server)
    )


def writer_children(server: int) -> list[int]:
    """The live audit writer processes among the server process's children."""
    return [
        p
        for p in _pids()
        if (s := _stat(p)) is not None and s[1] == server and _alive(p) and _is_writer_of(p, server)
    ]


def writers_anywhere(server: int) -> list[int]:
    """Live writer processes started for ``server``, whoever their parent is now."""
    return [p for p in _pids() if _alive(p) and _is_writer_of(p, server)]


def socket_of(pid: int) -> str:
    cmd = _cmdline(pid)
    return cmd[cmd.index("--socket") + 1]


def wait_for(what: str, check: Callable[[], Any], timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"{what}: not within {timeout} s")


# -- the deployment ----------------------------------------------------------------------------


@dataclass
class Setup:
    dep: Deployment
    verifier: dict[str, str]
    licence: dict[str, Any]


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Setup:
    dep = make_deployment(tmp_path_factory.mktemp("audit-writer") / "home")
    proc = dep.cli(
        "clients",
        "add",
        "--agency",
        "market-regulation",
        "--name",
        "audit writer e2e counter",
        "--role",
        "verifier",
        "--json",
        check=True,
    )
    token = json.loads(proc.stdout)["token"]
    catalogue = json.loads(dep.cli("types", "--json", check=True).stdout)
    return Setup(dep, {"Authorization": f"Bearer {token}"}, example(catalogue, "business-licence"))


def details_entries(dep: Deployment, cert_id: str) -> int:
    with contextlib.closing(sqlite3.connect(dep.home / "certificates.db")) as db:
        row = db.execute(
            "SELECT count(*) FROM audit_log WHERE action = 'details' AND cert_id = ?", (cert_id,)
        ).fetchone()
    return int(row[0])


def chain_ok(dep: Deployment) -> dict[str, Any]:
    report: dict[str, Any] = json.loads(dep.cli("audit", "verify", "--json", check=True).stdout)
    return report


@pytest.mark.parametrize("workers", [1, 2])
def test_the_audit_writer_process(setup: Setup, workers: int) -> None:
    dep = setup.dep
    # No client rate limit: the test polls as fast as the server answers.
    server: Server = start_server(
        dep, {"CERTLEDGER_RATE_CLIENT": "0"}, args=("--workers", str(workers))
    )
    port = int(dep.base_url.rsplit(":", 1)[1])
    sock = ""
    try:
        [writer] = wait_for("the audit writer", lambda: writer_children(server.proc.pid), 10)
        sock = socket_of(writer)
        assert os.path.exists(sock)
        # It writes the database and needs no secret: the passphrase is not passed down.
        environ = Path(f"/proc/{writer}/environ").read_bytes().split(b"\0")
        assert any(v.startswith(b"CERTLEDGER_HOME=") for v in environ)
        assert not any(v.startswith(b"CERTLEDGER_PASSPHRASE=") for v in environ)
        with server.client() as c:
            r = c.post(
                "/api/v1/certificates",
                headers=dep.auth("market-regulation"),
                json={
                    "type": "business-licence",
                    "data": distinct("business-licence", setup.licence),
                },
            )
            assert r.status_code == 201, r.text
            cert_id = r.json()["id"]

            def details() -> tuple[httpx.Response, int, int]:
                """One audited request, and the number of its entries before and after."""
                before = details_entries(dep, cert_id)
                r = c.get(
                    f"/api/v1/certificates/{cert_id}/details",
                    params={"purpose": "e2e-check"},
                    headers=setup.verifier,
                )
                return r, before, details_entries(dep, cert_id)

            def answered(r: httpx.Response, before: int, after: int) -> bool:
                """True for a 200 (which must have its entry), False for the refusal."""
                if r.status_code == 200:
                    assert after == before + 1, "answered without its audit entry"
                    return True
                assert r.status_code == 503, r.text
                assert r.json()["detail"]["code"] == "AUDIT_UNAVAILABLE"
                return False

            for _ in range(3):  # served by whichever worker takes it
                assert answered(*details())

            # The writer dies: audited requests are refused until it is back.
            os.kill(writer, signal.SIGKILL)
            killed = time.monotonic()
            refused, first_answer = 0, 0.0
            while time.monotonic() < killed + 30:
                ok = answered(*details())
                first_answer = first_answer or time.monotonic()
                refused += not ok
                if [p for p in writer_children(server.proc.pid) if p != writer]:
                    break  # restarted (perhaps not listening yet)
                time.sleep(0.01)
            # A refusal was seen, unless the first request came after the restart delay.
            assert refused or first_answer - killed > RESTART_DELAY, "answered while down"
            [new_writer] = wait_for(
                "a new writer",
                lambda: [p for p in writer_children(server.proc.pid) if p != writer],
                timeout=5,  # after the 30 s above
            )
            assert socket_of(new_writer) == sock
            # Back: answered again (a worker reconnects on its next audited request).
            wait_for("answers after the restart", lambda: answered(*details()), timeout=30)
            for _ in range(6):
                assert answered(*details())
        assert not _alive(writer)
        report = chain_ok(dep)
        assert report["ok"] is True, report

        # The server ends (SIGTERM, as a service manager stops it): so does its writer.
        stop_server(server)
        wait_for(
            "the writer to end with the server",
            lambda: not writers_anywhere(server.proc.pid),
            timeout=10,
        )
        assert not os.path.exists(sock)
        assert not os.path.exists(os.path.dirname(sock))  # its private directory too
    except BaseException:
        print(server_log(dep, port))
        raise
    finally:  # never leave a writer or its directory behind, even when the test failed
        stop_server(server)
        with contextlib.suppress(AssertionError):
            wait_for("", lambda: not writers_anywhere(server.proc.pid), timeout=10)
        for pid in writers_anywhere(server.proc.pid):
            os.kill(pid, signal.SIGKILL)
        if sock:
            shutil.rmtree(os.path.dirname(sock), ignore_errors=True)


def test_sigterm_stops_the_writer_before_the_server_exits(tmp_path: Path) -> None:
    """A service manager's SIGTERM: the server shuts down, stops its writer (which answers
    its last batch), and only then exits, with the usual 128 + 15. It used to die by the
    signal uvicorn raises again after its shutdown, leaving the writer to find itself
    orphaned."""
    dep = make_deployment(tmp_path / "home")
    port = int(dep.base_url.rsplit(":", 1)[1])
    server = start_server(dep)
    try:
        [writer] = wait_for("the writer", lambda: writer_children(server.proc.pid), timeout=30)
        server.proc.terminate()
        assert server.proc.wait(timeout=60) == 128 + signal.SIGTERM
        assert not _alive(writer), "the writer outlived the server"
        time.sleep(0.5)  # what an orphaned writer would have logged by now
        assert "is gone" not in server_log(dep, port)
    finally:
        stop_server(server)
