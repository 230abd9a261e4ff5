"""The kept seal check of a stored certificate round-trips, and anything odd is a miss."""

from __future__ import annotations

from datetime import UTC, datetime

from certificates.verification.seal_cache import dump_seal_report, load_seal_report
from signing import Outcome, SealReport


def test_round_trip_keeps_what_the_verdict_needs() -> None:
    when = datetime(2026, 11, 28, 8, 30, tzinfo=UTC)
    seal = SealReport(
        seal_found=True,
        intact=Outcome.ok("digest matches"),
        chain=Outcome.failed("untrusted root"),
        timestamp=Outcome.indeterminate("no TSA"),
        modification=Outcome.ok("unchanged"),
        revocation=Outcome.ok("good"),
        timestamp_time=when,
        signed_at=when,
        signer_fingerprint="ab" * 32,
        sealed_digest="cd" * 32,
        document_info={"CertLedgerId": "X", "Title": "营业执照"},
    )
    back = load_seal_report(dump_seal_report(seal))
    assert back is not None
    for name in (
        "seal_found",
        "intact",
        "chain",
        "timestamp",
        "modification",
        "revocation",
        "timestamp_time",
        "signed_at",
        "signer_fingerprint",
        "sealed_digest",
    ):
        assert getattr(back, name) == getattr(seal, name), name
    assert dict(back.document_info) == dict(seal.document_info)
    assert back.signer_certificate is None  # certificate objects are not kept


def test_garbage_and_other_versions_are_misses() -> None:
    assert load_seal_report("not json") is None
    assert load_seal_report('{"v": 2}') is None
    assert load_seal_report('{"v": 1}') is None
    assert load_seal_report("[1, 2]") is None
