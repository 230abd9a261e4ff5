"""SQLite connections for one ledger file: one writer, a pool of readers, error mapping.

Concurrency model:
- Threads: one writer connection behind a lock; readers come from a pool, one per
  concurrent reading thread. WAL lets readers run while a block is being written.
- Processes: every write is ``BEGIN IMMEDIATE``, which takes SQLite's write lock *before*
  the chain head is read, so two processes can never both build on the same head.
  ``busy_timeout`` makes a second writer wait instead of failing.
- Durability: WAL with ``synchronous=FULL``: a returned commit survives power loss.

Every ``sqlite3.Error`` leaving here becomes :class:`LedgerUnavailable`, naming the file.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from ledger.errors import LedgerConfigError, LedgerCorrupt, LedgerUnavailable

__all__ = ["Database", "as_bytes"]

_BUSY_TIMEOUT_S = 30.0


def as_bytes(value: object) -> bytes:
    """A BLOB column's value. Text appears only if someone edited the file with SQL (e.g.
    ``replace()`` returns text); its UTF-8 bytes are what a check must then compare."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    raise LedgerCorrupt(f"expected bytes in the ledger, found {type(value).__name__}")


class Database:
    def __init__(self, path: Path, *, readonly: bool) -> None:
        self.path = path
        self.readonly = readonly
        self._write_lock = threading.Lock()
        self._pool_lock = threading.Lock()
        self._pool: list[sqlite3.Connection] = []
        self._writer: sqlite3.Connection | None = None
        self._closed = False
        self._file_id: tuple[int, int] | None = None

    def check_file(self) -> None:
        """The file is still there, and still the one first opened.

        An open SQLite connection keeps reading (and writing!) a file that was deleted or
        replaced on disk; without this check a moved-away ledger would keep answering from a
        stale copy and lose every later write. One ``stat`` per call (microseconds).
        """
        if self._closed:
            raise LedgerUnavailable(f"ledger {self.path} is closed")
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            raise LedgerUnavailable(f"ledger file {self.path} does not exist") from None
        except OSError as exc:
            raise LedgerUnavailable(f"cannot reach ledger file {self.path}: {exc}") from exc
        file_id = (st.st_dev, st.st_ino)
        if self._file_id is None:
            self._file_id = file_id
        elif file_id != self._file_id:
            raise LedgerUnavailable(
                f"ledger file {self.path} was replaced after it was opened; reopen the ledger"
            )

    def connect(self) -> sqlite3.Connection:
        """A new connection to an existing file (never creates one)."""
        self.check_file()
        mode = "ro" if self.readonly else "rw"
        try:
            conn = sqlite3.connect(
                f"{self.path.resolve().as_uri()}?mode={mode}",
                uri=True,
                timeout=_BUSY_TIMEOUT_S,
                isolation_level=None,  # we issue BEGIN/COMMIT ourselves
                check_same_thread=False,  # pooled; each connection used by one thread at a time
            )
        except sqlite3.Error as exc:
            raise LedgerUnavailable(f"cannot open ledger file {self.path}: {exc}") from exc
        try:
            conn.execute("PRAGMA synchronous=FULL")
            if self.readonly:
                conn.execute("PRAGMA query_only=ON")
        except sqlite3.Error as exc:
            conn.close()
            raise LedgerUnavailable(f"cannot use ledger file {self.path}: {exc}") from exc
        return conn

    @contextmanager
    def reader(self, *, snapshot: bool = False) -> Iterator[sqlite3.Connection]:
        """A pooled connection; with ``snapshot`` all reads inside see one consistent state."""
        self.check_file()
        with self._pool_lock:
            conn = self._pool.pop() if self._pool else None
        if conn is None:
            conn = self.connect()
        try:
            if snapshot:
                conn.execute("BEGIN")
            yield conn
            if snapshot:
                conn.execute("ROLLBACK")  # read-only: nothing to commit
        except sqlite3.Error as exc:
            self._discard(conn)
            raise LedgerUnavailable(f"cannot read ledger {self.path}: {exc}") from exc
        except BaseException:
            self._discard(conn)
            raise
        with self._pool_lock:
            if self._closed:
                conn.close()
            else:
                self._pool.append(conn)

    @contextmanager
    def writer(self) -> Iterator[sqlite3.Connection]:
        """The write connection inside ``BEGIN IMMEDIATE``; commits on success, else rolls back."""
        if self.readonly:
            raise LedgerConfigError(
                f"ledger {self.path} was opened read-only; writes need EmbeddedLedger.open"
            )
        with self._write_lock:
            self.check_file()
            if self._writer is None:
                self._writer = self.connect()
            conn = self._writer
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise LedgerUnavailable(f"cannot lock ledger {self.path}: {exc}") from exc
            try:
                yield conn
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback(conn)
                raise LedgerUnavailable(f"cannot write ledger {self.path}: {exc}") from exc
            except BaseException:
                self._rollback(conn)
                raise

    def close(self) -> None:
        with self._write_lock, self._pool_lock:
            self._closed = True
            conns = [*self._pool, *([self._writer] if self._writer else [])]
            self._pool.clear()
            self._writer = None
        for conn in conns:
            conn.close()

    @staticmethod
    def _rollback(conn: sqlite3.Connection) -> None:
        if conn.in_transaction:
            with suppress(sqlite3.Error):
                conn.execute("ROLLBACK")

    def _discard(self, conn: sqlite3.Connection) -> None:
        self._rollback(conn)
        with suppress(sqlite3.Error):
            conn.close()
