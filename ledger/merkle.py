"""Merkle trees with RFC 6962 / RFC 9162 hashing, and the leaf encoding of ledger writes.

Domain separation (RFC 6962 section 2.1): a leaf hash is ``SHA-256(0x00 || data)`` and an
interior node ``SHA-256(0x01 || left || right)``, so no interior node can be passed off as
a leaf or the other way round (the second-preimage attack on naive Merkle trees).

The tree is the RFC's left-balanced one: built level by level, a last node without a
sibling is carried up unchanged. An audit path is therefore only meaningful together with
the leaf index *and the tree size*, and :func:`verify_path` needs both.

Pure functions only: a verifier can check a proof without a ledger, a database or a key.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

__all__ = [
    "MerkleTree",
    "decode_write_leaf",
    "encode_write_leaf",
    "leaf_hash",
    "node_hash",
    "verify_path",
]

_LEAF = b"\x00"
_NODE = b"\x01"
_WRITE_TAG = b"certledger.write.v1\x00"


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(_LEAF + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(_NODE + left + right).digest()


class MerkleTree:
    """All levels of the tree over ``leaves`` (leaf hashes), for the root and audit paths."""

    __slots__ = ("_levels",)

    def __init__(self, leaves: Sequence[bytes]) -> None:
        level = list(leaves)
        levels = [level]
        while len(level) > 1:
            nxt = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
            if len(level) % 2:
                nxt.append(level[-1])  # carried up, not hashed with itself
            levels.append(nxt)
            level = nxt
        self._levels = levels

    @property
    def size(self) -> int:
        return len(self._levels[0])

    @property
    def root(self) -> bytes:
        if not self._levels[0]:
            return hashlib.sha256(b"").digest()  # RFC 6962: the hash of an empty tree
        return self._levels[-1][0]

    def path(self, index: int) -> list[bytes]:
        """Audit path of leaf ``index``, bottom up (RFC 6962 ``PATH(m, D[n])``)."""
        if not 0 <= index < self.size:
            raise IndexError(f"leaf {index} outside a tree of {self.size}")
        path: list[bytes] = []
        for level in self._levels[:-1]:
            sibling = index ^ 1
            if sibling < len(level):
                path.append(level[sibling])
            index //= 2
        return path


def verify_path(leaf: bytes, index: int, size: int, path: Sequence[bytes], root: bytes) -> bool:
    """Does ``path`` prove leaf hash ``leaf`` at ``index`` of ``size`` under ``root``?

    The verification algorithm of RFC 9162 section 2.1.3.2.
    """
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False  # path longer than the tree is tall
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                # A right-edge node carried up: skip the levels where it had no sibling.
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def encode_write_leaf(tx_id: str, key: str, value: bytes) -> bytes:
    """The bytes one state write contributes to its block's Merkle tree.

    Length-prefixed fields behind a versioned tag: no two different writes share an
    encoding, whatever bytes ids, keys and values contain.
    """
    out = bytearray(_WRITE_TAG)
    for part in (tx_id.encode(), key.encode(), value):
        out += len(part).to_bytes(4, "big")
        out += part
    return bytes(out)


def decode_write_leaf(data: bytes) -> tuple[str, str, bytes]:
    """Inverse of :func:`encode_write_leaf`: ``(tx_id, key, value)``. Raises ``ValueError``."""
    if not data.startswith(_WRITE_TAG):
        raise ValueError("not a write leaf")
    parts: list[bytes] = []
    pos = len(_WRITE_TAG)
    for _ in range(3):
        if pos + 4 > len(data):
            raise ValueError("write leaf truncated")
        n = int.from_bytes(data[pos : pos + 4], "big")
        pos += 4
        if pos + n > len(data):
            raise ValueError("write leaf truncated")
        parts.append(data[pos : pos + n])
        pos += n
    if pos != len(data):
        raise ValueError("trailing bytes after write leaf")
    return parts[0].decode(), parts[1].decode(), parts[2]
