"""The end-to-end chain suite (tests/e2e/test_chain.py) run again, unchanged, against a
real server on the Fabric backend: same HTTP calls, same verdicts."""

from __future__ import annotations

from typing import Any

from tests.e2e.conftest import Server
from tests.e2e.test_chain import (  # noqa: F401 (collected here, with the fixtures below)
    check,
    test_added_annotation_is_invalid,
    test_agency_tokens,
    test_bad_uploads_are_400,
    test_certificate_from_a_foreign_root_is_not_valid,
    test_flipped_byte_is_invalid,
    test_incremental_update_with_visible_change_is_invalid,
    test_invalid_data_is_422_with_field_and_nothing_stored,
    test_oversized_upload_is_413,
    test_public_status_shows_no_personal_data,
    test_revoked_certificate_is_invalid_with_reason,
    test_truncated_certificate_is_400,
    test_unknown_id_is_404,
    verify,
)


def test_issued_certificate_verifies_valid_on_fabric(
    server: Server, issued: dict[str, Any]
) -> None:
    assert issued["status"] == "active"
    report = verify(server, issued["pdf"])
    assert report["verdict"] == "VALID", report
    assert all(c["verdict"] == "PASSED" for c in report["checks"])
    for code in ("LEDGER_ANCHORED", "SIGNER_IS_ISSUER", "NOT_REVOKED"):
        assert check(report, code)["verdict"] == "PASSED"
    assert report["ledger"]["backend"] == "fabric"
    assert report["ledger"]["block"] == issued["ledger"]["block"]
    assert report["ledger"]["tx_id"] == issued["ledger"]["tx_id"]
