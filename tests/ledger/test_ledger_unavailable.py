"""Cannot read the ledger -> LedgerUnavailable (verification turns it into INDETERMINATE)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from ledger import EmbeddedLedger, LedgerUnavailable
from ledger.embedded import _db
from tests.ledger.ledger_helpers import REGISTRY, batch, entry

Node = tuple[ec.EllipticCurvePrivateKey, x509.Certificate]


def _open_both(path: Path, node: Node) -> list[pytest.ExceptionInfo[LedgerUnavailable]]:
    infos = []
    with pytest.raises(LedgerUnavailable) as rw:
        EmbeddedLedger.open(path, node_key=node[0], node_cert=node[1])
    infos.append(rw)
    with pytest.raises(LedgerUnavailable) as ro:
        EmbeddedLedger.open_readonly(path, node[1])
    infos.append(ro)
    return infos


def test_missing_file(tmp_path: Path, node: Node) -> None:
    for info in _open_both(tmp_path / "nope.db", node):
        assert "does not exist" in str(info.value)
    assert not (tmp_path / "nope.db").exists()  # opening never creates a ledger


def test_missing_directory(tmp_path: Path, node: Node) -> None:
    with pytest.raises(LedgerUnavailable):
        EmbeddedLedger.create(
            tmp_path / "no" / "dir.db", node_key=node[0], node_cert=node[1], registry=REGISTRY
        )


@pytest.mark.parametrize(
    "content",
    [b"%PDF-1.7 certainly not a database" * 200, b"", b"SQLite format 3\x00" + b"\xff" * 4000],
    ids=["pdf", "empty", "bad-header"],
)
def test_not_a_database(tmp_path: Path, node: Node, content: bytes) -> None:
    path = tmp_path / "ledger.db"
    path.write_bytes(content)
    for info in _open_both(path, node):
        assert str(path) in str(info.value)
    assert path.read_bytes() == content  # and left as it was


def test_a_database_that_is_not_a_ledger(tmp_path: Path, node: Node) -> None:
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE meta (name TEXT, value TEXT)")
    conn.execute("INSERT INTO meta VALUES ('format', 'something-else')")
    conn.commit()
    conn.close()
    for info in _open_both(path, node):
        assert "not a certificate ledger" in str(info.value)


def test_corrupt_pages_on_read(path: Path, node: Node) -> None:
    key, cert = node
    with EmbeddedLedger.create(path, node_key=key, node_cert=cert, registry=REGISTRY) as led:
        led.anchor("MOE", batch("C", 2000))
    conn = sqlite3.connect(path)
    (page_size,) = conn.execute("PRAGMA page_size").fetchone()
    (state_root,) = conn.execute(
        "SELECT rootpage FROM sqlite_master WHERE name = 'state'"
    ).fetchone()
    conn.close()
    data = bytearray(path.read_bytes())
    offset = (state_root - 1) * page_size
    data[offset : offset + page_size] = b"\xa5" * page_size
    path.write_bytes(bytes(data))

    with EmbeddedLedger.open_readonly(path, cert) as led:  # opening reads meta and head only
        with pytest.raises(LedgerUnavailable, match="malformed"):
            led.get("C-1")
        report = led.verify_chain()  # damage is reported, not raised
        assert not report.ok and "damaged" in report.reason
        # The handle stays usable for reads that avoid the damaged page.
        assert [h.version for h in led.history("C-1")] == [1]


def test_write_lock_held_past_the_timeout(
    path: Path, node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_db, "_BUSY_TIMEOUT_S", 0.05)
    key, cert = node
    with EmbeddedLedger.create(path, node_key=key, node_cert=cert, registry=REGISTRY) as led:
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        try:
            with pytest.raises(LedgerUnavailable, match="cannot lock"):
                led.anchor("MOE", [entry("C-1")])
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert led.anchor("MOE", [entry("C-1")])[0].status == "anchored"  # and recovers


def test_reads_still_work_while_another_process_writes(ledger: EmbeddedLedger, path: Path) -> None:
    ledger.anchor("MOE", [entry("C-1")])
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("INSERT INTO meta VALUES ('x', 'y')")  # uncommitted write in progress
    try:
        assert ledger.get("C-1") is not None  # WAL: readers are not blocked by a writer
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_file_removed_after_open(ledger: EmbeddedLedger, path: Path, tmp_path: Path) -> None:
    ledger.anchor("MOE", [entry("C-1")])
    assert ledger.get("C-1") is not None
    path.rename(tmp_path / "moved-away.db")  # open connections would keep reading the old file
    with pytest.raises(LedgerUnavailable, match="does not exist"):
        ledger.get("C-1")
    with pytest.raises(LedgerUnavailable, match="does not exist"):
        ledger.anchor("MOE", [entry("C-2")])
    with pytest.raises(LedgerUnavailable):
        ledger.verify_chain()


def test_file_replaced_after_open(ledger: EmbeddedLedger, path: Path, tmp_path: Path) -> None:
    ledger.anchor("MOE", [entry("C-1")])
    other = tmp_path / "other.db"
    other.write_bytes(path.read_bytes())
    other.replace(path)
    with pytest.raises(LedgerUnavailable, match="replaced"):
        ledger.get("C-1")
    with pytest.raises(LedgerUnavailable, match="replaced"):
        ledger.anchor("MOE", [entry("C-2")])
