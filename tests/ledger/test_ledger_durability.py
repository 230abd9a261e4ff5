from __future__ import annotations

import multiprocessing
import sqlite3
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from ledger import CertStatus, EmbeddedLedger, LedgerUnavailable
from tests.ledger.ledger_helpers import REGISTRY, anchor_worker, batch, count, entry

Node = tuple[ec.EllipticCurvePrivateKey, x509.Certificate]


def test_close_and_reopen(path: Path, node: Node) -> None:
    key, cert = node
    with EmbeddedLedger.create(path, node_key=key, node_cert=cert, registry=REGISTRY) as led:
        first = led.anchor("MOE", batch("C", 10))
        led.revoke("MOE", "C-3", "issued in error")
    with EmbeddedLedger.open(path, node_key=key, node_cert=cert) as led:
        record = led.get("C-3")
        assert record is not None and record.status is CertStatus.REVOKED
        assert led.get("C-9") is not None
        receipts = led.anchor("MOE", [*batch("C", 2), entry("D-1", 99)])
        assert [r.status for r in receipts] == ["already-anchored"] * 2 + ["anchored"]
        assert receipts[0].proof == first[0].proof
        assert receipts[2].block_number == 3
        assert led.verify_chain().ok
        assert led.registry() == REGISTRY


def test_closed_ledger_is_unavailable(ledger: EmbeddedLedger) -> None:
    ledger.close()
    ledger.close()  # idempotent
    with pytest.raises(LedgerUnavailable, match="closed"):
        ledger.get("C-1")
    with pytest.raises(LedgerUnavailable, match="closed"):
        ledger.anchor("MOE", [entry("C-1")])


def test_two_processes_anchor_into_one_file(path: Path, node: Node) -> None:
    key, cert = node
    EmbeddedLedger.create(path, node_key=key, node_cert=cert, registry=REGISTRY).close()
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    rounds = 8
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(2) as pool:
        results = [
            pool.apply_async(anchor_worker, (str(path), key_pem, cert_pem, p, rounds))
            for p in ("A", "B")
        ]
        anchored = [r.get(timeout=120) for r in results]

    own, shared = 2 * rounds * 40, rounds * 10
    # Every shared id was anchored by exactly one of the two processes.
    assert sum(anchored) == own + shared
    with EmbeddedLedger.open_readonly(path, cert) as led:
        report = led.verify_chain()
        assert report.ok, report.reason
        assert report.blocks_checked == count(path, "SELECT COUNT(*) FROM blocks")
        for p in ("A", "B"):
            assert led.get(f"{p}-{rounds - 1}-39") is not None
        assert led.get(f"SHARED-{rounds - 1}-9") is not None
    assert count(path, "SELECT COUNT(*) FROM state WHERE key LIKE 'cert/%'") == own + shared
    conn = sqlite3.connect(path)
    dupes = conn.execute(
        "SELECT key, COUNT(*) FROM writes GROUP BY key HAVING COUNT(*) > 1"
    ).fetchall()
    numbers = [n for (n,) in conn.execute("SELECT number FROM blocks ORDER BY number")]
    conn.close()
    assert dupes == []
    assert numbers == list(range(len(numbers)))
