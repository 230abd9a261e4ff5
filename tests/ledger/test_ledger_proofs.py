from __future__ import annotations

import dataclasses
import hashlib
import json
import sqlite3
from pathlib import Path

import pytest

from chaincode import cert_key
from ledger import EmbeddedLedger, InclusionProof, decode_write_leaf, verify_inclusion
from ledger.merkle import MerkleTree, encode_write_leaf, leaf_hash, node_hash, verify_path
from tests.ledger.ledger_helpers import batch


def rfc6962_root(leaves: list[bytes]) -> bytes:
    """MTH straight from RFC 6962 section 2.1, recursively, as an independent oracle."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    left, right = rfc6962_root(leaves[:k]), rfc6962_root(leaves[k:])
    return hashlib.sha256(b"\x01" + left + right).digest()


def test_known_rfc6962_vectors() -> None:
    # Test data and roots used by Certificate Transparency implementations.
    data = [bytes.fromhex(h) for h in ("", "00", "10", "2021", "3031", "40414243",
            "5051525354555657", "606162636465666768696a6b6c6d6e6f")]  # fmt: skip
    assert MerkleTree([leaf_hash(d) for d in data[:1]]).root.hex() == (
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    )
    assert MerkleTree([leaf_hash(d) for d in data]).root.hex() == (
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"
    )
    assert MerkleTree([]).root == hashlib.sha256(b"").digest()


@pytest.mark.parametrize("size", [*range(1, 34), 100, 1000])
def test_tree_matches_rfc_and_every_path_verifies(size: int) -> None:
    data = [i.to_bytes(4, "big") for i in range(size)]
    tree = MerkleTree([leaf_hash(d) for d in data])
    assert tree.root == rfc6962_root(data)
    for i in range(size):
        path = tree.path(i)
        assert verify_path(leaf_hash(data[i]), i, size, path, tree.root)
        if size > 1:
            assert not verify_path(leaf_hash(data[i]), (i + 1) % size, size, path, tree.root)
            assert not verify_path(leaf_hash(data[i]), i, size, path[:-1], tree.root)
            assert not verify_path(leaf_hash(data[i]), i, size, [*path, path[0]], tree.root)


def test_a_node_is_not_a_leaf() -> None:
    a, b = leaf_hash(b"a"), leaf_hash(b"b")
    root = MerkleTree([a, b]).root
    assert root == node_hash(a, b)
    # Presenting the concatenation of the children as "leaf data" does not verify.
    assert not verify_path(leaf_hash(a + b), 0, 1, [], root)


def test_write_leaf_encoding_round_trips_and_is_unambiguous() -> None:
    leaf = encode_write_leaf("tx", "cert/C-1", b'{"x":1}')
    assert decode_write_leaf(leaf) == ("tx", "cert/C-1", b'{"x":1}')
    assert encode_write_leaf("ab", "c", b"") != encode_write_leaf("a", "bc", b"")
    for bad in (b"", leaf[:-1], leaf + b"x", b"certledger.tx.v1\x00"):
        with pytest.raises(ValueError):
            decode_write_leaf(bad)


def test_every_entry_of_a_1000_batch_has_a_proof(ledger: EmbeddedLedger, path: Path) -> None:
    receipts = ledger.anchor("MOE", batch("C", 1000))
    assert {r.block_number for r in receipts} == {1}
    conn = sqlite3.connect(path)
    merkle_root, header_hash = conn.execute(
        "SELECT merkle_root, header_hash FROM blocks WHERE number = 1"
    ).fetchone()
    conn.close()
    for i, r in enumerate(receipts):
        assert verify_inclusion(r.proof, r.leaf), r.cert_id
        assert r.proof.tree_size == 1000 and r.proof.leaf_index == i
        assert (r.proof.merkle_root, r.proof.block_hash) == (merkle_root, header_hash)
        tx_id, key, value = decode_write_leaf(r.leaf)
        assert (tx_id, key) == (r.tx_id, cert_key(r.cert_id))
        assert json.loads(value)["digest"] == f"{i:064x}"


def _flip(hex_str: str) -> str:
    return f"{int(hex_str[0], 16) ^ 1:x}" + hex_str[1:]


def test_a_changed_proof_fails(ledger: EmbeddedLedger) -> None:
    receipts = ledger.anchor("MOE", batch("C", 1000))
    for r in receipts[::37]:
        p = r.proof
        for j in range(len(p.siblings)):
            siblings = (*p.siblings[:j], _flip(p.siblings[j]), *p.siblings[j + 1 :])
            assert not verify_inclusion(dataclasses.replace(p, siblings=siblings), r.leaf)
        assert not verify_inclusion(dataclasses.replace(p, leaf_index=p.leaf_index ^ 1), r.leaf)
        assert not verify_inclusion(
            dataclasses.replace(p, merkle_root=_flip(p.merkle_root)), r.leaf
        )
        assert not verify_inclusion(p, r.leaf.replace(b'"active"', b'"revoked"'))
        # Another receipt's leaf does not verify under this proof.
        assert not verify_inclusion(p, receipts[(receipts.index(r) + 1) % 1000].leaf)


@pytest.mark.parametrize(
    "change",
    [
        {"siblings": ("zz",)},
        {"merkle_root": "not hex"},
        {"leaf_index": -1},
        {"tree_size": 0},
        {"siblings": (None,)},
    ],
)
def test_malformed_proofs_are_false_not_errors(change: dict[str, object]) -> None:
    leaf = b"leaf"
    proof = InclusionProof(leaf_hash(leaf).hex(), 0, 1, (), leaf_hash(leaf).hex(), 1, "00" * 32)
    assert verify_inclusion(proof, leaf)
    assert not verify_inclusion(dataclasses.replace(proof, **change), leaf)  # type: ignore[arg-type]
