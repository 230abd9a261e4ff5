"""veraPDF, the PDF Association's PDF/A validator: every certificate type is PDF/A-2b, as
issued and after renewal (sealing, B-LTA and renewal keep it PDF/A-2b)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import InteropDeployment, Issued
from .validators import Validator

pytestmark = [pytest.mark.e2e, pytest.mark.tools, pytest.mark.timeout(900)]


def assert_pdfa_2b(validator: Validator, files: list[Issued]) -> None:
    results = validator.pdfa([i.pdf for i in files], "2b")
    failures = [
        f"{item.type}: {result.summary()}"
        for item, result in zip(files, results, strict=True)
        if result.error is not None or result.failed_rules or not result.compliant
    ]
    assert not failures, "\n".join(failures)


def test_every_type_as_issued(deployment: InteropDeployment, validator: Validator) -> None:
    assert_pdfa_2b(validator, deployment.issued)


def test_every_type_after_renewal(
    deployment: InteropDeployment, validator: Validator, tmp_path: Path
) -> None:
    renewal = json.loads(
        deployment.deployment.cli(
            "ltv", "renew", "--within-days", "5000", "--json", check=True
        ).stdout
    )
    assert sorted(renewal["renewed"]) == sorted(i.id for i in deployment.issued), renewal
    assert_pdfa_2b(validator, deployment.stored_pdfs(tmp_path / "renewed"))
