"""A renewal made by another conformant tool: DSS's own extension to PAdES-BASELINE-LTA (a
DSS revision and a document timestamp from the deployment's TSA, revocation data fetched from
the deployment's own responders) is accepted by DSS and by `certledger verify`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from signing import check_seal, load_trust_roots

from .conftest import InteropDeployment
from .test_dss_issued import LTA
from .validators import Validator

pytestmark = [pytest.mark.e2e, pytest.mark.tools, pytest.mark.timeout(900)]


def test_a_file_extended_by_dss_is_valid_for_dss_and_for_us(
    deployment: InteropDeployment, served: str, validator: Validator, tmp_path: Path
) -> None:
    originals = [i.pdf for i in deployment.issued]
    extended = validator.extend(originals, deployment.root, f"{served}/tsa", tmp_path)
    for original, path in zip(originals, extended, strict=True):
        assert path.read_bytes().startswith(original.read_bytes()), "not an incremental update"
    for result in validator.validate(extended, deployment.root):
        assert result.total_passed, result.summary()
        assert [s.level for s in result.signatures] == [LTA], result.summary()
        assert result.revocation_access_warnings() == [], result.summary()
    for path in extended:
        proc = deployment.deployment.cli("verify", "--json", str(path))
        report = json.loads(proc.stdout) if proc.stdout.strip() else {}
        assert proc.returncode == 0 and report.get("verdict") == "VALID", (
            f"{path.name}: certledger verify exited {proc.returncode}:\n"
            + _failed_checks(report)
            + proc.stderr
            + _seal_check(path, deployment.pki)
        )


def _failed_checks(report: dict[str, object]) -> str:
    checks = report.get("checks")
    if not isinstance(checks, list):
        return json.dumps(report, ensure_ascii=False)[:2000]
    return (
        "\n".join(
            f"  {c.get('code')} {c.get('verdict')}: {c.get('message')}"
            for c in checks
            if isinstance(c, dict) and c.get("verdict") != "PASSED"
        )
        + "\n"
    )


def _seal_check(path: Path, pki: Path) -> str:
    """The seal check's own reasons (the CLI's messages are the citizen-facing ones)."""
    report = check_seal(path.read_bytes(), load_trust_roots(pki / "trust-roots.pem"))
    outcomes = [report.intact, report.chain, report.timestamp, report.modification]
    return "seal check:\n" + "\n".join(f"  {o.status.name}: {o.reason}" for o in outcomes)
