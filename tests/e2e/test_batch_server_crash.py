"""The HTTP batch survives its server: `kill -9` of `certledger serve` (and its worker
processes) while a batch runs, and a restart on the same data directory. The restarted server
resumes the interrupted batch by itself where it stopped; the same file submitted again
afterwards is the same batch. Every row issued and anchored exactly once, the ZIP holding
exactly those PDFs."""

from __future__ import annotations

import contextlib
import io
import os
import signal
import sqlite3
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.bench.procs import descendants

from .conftest import Server, make_deployment, start_server, stop_server
from .test_batches_http import MR, _csv, _submit, _wait_done

pytestmark = pytest.mark.e2e

ROWS = 60


def _kill_9(server: Server) -> None:
    tree = [server.proc.pid, *descendants(server.proc.pid)]
    for pid in tree:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    server.proc.wait(timeout=30)


def test_kill_9_of_the_server_mid_batch_then_resubmit(
    tmp_path: Path, catalogue: list[dict[str, Any]]
) -> None:
    dep = make_deployment(tmp_path / "home")
    content = _csv(catalogue, ROWS, set(), "重启")
    server = start_server(dep)
    try:
        with server.client() as c:
            r = _submit(c, server, content)
            assert r.status_code == 202, r.text
            url = r.json()["links"]["self"]
            deadline = time.monotonic() + 180
            while True:
                p = c.get(url, headers=dep.auth(MR)).json()
                assert not p["done"], "the batch finished before it could be interrupted"
                if p["issued"] >= 20:
                    break
                assert time.monotonic() < deadline, p
                time.sleep(0.1)
        _kill_9(server)
    finally:
        if server.proc.poll() is None:
            stop_server(server)
    with sqlite3.connect(dep.home / "certificates.db") as db:
        stored = db.execute("SELECT count(*) FROM certificates").fetchone()[0]
    assert 20 <= stored < ROWS

    server = start_server(dep)
    try:
        with server.client() as c:
            p = c.get(url, headers=dep.auth(MR)).json()
            # The restarted server took the interrupted batch up by itself, where it stopped.
            assert p["state"] in ("running", "done") and p["issued"] >= stored
            _wait_done(c, server, url)  # finished without the file being submitted again
            again = _submit(c, server, content)
            assert again.status_code == 202 and again.json()["links"]["self"] == url
            final = c.get(url, headers=dep.auth(MR)).json()
            assert (final["issued"], final["failed"], final["state"]) == (ROWS, 0, "done")
            rows = c.get(f"{url}/rows", headers=dep.auth(MR)).json()["rows"]
            ids = {x["id"] for x in rows}
            archive = zipfile.ZipFile(
                io.BytesIO(c.get(f"{url}/results.zip", headers=dep.auth(MR)).content)
            )
            pdfs = {n.removesuffix(".pdf") for n in archive.namelist() if n.endswith(".pdf")}
    finally:
        stop_server(server)
    assert len(ids) == ROWS and pdfs == ids
    with sqlite3.connect(dep.home / "certificates.db") as db:
        store = {i for (i,) in db.execute("SELECT id FROM certificates")}
        assert db.execute(
            "SELECT count(*) FROM certificates WHERE state != 'anchored'"
        ).fetchone() == (0,)
    assert store == ids
    with sqlite3.connect(dep.home / "ledger.db") as db:
        assert db.execute(
            "SELECT count(*), count(DISTINCT key) FROM writes WHERE key LIKE 'cert/%'"
        ).fetchone() == (ROWS, ROWS)
