"""Issuance pipeline against the real embedded ledger and store; rendering and sealing are
replaced by a fake producer here (they have their own suites and run for real end to end)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest

from certificates.agencies import AGENCIES
from certificates.audit import AuditLog
from certificates.errors import AgencyNotAllowed, RevocationRefused
from certificates.holder_key import HolderKey
from certificates.issuance.production import Produced, ProduceJob
from certificates.issuance.service import BatchValidationError, IssuanceService
from certificates.notifications import Silent
from certificates.sharing.clients import Principal
from certificates.status import StatusChange, StatusService
from certificates.store.cipher import FieldCipher
from certificates.store.database import Store
from certificates.types import CERTIFICATE_TYPES, CertificateDataError
from ledger import AgencyRecord, EmbeddedLedger, LedgerUnavailable
from tests.distinct import distinct
from tests.ledger.ledger_helpers import make_node


@dataclass
class FakeProducer:
    produced: list[str] = field(default_factory=list)

    def produce(self, jobs: Sequence[ProduceJob]) -> Iterator[Produced]:
        for job in jobs:
            self.produced.append(job.cert_id)
            pdf = f"%PDF-fake {job.cert_id}".encode()
            yield Produced(job.cert_id, pdf, hashlib.sha256(pdf).hexdigest(), datetime.now(UTC))

    def close(self) -> None:
        pass


class FlakyLedger:
    """Wraps the real ledger; anchoring fails while `down` is set (an outage)."""

    def __init__(self, inner: EmbeddedLedger) -> None:
        self.inner = inner
        self.down = False
        self.backend = inner.backend

    def anchor(self, agency: str, entries: Sequence[object]) -> object:
        if self.down:
            raise LedgerUnavailable("simulated outage")
        return self.inner.anchor(agency, entries)  # type: ignore[arg-type]

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


def registered_ledger(path: Path) -> EmbeddedLedger:
    """An embedded ledger whose registry holds every agency with its types (one seal each)."""
    key, cert = make_node("test ledger node")
    registry = [
        AgencyRecord(
            a.code,
            a.msp_id,
            a.name_zh,
            a.name_en,
            tuple(t.code for t in CERTIFICATE_TYPES.values() if t.agency == a.code),
            ("aa" * 32,),
        )
        for a in AGENCIES.values()
    ]
    return EmbeddedLedger.create(path, node_key=key, node_cert=cert, registry=registry)


@pytest.fixture()
def env(tmp_path: Path) -> Iterator[tuple[IssuanceService, Store, FlakyLedger, FakeProducer, Path]]:
    ledger_path = tmp_path / "ledger.db"
    ledger = FlakyLedger(registered_ledger(ledger_path))
    store = Store.open(tmp_path / "certificates.db", create=True)
    store.use_cipher(FieldCipher(b"d" * 32))  # personal data is only ever stored encrypted
    producer = FakeProducer()
    service = IssuanceService(
        store=store,
        ledger=ledger,
        producer=producer,  # type: ignore[arg-type]
        holder_key=HolderKey(b"k" * 32),
        base_url="https://verify.example",
    )
    yield service, store, ledger, producer, ledger_path
    store.close()
    ledger.inner.close()


def _qc(name: str = "李四") -> dict[str, str]:
    data = distinct(
        "qualification-certificate", CERTIFICATE_TYPES["qualification-certificate"].example
    )
    data[CERTIFICATE_TYPES["qualification-certificate"].holder_name_field] = name
    return data


def test_batch_is_one_ledger_transaction_with_inclusion_proofs(env) -> None:  # type: ignore[no-untyped-def]
    service, store, ledger, _p, _ = env
    issued = service.issue_batch(
        "human-resources", "qualification-certificate", [_qc() for _ in range(25)]
    )
    assert len(issued) == 25 and all(i.anchored for i in issued)
    assert len({i.tx_id for i in issued}) == 1  # batched: one transaction for all
    for i in issued:
        row = store.get(i.cert_id)
        assert row is not None and row.state == "anchored"
        proof = json.loads(row.proof_json or "{}")
        assert proof["block_number"] == i.block
        assert ledger.get(i.cert_id).digest == i.sealed_digest
    assert ledger.verify_chain().ok


def test_outage_leaves_pending_then_anchors_exactly_once(env) -> None:  # type: ignore[no-untyped-def]
    service, store, ledger, _p, _ = env
    ledger.down = True
    issued = service.issue("human-resources", "qualification-certificate", _qc())
    assert not issued.anchored
    assert store.get(issued.cert_id).state == "pending"
    ledger.down = False
    assert service.anchor_pending() == 1
    assert service.anchor_pending() == 0
    history = ledger.history(issued.cert_id)
    assert [h.status for h in history] == ["active"]
    assert store.get(issued.cert_id).state == "anchored"


def test_re_anchoring_an_anchored_certificate_is_a_no_op(env) -> None:  # type: ignore[no-untyped-def]
    service, store, ledger, _p, _ = env
    issued = service.issue("human-resources", "qualification-certificate", _qc())
    row = store.get(issued.cert_id)
    assert row is not None
    # As after a crash between the ledger commit and the store update: send it again.
    receipts = service._anchor_rows([row])
    assert receipts[issued.cert_id].status == "already-anchored"
    assert receipts[issued.cert_id].tx_id == issued.tx_id
    assert len(ledger.history(issued.cert_id)) == 1


def test_invalid_row_means_nothing_is_issued(env) -> None:  # type: ignore[no-untyped-def]
    service, store, _l, producer, _ = env
    bad = _qc()
    id_field = CERTIFICATE_TYPES["qualification-certificate"].holder_field
    bad[id_field] = "11010119900307001X"
    with pytest.raises(BatchValidationError) as err:
        service.issue_batch("human-resources", "qualification-certificate", [_qc(), bad, _qc()])
    assert err.value.rows[0].row == 2
    assert producer.produced == [] and store.pending() == []
    with pytest.raises(CertificateDataError):
        service.issue("human-resources", "qualification-certificate", {})


def test_agency_may_issue_only_its_types(env) -> None:  # type: ignore[no-untyped-def]
    service, *_ = env
    with pytest.raises(AgencyNotAllowed):
        service.issue("transport", "qualification-certificate", _qc())
    with pytest.raises(AgencyNotAllowed):
        service.issue("human-resources", "no-such-type", _qc())


def test_no_personal_data_reaches_the_ledger(env) -> None:  # type: ignore[no-untyped-def]
    service, _s, ledger, _p, ledger_path = env
    data = _qc("欧阳䶮")
    id_value = data[CERTIFICATE_TYPES["qualification-certificate"].holder_field]
    service.issue("human-resources", "qualification-certificate", data)
    ledger.inner.close()
    raw = b"".join(p.read_bytes() for p in ledger_path.parent.glob("ledger.db*"))
    for secret in (id_value, "欧阳䶮", "䶮"):
        assert secret.encode() not in raw
        assert secret.encode("utf-16-le") not in raw


def test_revocation_needs_a_reason_and_the_issuer(env) -> None:  # type: ignore[no-untyped-def]
    service, store, ledger, _p, _ = env
    statuses = StatusService(store=store, ledger=ledger, audit=AuditLog(store), notifier=Silent())
    hr, transport = Principal.operator("human-resources"), Principal.operator("transport")
    issued = service.issue("human-resources", "qualification-certificate", _qc())
    with pytest.raises(RevocationRefused):
        statuses.change(hr, issued.cert_id, StatusChange.REVOKE, "   ")
    with pytest.raises(RevocationRefused):
        statuses.change(transport, issued.cert_id, StatusChange.REVOKE, "not mine")
    statuses.change(hr, issued.cert_id, StatusChange.REVOKE, "fraud")
    assert ledger.get(issued.cert_id).status == "revoked"
    assert store.get(issued.cert_id).status == "revoked"
    with pytest.raises(RevocationRefused):
        statuses.change(hr, issued.cert_id, StatusChange.REVOKE, "again")


def test_reprs_hide_personal_data_and_tokens(env) -> None:  # type: ignore[no-untyped-def]
    service, store, *_ = env
    issued = service.issue("human-resources", "qualification-certificate", _qc("王五"))
    token = issued.verify_url.split("t=")[1]
    assert token not in repr(issued)
    row = store.get(issued.cert_id)
    assert "王五" not in repr(row) and token not in repr(row)
    assert "k" * 32 not in repr(HolderKey(b"k" * 32))
