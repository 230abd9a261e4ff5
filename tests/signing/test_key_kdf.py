"""Key files: PBES2 with PBKDF2-HMAC-SHA256 at >= 600,000 rounds and AES-256-CBC, checked
before decrypting; legacy files (cryptography's BestAvailableEncryption, 2,048 rounds) are
re-wrapped on load with a WARNING naming the file.

The parameters are read back here with asn1crypto and openssl directly, not through the
module's own parser, so a wrong writer cannot confirm itself."""

from __future__ import annotations

import errno
import logging
import os
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import algos, keys, pem
from conftest import AGENCIES
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from signing_testkit import PASSPHRASE, require_tool

import signing._keys as key_files
from signing import (
    KeyPassphraseError,
    PkiInvalidError,
    Secret,
    init_pki,
    load_pki,
)
from signing._keys import KDF_ROUNDS, generate_key, read_private_key, write_private_key
from signing.tls import issue_client_certificate

WRONG = "not-the-passphrase-at-all"
OWASP_2023_PBKDF2_SHA256 = 600_000


def _envelope(path: Path) -> dict[str, Any]:
    """The PBES2 parameters of a key file, read independently of signing._keys."""
    kind, _, der = pem.unarmor(path.read_bytes())
    assert kind == "ENCRYPTED PRIVATE KEY"
    info = keys.EncryptedPrivateKeyInfo.load(der)
    alg = info["encryption_algorithm"]
    kdf = alg["parameters"]["key_derivation_func"]
    scheme = alg["parameters"]["encryption_scheme"]
    return {
        "scheme": alg["algorithm"].native,
        "kdf": kdf["algorithm"].native,
        "prf": kdf["parameters"]["prf"]["algorithm"].native,
        "iterations": kdf["parameters"]["iteration_count"].native,
        "salt": kdf["parameters"]["salt"].native,
        "cipher": scheme["algorithm"].native,
        "iv": scheme["parameters"].native,
    }


def _write_legacy(path: Path, key: ec.EllipticCurvePrivateKey, passphrase: str) -> None:
    """A key file as this project wrote it before: BestAvailableEncryption, mode 0600."""
    data = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase.encode()),
    )
    path.write_bytes(data)
    path.chmod(0o600)


def _same_key(a: ec.EllipticCurvePrivateKey, b: ec.EllipticCurvePrivateKey) -> bool:
    return a.private_numbers() == b.private_numbers()


def _messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "signing._keys"]


@pytest.fixture
def fresh_cache() -> None:
    """Forget derived keys so a test sees what a new process would do."""
    key_files._DERIVED.clear()


def test_the_round_count_is_the_owasp_2023_figure() -> None:
    assert KDF_ROUNDS >= OWASP_2023_PBKDF2_SHA256


def test_a_new_key_file_uses_pbes2_pbkdf2_sha256_aes256(tmp_path: Path) -> None:
    path = tmp_path / "k.key.pem"
    write_private_key(path, generate_key(), Secret(PASSPHRASE))
    params = _envelope(path)
    assert params["scheme"] == "pbes2"
    assert params["kdf"] == "pbkdf2"
    assert params["prf"] == "sha256"
    assert params["iterations"] >= OWASP_2023_PBKDF2_SHA256
    assert params["cipher"] == "aes256_cbc"
    assert len(params["salt"]) >= 16 and len(params["iv"]) == 16
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_bytes().endswith(b"-----END ENCRYPTED PRIVATE KEY-----\n")


def test_openssl_reads_a_new_key_file(tmp_path: Path) -> None:
    openssl = require_tool("openssl")
    key = generate_key()
    path = tmp_path / "k.key.pem"
    write_private_key(path, key, Secret(PASSPHRASE))
    proc = subprocess.run(
        [openssl, "pkey", "-in", str(path), "-passin", "env:KEYPASS", "-outform", "DER"],
        env=dict(os.environ, KEYPASS=PASSPHRASE),
        capture_output=True,
        check=True,
    )
    from_openssl = serialization.load_der_private_key(proc.stdout, None)
    assert isinstance(from_openssl, ec.EllipticCurvePrivateKey)
    assert _same_key(from_openssl, key)
    # and cryptography's own PKCS#8 reader agrees
    loaded = serialization.load_pem_private_key(path.read_bytes(), PASSPHRASE.encode())
    assert isinstance(loaded, ec.EllipticCurvePrivateKey) and _same_key(loaded, key)


def test_a_new_key_file_round_trips(tmp_path: Path, fresh_cache: None) -> None:
    key = generate_key()
    path = tmp_path / "k.key.pem"
    write_private_key(path, key, Secret(PASSPHRASE))
    key_files._DERIVED.clear()  # decrypt from the file alone, as a new process would
    assert _same_key(read_private_key(path, Secret(PASSPHRASE), display_name="k"), key)


def test_a_legacy_file_is_opened_and_rewrapped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    key = generate_key()
    path = tmp_path / "seal.key.pem"
    _write_legacy(path, key, PASSPHRASE)
    assert _envelope(path)["iterations"] < KDF_ROUNDS  # really the weak legacy format
    legacy_bytes = path.read_bytes()

    with caplog.at_level(logging.WARNING, logger="signing._keys"):
        opened = read_private_key(path, Secret(PASSPHRASE), display_name="agencies/X/seal.key.pem")

    assert _same_key(opened, key)
    assert path.read_bytes() != legacy_bytes
    params = _envelope(path)
    assert (params["scheme"], params["kdf"], params["prf"], params["cipher"]) == (
        "pbes2",
        "pbkdf2",
        "sha256",
        "aes256_cbc",
    )
    assert params["iterations"] >= OWASP_2023_PBKDF2_SHA256
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["seal.key.pem"]  # no temp left

    messages = _messages(caplog)
    assert len(messages) == 1
    assert "agencies/X/seal.key.pem" in messages[0]
    assert "re-wrapped" in messages[0]
    assert "2,048" in messages[0]
    for record in caplog.records:
        assert PASSPHRASE not in record.getMessage()
        assert PASSPHRASE not in repr(record.args)

    # The re-wrapped file opens with the same passphrase, from the file alone, quietly.
    key_files._DERIVED.clear()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="signing._keys"):
        again = read_private_key(path, Secret(PASSPHRASE), display_name="seal.key.pem")
    assert _same_key(again, key)
    assert _messages(caplog) == []


def test_a_legacy_file_in_a_pki_is_rewrapped_by_load_pki(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    pki_dir = tmp_path / "pki"
    init_pki(pki_dir, AGENCIES[:1], Secret(PASSPHRASE))
    tsa_key = read_private_key(pki_dir / "tsa.key.pem", Secret(PASSPHRASE), display_name="t")
    (pki_dir / "tsa.key.pem").unlink()
    _write_legacy(pki_dir / "tsa.key.pem", tsa_key, PASSPHRASE)

    with caplog.at_level(logging.WARNING, logger="signing._keys"):
        pki = load_pki(pki_dir, Secret(PASSPHRASE))

    assert _same_key(pki.tsa.private_key, tsa_key)
    assert _envelope(pki_dir / "tsa.key.pem")["iterations"] >= OWASP_2023_PBKDF2_SHA256
    (message,) = _messages(caplog)
    assert "tsa.key.pem" in message and "re-wrapped" in message
    assert str(pki_dir) not in message  # the display name, not a machine path


def test_a_wrong_passphrase_on_a_legacy_file_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "k.key.pem"
    _write_legacy(path, generate_key(), PASSPHRASE)
    before = path.read_bytes()
    with pytest.raises(KeyPassphraseError) as info:
        read_private_key(path, Secret(WRONG), display_name="k.key.pem")
    assert WRONG not in str(info.value) and PASSPHRASE not in str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__
    assert path.read_bytes() == before


def test_a_wrong_passphrase_fails_even_after_the_right_one_was_used(tmp_path: Path) -> None:
    """The derived-key cache is looked up by passphrase: a cached key opens nothing for a
    wrong one."""
    path = tmp_path / "k.key.pem"
    key = generate_key()
    write_private_key(path, key, Secret(PASSPHRASE))
    assert _same_key(read_private_key(path, Secret(PASSPHRASE), display_name="k"), key)
    with pytest.raises(KeyPassphraseError, match=r"does not decrypt k\.key\.pem"):
        read_private_key(path, Secret(WRONG), display_name="k.key.pem")


def test_a_read_only_directory_leaves_the_legacy_file_usable(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = generate_key()
    path = tmp_path / "k.key.pem"
    _write_legacy(path, key, PASSPHRASE)
    before = path.read_bytes()

    def read_only(*_args: object, **_kwargs: object) -> tuple[int, str]:
        # what mkstemp raises in a read-only directory (chmod does not stop root, so simulate)
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(key_files.tempfile, "mkstemp", read_only)
    with caplog.at_level(logging.WARNING, logger="signing._keys"):
        opened = read_private_key(path, Secret(PASSPHRASE), display_name="k.key.pem")

    assert _same_key(opened, key)
    assert path.read_bytes() == before
    (message,) = _messages(caplog)
    assert "k.key.pem" in message and "could not be re-wrapped" in message
    assert PASSPHRASE not in message


def test_a_file_replaced_during_the_rewrap_is_left_alone(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rotation that replaced the file meanwhile must not be undone by the old key."""
    path = tmp_path / "k.key.pem"
    _write_legacy(path, generate_key(), PASSPHRASE)
    rotated = generate_key()
    staged = tmp_path / "staged.key.pem"
    write_private_key(staged, rotated, Secret(PASSPHRASE))
    real_wrap = key_files._wrap

    def rotate_then_wrap(key: ec.EllipticCurvePrivateKey, password: bytes) -> bytes:
        os.replace(staged, path)  # the rotation lands while the old key is being re-wrapped
        return real_wrap(key, password)

    monkeypatch.setattr(key_files, "_wrap", rotate_then_wrap)
    with caplog.at_level(logging.WARNING, logger="signing._keys"):
        read_private_key(path, Secret(PASSPHRASE), display_name="k.key.pem")
    monkeypatch.undo()

    assert _same_key(read_private_key(path, Secret(PASSPHRASE), display_name="k"), rotated)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k.key.pem"]
    assert any("changed while it was being re-wrapped" in m for m in _messages(caplog))


def _reencode(path: Path, **changes: Any) -> None:
    """Rewrite the envelope of ``path`` with some fields changed (a hand-made file)."""
    kind, _, der = pem.unarmor(path.read_bytes())
    info = keys.EncryptedPrivateKeyInfo.load(der)
    alg = info["encryption_algorithm"]
    if "iterations" in changes:
        alg["parameters"]["key_derivation_func"]["parameters"]["iteration_count"] = changes[
            "iterations"
        ]
    if "scheme" in changes:
        info["encryption_algorithm"] = algos.EncryptionAlgorithm(
            {
                "algorithm": changes["scheme"],
                "parameters": {"salt": b"12345678", "iterations": 2048},
            }
        )
    path.write_bytes(pem.armor(kind, info.dump(force=True)))


def test_pbes1_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "k.key.pem"
    write_private_key(path, generate_key(), Secret(PASSPHRASE))
    _reencode(path, scheme="pbes1_sha1_des")
    with pytest.raises(PkiInvalidError, match=r"k\.key\.pem is encrypted with .*pbes1.*PBES2"):
        read_private_key(path, Secret(PASSPHRASE), display_name="k.key.pem")


def test_an_absurd_iteration_count_is_refused_before_deriving(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "k.key.pem"
    write_private_key(path, generate_key(), Secret(PASSPHRASE))
    _reencode(path, iterations=2**31)

    def no_derivation(*_args: object) -> None:
        raise AssertionError("derived before checking the parameters")

    monkeypatch.setattr(key_files, "PBKDF2HMAC", no_derivation)
    with pytest.raises(PkiInvalidError, match="iterations"):
        read_private_key(path, Secret(PASSPHRASE), display_name="k.key.pem")


def test_a_corrupt_file_is_invalid_not_a_passphrase_problem(tmp_path: Path) -> None:
    path = tmp_path / "k.key.pem"
    path.write_bytes(pem.armor("ENCRYPTED PRIVATE KEY", b"not asn.1"))
    with pytest.raises(PkiInvalidError, match="not a readable encrypted PKCS#8 key"):
        read_private_key(path, Secret(PASSPHRASE), display_name="k.key.pem")


def test_a_pki_derives_its_key_once_per_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_cache: None
) -> None:
    """init_pki writes 7 key files (6 in the PKI directory, the root's in the offline one) and
    load_pki reads 5: one PBKDF2 run each, not one per file (the files share a salt; see
    signing._keys)."""
    runs: list[int] = []
    real = key_files.PBKDF2HMAC

    def counting(*args: Any, **kwargs: Any) -> Any:
        runs.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(key_files, "PBKDF2HMAC", counting)
    pki_dir = tmp_path / "pki"
    init_pki(pki_dir, AGENCIES[:1], Secret(PASSPHRASE))
    assert len(runs) == 1
    files = [*pki_dir.rglob("*.key.pem"), tmp_path / "pki.root-ca" / "root-ca.key.pem"]
    salts = {_envelope(p)["salt"] for p in files}
    ivs = {_envelope(p)["iv"] for p in files}
    assert len(salts) == 1 and len(ivs) == len(files) == 7

    key_files._DERIVED.clear()
    load_pki(pki_dir, Secret(PASSPHRASE))
    assert len(runs) == 2
    with pytest.raises(KeyPassphraseError):
        load_pki(pki_dir, Secret(WRONG))


def test_client_pkcs12_uses_the_strong_kdf(pki_dir: Path, tmp_path: Path) -> None:
    openssl = require_tool("openssl")
    issued = issue_client_certificate(
        pki_dir, Secret(PASSPHRASE), client_id="cl_00aa11bb22cc33dd", agency="BJ-EDU"
    )
    files = issued.write(tmp_path / "out")
    proc = subprocess.run(
        [openssl, "pkcs12", "-info", "-noout", "-in", str(files.pkcs12), "-passin", "env:P12"],
        env=dict(os.environ, P12=issued.key_passphrase.reveal()),
        capture_output=True,
        text=True,
        check=True,
    )
    info = proc.stdout + proc.stderr
    shrouded = [line for line in info.splitlines() if "Shrouded Keybag" in line]
    assert shrouded, info
    assert f"Iteration {KDF_ROUNDS}" in shrouded[0]
    assert "PBKDF2, AES-256-CBC" in shrouded[0] and "hmacWithSHA256" in shrouded[0]
    assert _envelope(files.key)["iterations"] >= OWASP_2023_PBKDF2_SHA256


def _openssl_pkcs8(tmp_path: Path, key: ec.EllipticCurvePrivateKey, *options: str) -> Path:
    """``key`` encrypted by ``openssl pkcs8 -topk8`` with ``options`` (another tool's file)."""
    openssl = require_tool("openssl")
    plain = tmp_path / "plain.pem"
    plain.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path = tmp_path / "k.key.pem"
    files = ["-in", str(plain), "-out", str(path), "-passout", "env:KEYPASS"]
    subprocess.run(
        [openssl, "pkcs8", "-topk8", *options, *files],
        env=dict(os.environ, KEYPASS=PASSPHRASE),
        capture_output=True,
        check=True,
    )
    plain.unlink()
    return path


def test_an_openssl_scrypt_file_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    path = _openssl_pkcs8(tmp_path, generate_key(), "-scrypt")
    with pytest.raises(PkiInvalidError, match=r"k\.key\.pem is encrypted with .* scrypt;"):
        read_private_key(path, Secret(PASSPHRASE), display_name="k.key.pem")


def test_an_openssl_legacy_file_with_sha1_and_aes128_is_rewrapped(tmp_path: Path) -> None:
    key = generate_key()
    path = _openssl_pkcs8(
        tmp_path, key, "-v2", "aes-128-cbc", "-v2prf", "hmacWithSHA1", "-iter", "1000"
    )
    assert (_envelope(path)["prf"], _envelope(path)["cipher"]) == ("sha1", "aes128_cbc")
    assert _same_key(read_private_key(path, Secret(PASSPHRASE), display_name="k"), key)
    params = _envelope(path)
    assert (params["prf"], params["cipher"]) == ("sha256", "aes256_cbc")
    assert params["iterations"] >= OWASP_2023_PBKDF2_SHA256
