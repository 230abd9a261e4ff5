"""Session fixtures for the signing tests: one PKI (plus a foreign one), a stamp font,
a test certificate PDF and a sealed copy of it. Everything is offline."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from signing_testkit import PASSPHRASE, SEAL_BOX, make_certificate_pdf

from signing import (
    AgencyIdentity,
    Pki,
    SealedDocument,
    Sealer,
    SealLevel,
    Secret,
    TimeStampAuthority,
    init_pki,
    load_pki,
)

DEFAULT_STAMP_FONT = Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc")

AGENCIES = (
    AgencyIdentity("BJ-EDU", "北京市教育委员会", "Beijing Municipal Education Commission"),
    AgencyIdentity(
        "SH-HRSS",
        "上海市人力资源和社会保障局",
        "Shanghai Municipal Human Resources and Social Security Bureau",
    ),
)


@pytest.fixture(scope="session")
def stamp_font() -> Path:
    font = Path(os.environ.get("CERTLEDGER_STAMP_FONT", DEFAULT_STAMP_FONT))
    if not font.is_file():
        pytest.fail(f"stamp font {font} missing (Debian package fonts-wqy-zenhei; make install)")
    return font


@pytest.fixture(scope="session")
def passphrase() -> Secret:
    return Secret(PASSPHRASE)


@pytest.fixture(scope="session")
def pki_dir(tmp_path_factory: pytest.TempPathFactory, passphrase: Secret) -> Path:
    path = tmp_path_factory.mktemp("pki") / "pki"
    init_pki(path, AGENCIES, passphrase)
    return path


@pytest.fixture(scope="session")
def pki(pki_dir: Path, passphrase: Secret) -> Pki:
    return load_pki(pki_dir, passphrase)


@pytest.fixture(scope="session")
def foreign_pki(tmp_path_factory: pytest.TempPathFactory, passphrase: Secret) -> Pki:
    """A second, unrelated PKI with an agency of the same name and code."""
    path = tmp_path_factory.mktemp("foreign") / "pki"
    init_pki(path, AGENCIES[:1], passphrase, org_name="Some Other PKI")
    return load_pki(path, passphrase)


@pytest.fixture(scope="session")
def tsa(pki: Pki) -> TimeStampAuthority:
    return TimeStampAuthority(pki.tsa)


@pytest.fixture(scope="session")
def sealer(pki: Pki, stamp_font: Path) -> Sealer:
    # B-T on purpose: the seal-check suites build LTV updates on top of a bare seal
    # themselves; B-LT/B-LTA sealing has its own suite (tests/ltv).
    return Sealer.from_pki(pki, "BJ-EDU", stamp_font, level=SealLevel.B_T)


@pytest.fixture(scope="session")
def certificate_pdf(stamp_font: Path) -> bytes:
    return make_certificate_pdf(stamp_font)


@pytest.fixture(scope="session")
def sealed(sealer: Sealer, certificate_pdf: bytes) -> SealedDocument:
    return sealer.seal(
        certificate_pdf, page=0, box=SEAL_BOX, reason="颁发学历证书", location="北京"
    )
