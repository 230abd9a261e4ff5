"""SQLite layout of the embedded ledger.

``blocks``, ``txs`` and ``writes`` are the chain: append-only, covered by hashes and
signatures. ``state`` (current value per key) and the ``writes_by_key`` index exist only
for fast reads; both can be rebuilt from the chain, and ``verify_chain`` checks ``state``
against a replay of ``writes``.

Nothing in SQLite stops an edit of these rows (a trigger would only stop the honest: anyone
who can write the file can drop it); integrity rests on the hashes and the node signature,
and ``verify_chain`` finds and names any edit.
"""

from __future__ import annotations

__all__ = ["FORMAT", "SCHEMA_VERSION", "STATEMENTS"]

FORMAT = "certledger-embedded"
SCHEMA_VERSION = "1"

STATEMENTS: tuple[str, ...] = (
    """CREATE TABLE meta (
        name TEXT PRIMARY KEY,
        value TEXT NOT NULL
    ) WITHOUT ROWID""",
    """CREATE TABLE blocks (
        number INTEGER PRIMARY KEY,
        prev_hash TEXT NOT NULL,
        timestamp TEXT NOT NULL,
        tx_count INTEGER NOT NULL,
        write_count INTEGER NOT NULL,
        tx_root TEXT NOT NULL,
        merkle_root TEXT NOT NULL,
        signer TEXT NOT NULL,
        header_hash TEXT NOT NULL UNIQUE,
        signature BLOB NOT NULL
    )""",
    """CREATE TABLE txs (
        tx_id TEXT PRIMARY KEY,
        block_number INTEGER NOT NULL,
        tx_index INTEGER NOT NULL,
        creator_msp TEXT NOT NULL,
        function TEXT NOT NULL,
        args_digest TEXT NOT NULL,
        result BLOB NOT NULL,
        event_name TEXT NOT NULL,
        event_payload BLOB NOT NULL,
        timestamp TEXT NOT NULL,
        UNIQUE (block_number, tx_index)
    )""",
    """CREATE TABLE writes (
        block_number INTEGER NOT NULL,
        leaf_index INTEGER NOT NULL,
        tx_id TEXT NOT NULL,
        key TEXT NOT NULL,
        value BLOB NOT NULL,
        PRIMARY KEY (block_number, leaf_index)
    ) WITHOUT ROWID""",
    "CREATE INDEX writes_by_key ON writes (key, block_number, leaf_index)",
    """CREATE TABLE state (
        key TEXT PRIMARY KEY,
        value BLOB NOT NULL,
        block_number INTEGER NOT NULL,
        leaf_index INTEGER NOT NULL,
        created_block INTEGER NOT NULL
    ) WITHOUT ROWID""",
)
