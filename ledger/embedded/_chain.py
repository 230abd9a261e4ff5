"""Appending a signed block, and reading the chain head.

Runs inside the caller's ``BEGIN IMMEDIATE`` transaction, so the head read here is the
head the new block extends, and the block lands (or not) with the caller's ``COMMIT``.
"""

from __future__ import annotations

import hashlib
import sqlite3
from dataclasses import dataclass
from datetime import datetime

from chaincode import CertificateState, ContractError, parse_timestamp
from ledger.embedded._blocks import GENESIS_PREV_HASH, BlockHeader, TxRecord
from ledger.embedded._db import as_bytes
from ledger.embedded._identity import NodeIdentity
from ledger.errors import LedgerCorrupt
from ledger.merkle import MerkleTree, encode_write_leaf, leaf_hash

__all__ = ["AppendedBlock", "Head", "append_block", "parse_state", "read_head"]


@dataclass(frozen=True, slots=True)
class Head:
    number: int
    hash: str
    timestamp: datetime


@dataclass(frozen=True, slots=True)
class AppendedBlock:
    """A block just written, kept for building receipts without reading it back."""

    number: int
    hash: str
    tx_id: str
    timestamp: datetime
    tree: MerkleTree
    writes: list[tuple[str, bytes]]
    index: dict[str, int]
    """state key -> leaf index in ``tree``."""


def read_head(conn: sqlite3.Connection) -> Head | None:
    """The newest block, ``None`` on a ledger without blocks (before genesis)."""
    row = conn.execute(
        "SELECT number, header_hash, timestamp FROM blocks ORDER BY number DESC LIMIT 1"
    ).fetchone()
    if row is None:
        return None
    try:
        return Head(row[0], row[1], parse_timestamp("head timestamp", row[2]))
    except ContractError as exc:
        raise LedgerCorrupt(f"head block {row[0]}: {exc.message}") from None


def append_block(
    conn: sqlite3.Connection,
    identity: NodeIdentity,
    head: Head | None,
    tx: TxRecord,
    writes: list[tuple[str, bytes]],
    when: datetime,
) -> AppendedBlock:
    """Insert one block holding ``tx`` and its ``writes``, and update ``state``."""
    number = 0 if head is None else head.number + 1
    tree = MerkleTree([leaf_hash(encode_write_leaf(tx.tx_id, k, v)) for k, v in writes])
    header = BlockHeader(
        number=number,
        prev_hash=GENESIS_PREV_HASH if head is None else head.hash,
        timestamp=tx.timestamp,
        tx_count=1,
        write_count=len(writes),
        tx_root=MerkleTree([leaf_hash(tx.leaf_bytes())]).root.hex(),
        merkle_root=tree.root.hex(),
        signer=identity.fingerprint,
    )
    header_bytes = header.to_bytes()
    header_hash = hashlib.sha256(header_bytes).hexdigest()
    conn.execute(
        "INSERT INTO blocks (number, prev_hash, timestamp, tx_count, write_count, tx_root, "
        "merkle_root, signer, header_hash, signature) VALUES (?,?,?,?,?,?,?,?,?,?)",
        (
            header.number,
            header.prev_hash,
            header.timestamp,
            header.tx_count,
            header.write_count,
            header.tx_root,
            header.merkle_root,
            header.signer,
            header_hash,
            identity.sign(header_bytes),
        ),
    )
    conn.execute(
        "INSERT INTO txs (tx_id, block_number, tx_index, creator_msp, function, args_digest, "
        "result, event_name, event_payload, timestamp) VALUES (?,?,?,?,?,?,?,?,?,?)",
        (
            tx.tx_id,
            number,
            0,
            tx.creator_msp,
            tx.function,
            tx.args_digest,
            tx.result,
            tx.event_name,
            tx.event_payload,
            tx.timestamp,
        ),
    )
    conn.executemany(
        "INSERT INTO writes (block_number, leaf_index, tx_id, key, value) VALUES (?,?,?,?,?)",
        [(number, i, tx.tx_id, k, v) for i, (k, v) in enumerate(writes)],
    )
    conn.executemany(
        "INSERT INTO state (key, value, block_number, leaf_index, created_block) "
        "VALUES (?,?,?,?,?) ON CONFLICT (key) DO UPDATE SET value = excluded.value, "
        "block_number = excluded.block_number, leaf_index = excluded.leaf_index",
        [(k, v, number, i, number) for i, (k, v) in enumerate(writes)],
    )
    index = {k: i for i, (k, _) in enumerate(writes)}
    return AppendedBlock(number, header_hash, tx.tx_id, when, tree, writes, index)


def parse_state(raw: object) -> CertificateState:
    """A stored certificate value; damage is :class:`LedgerCorrupt`."""
    try:
        return CertificateState.from_bytes(as_bytes(raw))
    except ContractError as exc:
        raise LedgerCorrupt(exc.message) from None
