"""Verification pipeline, with seal reports and ledgers as fakes (the seal check and the ledger
have their own suites); what is tested here is how checks combine into one verdict."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime

import pytest

from certificates.ids import CertificateId
from certificates.verification.report import CheckCode, CheckStatus, Verdict, combine
from certificates.verification.verifier import Verifier
from ledger import AgencyRecord, LedgerRecord, LedgerUnavailable
from signing import Outcome, SealReport

CID = str(CertificateId.make("BL", "market-regulation", 2026, 7))
FP = "ab" * 32
DIGEST = "cd" * 32
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def seal(**changes: object) -> SealReport:
    base = SealReport(
        seal_found=True,
        intact=Outcome.ok("ok"),
        chain=Outcome.ok("ok"),
        timestamp=Outcome.ok("ok"),
        modification=Outcome.ok("ok"),
        signer_fingerprint=FP,
        sealed_digest=DIGEST,
        document_info={"CertLedgerId": CID},
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def record(**changes: object) -> LedgerRecord:
    base = LedgerRecord(
        cert_id=CID,
        agency="market-regulation",
        cert_type="business-licence",
        digest=DIGEST,
        holder_digest="ef" * 32,
        valid_from=date(2026, 1, 1),
        valid_until=date(2030, 1, 1),
        status="active",  # type: ignore[arg-type]
        reason=None,
        anchored_tx="tx",
        anchored_block=3,
        anchored_at=NOW,
        updated_at=NOW,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


@dataclass
class FakeLedger:
    records: dict[str, LedgerRecord] = field(default_factory=dict)
    down: bool = False
    backend: str = "fake"

    def get(self, cert_id: str) -> LedgerRecord | None:
        if self.down:
            raise LedgerUnavailable("ledger file missing")
        return self.records.get(cert_id)

    def registry(self) -> list[AgencyRecord]:
        if self.down:
            raise LedgerUnavailable("ledger file missing")
        return [
            AgencyRecord(
                "market-regulation",
                "MarketRegulationMSP",
                "市场监督管理局",
                "Market",
                ("business-licence",),
                (FP,),
            )
        ]


def verifier(ledger: FakeLedger, pending: bool = False) -> Verifier:
    return Verifier(
        trust_roots=(),
        ledger=ledger,
        is_pending=lambda _id: pending,  # type: ignore[arg-type]
        clock=lambda: NOW,
    )


def status_of(report_checks: object, code: CheckCode) -> CheckStatus:
    return next(c.status for c in report_checks if c.code is code)  # type: ignore[attr-defined]


def test_all_passed_is_valid() -> None:
    report = verifier(FakeLedger({CID: record()})).report_for(seal())
    assert report.verdict is Verdict.VALID
    assert report.certificate is not None and report.certificate.id == CID
    assert report.ledger.block == 3


def test_no_checks_is_never_valid() -> None:
    assert combine(()) is Verdict.INDETERMINATE


@pytest.mark.parametrize("field_name", ["intact", "chain", "timestamp", "modification"])
def test_any_failed_seal_check_is_invalid(field_name: str) -> None:
    report = verifier(FakeLedger({CID: record()})).report_for(
        seal(**{field_name: Outcome.failed("x")})
    )
    assert report.verdict is Verdict.INVALID


@pytest.mark.parametrize("field_name", ["intact", "chain", "timestamp", "modification"])
def test_undecided_seal_check_is_indeterminate(field_name: str) -> None:
    report = verifier(FakeLedger({CID: record()})).report_for(
        seal(**{field_name: Outcome.indeterminate("x")})
    )
    assert report.verdict is Verdict.INDETERMINATE


def test_no_seal_is_invalid() -> None:
    assert verifier(FakeLedger()).report_for(seal(seal_found=False)).verdict is Verdict.INVALID


def test_missing_or_malformed_id_is_invalid() -> None:
    for info in ({}, {"CertLedgerId": "BL-MR-2026-00000007-01-0"}, {"CertLedgerId": "x"}):
        report = verifier(FakeLedger({CID: record()})).report_for(seal(document_info=info))
        if info.get("CertLedgerId") == CID:
            continue
        assert report.verdict is Verdict.INVALID
        assert status_of(report.checks, CheckCode.CERTIFICATE_ID) is CheckStatus.FAILED


def test_unreachable_ledger_is_indeterminate_never_valid() -> None:
    report = verifier(FakeLedger({CID: record()}, down=True)).report_for(seal())
    assert report.verdict is Verdict.INDETERMINATE
    for code in (CheckCode.LEDGER_ANCHORED, CheckCode.SIGNER_IS_ISSUER, CheckCode.NOT_REVOKED):
        assert status_of(report.checks, code) is CheckStatus.INDETERMINATE


def test_not_on_ledger_is_invalid_but_pending_is_indeterminate() -> None:
    assert verifier(FakeLedger()).report_for(seal()).verdict is Verdict.INVALID
    assert verifier(FakeLedger(), pending=True).report_for(seal()).verdict is Verdict.INDETERMINATE


def test_digest_mismatch_is_invalid() -> None:
    report = verifier(FakeLedger({CID: record(digest="00" * 32)})).report_for(seal())
    assert status_of(report.checks, CheckCode.LEDGER_ANCHORED) is CheckStatus.FAILED
    assert report.verdict is Verdict.INVALID


def test_signer_not_registered_for_the_issuer_is_invalid() -> None:
    report = verifier(FakeLedger({CID: record()})).report_for(seal(signer_fingerprint="99" * 32))
    assert status_of(report.checks, CheckCode.SIGNER_IS_ISSUER) is CheckStatus.FAILED
    other_agency = verifier(FakeLedger({CID: record(agency="transport")})).report_for(seal())
    assert status_of(other_agency.checks, CheckCode.SIGNER_IS_ISSUER) is CheckStatus.FAILED


@pytest.mark.parametrize("status", ["revoked", "suspended"])
def test_revoked_or_suspended_is_invalid_with_reason(status: str) -> None:
    report = verifier(FakeLedger({CID: record(status=status, reason="吊销 withdrawn")})).report_for(
        seal()
    )
    assert report.verdict is Verdict.INVALID
    chk = report.check(CheckCode.NOT_REVOKED)
    assert chk is not None and "withdrawn" in chk.message.en and "吊销" in chk.message.zh


def test_expiry() -> None:
    expired = verifier(FakeLedger({CID: record(valid_until=date(2026, 11, 27))})).report_for(seal())
    assert status_of(expired.checks, CheckCode.NOT_EXPIRED) is CheckStatus.FAILED
    last_day = verifier(FakeLedger({CID: record(valid_until=date(2026, 11, 28))})).report_for(
        seal()
    )
    assert last_day.verdict is Verdict.VALID
    not_yet = verifier(FakeLedger({CID: record(valid_from=date(2026, 12, 1))})).report_for(seal())
    assert status_of(not_yet.checks, CheckCode.NOT_EXPIRED) is CheckStatus.FAILED
    long_term = verifier(FakeLedger({CID: record(valid_until=None)})).report_for(seal())
    assert long_term.verdict is Verdict.VALID


def test_report_json_shape() -> None:
    body = verifier(FakeLedger({CID: record()})).report_for(seal()).to_json()
    assert set(body) >= {"verdict", "certificate", "checks", "ledger"}
    assert set(body["certificate"]) >= {
        "id",
        "type",
        "issuer",
        "issued_at",
        "valid_until",
        "status",
    }
    assert set(body["ledger"]) == {"backend", "block", "tx_id", "anchored_at"}
    for c in body["checks"]:
        assert set(c) == {"code", "verdict", "message"} and set(c["message"]) == {"zh", "en"}


def test_facts_handed_in_describe_only_the_certificate_the_seal_names() -> None:
    v = Verifier(
        trust_roots=(),
        ledger=FakeLedger({CID: record()}),  # type: ignore[arg-type]
        describe=lambda _id: ("store-read", NOW),
        clock=lambda: NOW,
    )
    same = v.report_for(seal(), described=(CID, "handed-in", NOW))
    assert same.certificate is not None and same.certificate.subject == "handed-in"
    # Facts for another id (a stored copy naming another certificate) are not used.
    other = v.report_for(seal(), described=("ZZ-OTHER", "handed-in", NOW))
    assert other.certificate is not None and other.certificate.subject == "store-read"
