"""Anchor receipts: an inclusion proof per certificate, from the block that anchored it.

A newly anchored id is proven from the block just written. An id that was already
anchored is proven from its *first* write (the anchoring one), which stays in the chain
whatever later status changes happened.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from chaincode import AnchorOutcome, cert_key
from ledger.embedded._chain import AppendedBlock, parse_state
from ledger.embedded._db import as_bytes
from ledger.errors import LedgerCorrupt
from ledger.interface import AnchorReceipt, InclusionProof
from ledger.merkle import MerkleTree, encode_write_leaf, leaf_hash

__all__ = ["build_receipts"]


def build_receipts(
    conn: sqlite3.Connection, outcomes: Sequence[AnchorOutcome], block: AppendedBlock | None
) -> list[AnchorReceipt]:
    return _Receipts(conn, block).build(outcomes)


class _Receipts:
    def __init__(self, conn: sqlite3.Connection, block: AppendedBlock | None) -> None:
        self._conn = conn
        self._block = block
        self._trees: dict[int, tuple[MerkleTree, str]] = {}

    def build(self, outcomes: Sequence[AnchorOutcome]) -> list[AnchorReceipt]:
        return [self._one(o) for o in outcomes]

    def _one(self, outcome: AnchorOutcome) -> AnchorReceipt:
        key = cert_key(outcome.cert_id)
        block = self._block
        if outcome.status == "anchored" and block is not None:
            index = block.index[key]
            number, tx_id, value = block.number, block.tx_id, block.writes[index][1]
            tree, block_hash, anchored_at = block.tree, block.hash, block.timestamp
        else:
            row = self._conn.execute(
                "SELECT block_number, leaf_index, tx_id, value FROM writes WHERE key = ? "
                "ORDER BY block_number, leaf_index LIMIT 1",
                (key,),
            ).fetchone()
            if row is None:
                raise LedgerCorrupt(f"{outcome.cert_id} is in state but has no anchoring write")
            number, index, tx_id, value = row[0], row[1], row[2], as_bytes(row[3])
            tree, block_hash = self._tree(number)
            anchored_at = parse_state(value).anchored_at
        leaf = encode_write_leaf(tx_id, key, value)
        proof = InclusionProof(
            leaf_hash=leaf_hash(leaf).hex(),
            leaf_index=index,
            tree_size=tree.size,
            siblings=tuple(h.hex() for h in tree.path(index)),
            merkle_root=tree.root.hex(),
            block_number=number,
            block_hash=block_hash,
        )
        return AnchorReceipt(
            cert_id=outcome.cert_id,
            tx_id=tx_id,
            block_number=number,
            anchored_at=anchored_at,
            status=outcome.status,
            proof=proof,
            leaf=leaf,
        )

    def _tree(self, number: int) -> tuple[MerkleTree, str]:
        """The write tree of an older block (rebuilt from its rows once per call)."""
        if number not in self._trees:
            rows = self._conn.execute(
                "SELECT tx_id, key, value FROM writes WHERE block_number = ? ORDER BY leaf_index",
                (number,),
            ).fetchall()
            tree = MerkleTree([leaf_hash(encode_write_leaf(t, k, as_bytes(v))) for t, k, v in rows])
            (block_hash,) = self._conn.execute(
                "SELECT header_hash FROM blocks WHERE number = ?", (number,)
            ).fetchone()
            self._trees[number] = (tree, block_hash)
        return self._trees[number]
