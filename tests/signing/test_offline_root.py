"""The root CA's private key is kept out of the PKI directory: ``init_pki`` writes it to a
separate offline directory, nothing routine reads it, and the one operation that signs as the
root (re-signing the ARL) takes that directory explicitly."""

from __future__ import annotations

import logging
import os
import shutil
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import AGENCIES
from cryptography import x509
from signing_testkit import PASSPHRASE

from signing import (
    PkiExistsError,
    PkiInvalidError,
    PkiNotInitialisedError,
    Secret,
    SigningError,
    init_pki,
    load_certificate,
    load_pki,
)
from signing._keys import read_private_key
from signing.pki import default_root_key_dir
from signing.pki_admin import arl_next_update, publish_arl, publish_crl
from signing.revocation import ARL_VALIDITY
from tests.keyfiles import private_keys_under


def _crl_number(crl: x509.CertificateRevocationList) -> int:
    return crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number


@pytest.fixture
def made(tmp_path: Path, passphrase: Secret) -> tuple[Path, Path]:
    pki_dir = tmp_path / "pki"
    key_file = init_pki(pki_dir, AGENCIES[:1], passphrase)
    return pki_dir, key_file


def test_no_root_private_key_in_the_pki_directory(
    made: tuple[Path, Path], passphrase: Secret
) -> None:
    pki_dir, _ = made
    root = load_certificate(pki_dir / "root-ca.pem")
    keys = private_keys_under(pki_dir, passphrase)
    assert len(keys) == 6  # issuing CA, TSA, node, two OCSP responders, one seal
    assert all(public != root.public_key() for _, public in keys), [p for p, _ in keys]
    assert not (pki_dir / "root-ca.key.pem").exists()


def test_the_offline_directory_holds_the_root_key(
    made: tuple[Path, Path], passphrase: Secret
) -> None:
    pki_dir, key_file = made
    assert key_file == default_root_key_dir(pki_dir) / "root-ca.key.pem"
    assert key_file.parent == pki_dir.with_name("pki.root-ca")
    assert stat.S_IMODE(key_file.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert b"-----BEGIN ENCRYPTED PRIVATE KEY-----" in key_file.read_bytes()
    key = read_private_key(key_file, passphrase, display_name="root-ca.key.pem")
    assert key.public_key() == load_certificate(pki_dir / "root-ca.pem").public_key()
    assert sorted(p.name for p in key_file.parent.iterdir()) == ["root-ca.key.pem"]


def test_an_explicit_offline_directory(tmp_path: Path, passphrase: Secret) -> None:
    offline = tmp_path / "media" / "root"
    key_file = init_pki(tmp_path / "pki", AGENCIES[:1], passphrase, root_key_dir=offline)
    assert key_file == offline / "root-ca.key.pem" and key_file.is_file()
    assert not default_root_key_dir(tmp_path / "pki").exists()


def test_the_offline_directory_must_be_outside_the_pki(tmp_path: Path, passphrase: Secret) -> None:
    pki_dir = tmp_path / "pki"
    with pytest.raises(SigningError, match="inside the PKI directory"):
        init_pki(pki_dir, AGENCIES[:1], passphrase, root_key_dir=pki_dir / "offline")
    assert list(tmp_path.iterdir()) == []


def test_an_existing_root_key_is_never_overwritten(tmp_path: Path, passphrase: Secret) -> None:
    offline = tmp_path / "offline"
    init_pki(tmp_path / "a", AGENCIES[:1], passphrase, root_key_dir=offline)
    before = (offline / "root-ca.key.pem").read_bytes()
    with pytest.raises(PkiExistsError, match="root CA key"):
        init_pki(tmp_path / "b", AGENCIES[:1], passphrase, root_key_dir=offline)
    assert (offline / "root-ca.key.pem").read_bytes() == before
    assert not (tmp_path / "b").exists()


def test_a_failed_init_leaves_no_root_key(
    tmp_path: Path, passphrase: Secret, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing_rename(src: object, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "rename", failing_rename)
    with pytest.raises(OSError, match="disk full"):
        init_pki(tmp_path / "pki", AGENCIES[:1], passphrase)
    assert list(tmp_path.iterdir()) == []


def test_loading_and_the_daily_crl_need_no_root_key(
    made: tuple[Path, Path], passphrase: Secret, tmp_path: Path
) -> None:
    pki_dir, key_file = made
    shutil.move(key_file.parent, tmp_path / "on-a-shelf")  # the offline media, unplugged
    arl_before = (pki_dir / "crl" / "root-ca.crl").read_bytes()
    pki = load_pki(pki_dir, passphrase)
    assert pki.seal("BJ-EDU").key is not None
    path = publish_crl(pki_dir, passphrase)
    assert path == pki_dir / "crl" / "issuing-ca.crl"
    assert (pki_dir / "crl" / "root-ca.crl").read_bytes() == arl_before  # the ARL is untouched


def test_re_signing_the_arl_needs_the_offline_directory(
    made: tuple[Path, Path], passphrase: Secret, tmp_path: Path
) -> None:
    pki_dir, key_file = made
    with pytest.raises(PkiNotInitialisedError, match="offline directory"):
        publish_arl(pki_dir, passphrase, tmp_path / "not-the-media")
    with pytest.raises(PkiNotInitialisedError, match="root CA key"):
        publish_arl(pki_dir, passphrase, pki_dir)  # the online PKI holds no root key

    arl_path = pki_dir / "crl" / "root-ca.crl"
    before = x509.load_der_x509_crl(arl_path.read_bytes())
    later = datetime.now(UTC) + timedelta(days=300)
    assert publish_arl(pki_dir, passphrase, key_file.parent, now=later) == arl_path
    after = x509.load_der_x509_crl(arl_path.read_bytes())
    root = load_certificate(pki_dir / "root-ca.pem")
    assert after.is_signature_valid(root.public_key())  # type: ignore[arg-type]
    assert _crl_number(after) == _crl_number(before) + 1
    assert arl_next_update(pki_dir) == after.next_update_utc
    assert after.next_update_utc - after.last_update_utc == ARL_VALIDITY

    publish_arl(pki_dir, passphrase, key_file)  # the key file itself will do as well
    assert _crl_number(x509.load_der_x509_crl(arl_path.read_bytes())) == _crl_number(after) + 1


def test_another_pkis_root_key_is_refused(
    made: tuple[Path, Path], passphrase: Secret, tmp_path: Path
) -> None:
    pki_dir, _ = made
    other = init_pki(tmp_path / "other" / "pki", AGENCIES[:1], passphrase)
    before = (pki_dir / "crl" / "root-ca.crl").read_bytes()
    with pytest.raises(PkiInvalidError, match="not the private key of this PKI's root CA"):
        publish_arl(pki_dir, passphrase, other.parent)
    assert (pki_dir / "crl" / "root-ca.crl").read_bytes() == before


def test_an_online_root_key_still_loads_with_one_warning(
    made: tuple[Path, Path], passphrase: Secret, caplog: pytest.LogCaptureFixture
) -> None:
    """A deployment made before the key was kept offline: it keeps working, and says (once)
    how to move the key; nothing is moved automatically."""
    pki_dir, key_file = made
    legacy = pki_dir / "root-ca.key.pem"
    shutil.copy2(key_file, legacy)
    with caplog.at_level(logging.WARNING, logger="signing.pki"):
        load_pki(pki_dir, passphrase)
        load_pki(pki_dir, passphrase)
    warnings = [r for r in caplog.records if "root CA private key" in r.getMessage()]
    assert len(warnings) == 1
    message = warnings[0].getMessage()
    assert str(legacy) in message and "offline" in message and "--offline-dir" in message
    assert PASSPHRASE not in message
    assert legacy.is_file()  # not moved
    # Until it is moved, the PKI directory itself serves as the "offline" directory.
    publish_arl(pki_dir, passphrase, pki_dir)
