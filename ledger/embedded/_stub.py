"""The embedded implementation of ``chaincode.Stub``, and a way to run the contract.

Simulate, then commit: the stub reads committed state through the connection that holds
the write lock, and *buffers* writes and the event. The ledger turns the buffer into a
block only if the contract returned; a refusal leaves the buffer unused, so a refused
transaction writes nothing. Like Fabric, reads never see the transaction's own writes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Coroutine
from datetime import datetime
from typing import Any, TypeVar

from chaincode import HistoryItem, parse_timestamp
from ledger.embedded._db import as_bytes

__all__ = ["EmbeddedStub", "run_sync"]

T = TypeVar("T")


class EmbeddedStub:
    """One transaction's view of the ledger. ``writable=False`` for queries."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        *,
        msp: str,
        tx_id: str,
        timestamp: datetime,
        writable: bool = True,
    ) -> None:
        self._conn = conn
        self._msp = msp
        self._tx_id = tx_id
        self._timestamp = timestamp
        self._writable = writable
        self.writes: dict[str, bytes] = {}
        """Buffered write set, in first-write order; a later write to a key replaces its value."""
        self.event: tuple[str, bytes] | None = None
        self.history_blocks: dict[str, int] = {}
        """tx id -> block number, for every history row this stub has read."""

    async def get_state(self, key: str) -> bytes:
        row = self._conn.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        return as_bytes(row[0]) if row else b""

    async def put_state(self, key: str, value: bytes) -> None:
        if not self._writable:
            raise RuntimeError("a query must not write state")
        if not isinstance(value, bytes):
            raise TypeError("state values are bytes")
        self.writes[key] = value

    async def get_history(self, key: str) -> list[HistoryItem]:
        rows = self._conn.execute(
            "SELECT w.tx_id, w.block_number, b.timestamp, w.value FROM writes w "
            "JOIN blocks b ON b.number = w.block_number "
            "WHERE w.key = ? ORDER BY w.block_number, w.leaf_index",
            (key,),
        ).fetchall()
        items = []
        for tx_id, block, ts, value in rows:
            self.history_blocks[tx_id] = block
            items.append(
                HistoryItem(tx_id, parse_timestamp("timestamp", ts), as_bytes(value), False)
            )
        return items

    def get_creator_msp(self) -> str:
        return self._msp

    def get_tx_id(self) -> str:
        return self._tx_id

    def get_tx_timestamp(self) -> datetime:
        return self._timestamp

    def set_event(self, name: str, payload: bytes) -> None:
        self.event = (name, payload)


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a contract coroutine to completion without an event loop.

    The embedded stub never suspends (SQLite calls are synchronous), so one ``send`` runs
    the whole contract function. This also works on a thread that has a running loop,
    where ``asyncio.run`` would refuse.
    """
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coro.close()
    raise RuntimeError("contract code awaited something other than the embedded stub")
