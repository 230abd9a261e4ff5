"""Token buckets kept in the store, so a rate limit holds across every API host of an agency.

On one machine the server's workers share a memory-mapped table (``verify_api.http``); hosts
sharing a PostgreSQL store share this table instead. One take is one statement, an upsert that
refills the key's bucket, takes a token when there is one and says whether it did, so two
hosts taking from one bucket at once are serialised by the row lock and never both spend the
last token.

* **One clock.** Refills are reckoned on the database server's clock, not each host's: hosts
  whose clocks disagree would otherwise refill a shared bucket too fast or too slowly.
* **No addresses at rest.** A bucket's key is a keyed hash of the caller's address or client
  id, under a random salt kept in the store (an unkeyed hash of an IPv4 address is reversed by
  trying all 2^32).
* **Bounded.** A bucket that has refilled to full says what a missing one says, so rows whose
  ``full_at`` has passed are deleted now and then; the table holds only recent callers.
"""

from __future__ import annotations

import hashlib
import secrets
import threading

from sqlalchemy import LargeBinary, text
from sqlmodel import Field, SQLModel

from certificates.store.database import Store

__all__ = ["RateBucketRow", "StoreBuckets"]

_SALT_NAME = "rate_bucket_salt"
_PURGE_EVERY = 1000  # takes per process between deletions of refilled buckets


class RateBucketRow(SQLModel, table=True):
    __tablename__ = "rate_buckets"

    key: bytes = Field(primary_key=True, sa_type=LargeBinary)  # keyed hash, see module text
    tokens: float
    stamp: float  # database-clock seconds of the last take
    full_at: float = Field(index=True)  # when the bucket is full again (then it may go)
    admitted: bool  # whether the last take got a token


# The clock, in SQL: the database server's seconds, one value throughout a statement
# (PostgreSQL's statement_timestamp; SQLite's 'now' within one step).
_NOW = {
    "postgresql": "EXTRACT(EPOCH FROM statement_timestamp())::float8",
    "sqlite": "((julianday('now') - 2440587.5) * 86400.0)",
}
_LEAST = {"postgresql": "LEAST", "sqlite": "MIN"}


def _take_sql(dialect: str) -> str:
    # Built from the constants above only: nothing a caller gives reaches the text.
    now, least = _NOW[dialect], _LEAST[dialect]
    # What the bucket holds before this take, refilled as of now.
    refilled = f"{least}(:burst, b.tokens + ({now} - b.stamp) * :rate)"
    left = f"CASE WHEN {refilled} >= 1 THEN {refilled} - 1 ELSE {refilled} END"
    return f"""
    INSERT INTO rate_buckets AS b (key, tokens, stamp, full_at, admitted)
    VALUES (:key, :burst - 1, {now}, {now} + 1 / :rate, true)
    ON CONFLICT (key) DO UPDATE SET
        tokens = {left},
        full_at = {now} + (:burst - {left}) / :rate,
        admitted = {refilled} >= 1,
        stamp = {now}
    RETURNING admitted, tokens
    """  # noqa: S608


class StoreBuckets:
    """The store's token buckets (see the module text); ``take`` as the in-memory limiter's."""

    blocking = True  # a take is a database round trip

    def __init__(self, store: Store) -> None:
        self._store = store
        self._take = text(_take_sql(store.dialect))
        self._purge = text(f"DELETE FROM rate_buckets WHERE full_at < {_NOW[store.dialect]}")  # noqa: S608
        self._salt = self._load_salt()
        self._takes = 0
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"StoreBuckets({self._store.database.label})"  # never the salt

    def _load_salt(self) -> bytes:
        with self._store.session() as s:
            conn = s.connection()
            # Whichever host comes first makes the salt; the others read that one.
            conn.execute(
                text(
                    "INSERT INTO store_meta (name, value) VALUES (:n, :v) "
                    "ON CONFLICT (name) DO NOTHING"
                ),
                {"n": _SALT_NAME, "v": secrets.token_hex(16)},
            )
            value = conn.execute(
                text("SELECT value FROM store_meta WHERE name = :n"), {"n": _SALT_NAME}
            ).scalar_one()
            s.commit()
        return bytes.fromhex(str(value))

    def take(self, key: str, rate: float, burst: float) -> float:
        """Take one token from ``key``'s bucket: 0.0 when allowed, else the seconds until a
        token is available. Database errors propagate: the caller answers 503, since a limit
        it cannot check is not waved through."""
        digest = hashlib.blake2b(key.encode(), key=self._salt, digest_size=16).digest()
        with self._store.session() as s:
            conn = s.connection()
            admitted, tokens = conn.execute(
                self._take, {"key": digest, "rate": rate, "burst": burst}
            ).one()
            if self._due():
                conn.execute(self._purge)
            s.commit()
        return 0.0 if admitted else (1.0 - float(tokens)) / rate

    def _due(self) -> bool:
        with self._lock:
            self._takes += 1
            return self._takes % _PURGE_EVERY == 0
