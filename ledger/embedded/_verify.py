"""``verify_chain``: recompute everything the chain commits to, from the stored rows.

For each block, in order, the first failing check is reported as the reason:
1. the block exists (numbers are contiguous from genesis 0);
2. the header hash recomputed from the header fields equals the stored hash;
3. ``prev_hash`` equals the previous block's hash (a changed block breaks every later link);
4. the signer is the trusted node certificate and the ECDSA signature over the header holds;
5. block time does not run backwards;
6. the transaction rows are exactly those the header counts, and their Merkle root is
   ``tx_root``;
7. the write rows are exactly those the header counts, their Merkle root is
   ``merkle_root``, and each belongs to a transaction of the block.
Then: no stored rows reference a block past the head (catches a deleted last block), and
the ``state`` table equals a replay of all writes.

Tampering is reported, never raised. What this cannot catch on one machine: an attacker who
holds the node key, or who removes the newest blocks *together with* every row that
references them. Both need a second party (other nodes, or published block hashes).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import closing
from datetime import datetime

from chaincode import ContractError, parse_timestamp
from ledger.embedded._blocks import GENESIS_PREV_HASH, BlockHeader, TxRecord
from ledger.embedded._db import as_bytes
from ledger.embedded._identity import NodeIdentity
from ledger.errors import LedgerCorrupt
from ledger.interface import ChainReport
from ledger.merkle import MerkleTree, encode_write_leaf, leaf_hash

__all__ = ["verify_chain"]

# SQLite primary result codes meaning "could not read now", not "the data is bad".
_TRANSIENT = {5, 6, 7, 10, 13, 14}  # BUSY, LOCKED, NOMEM, IOERR, FULL, CANTOPEN


class _Bad(Exception):
    """A failed check: ``block`` is the block to blame (``None``: not tied to one)."""

    def __init__(self, block: int | None, reason: str) -> None:
        super().__init__(reason)
        self.block = block
        self.reason = reason


def verify_chain(conn: sqlite3.Connection, identity: NodeIdentity) -> ChainReport:
    """Check the chain readable through ``conn`` (ideally inside one read transaction)."""
    checker = _Checker(conn, identity)
    try:
        checker.run()
    except _Bad as bad:
        return ChainReport(False, checker.checked, bad.block, bad.reason)
    except sqlite3.Error as exc:
        if (getattr(exc, "sqlite_errorcode", 0) & 0xFF) in _TRANSIENT:
            raise  # cannot read: the caller reports the ledger unavailable
        return ChainReport(False, checker.checked, None, f"ledger database damaged: {exc}")
    return ChainReport(True, checker.checked, None, checker.summary)


class _Checker:
    def __init__(self, conn: sqlite3.Connection, identity: NodeIdentity) -> None:
        self._conn = conn
        self._identity = identity
        self.checked = 0
        self.summary = ""

    def run(self) -> None:
        with closing(
            self._conn.execute(
                "SELECT number, prev_hash, timestamp, tx_count, write_count, tx_root, "
                "merkle_root, signer, header_hash, signature FROM blocks ORDER BY number"
            )
        ) as rows:
            self._check_blocks(rows)
        if self.checked == 0:
            raise _Bad(0, "block 0: missing (no genesis block)")
        self._check_no_orphans()
        keys = self._check_state()
        self.summary = f"{self.checked} blocks verified; state matches the replay of {keys} keys"

    def _check_blocks(self, rows: Iterable[tuple[object, ...]]) -> None:
        prev_hash, prev_time = GENESIS_PREV_HASH, None
        for row in rows:
            n = self.checked
            if row[0] != n:
                raise _Bad(n, f"block {n}: missing (the next stored block is {row[0]!r})")
            header, stored_hash, signature = _header(n, row)
            if header.hash() != stored_hash:
                raise _Bad(n, f"block {n}: header hash mismatch (header field altered)")
            if header.prev_hash != prev_hash:
                raise _Bad(n, f"block {n}: previous-block link broken (prev_hash altered)")
            if header.signer != self._identity.fingerprint:
                raise _Bad(
                    n,
                    f"block {n}: signed by an untrusted node certificate "
                    f"(sha256={header.signer[:16]}...)",
                )
            if not self._identity.verify(signature, header.to_bytes()):
                raise _Bad(n, f"block {n}: header signature invalid")
            time = _time(n, header.timestamp)
            if prev_time is not None and time < prev_time:
                raise _Bad(n, f"block {n}: timestamp earlier than block {n - 1}")
            tx_ids = self._check_txs(header)
            self._check_writes(header, tx_ids)
            prev_hash, prev_time = stored_hash, time
            self.checked += 1

    def _check_txs(self, header: BlockHeader) -> set[str]:
        n = header.number
        rows = self._conn.execute(
            "SELECT tx_index, tx_id, creator_msp, function, args_digest, result, event_name, "
            "event_payload, timestamp FROM txs WHERE block_number = ? ORDER BY tx_index",
            (n,),
        ).fetchall()
        if [r[0] for r in rows] != list(range(header.tx_count)):
            raise _Bad(
                n,
                f"block {n}: transaction rows missing or added (header counts "
                f"{header.tx_count}, found {len(rows)})",
            )
        leaves = []
        for r in rows:
            try:
                tx = TxRecord(
                    _text(r[1]), _text(r[2]), _text(r[3]), _text(r[4]),
                    _blob(r[5]), _text(r[6]), _blob(r[7]), _text(r[8]),
                )  # fmt: skip
            except TypeError:
                raise _Bad(n, f"block {n}: malformed transaction row {r[0]}") from None
            leaves.append(leaf_hash(tx.leaf_bytes()))
        if MerkleTree(leaves).root.hex() != header.tx_root:
            raise _Bad(n, f"block {n}: tx root mismatch (transaction row altered)")
        return {str(r[1]) for r in rows}

    def _check_writes(self, header: BlockHeader, tx_ids: set[str]) -> None:
        n = header.number
        rows = self._conn.execute(
            "SELECT leaf_index, tx_id, key, value FROM writes WHERE block_number = ? "
            "ORDER BY leaf_index",
            (n,),
        ).fetchall()
        if [r[0] for r in rows] != list(range(header.write_count)):
            raise _Bad(
                n,
                f"block {n}: write rows missing or added (header counts "
                f"{header.write_count}, found {len(rows)})",
            )
        try:
            leaves = [
                leaf_hash(encode_write_leaf(_text(r[1]), _text(r[2]), _blob(r[3]))) for r in rows
            ]
        except TypeError:
            raise _Bad(n, f"block {n}: malformed write row") from None
        if MerkleTree(leaves).root.hex() != header.merkle_root:
            raise _Bad(n, f"block {n}: merkle root mismatch (write row altered)")
        if any(r[1] not in tx_ids for r in rows):
            raise _Bad(n, f"block {n}: a write names a transaction outside the block")

    def _check_no_orphans(self) -> None:
        head = self.checked  # first block number that does not exist
        (orphan,) = self._conn.execute(
            "SELECT MIN(b) FROM (SELECT block_number AS b FROM writes WHERE block_number >= ?1 "
            "UNION ALL SELECT block_number FROM txs WHERE block_number >= ?1)",
            (head,),
        ).fetchone()
        if orphan is not None:
            raise _Bad(
                head,
                f"block {head}: missing (rows of block {orphan} are stored, but the chain "
                f"ends at block {head - 1})",
            )

    def _check_state(self) -> int:
        """Merge the replay of writes (latest per key) with ``state``, both in key order."""
        with (
            closing(
                self._conn.execute(
                    "SELECT key, value, block_number, leaf_index, created_block FROM state "
                    "ORDER BY key"
                )
            ) as stored,
            closing(
                self._conn.execute(
                    "SELECT key, block_number, leaf_index, value FROM writes "
                    "ORDER BY key, block_number, leaf_index"
                )
            ) as writes,
        ):
            return self._merge(stored, _replay(writes))

    def _merge(
        self,
        stored: Iterable[tuple[object, ...]],
        replay: Iterator[tuple[str, bytes, int, int, int]],
    ) -> int:
        want = next(replay, None)
        count = 0
        for key, value, block, leaf, created in stored:
            if not isinstance(key, str):
                raise _Bad(None, f"state table: malformed key {key!r}")
            if want is not None and want[0] < key:
                raise _Bad(want[2], _state_msg(want[0], "is missing", want[2]))
            if want is None or want[0] != key:
                raise _Bad(None, f"state table: key {key!r} was never written by any block")
            if (_blob_or_none(value), block, leaf, created) != want[1:]:
                raise _Bad(want[2], _state_msg(key, "differs from the replay of writes", want[2]))
            count += 1
            want = next(replay, None)
        if want is not None:
            raise _Bad(want[2], _state_msg(want[0], "is missing", want[2]))
        return count


def _replay(
    writes: Iterable[tuple[object, ...]],
) -> Iterator[tuple[str, bytes, int, int, int]]:
    """(key, last value, its block, its leaf index, first block) per key, in key order."""
    current: list[object] | None = None
    for key, block, leaf, value in writes:
        if current is not None and current[0] != key:
            yield tuple(current)  # type: ignore[misc]
            current = None
        if current is None:
            current = [key, _blob(value), block, leaf, block]
        else:
            current[1:4] = [_blob(value), block, leaf]
    if current is not None:
        yield tuple(current)  # type: ignore[misc]


def _state_msg(key: str, what: str, block: int) -> str:
    return f"state table: key {key!r} {what} (last written in block {block}); state altered"


def _header(n: int, row: tuple[object, ...]) -> tuple[BlockHeader, str, bytes]:
    try:
        header = BlockHeader(
            number=n,
            prev_hash=_text(row[1]),
            timestamp=_text(row[2]),
            tx_count=_int(row[3]),
            write_count=_int(row[4]),
            tx_root=_text(row[5]),
            merkle_root=_text(row[6]),
            signer=_text(row[7]),
        )
        return header, _text(row[8]), _blob(row[9])
    except TypeError:
        raise _Bad(n, f"block {n}: malformed header row (header field altered)") from None


def _time(n: int, text: str) -> datetime:
    try:
        return parse_timestamp("timestamp", text)
    except ContractError:
        raise _Bad(n, f"block {n}: malformed timestamp (header field altered)") from None


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError
    return value


def _int(value: object) -> int:
    if type(value) is not int:
        raise TypeError
    return value


def _blob(value: object) -> bytes:
    try:
        return as_bytes(value)
    except LedgerCorrupt:
        raise TypeError from None


def _blob_or_none(value: object) -> bytes | None:
    try:
        return _blob(value)
    except TypeError:
        return None
