"""The audit log on PostgreSQL: two hosts (two stores on one database, each with its own
writer) append to ONE hash chain that verifies, and tampering on the server is detected."""

from __future__ import annotations

import threading
from pathlib import Path

import psycopg

from certificates.audit.log import AuditEvent, AuditLog
from certificates.store.database import Store


def test_two_hosts_write_one_chain(postgres_url: str, tmp_path: Path) -> None:
    hosts = [Store.open(tmp_path / f"unused-{i}.db", url=postgres_url) for i in range(2)]
    logs = [AuditLog(store) for store in hosts]

    def work(i: int) -> None:
        for n in range(25):
            logs[i % 2].record(AuditEvent("view", "ok", f"cl_{i}_{n}"))
        # A batch larger than one statement, too: several INSERTs in one transaction.
        logs[i % 2].record_all([AuditEvent("view", "ok", f"bulk_{i}_{n}") for n in range(70)])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        for log in logs:
            report = log.verify()
            assert report.ok, report
            assert report.entries_checked == 4 * (25 + 70)
        seqs = [e.seq for e in logs[1].entries(limit=1000)]
        assert seqs == list(range(1, 4 * 95 + 1))
    finally:
        for store in hosts:
            store.close()


def test_an_edit_on_the_server_breaks_the_chain(postgres_url: str, tmp_path: Path) -> None:
    store = Store.open(tmp_path / "unused.db", url=postgres_url)
    try:
        log = AuditLog(store)
        for n in range(5):
            log.record(AuditEvent("lookup", "allowed", f"cl_{n}", "market-regulation"))
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute("UPDATE audit_log SET client_id = 'someone-else' WHERE seq = 3")
        report = log.verify()
        assert not report.ok
    finally:
        store.close()
