"""`certledger backup` taken in the middle of a batch, `certledger restore` into a new empty home:
the restored ledger and audit log verify, every certificate in the backup verifies VALID, and
anchoring resumes for what was pending with each certificate on the ledger exactly once.

Run on a SQLite store (a backup directory) and on a PostgreSQL store (a backup .tar, restored
into another empty database); then the refusals: a home that is not empty, a tampered backup,
a backup that is not there: a non-zero exit, a message in Chinese and English, nothing written.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import shutil
import sqlite3
import stat
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

from certificates import Home, Verdict
from signing import Secret
from tests.postgres import PostgresServer
from verify_api.runtime import open_runtime
from verify_api.settings import ServiceSettings

from .conftest import (
    CLI,
    PASSPHRASE,
    ROOT,
    Deployment,
    example,
    issue_batch_args,
    make_deployment,
    write_licence_csv,
)

pytestmark = pytest.mark.e2e

ROWS = 300
SAMPLE = 20  # certificates anchored before the backup verified in full, besides the pending ones

States = Callable[[], dict[str, str]]  # certificate id -> state in the restored store


def _batch_csv(catalogue: list[dict[str, Any]], path: Path) -> None:
    write_licence_csv(catalogue, path, ROWS, tag=f"backup/{path.stem}", label="备份")


def _wait_for_pdfs(out_dir: Path, n: int, proc: subprocess.Popen[bytes]) -> int:
    deadline = time.monotonic() + 300
    while (have := len(list(out_dir.glob("*.pdf")))) < n:
        assert proc.poll() is None, proc.communicate()[1].decode()[-2000:]
        assert time.monotonic() < deadline, f"only {have} PDFs written in time"
        time.sleep(0.05)
    return have


def _restored(dep: Deployment, home: Path, database_url: str | None) -> Deployment:
    env = dict(dep.env, CERTLEDGER_HOME=str(home))
    env.pop("CERTLEDGER_DATABASE_URL", None)
    if database_url is not None:
        env["CERTLEDGER_DATABASE_URL"] = database_url
    return Deployment(home, env, dep.tokens, dep.base_url)


def _sqlite_states(home: Path) -> States:
    def states() -> dict[str, str]:
        with sqlite3.connect(home / "certificates.db") as db:
            return dict(db.execute("SELECT id, state FROM certificates"))

    return states


def _postgres_states(url: str) -> States:
    def states() -> dict[str, str]:
        with psycopg.connect(url) as conn:
            return dict(conn.execute("SELECT id, state FROM certificates").fetchall())

    return states


def _backup_mid_batch(
    dep: Deployment, catalogue: list[dict[str, Any]], tmp_path: Path, backup: Path
) -> tuple[Path, dict[str, Any]]:
    """A batch of ROWS in the background; once some rows are anchored and more are stored
    pending, `certledger backup` while the batch, an anchoring pass and an anchoring of the
    audit head all write. Returns the batch's output folder and the backup's answer."""
    csv_file, out_dir = tmp_path / "licences.csv", tmp_path / "out"
    _batch_csv(catalogue, csv_file)
    env = dict(dep.env, PYTHONPATH=ROOT)
    batch = subprocess.Popen(
        [*CLI, *issue_batch_args(csv_file, out_dir, "--json", workers=1)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        seen = _wait_for_pdfs(out_dir, 40, batch)
        # The batch anchors only every 500 rows (and at its end): anchor what it stored so far,
        # as a server's anchoring loop would, so the backup holds anchored and pending rows.
        assert dep.cli("anchor").returncode in (0, 6)
        dep.cli("audit", "anchor", check=True)
        _wait_for_pdfs(out_dir, seen + 30, batch)
        writers = [
            subprocess.Popen([*CLI, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            for args in (("anchor",), ("audit", "anchor"))
        ]
        made = dep.cli("backup", str(backup), "--json", check=True)
        for w in writers:
            _, err = w.communicate(timeout=240)
            assert w.returncode in (0, 6), err.decode()
        assert batch.poll() is None, "the batch ended before the backup: not a mid-batch test"
        out, err = batch.communicate(timeout=900)
    finally:
        if batch.poll() is None:
            batch.kill()
            batch.communicate()
    assert batch.returncode == 0, err.decode()[-2000:]
    assert len(json.loads(out)) == ROWS
    return out_dir, json.loads(made.stdout)


def _check_restored(
    restored: Deployment, states: States, out_dir: Path, answer: dict[str, Any]
) -> None:
    for what in (("ledger", "verify", "--json"), ("audit", "verify", "--json")):
        proc = restored.cli(*what)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert json.loads(proc.stdout)["ok"] is True

    before = states()
    assert 0 < len(before) < ROWS  # the backup was taken in the middle of the batch
    pending = sorted(i for i, s in before.items() if s == "pending")
    anchored = sorted(i for i, s in before.items() if s == "anchored")
    assert pending and anchored, before
    assert answer["certificates"] == len(before) and answer["pending"] == len(pending)

    # Anchoring resumes: every pending row once, none twice (see the ledger's writes below).
    proc = restored.cli("anchor", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"anchored": len(pending), "pending": 0}
    after = states()
    assert set(after) == set(before) and set(after.values()) == {"anchored"}
    with sqlite3.connect(restored.home / "ledger.db") as db:
        writes = dict(
            db.execute("SELECT key, count(*) FROM writes WHERE key LIKE 'cert/%' GROUP BY key")
        )
    assert writes == {f"cert/{i}": 1 for i in after}  # each certificate on the ledger once

    # Every pending one and a sample of the others, from the restored store, verify VALID.
    chosen = pending + random.Random(7).sample(anchored, min(SAMPLE, len(anchored)))
    rt = open_runtime(
        Home(restored.home),
        passphrase=Secret(PASSPHRASE),
        config=ServiceSettings.from_env(restored.env),
    )
    try:
        for cert_id in chosen:
            row = rt.store.get(cert_id)
            assert row is not None
            report = rt.verifier.verify_pdf(row.pdf)
            assert report.verdict == Verdict.VALID, (cert_id, report.to_json())
    finally:
        rt.close()
    # And through the command line, with the PDF the batch wrote before the backup was taken.
    proc = restored.cli("verify", str(out_dir / f"{anchored[0]}.pdf"), "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr

    # The audit head is anchored on the restored ledger again, and still verifies.
    restored.cli("audit", "anchor", check=True)
    proc = restored.cli("audit", "verify", "--json")
    assert proc.returncode == 0 and json.loads(proc.stdout)["ok"] is True, proc.stdout

    home = restored.home
    for path in [home, *home.rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        if path.is_dir():
            assert mode == 0o700, path
        elif path.name.endswith((".key.pem", ".bin")) or path.suffix == ".db":
            assert mode == 0o600, path
    assert not list(home.parent.glob(f".{home.name}.restoring-*"))


def test_backup_mid_batch_then_restore_sqlite(
    tmp_path: Path, catalogue: list[dict[str, Any]]
) -> None:
    dep = make_deployment(tmp_path / "home")
    backup = tmp_path / "backup"
    out_dir, made = _backup_mid_batch(dep, catalogue, tmp_path, backup)
    assert made["store"]["engine"] == "sqlite" and made["ledger"]["backend"] == "embedded"
    assert stat.S_IMODE(backup.stat().st_mode) == 0o700
    manifest = json.loads((backup / "manifest.json").read_text("utf-8"))
    listed = {f["path"] for f in manifest["files"]}
    assert {"home/ledger.db", "home/certificates.db", "home/secrets/holder-key.bin"} <= listed
    assert {"home/secrets/data-key.bin", "home/settings.json", "home/pki/root-ca.pem"} <= listed
    assert not any("console-sessions" in p or "root-ca.key" in p for p in listed)

    restored = _restored(dep, tmp_path / "restored", None)
    proc = restored.cli("restore", str(backup), "--json")
    assert proc.returncode == 0, proc.stderr
    _check_restored(restored, _sqlite_states(restored.home), out_dir, json.loads(proc.stdout))


def test_backup_mid_batch_then_restore_postgres(
    tmp_path: Path,
    catalogue: list[dict[str, Any]],
    postgres_server: PostgresServer,
    postgres_url: str,
) -> None:
    dep = make_deployment(tmp_path / "home", extra_env={"CERTLEDGER_DATABASE_URL": postgres_url})
    backup = tmp_path / "backup.tar"
    out_dir, made = _backup_mid_batch(dep, catalogue, tmp_path, backup)
    assert made["store"]["engine"] == "postgresql"
    assert postgres_server.password not in json.dumps(made)
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600

    target = postgres_server.create_database(f"{postgres_url.rsplit('/', 1)[1]}_restored")
    restored = _restored(dep, tmp_path / "restored", target)
    proc = restored.cli("restore", str(backup), "--json")
    assert proc.returncode == 0, proc.stderr
    assert not (restored.home / "certificates.db").exists()  # the store is the database
    _check_restored(restored, _postgres_states(target), out_dir, json.loads(proc.stdout))

    # The same backup again into a database that now holds a store: refused, nothing written.
    again = _restored(dep, tmp_path / "again", target)
    proc = again.cli("restore", str(backup))
    _refused(proc, 5, "is not empty", again.home)
    assert postgres_server.password not in proc.stderr


def test_restore_settles_a_store_copied_after_the_ledger(
    tmp_path: Path, catalogue: list[dict[str, Any]]
) -> None:
    """The ledger is copied before the store: a certificate anchored between the two copies
    is in the store copy as anchored but not on the ledger copy. Made here on purpose (the
    ledger of an earlier backup into a later one), so the restore's settling is seen every
    time: the row is set back to pending, then anchored once."""
    dep = make_deployment(tmp_path / "home")
    early, late = tmp_path / "early", tmp_path / "late"
    dep.cli("backup", str(early), check=True)
    data, pdf = tmp_path / "permit.json", tmp_path / "permit.pdf"
    data.write_text(json.dumps(example(catalogue, "road-transport-permit")), "utf-8")
    cert_id = json.loads(dep.issue_permit(data, pdf, check=True).stdout)["id"]
    dep.cli("audit", "anchor", check=True)
    dep.cli("backup", str(late), check=True)

    ledger = late / "home" / "ledger.db"
    shutil.copy(early / "home" / "ledger.db", ledger)
    manifest = json.loads((late / "manifest.json").read_text("utf-8"))
    (entry,) = (f for f in manifest["files"] if f["path"] == "home/ledger.db")
    entry["sha256"] = hashlib.sha256(ledger.read_bytes()).hexdigest()
    entry["size"] = ledger.stat().st_size
    (late / "manifest.json").write_text(json.dumps(manifest), "utf-8")

    restored = _restored(dep, tmp_path / "restored", None)
    answer = json.loads(restored.cli("restore", str(late), "--json", check=True).stdout)
    assert (answer["certificates"], answer["pending"], answer["set_pending"]) == (1, 1, 1)
    assert _sqlite_states(restored.home)() == {cert_id: "pending"}
    for what in (("ledger", "verify"), ("audit", "verify")):
        proc = restored.cli(*what)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = restored.cli("anchor", "--json", check=True)
    assert json.loads(proc.stdout) == {"anchored": 1, "pending": 0}
    with sqlite3.connect(restored.home / "ledger.db") as db:
        assert db.execute(
            "SELECT count(*) FROM writes WHERE key = ?", (f"cert/{cert_id}",)
        ).fetchone() == (1,)
    proc = restored.cli("verify", str(pdf), "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr


# -- refusals ----------------------------------------------------------------------------------


def _refused(proc: subprocess.CompletedProcess[str], code: int, english: str, home: Path) -> None:
    assert proc.returncode == code, proc.stdout + proc.stderr
    assert english in proc.stderr
    assert re.search(r"[\u4e00-\u9fff]", proc.stderr), proc.stderr  # said in Chinese too
    assert "Traceback" not in proc.stderr
    assert not list(home.parent.glob(f".{home.name}.restoring-*"))  # nothing left half-made


def test_restore_refuses_a_home_in_use_a_tampered_or_missing_backup(tmp_path: Path) -> None:
    dep = make_deployment(tmp_path / "home")
    backup = tmp_path / "backup"
    dep.cli("backup", str(backup), check=True)
    proc = dep.cli("backup", str(backup))  # a backup never overwrites one
    _refused(proc, 5, "already exists", tmp_path / "home")
    # On the Fabric ledger backend: refused, saying it is not implemented yet; nothing written.
    fabric = tmp_path / "fabric-backup"
    proc = dep.cli("backup", str(fabric), extra_env={"CERTLEDGER_LEDGER": "fabric"})
    _refused(proc, 5, "not implemented yet", tmp_path / "home")
    assert not fabric.exists() and not list(tmp_path.glob(".fabric-backup.partial-*"))

    # A home that is not empty: left as it was.
    busy = _restored(dep, tmp_path / "busy", None)
    busy.home.mkdir()
    (busy.home / "notes.txt").write_text("mine")
    _refused(busy.cli("restore", str(backup)), 5, "is not empty", busy.home)
    assert [p.name for p in busy.home.iterdir()] == ["notes.txt"]

    # One byte changed in one file: refused before anything is written.
    tampered = tmp_path / "tampered"
    shutil.copytree(backup, tampered)
    key = tampered / "home" / "secrets" / "holder-key.bin"
    raw = bytearray(key.read_bytes())
    raw[-1] ^= 1
    key.write_bytes(bytes(raw))
    target = _restored(dep, tmp_path / "target", None)
    proc = target.cli("restore", str(tampered))
    _refused(proc, 4, "does not match its SHA-256", target.home)
    assert "home/secrets/holder-key.bin" in proc.stderr
    assert not target.home.exists()

    # A file added beside the listed ones is refused too.
    shutil.copy(backup / "manifest.json", tampered / "home" / "extra.json")
    key.write_bytes((backup / "home" / "secrets" / "holder-key.bin").read_bytes())
    _refused(target.cli("restore", str(tampered)), 4, "not listed", target.home)
    assert not target.home.exists()

    # No backup there at all.
    _refused(target.cli("restore", str(tmp_path / "nowhere")), 3, "no backup", target.home)
    assert not target.home.exists()

    # The untouched backup still restores into the (still absent) home.
    proc = target.cli("restore", str(backup), "--json")
    assert proc.returncode == 0, proc.stderr
    assert target.cli("ledger", "verify").returncode == 0
