"""Batches that survive a crash, on the embedded ledger: `certledger issue-batch` killed in the
middle of a batch, then run again on the same CSV. Afterwards CSV rows = store rows = ledger
records = PDFs in the output folder: none lost, none duplicated.

Two crashes: a real ``kill -9`` of the command (and its worker processes) once PDFs are being
written, and a power cut through the issuance service's seam (``tests/crash_cli.py``) right
after a chunk is stored as pending, before it is anchored and before any PDF is written."""

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

from .conftest import (
    CLI,
    CRASHING_CLI,
    ROOT,
    Deployment,
    issue_batch_args,
    make_deployment,
    write_licence_csv,
)

pytestmark = pytest.mark.e2e

ROWS = 60
CHUNK = 20  # the batch service's rows per transaction (certificates.issuance.batches)


def _batch_csv(catalogue: list[dict[str, Any]], path: Path, tag: str) -> None:
    write_licence_csv(catalogue, path, ROWS, tag=tag, label=tag)


def _args(csv_file: Path, out_dir: Path, workers: int = 2) -> list[str]:
    return issue_batch_args(csv_file, out_dir, "--json", workers=workers)


def _store_ids(dep: Deployment) -> list[str]:
    with sqlite3.connect(dep.home / "certificates.db") as db:
        return [
            i
            for (i,) in db.execute(
                "SELECT id FROM certificates WHERE cert_type = 'business-licence'"
            )
        ]


def _check_exactly_once(
    dep: Deployment, out_dir: Path, rerun: subprocess.CompletedProcess[str]
) -> None:
    assert rerun.returncode == 0, rerun.stderr
    assert "resuming batch" in rerun.stderr and "already issued" in rerun.stderr
    results = json.loads(rerun.stdout)
    assert len(results) == ROWS and all(r["status"] == "active" for r in results)
    assert [(r["row"], r["line"]) for r in results] == [(n, n + 1) for n in range(1, ROWS + 1)]
    assert all(r["verify_url"].startswith(f"{dep.base_url}/v/{r['id']}?t=") for r in results)
    ids = {r["id"] for r in results}
    assert len(ids) == ROWS  # one certificate a row
    store = _store_ids(dep)
    assert sorted(store) == sorted(ids)  # store rows = CSV rows
    with sqlite3.connect(dep.home / "certificates.db") as db:
        assert db.execute(
            "SELECT count(*) FROM certificates WHERE state != 'anchored'"
        ).fetchone() == (0,)
    with sqlite3.connect(dep.home / "ledger.db") as db:
        anchorings = db.execute(
            "SELECT count(*), count(DISTINCT key) FROM writes WHERE key LIKE 'cert/%'"
        ).fetchone()
    assert anchorings == (ROWS, ROWS)  # ledger records = CSV rows, each anchored once
    pdfs = {p.stem for p in out_dir.glob("*.pdf")}
    assert pdfs == ids  # PDFs in the output = CSV rows
    assert not list(out_dir.glob(".*.part"))  # no half-written file left behind
    manifest = list(csv.DictReader((out_dir / "manifest.csv").read_text("utf-8").splitlines()))
    assert [m["id"] for m in manifest] == [r["id"] for r in results]
    assert all(m["status"] == "issued" and m["verify_url"] for m in manifest)
    assert dep.cli("ledger", "verify").returncode == 0


def test_kill_9_in_the_middle_of_a_batch_then_rerun(
    tmp_path: Path, catalogue: list[dict[str, Any]]
) -> None:
    dep = make_deployment(tmp_path / "home")
    csv_file, out_dir = tmp_path / "licences.csv", tmp_path / "out"
    _batch_csv(catalogue, csv_file, "甲")
    env = dict(dep.env, PYTHONPATH=ROOT)
    # Its own session, so that the kill takes the command's worker processes with it.
    proc = subprocess.Popen(
        [*CLI, *_args(csv_file, out_dir)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 180
        while len(list(out_dir.glob("*.pdf"))) < CHUNK:
            assert proc.poll() is None, proc.communicate()[1].decode()[-2000:]
            assert time.monotonic() < deadline, "no PDF written in time"
            time.sleep(0.05)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    written = len(list(out_dir.glob("*.pdf")))
    stored = len(_store_ids(dep))
    assert CHUNK <= written <= stored < ROWS  # killed in the middle: some stored, some not
    manifest_lines = (out_dir / "manifest.csv").read_text("utf-8").splitlines()
    # The list was written as it went: every row but those of the chunk in flight.
    assert len(manifest_lines) - 1 >= written - CHUNK

    rerun = dep.cli(*_args(csv_file, out_dir), timeout=300)
    assert f"{stored} already issued" in rerun.stderr
    _check_exactly_once(dep, out_dir, rerun)


def test_power_cut_after_a_chunk_is_stored_before_it_is_anchored(
    tmp_path: Path, catalogue: list[dict[str, Any]]
) -> None:
    dep = make_deployment(tmp_path / "home")
    csv_file, out_dir = tmp_path / "licences.csv", tmp_path / "out"
    _batch_csv(catalogue, csv_file, "乙")
    # In process (one worker): a pool's workers would outlive the power cut of their parent
    # and hold its output open; the kill -9 test above takes them down with it.
    crashed = dep.cli(*_args(csv_file, out_dir, workers=1), program=CRASHING_CLI, timeout=300)
    assert crashed.returncode == 137, crashed.stderr
    stored = _store_ids(dep)
    assert 0 < len(stored) < ROWS
    with sqlite3.connect(dep.home / "certificates.db") as db:
        assert db.execute(
            "SELECT count(*) FROM certificates WHERE state = 'pending'"
        ).fetchone() == (len(stored),)
    assert not list(out_dir.glob("*.pdf"))  # died before writing its PDFs
    rerun = dep.cli(*_args(csv_file, out_dir), timeout=300)
    assert f"{len(stored)} already issued" in rerun.stderr
    _check_exactly_once(dep, out_dir, rerun)
