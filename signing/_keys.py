"""Encrypted private-key files: encrypted PKCS#8 PEM, mode 0600.

**Format.** A key file is a standard ``ENCRYPTED PRIVATE KEY`` PEM (PKCS#8
EncryptedPrivateKeyInfo, RFC 5958) protected with PBES2 (RFC 8018): PBKDF2-HMAC-SHA256 at
:data:`KDF_ROUNDS` iterations, AES-256-CBC. ``openssl pkey`` reads it. cryptography's
``BestAvailableEncryption`` uses PBKDF2 at only 2,048 iterations for PKCS#8 and its
``encryption_builder()`` sets rounds for PKCS#12 and OpenSSH keys only, so the PBES2 envelope
is built here (asn1crypto for the DER, cryptography's primitives for PBKDF2 and AES).

**Checked on load.** :func:`read_private_key` parses the envelope *before* deriving anything:
anything other than PBES2 with PBKDF2 (HMAC-SHA-1/-2) and AES-CBC is refused
(:class:`PkiInvalidError`), and so is an iteration count above :data:`MAX_KDF_ROUNDS` (a
tampered file must not stall start-up for minutes). A file below :data:`KDF_ROUNDS` (one written
before this check, with ``BestAvailableEncryption``) is still opened, and once it has decrypted
it is re-wrapped in place with the current parameters (atomically: a 0600 temporary file in the
same directory, fsync, ``os.replace``) with one WARNING log line naming the file. A read-only
directory only gets a WARNING saying the file could not be re-wrapped.

**Cost, and the derived-key cache.** 600,000 rounds cost about 0.1 s of CPU per derivation
on a small machine, and one process opens several key files with the same passphrase:
``init_pki`` writes 6 + one per agency, ``load_pki`` reads 4 + one per agency, and every CLI
command that opens a deployment loads the PKI again. Two measures keep that to about one
derivation per process, without lowering the iteration count:

* The key-encryption key derived from (passphrase, salt, parameters) is kept in a small
  in-process LRU (:class:`_DerivedKeys`), looked up by an HMAC of the passphrase under a random
  per-process key (the passphrase itself is not copied into the cache).
* A process writing with a passphrase it has already used reuses that derivation's salt, so a
  PKI's key files share one salt and ``load_pki`` derives once for all of them.

Why this is acceptable: every key file of a PKI is protected by the same passphrase, so an
offline guesser attacks whichever file is cheapest and one success opens them all; distinct salts
per file would not make a single guess dearer (each still costs :data:`KDF_ROUNDS` iterations),
they would only make *our* legitimate opening N times dearer. Salts still differ between
passphrases and are fresh in every process that has not used the passphrase before, which is
what defeats precomputation. AES-CBC under one key with a fresh random IV per file is the mode's
normal use. What the cache holds (a derived key) opens no more than the passphrase, which the
processes that open keys (the CLI, ``certledger serve`` and its workers) keep in a
:class:`Secret` for their lifetime anyway; it holds no decrypted private key, so the CA keys
still live in memory only while an operation uses them (see ``Pki``). A shared salt does show
that two files share a passphrase, which for one PKI is true by design.
"""

from __future__ import annotations

import hmac
import logging
import os
import stat
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from asn1crypto import algos as asn1_algos
from asn1crypto import core as asn1_core
from asn1crypto import keys as asn1_keys
from asn1crypto import pem as asn1_pem
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, padding, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from signing._files import write_new_file
from signing.errors import KeyPassphraseError, PkiInvalidError, PkiNotInitialisedError
from signing.secret import Secret

__all__ = [
    "KDF_ROUNDS",
    "MAX_KDF_ROUNDS",
    "PASSPHRASE_ENV",
    "KdfParameters",
    "derive_cached",
    "generate_key",
    "read_kdf_parameters",
    "read_private_key",
    "write_private_key",
]

logger = logging.getLogger(__name__)

PASSPHRASE_ENV = "CERTLEDGER_PASSPHRASE"  # noqa: S105  (a variable name, not a secret)
"""The environment variable the CLI reads the PKI passphrase from (named in errors)."""

KDF_ROUNDS: Final = 600_000
"""PBKDF2-HMAC-SHA256 iterations for key files: the OWASP Password Storage Cheat Sheet figure
(2023) for PBKDF2-HMAC-SHA256. Files read with fewer are re-wrapped with this many."""

MAX_KDF_ROUNDS: Final = 10_000_000
"""The most iterations a key file may ask for (about 17 times :data:`KDF_ROUNDS`, a few seconds
here): a file asking for more is refused rather than tying up a CPU at start-up."""

_KEY_FILE_MODE = 0o600
_PEM_TYPE = "ENCRYPTED PRIVATE KEY"
_SALT_BYTES = 16
_PRF: Final = "sha256"
_CIPHER: Final = "aes256_cbc"
# What a file may use to be read at all (RFC 8018 PBES2 with PBKDF2; AES-CBC, as OpenSSL and
# cryptography write it). Only (_PRF, _CIPHER, >= KDF_ROUNDS) counts as current.
_PRFS: Final[dict[str, type[hashes.HashAlgorithm]]] = {
    "sha1": hashes.SHA1,
    "sha224": hashes.SHA224,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}
_CIPHER_KEY_BYTES: Final = {"aes128_cbc": 16, "aes192_cbc": 24, "aes256_cbc": 32}
_KDF_NAMES: Final = {"1.3.6.1.4.1.11591.4.11": "scrypt"}  # asn1crypto has no name for it


def generate_key() -> ec.EllipticCurvePrivateKey:
    """A fresh ECDSA P-256 key: 128-bit security, fast, and accepted by PAdES validators."""
    return ec.generate_private_key(ec.SECP256R1())


@dataclass(frozen=True)
class KdfParameters:
    """The PBES2 parameters of a key file, as read from it before anything is derived."""

    prf: str  # asn1crypto's name of the PBKDF2 PRF's hash: "sha256", "sha1", ...
    iterations: int
    salt: bytes
    cipher: str  # "aes256_cbc", ...
    iv: bytes

    @property
    def key_bytes(self) -> int:
        return _CIPHER_KEY_BYTES[self.cipher]

    @property
    def current(self) -> bool:
        """Whether this is what :func:`write_private_key` writes today (or stronger)."""
        return self.prf == _PRF and self.cipher == _CIPHER and self.iterations >= KDF_ROUNDS

    def describe(self) -> str:
        cipher = self.cipher.replace("_cbc", "").upper().replace("AES", "AES-") + "-CBC"
        return f"PBKDF2-HMAC-{self.prf.upper()} at {self.iterations:,} iterations, {cipher}"


class _DerivedKeys:
    """A small, thread-safe LRU of PBKDF2 outputs for this process (see the module docstring).

    Entries are looked up by ``HMAC-SHA256(per-process random key, passphrase)`` and the KDF
    parameters, so a wrong passphrase never finds the right passphrase's entry.
    """

    def __init__(self, size: int = 16) -> None:
        self._size = size
        self._pepper = os.urandom(32)
        self._lock = threading.Lock()
        self._keys: OrderedDict[tuple[bytes, bytes, int, str, int], bytes] = OrderedDict()
        self._write_salts: OrderedDict[bytes, bytes] = OrderedDict()
        # A child forked while another thread held the lock would wait on it forever.
        os.register_at_fork(after_in_child=self._reset_lock)

    def _reset_lock(self) -> None:
        self._lock = threading.Lock()

    def tag(self, password: bytes) -> bytes:
        return hmac.digest(self._pepper, password, "sha256")

    def get(self, tag: bytes, salt: bytes, rounds: int, prf: str, length: int) -> bytes | None:
        entry = (tag, salt, rounds, prf, length)
        with self._lock:
            kek = self._keys.get(entry)
            if kek is not None:
                self._keys.move_to_end(entry)
            return kek

    def put(self, tag: bytes, salt: bytes, rounds: int, prf: str, length: int, kek: bytes) -> None:
        with self._lock:
            self._keys[(tag, salt, rounds, prf, length)] = kek
            self._keys.move_to_end((tag, salt, rounds, prf, length))
            while len(self._keys) > self._size:
                self._keys.popitem(last=False)
            if rounds == KDF_ROUNDS and prf == _PRF and length == _CIPHER_KEY_BYTES[_CIPHER]:
                self._write_salts[tag] = salt
                self._write_salts.move_to_end(tag)
                while len(self._write_salts) > self._size:
                    self._write_salts.popitem(last=False)

    def write_salt(self, tag: bytes) -> bytes | None:
        with self._lock:
            return self._write_salts.get(tag)

    def clear(self) -> None:
        with self._lock:
            self._keys.clear()
            self._write_salts.clear()


_DERIVED = _DerivedKeys()


def derive_cached(
    password: bytes, salt: bytes, kdf: str, length: int, derive: Callable[[], bytes]
) -> bytes:
    """``derive()`` (a key derived from ``password`` and ``salt`` by the KDF named ``kdf``),
    kept in this process's derived-key cache like the key files' own: for the deployment's
    other files wrapped under the same passphrase (``certificates.wrapped_keys``)."""
    tag = _DERIVED.tag(password)
    kek = _DERIVED.get(tag, salt, 0, kdf, length)
    if kek is None:
        kek = derive()
        _DERIVED.put(tag, salt, 0, kdf, length, kek)
    return kek


def _derive(password: bytes, tag: bytes, salt: bytes, rounds: int, prf: str, length: int) -> bytes:
    kek = _DERIVED.get(tag, salt, rounds, prf, length)
    if kek is None:
        kek = PBKDF2HMAC(_PRFS[prf](), length, salt, rounds).derive(password)
    return kek


def _wrap(key: ec.EllipticCurvePrivateKey, password: bytes) -> bytes:
    """``key`` as an encrypted PKCS#8 PEM under the current parameters."""
    tag = _DERIVED.tag(password)
    length = _CIPHER_KEY_BYTES[_CIPHER]
    salt = _DERIVED.write_salt(tag)
    kek = _DERIVED.get(tag, salt, KDF_ROUNDS, _PRF, length) if salt else None
    if salt is None or kek is None:
        salt = os.urandom(_SALT_BYTES)
        kek = _derive(password, tag, salt, KDF_ROUNDS, _PRF, length)
        _DERIVED.put(tag, salt, KDF_ROUNDS, _PRF, length, kek)
    iv = os.urandom(16)
    plain = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plain) + padder.finalize()
    encryptor = Cipher(algorithms.AES(kek), modes.CBC(iv)).encryptor()
    encrypted = encryptor.update(padded) + encryptor.finalize()
    info = asn1_keys.EncryptedPrivateKeyInfo(
        {
            "encryption_algorithm": {
                "algorithm": "pbes2",
                "parameters": {
                    "key_derivation_func": {
                        "algorithm": "pbkdf2",
                        "parameters": {
                            "salt": asn1_algos.Pbkdf2Salt(name="specified", value=salt),
                            "iteration_count": KDF_ROUNDS,
                            "prf": {"algorithm": _PRF, "parameters": asn1_core.Null()},
                        },
                    },
                    "encryption_scheme": {"algorithm": _CIPHER, "parameters": iv},
                },
            },
            "encrypted_data": encrypted,
        }
    )
    armored: bytes = asn1_pem.armor(_PEM_TYPE, info.dump())
    return armored if armored.endswith(b"\n") else armored + b"\n"


def write_private_key(path: Path, key: ec.EllipticCurvePrivateKey, passphrase: Secret) -> None:
    """Write ``key`` as encrypted PKCS#8 PEM readable only by the owner (never overwrites).

    PBES2: PBKDF2-HMAC-SHA256 at :data:`KDF_ROUNDS` iterations, AES-256-CBC. The passphrase
    should still be strong; ``init_pki`` enforces a minimum length.
    """
    pem = _wrap(key, passphrase.reveal().encode("utf-8"))
    write_new_file(path, pem, mode=_KEY_FILE_MODE)


def read_kdf_parameters(pem: bytes, *, display_name: str) -> tuple[KdfParameters, bytes]:
    """The PBES2 parameters and the encrypted data of an encrypted PKCS#8 PEM.

    :raises PkiInvalidError: not an encrypted PKCS#8 PEM, or a scheme this module does not
        read (PBES1, a KDF other than PBKDF2, a cipher other than AES-CBC, too many rounds).
    """
    if b"-----BEGIN ENCRYPTED PRIVATE KEY-----" not in pem:
        # A plaintext key on disk means someone bypassed init_pki; do not use it.
        raise PkiInvalidError(
            f"{display_name} is not an encrypted PKCS#8 key; re-create the PKI with "
            "`certledger init`"
        )
    try:
        pem_type, _headers, der = asn1_pem.unarmor(pem)
        if pem_type != _PEM_TYPE:
            raise ValueError(pem_type)
        info: Any = asn1_keys.EncryptedPrivateKeyInfo.load(der, strict=True)
        algorithm: Any = info["encryption_algorithm"]
        scheme = algorithm["algorithm"].native
        if scheme != "pbes2":
            raise _Unsupported(f"the encryption scheme {scheme}")
        pbes2 = algorithm["parameters"]
        kdf = pbes2["key_derivation_func"]["algorithm"].native
        if kdf != "pbkdf2":
            raise _Unsupported(f"the key derivation function {_KDF_NAMES.get(kdf, kdf)}")
        kdf_params = pbes2["key_derivation_func"]["parameters"]
        prf = kdf_params["prf"]["algorithm"].native
        cipher = pbes2["encryption_scheme"]["algorithm"].native
        if prf not in _PRFS:
            raise _Unsupported(f"PBKDF2 with the PRF {prf}")
        if cipher not in _CIPHER_KEY_BYTES:
            raise _Unsupported(f"the cipher {cipher}")
        salt = kdf_params["salt"].native
        iterations = kdf_params["iteration_count"].native
        key_length = kdf_params["key_length"].native
        iv = pbes2["encryption_scheme"]["parameters"].native
        encrypted = info["encrypted_data"].native
    except _Unsupported as exc:
        raise PkiInvalidError(
            f"{display_name} is encrypted with {exc}; key files must use PBES2 with PBKDF2 "
            "and AES-CBC (e.g. `openssl pkcs8 -topk8 -v2 aes-256-cbc -v2prf hmacWithSHA256 "
            f"-iter {KDF_ROUNDS}`)"
        ) from None
    except (ValueError, TypeError, KeyError):
        raise PkiInvalidError(
            f"{display_name} is not a readable encrypted PKCS#8 key (corrupt file?); restore "
            "it from backup"
        ) from None
    params = KdfParameters(prf=prf, iterations=iterations, salt=salt, cipher=cipher, iv=iv)
    if not isinstance(salt, bytes) or not salt:
        raise PkiInvalidError(f"{display_name} has no PBKDF2 salt (only a plain salt is read)")
    if not 1 <= iterations <= MAX_KDF_ROUNDS:
        raise PkiInvalidError(
            f"{display_name} asks for {iterations:,} PBKDF2 iterations; at most "
            f"{MAX_KDF_ROUNDS:,} are accepted"
        )
    if key_length is not None and key_length != params.key_bytes:
        raise PkiInvalidError(f"{display_name}: the PBKDF2 key length does not fit {cipher}")
    if not isinstance(iv, bytes) or len(iv) != 16 or not encrypted or len(encrypted) % 16:
        raise PkiInvalidError(f"{display_name} is not a readable encrypted PKCS#8 key")
    return params, encrypted


class _Unsupported(Exception):
    """A well-formed envelope with a scheme this module does not read (internal)."""


def _decrypt(params: KdfParameters, encrypted: bytes, kek: bytes) -> bytes:
    """The PKCS#8 PrivateKeyInfo DER. :raises ValueError: wrong key (or corrupt data)."""
    decryptor = Cipher(algorithms.AES(kek), modes.CBC(params.iv)).decryptor()
    padded = decryptor.update(encrypted) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    return unpadder.update(padded) + unpadder.finalize()


def read_private_key(
    path: Path, passphrase: Secret, *, display_name: str
) -> ec.EllipticCurvePrivateKey:
    """Decrypt the key at ``path``; a file with weak KDF parameters is re-wrapped in place.

    ``display_name`` names the file in error and log messages (relative to the PKI
    directory); the passphrase never appears in any message.
    """
    try:
        with path.open("rb") as fh:
            before = os.fstat(fh.fileno())
            pem = fh.read()
    except FileNotFoundError:
        raise PkiNotInitialisedError(
            f"the PKI is incomplete: {display_name} is missing; "
            "restore it from backup or create a new PKI with `certledger init`"
        ) from None
    if before.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        # Not fatal (container volumes often lose modes) but worth an operator's attention.
        logger.warning("private key file %s is accessible by group/others", display_name)
    params, encrypted = read_kdf_parameters(pem, display_name=display_name)
    password = passphrase.reveal().encode("utf-8")
    tag = _DERIVED.tag(password)
    kek = _derive(password, tag, params.salt, params.iterations, params.prf, params.key_bytes)
    try:
        key = serialization.load_der_private_key(_decrypt(params, encrypted, kek), None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        # A wrong passphrase gives a wrong AES key: bad padding or garbage DER. `from None`
        # drops the original exception so nothing derived from the secret is chained along.
        raise KeyPassphraseError(
            f"the key passphrase ({PASSPHRASE_ENV}) does not decrypt {display_name}"
        ) from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise PkiInvalidError(f"{display_name} does not hold an ECDSA P-256 key")
    if params.current:
        _DERIVED.put(tag, params.salt, params.iterations, params.prf, params.key_bytes, kek)
    else:
        _rewrap(path, before, key, password, params, display_name=display_name)
    return key


def _rewrap(
    path: Path,
    before: os.stat_result,
    key: ec.EllipticCurvePrivateKey,
    password: bytes,
    old: KdfParameters,
    *,
    display_name: str,
) -> None:
    """Replace the legacy file at ``path`` by ``key`` under the current parameters.

    Atomic (temporary 0600 file in the same directory, fsync, ``os.replace``, directory
    fsync). Skipped if the file changed since it was read (a rotation replaced it meanwhile:
    writing the old key back would undo it). Failure to write is logged, not raised: the key
    opened, and the next load tries again.
    """
    new = _wrap(key, password)
    tmp: str | None = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".rewrap", dir=path.parent)
        try:
            os.fchmod(fd, _KEY_FILE_MODE)
            if before.st_uid != os.geteuid() and os.geteuid() == 0:
                os.fchown(fd, before.st_uid, before.st_gid)  # root re-wrapping a service's key
            view = memoryview(new)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        now = path.stat()
        if (now.st_ino, now.st_size, now.st_mtime_ns) != (
            before.st_ino,
            before.st_size,
            before.st_mtime_ns,
        ):
            logger.warning(
                "key file %s changed while it was being re-wrapped; left as it is now",
                display_name,
            )
            return
        os.replace(tmp, path)
        tmp = None
        _fsync_directory(path.parent)
    except OSError as exc:
        logger.warning(
            "key file %s uses a weak KDF (%s) and could not be re-wrapped (%s); it stays "
            "usable, and re-wrapping is tried again on the next load",
            display_name,
            old.describe(),
            exc.strerror or type(exc).__name__,
        )
        return
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
    logger.warning(
        "key file %s used a weak KDF (%s); re-wrapped it in place with PBKDF2-HMAC-SHA256 at "
        "%s iterations, AES-256-CBC",
        display_name,
        old.describe(),
        f"{KDF_ROUNDS:,}",
    )


def _fsync_directory(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
