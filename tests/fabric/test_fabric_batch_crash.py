"""A batch that survives a crash on Fabric: `kill -9` of `certledger issue-batch` (and its
worker processes) in the middle of a 500-certificate batch, then the same command again.
Afterwards CSV rows = store rows = ledger records = PDFs in the output folder, each
certificate anchored exactly once on the agency's Fabric peer (the embedded ledger's twin is
tests/e2e/test_batch_crash.py)."""

from __future__ import annotations

import csv
import json
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import (
    CLI,
    ROOT,
    Deployment,
    issue_batch_args,
    write_licence_csv,
)

from .conftest import FabricNet

pytestmark = pytest.mark.fabric

ROWS = 500


def test_kill_9_mid_batch_on_fabric_then_rerun(
    fabric_deployment: Deployment,
    fabric_net: FabricNet,
    catalogue: list[dict[str, Any]],
    tmp_path: Path,
) -> None:
    dep, env = fabric_deployment, fabric_net.env()
    csv_file, out_dir = tmp_path / "licences.csv", tmp_path / "out"
    write_licence_csv(catalogue, csv_file, ROWS, tag="fabric-crash", label="织网")
    with sqlite3.connect(dep.home / "certificates.db") as db:
        before = {i for (i,) in db.execute("SELECT id FROM certificates")}
    args = issue_batch_args(csv_file, out_dir, "--json", workers=2)
    proc = subprocess.Popen(
        [*CLI, *args],
        env={**dep.env, **env, "PYTHONPATH": ROOT},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # the kill takes the command's workers with it
    )
    try:
        deadline = time.monotonic() + 300
        while len(list(out_dir.glob("*.pdf"))) < 100:
            assert proc.poll() is None, proc.communicate()[1].decode()[-2000:]
            assert time.monotonic() < deadline, "no PDFs written in time"
            time.sleep(0.05)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    with sqlite3.connect(dep.home / "certificates.db") as db:
        stored = {i for (i,) in db.execute("SELECT id FROM certificates")} - before
    assert 100 <= len(stored) < ROWS  # killed in the middle

    rerun = dep.cli(*args, extra_env=env, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert f"{len(stored)} already issued" in rerun.stderr
    results = json.loads(rerun.stdout)
    ids = {r["id"] for r in results}
    assert len(results) == ROWS == len(ids)  # one certificate a row
    assert all(r["status"] == "active" for r in results)
    # Store rows = CSV rows, all anchored.
    with sqlite3.connect(dep.home / "certificates.db") as db:
        added = {
            i: s for i, s in db.execute("SELECT id, state FROM certificates") if i not in before
        }
    assert set(added) == ids and set(added.values()) == {"anchored"}
    # Ledger records = CSV rows, each anchored once (one 'active' version in its history).
    with fabric_net.ledger("market-regulation") as ledger:
        for cid in sorted(ids):
            record = ledger.get(cid)
            assert record is not None and record.status == "active", cid
        for cid in sorted(ids)[:: ROWS // 25]:  # the histories of a sample
            history = ledger.history(cid)
            assert [h.status for h in history] == ["active"], (cid, history)
    # PDFs in the output = CSV rows; nothing half-written.
    assert {p.stem for p in out_dir.glob("*.pdf")} == ids
    assert not list(out_dir.glob(".*.part"))
    manifest = list(csv.DictReader((out_dir / "manifest.csv").read_text("utf-8").splitlines()))
    assert sorted(m["id"] for m in manifest) == sorted(ids)
