"""Seal keys in a PKCS#11 token, for real: SoftHSM2 (Debian package softhsm2) holds the key,
pyHanko's PKCS#11 signer seals, and the seal verifies at B-LTA like a file-key seal."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from signing import (
    InProcessRevocationSource,
    InProcessTimeStamper,
    Pki,
    Sealer,
    SealLevel,
    Secret,
    SigningError,
    TimeStampAuthority,
    check_seal,
)
from signing.hsm import HsmSealIdentity, Pkcs11Key, generate_token_key
from signing.pki_admin import certify_seal_key
from signing.revocation import fingerprint
from signing.token_signer import open_token_signer

from .conftest import FONT, PASSPHRASE, SEAL_BOX, require_tool

pytestmark = pytest.mark.tools

MODULE = Path("/usr/lib/softhsm/libsofthsm2.so")
TOKEN = "certledger-test"
USER_PIN = "hsm-user-pin-4711"


@pytest.fixture(scope="module")
def token(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    util = require_tool("softhsm2-util")
    if not MODULE.is_file():
        pytest.fail(f"{MODULE} missing (Debian package softhsm2; make install)")
    root = tmp_path_factory.mktemp("softhsm")
    (root / "tokens").mkdir()
    conf = root / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {root / 'tokens'}\nobjectstore.backend = file\n")
    old = os.environ.get("SOFTHSM2_CONF")
    # SoftHSM reads its configuration when the module is initialised (once per process).
    os.environ["SOFTHSM2_CONF"] = str(conf)
    subprocess.run(
        [
            util,
            "--init-token",
            "--free",
            "--label",
            TOKEN,
            "--pin",
            USER_PIN,
            "--so-pin",
            "hsm-so-pin-0815",
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    yield conf
    if old is None:
        os.environ.pop("SOFTHSM2_CONF", None)
    else:
        os.environ["SOFTHSM2_CONF"] = old


def test_sealing_with_a_key_in_softhsm(token: Path, pki: Pki, certificate_pdf: bytes) -> None:
    key = Pkcs11Key(MODULE, TOKEN, "BJ-EDU-seal-1", Secret(USER_PIN))
    assert USER_PIN not in repr(key)
    public = generate_token_key(key)
    cert = certify_seal_key(pki.pki_dir, Secret(PASSPHRASE), "BJ-EDU", public)
    identity = HsmSealIdentity("BJ-EDU", cert, (pki.issuing_ca, pki.root))
    signer, close = open_token_signer(key, identity)
    try:
        sealer = Sealer(
            identity,
            InProcessTimeStamper(TimeStampAuthority(pki.tsa)),
            stamp_font=FONT,
            level=SealLevel.B_LTA,
            revocation=InProcessRevocationSource.from_pki(pki),
            signer=signer,
        )
        sealed = sealer.seal(certificate_pdf, page=0, box=SEAL_BOX, reason="r", location="l")
    finally:
        close()
    report = check_seal(sealed.pdf, pki.trust_roots)
    assert report.long_term_passed, report
    assert report.signer_fingerprint == fingerprint(cert)
    assert report.sealed_digest == sealed.sealed_digest


def test_the_token_key_cannot_be_exported(token: Path) -> None:
    import pkcs11

    key = Pkcs11Key(MODULE, TOKEN, "BJ-EDU-seal-2", Secret(USER_PIN))
    generate_token_key(key)
    lib = pkcs11.lib(str(MODULE))
    with lib.get_token(token_label=TOKEN).open(user_pin=USER_PIN) as session:
        private = session.get_key(
            object_class=pkcs11.ObjectClass.PRIVATE_KEY, label="BJ-EDU-seal-2"
        )
        assert private[pkcs11.Attribute.SENSITIVE] is True
        assert private[pkcs11.Attribute.EXTRACTABLE] is False
    with pytest.raises(SigningError, match="already holds a key"):
        generate_token_key(key)


def test_a_wrong_pin_is_refused_without_echoing_it(token: Path) -> None:
    wrong = "not-the-pin-9999"
    key = Pkcs11Key(MODULE, TOKEN, "x", Secret(wrong))
    with pytest.raises(SigningError) as refused:
        generate_token_key(key)
    assert wrong not in str(refused.value)
    assert "PinIncorrect" in str(refused.value)


@pytest.mark.e2e
def test_deployment_seals_with_an_enrolled_token_key(token: Path, tmp_path: Path) -> None:
    import json

    from signing import read_seal_facts
    from tests.e2e.conftest import example, make_deployment

    dep = make_deployment(tmp_path / "home")
    env = {"SOFTHSM2_CONF": str(token), "CERTLEDGER_HSM_PIN": USER_PIN}
    catalogue = json.loads(dep.cli("types", "--json", check=True).stdout)
    data = tmp_path / "permit.json"
    data.write_text(json.dumps(example(catalogue, "road-transport-permit")), "utf-8")

    def issue(name: str) -> Path:
        out = tmp_path / name
        # Another permit each time (one active permit per licence number).
        data.write_text(json.dumps(example(catalogue, "road-transport-permit")), "utf-8")
        proc = dep.issue_permit(data, out, extra_env=env)
        assert proc.returncode == 0, proc.stderr
        return out

    before = issue("before.pdf")
    proc = dep.cli(
        "seal",
        "enroll-hsm",
        "--agency",
        "transport",
        "--module",
        str(MODULE),
        "--token",
        TOKEN,
        "--key-label",
        "transport-seal",
        "--json",
        extra_env=env,
    )
    assert proc.returncode == 0, proc.stderr
    enrolled = json.loads(proc.stdout)
    agency_dir = dep.home / "pki" / "agencies" / "transport"
    assert not (agency_dir / "seal.key.pem").exists()  # no file key any more
    assert USER_PIN not in (agency_dir / "seal.pkcs11.json").read_text("utf-8")

    after = issue("after.pdf")
    assert read_seal_facts(after.read_bytes()).signer_fingerprint == enrolled["new"]["fingerprint"]
    for pdf in (before, after):
        verdict = dep.cli("verify", str(pdf), "--json", extra_env=env)
        assert verdict.returncode == 0, verdict.stdout  # both VALID

    # Without the PIN the agency cannot seal (fail closed at start-up), and says why.
    no_pin = dict(env, CERTLEDGER_HSM_PIN="")
    refused = dep.issue_permit(data, tmp_path / "x.pdf", extra_env=no_pin)
    assert refused.returncode != 0
    assert "CERTLEDGER_HSM_PIN" in refused.stderr
