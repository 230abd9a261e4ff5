"""Event sync and receipt checks without a network: the rules, with a real store and a
scripted event source (the real Fabric stream is tested in tests/fabric/test_fabric_event_sync.py
and tests/fabric/test_fabric_receipts.py)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pytest

from certificates.status.sync import LedgerSync
from certificates.store.database import CertificateRow, Store
from certificates.store.ledger_sync import (
    StoredReceipt,
    load_checkpoint,
    receipt,
    save_checkpoint,
)
from certificates.verification.report import CheckCode, CheckStatus, Verdict
from certificates.verification.verifier import Verifier
from ledger import LedgerUnavailable
from ledger.fabric._events import typed_event
from ledger.interface import ChainEvent, EventCheckpoint, EventKind, ReceiptCheck
from tests.certificates.test_verification import CID, NOW, FakeLedger, record, seal


def ev(block: int, index: int, name: str, payload: bytes) -> ChainEvent:
    return typed_event(block, index, f"tx{block}.{index}", name, payload)


def revoked(block: int, index: int, cert_id: str = CID) -> ChainEvent:
    return ev(block, index, "revoked", b'{"cert_id":"%s","status":"revoked"}' % cert_id.encode())


@dataclass
class Stream:
    events: list[ChainEvent]
    break_after: int | None = None
    cancelled: bool = False

    def __iter__(self) -> Iterator[ChainEvent]:
        for n, e in enumerate(self.events):
            if self.break_after is not None and n == self.break_after:
                raise LedgerUnavailable("stream broke")
            yield e

    def cancel(self) -> None:
        self.cancelled = True


@dataclass
class Source:
    """The ledger's events in order; ``break_after`` breaks the first stream after n events."""

    events: list[ChainEvent]
    break_after: int | None = None
    opened: list[EventCheckpoint | None] = field(default_factory=list)

    def event_stream(self, after: EventCheckpoint | None) -> Stream:
        self.opened.append(after)
        todo = [e for e in self.events if after is None or e.checkpoint > after]
        stream = Stream(todo, self.break_after)
        self.break_after = None
        return stream


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(tmp_path / "certificates.db", create=True)
    with s.session() as session:
        session.add(
            CertificateRow(
                id=CID,
                cert_type="business-licence",
                agency="market-regulation",
                state="anchored",
                subject="X",
                holder_digest="ef" * 32,
                data_json="{}",
                token_digest="00",
                sealed_digest="cd" * 32,
                pdf=b"%PDF",
                issued_at=NOW,
                valid_from=date(2026, 1, 1),
                anchored_tx="tx",
                anchored_block=3,
                anchored_at=NOW,
                proof_json='{"data_hash": "' + "aa" * 32 + '"}',
            )
        )
        session.commit()
    try:
        yield s
    finally:
        s.close()


def make_sync(store: Store, source: Source, ledger: FakeLedger, seen: list[str]) -> LedgerSync:
    return LedgerSync(store=store, ledger=ledger, source=source, name="t", listeners=[seen.append])  # type: ignore[arg-type]


def test_typed_events() -> None:
    a = ev(1, 0, "anchored", b'{"agency":"transport","cert_ids":["A","B"]}')
    assert a.kind is EventKind.ANCHORED and a.cert_ids == ("A", "B") and a.agency == "transport"
    assert revoked(2, 1).kind is EventKind.STATUS_CHANGED and revoked(2, 1).status == "revoked"
    batch = ev(3, 0, "revoked_batch", b'{"cert_ids":["A"],"status":"revoked"}')
    assert batch.kind is EventKind.REVOKED_BATCH and batch.cert_ids == ("A",)
    assert ev(4, 0, "registry", b'{"revision":2}').kind is EventKind.REGISTRY_CHANGED
    assert ev(5, 0, "audit-head", b"{}").kind is EventKind.OTHER
    # A payload that does not parse is never raised: the follower goes on.
    assert ev(6, 0, "revoked", b"not json").kind is EventKind.OTHER


def test_event_updates_store_drops_caches_and_records_checkpoint(store: Store) -> None:
    ledger = FakeLedger({CID: record(status="revoked", reason="withdrawn")})
    seen: list[str] = []
    sync = make_sync(store, Source([revoked(7, 2)]), ledger, seen)
    sync.run_once()
    view = store.public_view(CID)
    assert view is not None and (view.status, view.status_reason) == ("revoked", "withdrawn")
    assert seen == [CID]
    assert load_checkpoint(store, "t") == EventCheckpoint(7, 2)


def test_broken_stream_resumes_after_the_checkpoint_no_gap_no_double(store: Store) -> None:
    events = [revoked(5, 0), revoked(5, 1, "X-1"), revoked(6, 0, "X-2"), revoked(8, 3, "X-3")]
    source = Source(events, break_after=2)
    seen: list[str] = []
    sync = make_sync(store, source, FakeLedger({CID: record(status="revoked")}), seen)
    with pytest.raises(LedgerUnavailable):
        sync.run_once()
    assert load_checkpoint(store, "t") == EventCheckpoint(5, 1)
    sync.run_once()
    assert source.opened == [None, EventCheckpoint(5, 1)]
    assert seen == [CID, "X-1", "X-2", "X-3"]  # each once, in order
    # A new follower (a restart) starts after the last one: nothing again.
    again: list[str] = []
    make_sync(store, source, FakeLedger(), again).run_once()
    assert again == [] and source.opened[-1] == EventCheckpoint(8, 3)


def test_unreadable_ledger_leaves_the_event_to_be_applied_again(store: Store) -> None:
    ledger = FakeLedger({CID: record(status="revoked")}, down=True)
    sync = make_sync(store, Source([revoked(9, 0)]), ledger, [])
    with pytest.raises(LedgerUnavailable):
        sync.run_once()
    assert load_checkpoint(store, "t") is None


def test_checkpoint_never_moves_back(store: Store) -> None:
    save_checkpoint(store, "t", EventCheckpoint(10, 4))
    save_checkpoint(store, "t", EventCheckpoint(10, 1))
    save_checkpoint(store, "t", EventCheckpoint(3, 9))
    assert load_checkpoint(store, "t") == EventCheckpoint(10, 4)
    save_checkpoint(store, "t", EventCheckpoint(11, 0))
    assert load_checkpoint(store, "t") == EventCheckpoint(11, 0)


def test_stored_receipt(store: Store) -> None:
    assert receipt(store, CID) == StoredReceipt("tx", 3, "aa" * 32)
    assert receipt(store, "nope") is None


@dataclass
class ReceiptLedger(FakeLedger):
    answer: ReceiptCheck | None = None
    asked: list[tuple[str, int, str | None]] = field(default_factory=list)

    def check_receipt(self, tx_id: str, block: int, data_hash: str | None) -> ReceiptCheck:
        self.asked.append((tx_id, block, data_hash))
        if self.answer is None:
            raise LedgerUnavailable("peer down")
        return self.answer


def receipt_verifier(ledger: ReceiptLedger, stored: StoredReceipt | None) -> Verifier:
    return Verifier(
        trust_roots=(),
        ledger=ledger,  # type: ignore[arg-type]
        clock=lambda: NOW,
        receipt_of=lambda _id: stored,
    )


def test_confirmed_receipt_passes_and_is_shown() -> None:
    ledger = ReceiptLedger({CID: record()}, answer=ReceiptCheck(True, "ok", "bb" * 32))
    report = receipt_verifier(ledger, StoredReceipt("tx", 3, "bb" * 32)).report_for(seal())
    assert report.verdict is Verdict.VALID
    assert ledger.asked == [("tx", 3, "bb" * 32)]
    body = report.to_json()["ledger"]["receipt"]
    assert body == {
        "tx_id": "tx",
        "block": 3,
        "data_hash": "bb" * 32,
        "verdict": "PASSED",
        "reason": "ok",
    }


def test_contradicted_receipt_is_invalid() -> None:
    ledger = ReceiptLedger({CID: record()}, answer=ReceiptCheck(False, "no", ""))
    report = receipt_verifier(ledger, StoredReceipt("tx", 4, "bb" * 32)).report_for(seal())
    assert report.verdict is Verdict.INVALID
    anchored = report.check(CheckCode.LEDGER_ANCHORED)
    assert anchored is not None and anchored.status is CheckStatus.FAILED
    assert "receipt" in anchored.message.en


def test_receipt_of_another_transaction_is_invalid_without_asking() -> None:
    ledger = ReceiptLedger({CID: record()}, answer=ReceiptCheck(True, "ok", ""))
    report = receipt_verifier(ledger, StoredReceipt("other-tx", 3, None)).report_for(seal())
    assert report.verdict is Verdict.INVALID and ledger.asked == []


def test_unreachable_peer_makes_the_ledger_checks_indeterminate() -> None:
    ledger = ReceiptLedger({CID: record()}, answer=None)
    report = receipt_verifier(ledger, None).report_for(seal())
    assert report.verdict is Verdict.INDETERMINATE
    assert ledger.asked == [("tx", 3, None)]  # not stored here: the record's own tx and block
    assert all(
        c.status is CheckStatus.INDETERMINATE
        for c in report.checks
        if c.code in {CheckCode.LEDGER_ANCHORED, CheckCode.NOT_REVOKED}
    )


def test_a_ledger_without_receipts_is_not_asked() -> None:
    plain = Verifier(trust_roots=(), ledger=FakeLedger({CID: record()}), clock=lambda: NOW)  # type: ignore[arg-type]
    assert "receipt" not in plain.report_for(seal()).to_json()["ledger"]
