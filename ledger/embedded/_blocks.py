"""Block headers and transaction leaves: their canonical bytes and hashes.

A header commits to everything in its block: ``merkle_root`` over one leaf per state write
(``ledger.merkle.encode_write_leaf``), ``tx_root`` over one leaf per transaction, the
previous header's hash (so changing any block breaks every later link) and the signer's
certificate fingerprint. The header hash is SHA-256 of the canonical header JSON, and the
node signs those same bytes with ECDSA P-256.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from chaincode import canonical_json

__all__ = ["GENESIS_PREV_HASH", "BlockHeader", "TxRecord"]

GENESIS_PREV_HASH = "0" * 64
_HEADER_TYPE = "certledger.block.v1"
_TX_TAG = b"certledger.tx.v1\x00"


@dataclass(frozen=True, slots=True)
class BlockHeader:
    number: int
    prev_hash: str
    timestamp: str
    """Canonical UTC timestamp string (``chaincode`` format), kept as stored."""
    tx_count: int
    write_count: int
    tx_root: str
    merkle_root: str
    signer: str

    def to_bytes(self) -> bytes:
        return canonical_json(
            {
                "type": _HEADER_TYPE,
                "number": self.number,
                "prev_hash": self.prev_hash,
                "timestamp": self.timestamp,
                "tx_count": self.tx_count,
                "write_count": self.write_count,
                "tx_root": self.tx_root,
                "merkle_root": self.merkle_root,
                "signer": self.signer,
            }
        )

    def hash(self) -> str:
        return hashlib.sha256(self.to_bytes()).hexdigest()


@dataclass(frozen=True, slots=True)
class TxRecord:
    """One executed transaction as stored in ``txs``: what was called, by whom, with what."""

    tx_id: str
    creator_msp: str
    function: str
    args_digest: str
    result: bytes
    event_name: str
    event_payload: bytes
    timestamp: str

    def leaf_bytes(self) -> bytes:
        out = bytearray(_TX_TAG)
        for part in (
            self.tx_id.encode(),
            self.creator_msp.encode(),
            self.function.encode(),
            self.args_digest.encode(),
            self.result,
            self.event_name.encode(),
            self.event_payload,
            self.timestamp.encode(),
        ):
            out += len(part).to_bytes(4, "big")
            out += part
        return bytes(out)
