"""Shared test material for the ledger suite (importable by spawned worker processes)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ledger import AgencyRecord, AnchorEntry, EmbeddedLedger

REGISTRY = [
    AgencyRecord("MOE", "MoeMSP", "教育部", "Ministry of Education", ("diploma",), ("a" * 64,)),
    AgencyRecord("MOT", "MotMSP", "交通部", "Ministry of Transport", ("driving",), ("b" * 64,)),
]


def make_node(name: str = "ledger-node") -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime(2025, 1, 1, tzinfo=UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
    return key, cert


def entry(
    cert_id: str, n: int = 0, *, cert_type: str = "diploma", holder: str = "e" * 64
) -> AnchorEntry:
    return AnchorEntry(cert_id, f"{n:064x}", holder, cert_type, "2025-01-01", None)


def batch(prefix: str, count: int, start: int = 0) -> list[AnchorEntry]:
    return [entry(f"{prefix}-{i}", i) for i in range(start, start + count)]


@contextmanager
def raw_db(path: Path) -> Iterator[sqlite3.Connection]:
    """A tamperer's connection to the ledger file (autocommit)."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        yield conn
    finally:
        conn.close()


def count(path: Path, sql: str) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute(sql).fetchone()[0])
    finally:
        conn.close()


def anchor_worker(path: str, key_pem: bytes, cert_pem: bytes, prefix: str, rounds: int) -> int:
    """Run in a separate process: anchor ``rounds`` batches, each overlapping a shared set."""
    key = serialization.load_pem_private_key(key_pem, None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    cert = x509.load_pem_x509_certificate(cert_pem)
    anchored = 0
    with EmbeddedLedger.open(path, node_key=key, node_cert=cert) as ledger:
        for r in range(rounds):
            # Own ids, plus ids both processes anchor with identical entries.
            mine = [entry(f"{prefix}-{r}-{i}", i) for i in range(40)]
            shared = [entry(f"SHARED-{r}-{i}", 10_000 + i) for i in range(10)]
            receipts = ledger.anchor("MOE", mine + shared)
            anchored += sum(rc.status == "anchored" for rc in receipts)
    return anchored
