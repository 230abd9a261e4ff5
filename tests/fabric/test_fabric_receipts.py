"""Receipts a verifier can check, on the real network (issue 13, item 6).

A certificate anchored on Fabric carries its block number, transaction id and the block's
data hash; verification confirms on the verifier's own peer that the transaction is a valid
one of that block and that the block's data hash is the receipt's. A receipt altered in the
store fails the ledger check.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest
from fabric_protos.common import common_pb2

from tests.e2e.conftest import Deployment, Server
from tests.e2e.test_chain import check, verify
from tests.fabric.conftest import FabricNet


@pytest.fixture
def store_db(fabric_deployment: Deployment) -> Iterator[sqlite3.Connection]:
    db = sqlite3.connect(fabric_deployment.home / "certificates.db", timeout=30)
    try:
        yield db
    finally:
        db.close()


def stored_receipt(db: sqlite3.Connection, cert_id: str) -> tuple[str, int, dict[str, Any]]:
    tx, block, proof = db.execute(
        "SELECT anchored_tx, anchored_block, proof_json FROM certificates WHERE id = ?",
        (cert_id,),
    ).fetchone()
    return str(tx), int(block), json.loads(proof)


def test_receipt_names_the_block_and_its_data_hash(
    issued: dict[str, Any], fabric_net: FabricNet, store_db: sqlite3.Connection
) -> None:
    tx, block, proof = stored_receipt(store_db, issued["id"])
    assert tx == issued["ledger"]["tx_id"]
    # The data hash is the block's as the peer serves it, and recomputes from its envelopes.
    with fabric_net.ledger("transport") as ledger:
        raw = ledger._reader.evaluate(
            [b"GetBlockByNumber", b"certledger", str(block).encode()], chaincode="qscc"
        )
    blk = common_pb2.Block.FromString(raw)
    assert proof["data_hash"] == blk.header.data_hash.hex()
    assert hashlib.sha256(b"".join(blk.data.data)).hexdigest() == proof["data_hash"]


def test_genuine_receipt_passes_on_the_verifiers_peer(
    server: Server, issued: dict[str, Any], store_db: sqlite3.Connection
) -> None:
    tx, block, proof = stored_receipt(store_db, issued["id"])
    report = verify(server, issued["pdf"])
    assert report["verdict"] == "VALID", report
    receipt = report["ledger"]["receipt"]
    assert receipt == {
        "tx_id": tx,
        "block": block,
        "data_hash": proof["data_hash"],
        "verdict": "PASSED",
        "reason": "the transaction is valid in that block",
    }
    assert report["ledger"]["block"] == block


@pytest.mark.parametrize("alter", ["block", "data_hash"])
def test_altered_receipt_fails_the_ledger_check(
    server: Server, issued: dict[str, Any], store_db: sqlite3.Connection, alter: str
) -> None:
    cid = issued["id"]
    _tx, block, proof = stored_receipt(store_db, cid)
    if alter == "block":
        changed = (block - 1, json.dumps(proof))
    else:
        first = "0" if proof["data_hash"][0] != "0" else "1"
        bad = dict(proof, data_hash=first + proof["data_hash"][1:])
        changed = (block, json.dumps(bad))
    with store_db:
        store_db.execute(
            "UPDATE certificates SET anchored_block = ?, proof_json = ? WHERE id = ?",
            (*changed, cid),
        )
    try:
        report = verify(server, issued["pdf"])
        assert report["verdict"] == "INVALID", report
        anchored = check(report, "LEDGER_ANCHORED")
        assert anchored["verdict"] == "FAILED"
        assert "receipt" in anchored["message"]["en"]
        assert report["ledger"]["receipt"]["verdict"] == "FAILED"
    finally:
        with store_db:
            store_db.execute(
                "UPDATE certificates SET anchored_block = ?, proof_json = ? WHERE id = ?",
                (block, json.dumps(proof), cid),
            )
    assert verify(server, issued["pdf"])["verdict"] == "VALID"
