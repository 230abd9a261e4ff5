"""EU DSS 6.4, the reference PAdES validator, offline with the deployment's root as its only
trust anchor: every certificate type as issued is PAdES-BASELINE-LTA and TOTAL_PASSED, with
no warning about missing revocation access; so is every renewed file, also after a TSA
rotation and long after the first TSA certificate has expired."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from .conftest import InteropDeployment, Issued
from .validators import DssResult, Validator

pytestmark = [pytest.mark.e2e, pytest.mark.tools, pytest.mark.timeout(900)]

LTA = "PAdES_BASELINE_LTA"


def assert_lta_total_passed(issued: list[Issued], results: list[DssResult]) -> None:
    assert [r.file for r in results] == [str(i.pdf) for i in issued]
    for item, result in zip(issued, results, strict=True):
        what = f"{item.type}:\n{result.summary()}"
        assert result.error is None, what
        assert len(result.signatures) == 1, what
        seal = result.signatures[0]
        assert seal.level == LTA, what
        assert seal.indication == "TOTAL_PASSED", what
        assert result.revocation_access_warnings() == [], what


def document_timestamps(result: DssResult) -> int:
    return sum(t.type == "DOCUMENT_TIMESTAMP" for s in result.signatures for t in s.timestamps)


def test_every_type_as_issued(deployment: InteropDeployment, validator: Validator) -> None:
    results = validator.validate([i.pdf for i in deployment.issued], deployment.root)
    assert_lta_total_passed(deployment.issued, results)


def test_every_type_after_ltv_renew(
    deployment: InteropDeployment, validator: Validator, tmp_path: Path
) -> None:
    # The issued files on disk stay as they were: the renewal changes the stored copies.
    dep = deployment
    renewal = json.loads(
        dep.deployment.cli("ltv", "renew", "--within-days", "5000", "--json", check=True).stdout
    )
    assert sorted(renewal["renewed"]) == sorted(i.id for i in dep.issued), renewal
    renewed = dep.stored_pdfs(tmp_path / "renewed")
    results = validator.validate([i.pdf for i in [*dep.issued, *renewed]], dep.root)
    before, after = results[: len(renewed)], results[len(renewed) :]
    assert_lta_total_passed(renewed, after)
    for old, new in zip(before, after, strict=True):
        assert document_timestamps(new) > document_timestamps(old), new.summary()


def test_every_type_after_tsa_rotation_and_renewal(
    rotated_and_renewed: tuple[InteropDeployment, list[Issued]], validator: Validator
) -> None:
    dep, renewed = rotated_and_renewed
    at = dep.first_tsa_expiry - timedelta(days=99)  # a day after the renewal
    results = validator.validate([i.pdf for i in renewed], dep.root, at=at)
    assert_lta_total_passed(renewed, results)


def test_every_type_after_tsa_rotation_and_renewal_today(
    fresh_deployment: InteropDeployment, validator: Validator, tmp_path: Path
) -> None:
    """The same routine at once, the day the certificates were issued."""
    dep = fresh_deployment
    dep.deployment.cli("ltv", "rotate-tsa", check=True)
    renewal = json.loads(
        dep.deployment.cli("ltv", "renew", "--within-days", "5000", "--json", check=True).stdout
    )
    assert sorted(renewal["renewed"]) == sorted(i.id for i in dep.issued), renewal
    renewed = dep.stored_pdfs(tmp_path / "renewed")
    assert_lta_total_passed(renewed, validator.validate([i.pdf for i in renewed], dep.root))


def test_a_renewed_file_two_years_after_the_first_tsa_certificate_expired(
    rotated_and_renewed: tuple[InteropDeployment, list[Issued]], validator: Validator
) -> None:
    dep, renewed = rotated_and_renewed
    at = dep.first_tsa_expiry + timedelta(days=2 * 365)
    assert at < dep.tsa_expiry()  # the renewal's TSA certificate is still valid then
    results = validator.validate([i.pdf for i in renewed], dep.root, at=at)
    assert_lta_total_passed(renewed, results)
