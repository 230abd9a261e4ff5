"""The deployment's holder-digest key.

Holder identifiers (credit codes, resident id numbers) never reach the ledger in clear. The
ledger stores HMAC-SHA256(key, identifier) instead: a plain hash of an 18-digit id number could be
brute-forced from its small search space, a keyed digest cannot without the key.

The key is random, generated once by `init`, and kept encrypted at rest with AES-256-GCM under a
key derived from the passphrase with scrypt (:mod:`certificates.wrapped_keys`), so a copied
data directory does not leak it.
"""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

from certificates.wrapped_keys import create_wrapped, load_wrapped
from signing import Secret

__all__ = ["HolderKey"]

_MAGIC = b"CLHK1"


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
        return cls(create_wrapped(path, passphrase, _MAGIC))

    @classmethod
    def load(cls, path: Path, passphrase: Secret) -> HolderKey:
        return cls(load_wrapped(path, passphrase, _MAGIC, "holder key"))
