"""The deployment's holder-digest key.

Holder identifiers (credit codes, resident id numbers) never reach the ledger in clear. The
ledger stores HMAC-SHA256(key, identifier) instead: a plain hash of an 18-digit id number could be
brute-forced from its small search space, a keyed digest cannot without the key.

The key is random, generated once by `init`, and kept encrypted at rest with AES-256-GCM under a
key derived from the passphrase with scrypt, so a copied data directory does not leak it.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from certificates.errors import ConfigurationError
from signing import Secret

__all__ = ["HolderKey"]

_MAGIC = b"CLHK1"
_SALT_LEN = 16
_NONCE_LEN = 12


def _kek(passphrase: Secret, salt: bytes) -> bytes:
    return Scrypt(salt=salt, length=32, n=2**15, r=8, p=1).derive(passphrase.reveal().encode())


class HolderKey:
    """Computes keyed digests of holder identifiers. Its repr never shows the key."""

    __slots__ = ("_key",)

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("holder key must be 32 bytes")
        self._key = key

    def __repr__(self) -> str:
        return "HolderKey(****)"

    def digest(self, identifier: str) -> str:
        normalised = identifier.strip().upper()
        mac = hmac.new(self._key, b"certledger/holder/v1\x00" + normalised.encode(), hashlib.sha256)
        return mac.hexdigest()

    @classmethod
    def create(cls, path: Path, passphrase: Secret) -> HolderKey:
        key = secrets.token_bytes(32)
        salt = secrets.token_bytes(_SALT_LEN)
        nonce = secrets.token_bytes(_NONCE_LEN)
        sealed = AESGCM(_kek(passphrase, salt)).encrypt(nonce, key, _MAGIC)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(_MAGIC + salt + nonce + sealed)
        return cls(key)

    @classmethod
    def load(cls, path: Path, passphrase: Secret) -> HolderKey:
        try:
            blob = path.read_bytes()
        except OSError as exc:
            raise ConfigurationError(
                f"cannot read the holder key file {path.name}: {exc.strerror}"
            ) from None
        if not blob.startswith(_MAGIC) or len(blob) < len(_MAGIC) + _SALT_LEN + _NONCE_LEN + 48:
            raise ConfigurationError(f"{path.name} is not a certledger holder key file")
        body = blob[len(_MAGIC) :]
        salt, nonce, sealed = (
            body[:_SALT_LEN],
            body[_SALT_LEN : _SALT_LEN + _NONCE_LEN],
            body[_SALT_LEN + _NONCE_LEN :],
        )
        try:
            key = AESGCM(_kek(passphrase, salt)).decrypt(nonce, sealed, _MAGIC)
        except InvalidTag:
            raise ConfigurationError(
                "the key passphrase (CERTLEDGER_PASSPHRASE) does not decrypt the holder key"
            ) from None
        return cls(key)
