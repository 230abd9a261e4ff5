"""Random keys kept at rest wrapped with AES-256-GCM under a key derived from the passphrase
(scrypt, n=2^15, r=8), so a copied data directory leaks none of them.

The derivation costs ~50-100 ms by design. A process opens several such files with one
passphrase, so the derived wrapping key is kept in the process's derived-key cache, the one the
PKI's key files use (:func:`signing.derive_cached`; why that is acceptable is in
:mod:`signing._keys`).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from certificates.errors import ConfigurationError
from signing import Secret, derive_cached

__all__ = ["create_wrapped", "load_wrapped"]

_SALT_LEN = 16
_NONCE_LEN = 12
_KEY_LEN = 32

_SCRYPT = "scrypt-n32768-r8-p1"


def _kek(passphrase: Secret, salt: bytes) -> bytes:
    raw = passphrase.reveal().encode()
    return derive_cached(
        raw, salt, _SCRYPT, 32, lambda: Scrypt(salt=salt, length=32, n=2**15, r=8, p=1).derive(raw)
    )


def create_wrapped(path: Path, passphrase: Secret, magic: bytes) -> bytes:
    """A fresh random 32-byte key, written wrapped to ``path`` (a new file, mode 0600)."""
    key = secrets.token_bytes(_KEY_LEN)
    salt = secrets.token_bytes(_SALT_LEN)
    nonce = secrets.token_bytes(_NONCE_LEN)
    sealed = AESGCM(_kek(passphrase, salt)).encrypt(nonce, key, magic)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(magic + salt + nonce + sealed)
        fh.flush()
        os.fsync(fh.fileno())
    return key


def load_wrapped(path: Path, passphrase: Secret, magic: bytes, what: str) -> bytes:
    """The key in ``path``; ``what`` names it in errors (never the passphrase)."""
    try:
        blob = path.read_bytes()
    except OSError as exc:
        raise ConfigurationError(
            f"cannot read the {what} file {path.name}: {exc.strerror}"
        ) from None
    if not blob.startswith(magic) or len(blob) < len(magic) + _SALT_LEN + _NONCE_LEN + 48:
        raise ConfigurationError(f"{path.name} is not a certledger {what} file")
    body = blob[len(magic) :]
    salt, nonce, sealed = (
        body[:_SALT_LEN],
        body[_SALT_LEN : _SALT_LEN + _NONCE_LEN],
        body[_SALT_LEN + _NONCE_LEN :],
    )
    try:
        return AESGCM(_kek(passphrase, salt)).decrypt(nonce, sealed, magic)
    except InvalidTag:
        raise ConfigurationError(
            f"the key passphrase (CERTLEDGER_PASSPHRASE) does not decrypt the {what}"
        ) from None
