"""Batch jobs and idempotent issuance against the real store and embedded ledger; rendering
and sealing are the fake producer of the issuance tests (they run for real end to end)."""

from __future__ import annotations

import contextlib
import csv
import io
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from certificates.audit import AuditLog
from certificates.holder_key import HolderKey
from certificates.issuance.batches import BatchRowResult, BatchService
from certificates.issuance.refusals import (
    BatchFileError,
    BatchKeyConflict,
    BatchNotFound,
    IdempotencyRefused,
)
from certificates.issuance.service import IssuanceService
from certificates.issuance.uniqueness import AlreadyIssued
from certificates.sharing.clients import Principal
from certificates.store.cipher import FieldCipher
from certificates.store.database import Store
from certificates.types import CERTIFICATE_TYPES
from tests.certificates.test_issuance import FakeProducer, FlakyLedger, registered_ledger
from tests.distinct import distinct, stable_number

QC = CERTIFICATE_TYPES["qualification-certificate"]
HR = Principal("hr-system", "human-resources", frozenset({"issuer"}))
TRANSPORT = Principal("transport-system", "transport", frozenset({"issuer"}))


class Env:
    def __init__(self, tmp: Path) -> None:
        self.ledger = FlakyLedger(registered_ledger(tmp / "ledger.db"))
        self.db = tmp / "certificates.db"
        self.store = Store.open(self.db, create=True)
        self.store.use_cipher(FieldCipher(b"d" * 32))
        self.audit = AuditLog(self.store)
        self.producer = FakeProducer()
        self.issuance = IssuanceService(
            store=self.store,
            ledger=self.ledger,  # type: ignore[arg-type]
            producer=self.producer,
            holder_key=HolderKey(b"k" * 32),
            base_url="https://verify.example",
            audit=self.audit,
        )
        self.batches = self.service()

    def service(self, chunk: int = 7, anchor_rows: int | None = None) -> BatchService:
        # Anchored chunk by chunk unless told otherwise (the counts below assume it; anchoring
        # many chunks together is test_stored_chunks_are_anchored_together).
        return BatchService(
            issuance=self.issuance,
            store=self.store,
            audit=self.audit,
            chunk=chunk,
            anchor_rows=chunk if anchor_rows is None else anchor_rows,
        )

    def certificates(self) -> int:
        with sqlite3.connect(self.db) as db:
            return int(db.execute("SELECT count(*) FROM certificates").fetchone()[0])

    def close(self) -> None:
        self.audit.close()
        self.store.close()
        self.ledger.inner.close()


@pytest.fixture()
def env(tmp_path: Path) -> Iterator[Env]:
    e = Env(tmp_path)
    yield e
    e.close()


def _csv(n: int, bad: frozenset[int] = frozenset(), *, tag: str = "") -> bytes:
    """``n`` data rows of qualification certificates; rows in ``bad`` (1-based) have an
    identity number with a wrong check digit."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(QC.example))
    w.writeheader()
    for row in range(1, n + 1):
        # The same file for the same arguments (a file is a batch's identity).
        data = distinct(QC.code, QC.example, n=stable_number(f"{tag}/{row}"))
        data[QC.holder_name_field] = f"王{tag}{row}"
        if row in bad:
            data[QC.holder_field] = "11010119900307001X"
        w.writerow(data)
    return buf.getvalue().encode()


def test_partial_failure_issues_the_valid_rows_and_reports_the_rest(env: Env) -> None:
    data = _csv(200, frozenset({3, 117, 200}))
    submitted = env.batches.submit(HR, "qualification-certificate", data)
    assert (submitted.state, submitted.total, submitted.issued, submitted.failed) == (
        "queued",
        200,
        0,
        3,
    )
    assert env.certificates() == 0  # submit returns at once: nothing issued yet
    done = env.batches.run(submitted.batch_id)
    assert (done.state, done.issued, done.failed, done.percent, done.done) == (
        "done",
        197,
        3,
        100,
        True,
    )
    rows = env.batches.rows(HR, submitted.batch_id)
    assert [r.row for r in rows] == list(range(1, 201))
    assert [r.line for r in rows] == list(range(2, 202))  # the header is line 1
    failed = [r for r in rows if r.errors]
    assert [r.row for r in failed] == [3, 117, 200]
    assert all(r.cert_id is None and r.verify_url is None for r in failed)
    assert {e.field for r in failed for e in r.errors} == {QC.holder_field}
    assert all(e.message_zh and e.message_en for r in failed for e in r.errors)
    issued = [r for r in rows if not r.errors]
    assert all(r.status == "issued" and r.cert_id for r in issued)
    assert len({r.cert_id for r in issued}) == 197 == env.certificates()
    txs = set()
    for r in issued:
        assert r.cert_id is not None and r.verify_url is not None
        assert r.verify_url.startswith(f"https://verify.example/v/{r.cert_id}?t=")
        stored = env.store.get(r.cert_id)
        assert stored is not None and stored.state == "anchored"
        txs.add(stored.anchored_tx)
    # Chunks of 7 rows: one ledger transaction each, never one per row.
    assert len(txs) == 29  # 197 rows / 7
    pdfs = list(env.batches.pdfs(HR, submitted.batch_id))
    assert sorted(c for c, _ in pdfs) == sorted(r.cert_id for r in issued)  # type: ignore[type-var]
    assert all(pdf.startswith(b"%PDF") for _, pdf in pdfs)


def test_manifest_names_row_line_link_and_both_languages(env: Env) -> None:
    p = env.batches.submit(HR, "qualification-certificate", _csv(5, frozenset({2})))
    env.batches.run(p.batch_id)
    manifest = list(csv.DictReader(io.StringIO(env.batches.manifest_csv(HR, p.batch_id).decode())))
    assert list(manifest[0]) == [
        "row",
        "line",
        "id",
        "verify_url",
        "status",
        "error_zh",
        "error_en",
    ]
    assert [(m["row"], m["line"], m["status"]) for m in manifest] == [
        ("1", "2", "issued"),
        ("2", "3", "failed"),
        ("3", "4", "issued"),
        ("4", "5", "issued"),
        ("5", "6", "issued"),
    ]
    assert manifest[1]["id"] == manifest[1]["verify_url"] == ""
    assert QC.holder_field in manifest[1]["error_en"] and manifest[1]["error_zh"]
    assert manifest[0]["verify_url"].startswith(f"https://verify.example/v/{manifest[0]['id']}?t=")


def test_resubmitting_the_same_file_resumes_and_never_issues_twice(env: Env) -> None:
    data = _csv(30)
    first = env.batches.submit(HR, "qualification-certificate", data)
    crashed = {"chunks": 0}

    def power_cut(_rows: object) -> None:
        crashed["chunks"] += 1
        if crashed["chunks"] == 2:
            raise KeyboardInterrupt  # the process dies after its second chunk is stored

    IssuanceService.after_store = staticmethod(power_cut)
    try:
        with pytest.raises(KeyboardInterrupt):
            env.batches.run(first.batch_id)
    finally:
        IssuanceService.after_store = None
    # Two chunks of 7 stored (the second never anchored); the rest waits.
    assert env.certificates() == 14
    assert env.store.count_pending() == 7
    again = env.service().submit(HR, "qualification-certificate", data)
    assert again.batch_id == first.batch_id and again.issued == 14 and again.state != "done"
    done = env.service().run(again.batch_id)
    assert (done.issued, done.failed, done.state) == (30, 0, "done")
    assert env.certificates() == 30 and env.store.count_pending() == 0
    ids = [r.cert_id for r in env.batches.rows(HR, first.batch_id)]
    assert len(set(ids)) == 30
    for cid in ids:
        assert cid is not None
        assert [h.status for h in env.ledger.inner.history(cid)] == ["active"]
    # Done is done: submitting and running it once more issues nothing.
    assert env.batches.submit(HR, "qualification-certificate", data).state == "done"
    env.batches.run(first.batch_id)
    assert env.certificates() == 30


def test_a_row_is_never_linked_to_two_certificates(env: Env) -> None:
    """Two runners racing for the same rows (two processes resuming at once): one stores a
    chunk, the other's transaction is rolled back whole."""
    p = env.batches.submit(HR, "qualification-certificate", _csv(6))
    a, b = env.service(chunk=6), env.service(chunk=6)
    barrier = threading.Barrier(2)
    original = a._jobs.waiting

    def both_see_the_rows(batch_id: str, limit: int):  # type: ignore[no-untyped-def]
        rows = original(batch_id, limit)
        if rows:
            with contextlib.suppress(threading.BrokenBarrierError):
                barrier.wait(timeout=2)
        return rows

    for svc in (a, b):
        svc._jobs.waiting = both_see_the_rows  # type: ignore[method-assign]
        svc._claim = lambda job: None  # type: ignore[method-assign]  # both take the job
    threads = [threading.Thread(target=svc.run, args=(p.batch_id,)) for svc in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert env.certificates() == 6
    assert len({r.cert_id for r in env.batches.rows(HR, p.batch_id)}) == 6


def test_interrupted_job_is_reported_and_resumable(env: Env) -> None:
    p = env.batches.submit(HR, "qualification-certificate", _csv(3))
    # As left by a process that died while running it.
    with sqlite3.connect(env.db) as db:
        db.execute(
            "UPDATE batch_jobs SET state='running', runner='elsewhere:999999999:x', "
            "heartbeat=0 WHERE id=?",
            (p.batch_id,),
        )
    assert env.batches.progress(HR, p.batch_id).state == "interrupted"
    assert env.batches.run(p.batch_id).issued == 3


def test_interrupted_jobs_are_resumed_by_themselves(env: Env) -> None:
    gone = env.batches.submit(HR, "qualification-certificate", _csv(3, tag="甲"))
    live = env.batches.submit(HR, "qualification-certificate", _csv(2, tag="乙"))
    queued = env.batches.submit(HR, "qualification-certificate", _csv(2, tag="丙"))
    with sqlite3.connect(env.db) as db:
        # One left by a process that died while running it, one run by a live process now.
        db.execute(
            "UPDATE batch_jobs SET state='running', runner='elsewhere:999999999:x', "
            "heartbeat=0 WHERE id=?",
            (gone.batch_id,),
        )
        db.execute(
            "UPDATE batch_jobs SET state='running', runner=?, heartbeat=? WHERE id=?",
            (f"{socket.gethostname()}:{os.getpid()}:other", time.time(), live.batch_id),
        )
    assert env.batches.resume_interrupted("transport") == []  # another agency's deployment
    assert env.batches.progress(HR, gone.batch_id).state == "interrupted"
    assert env.batches.resume_interrupted("human-resources") == [gone.batch_id]
    env.batches.wait(gone.batch_id, 30)
    assert env.batches.progress(HR, gone.batch_id).done
    assert env.batches.progress(HR, gone.batch_id).issued == 3
    assert env.batches.progress(HR, live.batch_id).state == "running"  # not taken over
    assert env.batches.progress(HR, queued.batch_id).state == "queued"  # not interrupted
    assert env.batches.resume_interrupted() == []  # nothing left interrupted
    assert env.certificates() == 3


def test_stored_chunks_are_anchored_together(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    # Rows are stored 7 at a time (a crash costs at most 7), but anchored 14 at a time and
    # the rest at the end: 3 ledger transactions for 30 rows, not 5.
    sizes: list[int] = []
    anchor = env.ledger.anchor

    def counted(agency: str, entries: list[object]) -> object:
        sizes.append(len(entries))
        return anchor(agency, entries)

    monkeypatch.setattr(env.ledger, "anchor", counted)
    batches = env.service(chunk=7, anchor_rows=14)
    p = batches.submit(HR, "qualification-certificate", _csv(30))
    assert batches.run(p.batch_id).issued == 30
    assert sizes == [14, 14, 2]
    assert env.store.count_pending() == 0

    # A power cut after the third chunk is stored: its rows are linked and stored, the first
    # 14 anchored, the third chunk's 7 pending; the resumed run anchors them first, once.
    sizes.clear()
    crashed = {"chunks": 0}

    def power_cut(_rows: object) -> None:
        crashed["chunks"] += 1
        if crashed["chunks"] == 3:
            raise KeyboardInterrupt

    q = batches.submit(HR, "qualification-certificate", _csv(30, tag="乙"))
    monkeypatch.setattr(IssuanceService, "after_store", staticmethod(power_cut))
    with pytest.raises(KeyboardInterrupt):
        batches.run(q.batch_id)
    monkeypatch.setattr(IssuanceService, "after_store", None)
    assert sizes == [14] and env.store.count_pending() == 7
    assert env.service(chunk=7, anchor_rows=14).run(q.batch_id).issued == 30
    assert sizes == [14, 7, 9]  # the pending chunk first, then the 9 rows left
    assert env.certificates() == 60 and env.store.count_pending() == 0
    for r in batches.rows(HR, q.batch_id):
        assert r.cert_id is not None
        assert [h.status for h in env.ledger.inner.history(r.cert_id)] == ["active"]


def test_batch_key_identity_and_conflict(env: Env) -> None:
    one = env.batches.submit(HR, "qualification-certificate", _csv(2), batch_key="2026-03-a")
    same = env.batches.submit(HR, "qualification-certificate", _csv(2), batch_key="2026-03-a")
    assert one.batch_id == same.batch_id
    with pytest.raises(BatchKeyConflict) as err:
        env.batches.submit(HR, "qualification-certificate", _csv(3), batch_key="2026-03-a")
    assert err.value.zh and err.value.en and err.value.code == "KEY_REUSED"
    other = env.batches.submit(HR, "qualification-certificate", _csv(2), batch_key="2026-03-b")
    assert other.batch_id != one.batch_id
    # Without a key, the file is the identity.
    assert env.batches.submit(HR, "qualification-certificate", _csv(2)).batch_id not in (
        one.batch_id,
        other.batch_id,
    )


def test_agencies_see_only_their_own_batches(env: Env) -> None:
    p = env.batches.submit(HR, "qualification-certificate", _csv(2))
    env.batches.run(p.batch_id)
    for read in (
        env.batches.progress,
        env.batches.rows,
        env.batches.manifest_csv,
        lambda who, bid: list(env.batches.pdfs(who, bid)),
    ):
        with pytest.raises(BatchNotFound):
            read(TRANSPORT, p.batch_id)
        with pytest.raises(BatchNotFound):
            read(HR, "B" + "0" * 24)
    # The same file from another agency is another batch (and this type is not theirs).
    from certificates.errors import AgencyNotAllowed

    with pytest.raises(AgencyNotAllowed):
        env.batches.submit(TRANSPORT, "qualification-certificate", _csv(2))


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"", "header"),
        (b"\xff\xfe\x00garbage", "UTF-8"),
        (b"holder_name\n", "no data rows"),
        (b"a,b\n1,2,3\n", "more cells"),
        (b'a,b\n"1,2\n', "valid CSV"),
        (b"a,a\n1,2\n", "more than once"),
    ],
)
def test_a_file_that_is_not_a_usable_csv_is_refused_whole(
    env: Env, content: bytes, words: str
) -> None:
    with pytest.raises(BatchFileError) as err:
        env.batches.submit(HR, "qualification-certificate", content)
    assert words in err.value.en and err.value.zh and err.value.code == "BAD_CSV"
    assert env.certificates() == 0


def test_file_bounds(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    from certificates.issuance import batch_csv

    monkeypatch.setattr(batch_csv, "MAX_CSV_ROWS", 3)
    with pytest.raises(BatchFileError, match="Too many data rows"):
        env.batches.submit(HR, "qualification-certificate", _csv(4))
    monkeypatch.setattr(batch_csv, "MAX_CSV_BYTES", 10)
    with pytest.raises(BatchFileError, match="too large"):
        env.batches.submit(HR, "qualification-certificate", _csv(1))


def test_row_data_is_encrypted_and_forgotten_once_issued(env: Env) -> None:
    content = _csv(3, tag="欧阳")
    ids = [r[QC.holder_field] for r in csv.DictReader(io.StringIO(content.decode()))]
    p = env.batches.submit(HR, "qualification-certificate", content)
    raw = env.db.read_bytes() + (env.db.with_name("certificates.db-wal").read_bytes())
    assert "欧阳".encode() not in raw and not any(i.encode() in raw for i in ids)
    env.batches.run(p.batch_id)
    with sqlite3.connect(env.db) as db:
        assert db.execute("SELECT count(*) FROM batch_rows WHERE data != ''").fetchone()[0] == 0
        tokens = [t for (t,) in db.execute("SELECT token FROM batch_rows")]
    for r in env.batches.rows(HR, p.batch_id):
        assert r.verify_url is not None
        token = r.verify_url.split("t=")[1]
        assert token not in repr(r) and all(token not in t for t in tokens)


def test_reprs_hide_links() -> None:
    r = BatchRowResult(1, 2, "X", "https://v.example/v/X?t=secret-token", ())
    assert "secret-token" not in repr(r) and "secret-token" not in str(r)


def test_audit_records_submit_and_finish(env: Env) -> None:
    p = env.batches.submit(HR, "qualification-certificate", _csv(2, frozenset({1})))
    env.batches.run(p.batch_id)
    actions = [(e.event.action, e.event.result) for e in env.audit.entries()]
    assert ("batch-submit", "ok") in actions and ("batch-finish", "ok") in actions
    assert actions.count(("issue", "ok")) == 1


# -- idempotent single issuance ----------------------------------------------------------------


def test_same_key_same_request_returns_the_same_certificate(env: Env) -> None:
    data = distinct(QC.code, QC.example)
    first = env.issuance.issue_as(HR, "qualification-certificate", data, idempotency_key="req-1")
    again = env.issuance.issue_as(HR, "qualification-certificate", data, idempotency_key="req-1")
    assert (again.cert_id, again.verify_url, again.sealed_digest, again.pdf) == (
        first.cert_id,
        first.verify_url,
        first.sealed_digest,
        first.pdf,
    )
    assert again.anchored and again.tx_id == first.tx_id
    assert env.certificates() == 1
    # Without the key the same data is a second certificate for one holder: refused.
    with pytest.raises(AlreadyIssued) as dup:
        env.issuance.issue_as(HR, "qualification-certificate", data)
    assert dup.value.existing_id == first.cert_id
    env.issuance.issue_as(HR, "qualification-certificate", distinct(QC.code, QC.example))
    assert env.certificates() == 2


def test_same_key_other_request_is_refused(env: Env) -> None:
    data = distinct(QC.code, QC.example)
    env.issuance.issue_as(HR, "qualification-certificate", data, idempotency_key="req-2")
    changed = {**data, QC.holder_name_field: "李四"}
    with pytest.raises(IdempotencyRefused) as err:
        env.issuance.issue_as(HR, "qualification-certificate", changed, idempotency_key="req-2")
    assert err.value.code == "IDEMPOTENCY_KEY_REUSED" and err.value.zh and err.value.en
    assert env.certificates() == 1
    for bad in ("", "x" * 201, "has space", "中文"):
        with pytest.raises(IdempotencyRefused):
            env.issuance.issue_as(HR, "qualification-certificate", data, idempotency_key=bad)


def test_racing_requests_with_one_key_store_one_certificate(env: Env) -> None:
    data = distinct(QC.code, QC.example)
    barrier = threading.Barrier(4)
    results: list[str] = []

    def send() -> None:
        barrier.wait(timeout=5)
        issued = env.issuance.issue_as(
            HR, "qualification-certificate", data, idempotency_key="race"
        )
        results.append(issued.cert_id)

    threads = [threading.Thread(target=send) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(results) == 4 and len(set(results)) == 1
    assert env.certificates() == 1
