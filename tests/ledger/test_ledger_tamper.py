"""Someone with write access to the file changes rows directly; verify_chain must say where."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from ledger import EmbeddedLedger
from ledger.embedded._blocks import BlockHeader
from tests.ledger.ledger_helpers import batch, raw_db


@pytest.fixture
def chain(ledger: EmbeddedLedger) -> EmbeddedLedger:
    """Genesis plus blocks 1-5 (batches), block 6 (a revocation)."""
    for b in range(5):
        ledger.anchor("MOE", batch(f"B{b}", 20))
    ledger.revoke("MOE", "B2-3", "issued in error")
    assert ledger.verify_chain().ok
    return ledger


def bad(ledger: EmbeddedLedger, block: int | None, *fragments: str) -> None:
    report = ledger.verify_chain()
    assert not report.ok
    assert report.first_bad_block == block, report.reason
    for f in fragments:
        assert f in report.reason
    if block is not None and "state table" not in report.reason:
        assert report.blocks_checked == block


# One SQL statement each: (what was done, statement, parameters, first bad block, reason parts).
TAMPERING = [
    (
        "edited write value",
        "UPDATE writes SET value = replace(value, 'active', 'revokd') "
        "WHERE block_number = 3 AND leaf_index = 7",
        (),
        3,
        ("block 3: merkle root mismatch (write row altered)",),
    ),
    (
        "edited write key",
        "UPDATE writes SET key = 'cert/FORGED' WHERE block_number = 2 AND leaf_index = 0",
        (),
        2,
        ("merkle root mismatch",),
    ),
    (
        "deleted write row",
        "DELETE FROM writes WHERE block_number = 4 AND leaf_index = 19",
        (),
        4,
        ("block 4: write rows missing or added",),
    ),
    ("deleted block row", "DELETE FROM blocks WHERE number = 3", (), 3, ("block 3: missing",)),
    (
        "deleted newest block row",
        "DELETE FROM blocks WHERE number = 6",
        (),
        6,
        ("block 6: missing",),
    ),
    (
        "altered header field",
        "UPDATE blocks SET timestamp = '2020-01-01T00:00:00.000000Z' WHERE number = 2",
        (),
        2,
        ("block 2: header hash mismatch (header field altered)",),
    ),
    (
        "replaced block breaks the next link",
        "UPDATE blocks SET header_hash = ? WHERE number = 1",
        ("ab" * 32,),
        1,
        ("header hash mismatch",),
    ),
    (
        "broken prev link",
        "UPDATE blocks SET prev_hash = ? WHERE number = 4",
        ("cd" * 32,),
        4,
        ("block 4: header hash mismatch",),
    ),
    (
        "malformed header field",
        "UPDATE blocks SET tx_count = 'one' WHERE number = 2",
        (),
        2,
        ("block 2: malformed header row",),
    ),
    (
        "edited transaction row",
        "UPDATE txs SET creator_msp = 'MotMSP' WHERE block_number = 6",
        (),
        6,
        ("block 6: tx root mismatch (transaction row altered)",),
    ),
    (
        "deleted state row",
        "DELETE FROM state WHERE key = 'cert/B4-0'",
        (),
        5,
        ("state table: key 'cert/B4-0' is missing",),
    ),
    (
        "invented state row",
        "INSERT INTO state SELECT 'cert/FORGED', value, block_number, leaf_index, "
        "created_block FROM state WHERE key = 'cert/B0-0'",
        (),
        None,
        ("state table: key 'cert/FORGED' was never written",),
    ),
    (
        "state pointing at another write",
        "UPDATE state SET created_block = 2 WHERE key = 'cert/B0-1'",
        (),
        1,
        ("state table: key 'cert/B0-1' differs",),
    ),
]


@pytest.mark.parametrize(
    ("statement", "params", "block", "fragments"),
    [pytest.param(*case[1:], id=case[0]) for case in TAMPERING],
)
def test_tampered_rows_are_found(
    chain: EmbeddedLedger,
    path: Path,
    statement: str,
    params: tuple[str, ...],
    block: int | None,
    fragments: tuple[str, ...],
) -> None:
    with raw_db(path) as db:
        db.execute(statement, params)
    bad(chain, block, *fragments)


def test_altered_header_with_recomputed_hash(chain: EmbeddedLedger, path: Path) -> None:
    """A tamperer who also recomputes the hash is stopped by the signature."""
    with raw_db(path) as db:
        row = db.execute(
            "SELECT number, prev_hash, timestamp, tx_count, write_count, tx_root, merkle_root, "
            "signer FROM blocks WHERE number = 5"
        ).fetchone()
        fields = ("number", "prev_hash", "timestamp", "tx_count", "write_count", "tx_root")
        forged = BlockHeader(
            **dict(zip(fields, row, strict=False)), merkle_root="f" * 64, signer=row[7]
        )
        db.execute(
            "UPDATE blocks SET merkle_root = ?, header_hash = ? WHERE number = 5",
            (forged.merkle_root, forged.hash()),
        )
    bad(chain, 5, "block 5: header signature invalid")


def test_altered_state_value(chain: EmbeddedLedger, path: Path) -> None:
    with raw_db(path) as db:
        db.execute(
            "UPDATE state SET value = replace(value, 'revoked', 'active') WHERE key = 'cert/B2-3'"
        )
    record = chain.get("B2-3")
    assert record is not None and record.status == "active"  # the fast read is fooled...
    bad(chain, 6, "state table: key 'cert/B2-3' differs", "last written in block 6")  # ...not this


def test_dropped_table_is_reported(chain: EmbeddedLedger, path: Path) -> None:
    with raw_db(path) as db:
        db.execute("DROP TABLE txs")
    report = chain.verify_chain()
    assert not report.ok and "txs" in report.reason


def test_signature_bytes_replaced(chain: EmbeddedLedger, path: Path) -> None:
    with raw_db(path) as db:
        (sig,) = db.execute("SELECT signature FROM blocks WHERE number = 1").fetchone()
        db.execute("UPDATE blocks SET signature = ? WHERE number = 2", (sig,))
    bad(chain, 2, "block 2: header signature invalid")


def test_hash_helper_matches_stored(chain: EmbeddedLedger, path: Path) -> None:
    """The header hash is SHA-256 of the canonical header bytes, as documented."""
    with raw_db(path) as db:
        row = db.execute(
            "SELECT number, prev_hash, timestamp, tx_count, write_count, tx_root, merkle_root, "
            "signer, header_hash FROM blocks WHERE number = 3"
        ).fetchone()
    names = ("number", "prev_hash", "timestamp", "tx_count", "write_count", "tx_root")
    header = BlockHeader(**dict(zip(names, row, strict=False)), merkle_root=row[6], signer=row[7])
    assert hashlib.sha256(header.to_bytes()).hexdigest() == row[8]
