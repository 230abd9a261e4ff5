"""Fixtures for the independent-validator tests: the validator program (built once, cached
outside the repository; a missing Java or Maven, or a failed build, fails these tests with
the reason), and real deployments whose certificates are issued by the real command line."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509

from tests.e2e.conftest import Deployment, example, make_deployment, start_server, stop_server

from .validators import Validator, ValidatorUnavailable, build

# `certledger` with its clock set to the first argument (tests/interop/frozen_cli.py).
FROZEN_CLI = [sys.executable, "-m", "tests.interop.frozen_cli"]


@pytest.fixture(scope="session")
def validator() -> Validator:
    try:
        return Validator(build())
    except ValidatorUnavailable as exc:
        pytest.fail(f"the independent validators are unavailable: {exc}")


@dataclass(frozen=True)
class Issued:
    type: str
    agency: str
    id: str
    pdf: Path


@dataclass
class InteropDeployment:
    """A deployment made by `certledger init`, with one certificate of every type."""

    deployment: Deployment
    issued: list[Issued]
    first_tsa_expiry: datetime

    @property
    def pki(self) -> Path:
        return self.deployment.home / "pki"

    @property
    def root(self) -> Path:
        return self.pki / "root-ca.pem"

    def tsa_expiry(self) -> datetime:
        """When the current TSA certificate expires (the new one after a rotation)."""
        return tsa_expiry(self.deployment.home / "pki")

    def cli_at(self, when: datetime, *args: str) -> Any:
        """`certledger ARGS --json` with the clock at ``when``; its JSON answer."""
        proc = self.deployment.cli(*args, program=[*FROZEN_CLI, when.isoformat()])
        assert proc.returncode == 0, f"certledger {' '.join(args)} at {when}:\n{proc.stderr}"
        return proc.stdout

    def stored_pdfs(self, out: Path) -> list[Issued]:
        """Each certificate's PDF as the deployment now stores it (after a renewal), fetched
        from a real server on the deployment's port."""
        out.mkdir(parents=True, exist_ok=True)
        server = start_server(self.deployment)
        try:
            fetched = []
            with httpx.Client(base_url=server.url, timeout=60) as client:
                for item in self.issued:
                    r = client.get(
                        f"/api/v1/certificates/{item.id}/pdf",
                        headers=self.deployment.auth(item.agency),
                    )
                    assert r.status_code == 200, r.text
                    path = out / item.pdf.name
                    path.write_bytes(r.content)
                    fetched.append(Issued(item.type, item.agency, item.id, path))
            return fetched
        finally:
            stop_server(server)


def tsa_expiry(pki: Path) -> datetime:
    cert = x509.load_pem_x509_certificate((pki / "tsa.pem").read_bytes())
    return cert.not_valid_after_utc


def issue_every_type(root: Path) -> InteropDeployment:
    """A new deployment and one certificate of every type in its catalogue, each issued with
    `certledger issue` (validate, render, seal at the default B-LTA, store, anchor)."""
    dep = make_deployment(root / "home")
    catalogue = json.loads(dep.cli("types", "--json", check=True).stdout)
    issued = []
    for entry in catalogue:
        code, agency = entry["code"], entry["agency"]
        data = root / f"{code}.json"
        data.write_text(json.dumps(example(catalogue, code), ensure_ascii=False), "utf-8")
        pdf = root / f"{code}.pdf"
        proc = dep.cli(
            "issue",
            "--agency",
            agency,
            "--type",
            code,
            "--data",
            str(data),
            "--out",
            str(pdf),
            "--json",
            check=True,
        )
        issued.append(Issued(code, agency, json.loads(proc.stdout)["id"], pdf))
    assert len(issued) >= 3, catalogue
    return InteropDeployment(dep, issued, tsa_expiry(dep.home / "pki"))


@pytest.fixture(scope="session")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> InteropDeployment:
    """Shared by the modules (a deployment costs a minute): its issued files on disk never
    change; a renewal changes only the stored copies, which a test fetches after its own."""
    return issue_every_type(tmp_path_factory.mktemp("interop"))


@pytest.fixture
def fresh_deployment(tmp_path: Path) -> InteropDeployment:
    """One for a test that changes it (renewal, TSA rotation)."""
    return issue_every_type(tmp_path)


@pytest.fixture(scope="module")
def served(deployment: InteropDeployment) -> Iterator[str]:
    """`certledger serve` on the deployment's port: its TSA, OCSP responders and CRLs are
    at the URLs its certificates name."""
    server = start_server(deployment.deployment)
    yield server.url
    stop_server(server)


@pytest.fixture(scope="session")
def rotated_and_renewed(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[InteropDeployment, list[Issued]]:
    """The operator's routine, 100 days before the first TSA certificate expires:
    `ltv rotate-tsa`, then `ltv renew` (which renews everything expiring within a year)."""
    tmp_path = tmp_path_factory.mktemp("rotated")
    dep = issue_every_type(tmp_path)
    when = dep.first_tsa_expiry - timedelta(days=100)
    dep.cli_at(when, "ltv", "rotate-tsa")
    renewal = json.loads(dep.cli_at(when + timedelta(minutes=5), "ltv", "renew", "--json"))
    assert sorted(renewal["renewed"]) == sorted(i.id for i in dep.issued), renewal
    return dep, dep.stored_pdfs(tmp_path / "renewed")
