"""The audit log: hash chain, tamper detection (edit, delete, reorder), the head anchored on the
ledger, and the CLI (`audit verify`, `audit show`)."""

from __future__ import annotations

import itertools
import json
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from certificates.audit.log import AuditEvent, AuditLog
from certificates.store.database import Store
from ledger import AgencyRecord, EmbeddedLedger, LedgerRefused
from tests.ledger.ledger_helpers import make_node
from verify_api.cli.main import app as cli_app

from .conftest import World


@pytest.fixture()
def log(tmp_path: Path) -> Iterator[tuple[AuditLog, Path]]:
    path = tmp_path / "store.db"
    store = Store.open(path, create=True)
    audit = AuditLog(store)
    for i in range(6):
        audit.record(
            AuditEvent(
                "lookup",
                "allowed",
                f"cl_{i}",
                "market-regulation",
                cert_id=f"BL-MR-2026-0000000{i}-01-X",
                purpose="check",
                fields=("name",),
            )
        )
    yield audit, path
    store.close()


@pytest.fixture()
def ledger(tmp_path: Path) -> Iterator[EmbeddedLedger]:
    key, cert = make_node("audit test node")
    registry = [AgencyRecord("market-regulation", "MarketRegulationMSP", "市场", "Market", (), ())]
    led = EmbeddedLedger.create(
        tmp_path / "ledger.db", node_key=key, node_cert=cert, registry=registry
    )
    yield led
    led.close()


def _sql(path: Path, statement: str, *args: object) -> None:
    with sqlite3.connect(path) as db:
        db.execute(statement, args)


def test_intact_chain_verifies(log: tuple[AuditLog, Path]) -> None:
    audit, _ = log
    report = audit.verify()
    assert report.ok and report.entries_checked == 6
    entries = audit.entries()
    assert [e.seq for e in entries] == [1, 2, 3, 4, 5, 6]
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(entries))


def test_edit_is_detected(log: tuple[AuditLog, Path]) -> None:
    audit, path = log
    _sql(path, "UPDATE audit_log SET purpose = 'other' WHERE seq = 3")
    report = audit.verify()
    assert not report.ok and report.first_bad_seq == 3 and "edited" in report.reason


def test_delete_is_detected(log: tuple[AuditLog, Path]) -> None:
    audit, path = log
    _sql(path, "DELETE FROM audit_log WHERE seq = 4")
    report = audit.verify()
    assert not report.ok and report.first_bad_seq == 4 and "deleted" in report.reason


def test_reorder_is_detected(log: tuple[AuditLog, Path]) -> None:
    audit, path = log
    # Swap the contents of entries 2 and 5, keeping every row's own hash.
    with sqlite3.connect(path) as db:
        db.execute("UPDATE audit_log SET seq = -2 WHERE seq = 2")
        db.execute("UPDATE audit_log SET seq = 2 WHERE seq = 5")
        db.execute("UPDATE audit_log SET seq = 5 WHERE seq = -2")
    report = audit.verify()
    assert not report.ok and report.first_bad_seq == 2


def test_rewritten_chain_is_caught_by_the_anchored_head(
    log: tuple[AuditLog, Path], ledger: EmbeddedLedger
) -> None:
    audit, path = log
    anchor = audit.anchor(ledger, "market-regulation")
    assert anchor is not None and anchor.seq == 6
    assert audit.verify(ledger).ok
    # An attacker with database access rewrites entry 3 and re-hashes everything after it:
    # the chain is consistent again, but no longer matches the head on the ledger.
    _sql(path, "UPDATE audit_log SET purpose = 'other' WHERE seq = 3")
    rows = audit.entries()
    from certificates.audit.log import GENESIS_HASH, entry_hash

    prev = GENESIS_HASH
    with sqlite3.connect(path) as db:
        for e in rows:
            h = entry_hash(prev, e.body())
            db.execute(
                "UPDATE audit_log SET prev_hash = ?, hash = ? WHERE seq = ?", (prev, h, e.seq)
            )
            prev = h
    assert audit.verify().ok  # chain alone: consistent
    report = audit.verify(ledger)
    assert not report.ok and "rewritten" in report.reason
    # And the contract refuses to anchor the rewritten head over the original.
    audit._head = None
    with pytest.raises(LedgerRefused):
        audit.anchor(ledger, "market-regulation")


def test_deleting_the_tail_is_caught_by_the_anchored_head(
    log: tuple[AuditLog, Path], ledger: EmbeddedLedger
) -> None:
    audit, path = log
    audit.anchor(ledger, "market-regulation")
    _sql(path, "DELETE FROM audit_log WHERE seq >= 5")
    report = audit.verify(ledger)
    assert not report.ok and report.first_bad_seq == 5 and "deleted" in report.reason
    with pytest.raises(LedgerRefused):
        audit.anchor(ledger, "market-regulation")


def test_anchoring_is_idempotent_and_moves_forward(
    log: tuple[AuditLog, Path], ledger: EmbeddedLedger
) -> None:
    audit, _ = log
    first = audit.anchor(ledger, "market-regulation")
    again = audit.anchor(ledger, "market-regulation")
    assert first is not None and again is not None and again.version == first.version
    audit.record(AuditEvent("view", "ok", cert_id="BL-MR-2026-00000009-01-X"))
    later = audit.anchor(ledger, "market-regulation")
    assert later is not None and later.seq == 7 and later.version == first.version + 1
    assert ledger.verify_chain().ok


def test_concurrent_writers_never_fork_the_chain(tmp_path: Path) -> None:
    import threading

    path = tmp_path / "store.db"
    store = Store.open(path, create=True)
    logs = [AuditLog(store), AuditLog(store)]  # two writers, as two server processes would be

    def work(i: int) -> None:
        for n in range(20):
            logs[i % 2].record(AuditEvent("view", "ok", f"cl_{i}_{n}"))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    report = logs[0].verify()
    assert report.ok and report.entries_checked == 80
    store.close()


def test_every_action_is_recorded(world: World) -> None:
    assert world.rt.audit is not None
    actions = {(e.event.action, e.event.result) for e in world.rt.audit.entries()}
    assert ("issue", "ok") in actions
    # Lookups and denials made by other tests in this session (test order permitting).
    world.client.get(
        "/api/v1/lookup",
        params={"type": "qualification-certificate", "holder": "x", "purpose": "p"},
        headers=world.auth("transport", "verifier"),
    )
    denied = [e for e in world.rt.audit.entries() if e.event.result == "denied"]
    assert any(e.event.action == "lookup" and e.event.reason == "NO_AGREEMENT" for e in denied)


def test_cli_audit_show_and_verify(world: World, tmp_path: Path) -> None:
    cid = world.certs["business-licence"]["id"]
    world.client.get(
        f"/api/v1/certificates/{cid}/details",
        params={"purpose": "counter-service"},
        headers=world.auth("market-regulation", "verifier"),
    )
    runner = CliRunner()
    home = str(world.home.root)
    r = runner.invoke(cli_app, ["--home", home, "audit", "show", "--certificate", cid, "--json"])
    assert r.exit_code == 0, r.output
    entries = json.loads(r.output)["entries"]
    assert entries[0]["action"] == "issue"
    looked = [e for e in entries if e["action"] == "details"]
    assert looked and looked[-1]["purpose"] == "counter-service"
    assert looked[-1]["client_name"] == "market-regulation verifier test client"
    assert "name" in looked[-1]["fields"]

    r = runner.invoke(cli_app, ["--home", home, "audit", "verify", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["ok"] is True

    copy = tmp_path / "copy"
    shutil.copytree(world.home.root, copy)
    _sql(copy / "certificates.db", "UPDATE audit_log SET result = 'allowed' WHERE seq = 2")
    r = runner.invoke(cli_app, ["--home", str(copy), "audit", "verify"])
    assert r.exit_code == 1
    assert "entry 2" in r.output


def test_async_group_commit_keeps_the_chain(tmp_path: Path) -> None:
    import asyncio

    store = Store.open(tmp_path / "store.db", create=True)
    audit = AuditLog(store)

    async def burst() -> list[int]:
        results = await asyncio.gather(
            *[audit.record_async([AuditEvent("view", "ok", f"cl_{i}")]) for i in range(50)]
        )
        # Mixed with the thread writer, as sync routes and async routes share one log.
        await asyncio.to_thread(audit.record, AuditEvent("issue", "ok", "sync"))
        return [r[0].seq for r in results]

    seqs = asyncio.run(burst())
    assert sorted(seqs) == list(range(1, 51))
    # Every entry was durable when its caller resumed: a fresh reader sees all of them.
    other = Store.open(tmp_path / "store.db")
    report = AuditLog(other).verify()
    assert report.ok and report.entries_checked == 51
    other.close()
    store.close()
