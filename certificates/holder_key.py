"""The deployment's holder-digest key.

Holder identifiers (credit codes, resident id numbers) never reach the ledger in clear. The
ledger stores HMAC-SHA256(key, identifier) instead: a plain hash of an 18-digit id number could be
brute-forced from its small search space, a keyed digest cannot without the key.

The key is random, generated once by `init`, and kept encrypted at rest with AES-256-GCM under a
key derived from the passphrase with scrypt (:mod:`certificates.wrapped_keys`), so a copied
data directory does not leak it.

Rotation. The ledger cannot forget a digest, so a leaked key would let anyone test ID numbers
against every digest made with it (about 10^11 candidates for a resident ID). The way out is a
new key for new certificates, with the old one kept for matching until the local store no
longer needs it:

1. :func:`rotate` makes a new current key; the old one moves to ``holder-keys-retired/``. New
   certificates get digests under the new key; lookups try every key (:meth:`HolderKey.digests`),
   so a holder's older certificates are still found.
2. :func:`certificates.sharing.rekey.rekey_store` recomputes the store's digests under the
   current key (the store keeps the identifier, encrypted) and then deletes the retired keys.
   Lookups then need the current key only. The digests already on the ledger stay what they
   were: nothing can remove them; without the old key (destroyed) they can no longer be
   tested against guesses.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from datetime import UTC, datetime
from pathlib import Path

from certificates.wrapped_keys import create_wrapped, load_wrapped
from signing import Secret

__all__ = ["HolderKey", "forget_retired", "retired_dir", "rotate"]

_MAGIC = b"CLHK1"
_RETIRED = "holder-keys-retired"


def retired_dir(path: Path) -> Path:
    """Where the retired keys of the holder key at ``path`` are kept."""
    return path.parent / _RETIRED


class HolderKey:
    """Computes keyed digests of holder identifiers. Its repr never shows the key."""

    __slots__ = ("_key", "_retired")

    def __init__(self, key: bytes, retired: tuple[bytes, ...] = ()) -> None:
        if len(key) != 32 or any(len(k) != 32 for k in retired):
            raise ValueError("holder key must be 32 bytes")
        self._key = key
        self._retired = retired

    def __repr__(self) -> str:
        return "HolderKey(****)"

    def digest(self, identifier: str) -> str:
        """The digest new certificates get: under the current key."""
        return _digest(self._key, identifier)

    def digests(self, identifier: str) -> tuple[str, ...]:
        """Every digest a stored certificate of this holder may carry: the current key's
        first, then the retired keys' (during a rotation's transition)."""
        return (self.digest(identifier), *(_digest(k, identifier) for k in self._retired))

    def unique_digest(self, cert_type: str, values: tuple[str, ...]) -> str:
        """The keyed digest of a certificate's uniqueness key (its type's ``unique_by``
        values), under the current key: what the store's claims and the ledger hold."""
        return _digest(self._key, _unique_text(cert_type, values))

    def unique_digests(self, cert_type: str, values: tuple[str, ...]) -> tuple[str, ...]:
        """As :meth:`digests`: the current key's first, then the retired keys'."""
        text = _unique_text(cert_type, values)
        return (_digest(self._key, text), *(_digest(k, text) for k in self._retired))

    @property
    def retired_count(self) -> int:
        return len(self._retired)

    @classmethod
    def create(cls, path: Path, passphrase: Secret) -> HolderKey:
        return cls(create_wrapped(path, passphrase, _MAGIC))

    @classmethod
    def load(cls, path: Path, passphrase: Secret) -> HolderKey:
        """The current key and, during a rotation, the retired ones (newest first)."""
        retired = sorted(retired_dir(path).glob("*.bin"), reverse=True)
        return cls(
            load_wrapped(path, passphrase, _MAGIC, "holder key"),
            tuple(load_wrapped(r, passphrase, _MAGIC, "retired holder key") for r in retired),
        )


def _unique_text(cert_type: str, values: tuple[str, ...]) -> str:
    # Its own domain (a prefix no holder identifier has), so a uniqueness digest never equals
    # a holder digest; the unit separator cannot occur in validated one-line values.
    return "\x1funique\x1f" + "\x1f".join((cert_type, *values))


def _digest(key: bytes, identifier: str) -> str:
    normalised = identifier.strip().upper()
    return hmac.new(
        key, b"certledger/holder/v1\x00" + normalised.encode(), hashlib.sha256
    ).hexdigest()


def rotate(path: Path, passphrase: Secret, *, now: datetime | None = None) -> HolderKey:
    """A new current holder key; the old one is retired (kept for matching until
    :func:`certificates.sharing.rekey.rekey_store` has run). Crash-safe: the new key is
    written beside the old first, so at every moment one current key exists."""
    HolderKey.load(path, passphrase)  # the passphrase opens it, or nothing changes
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%S%fZ")
    fresh = path.with_name(path.name + ".new")
    fresh.unlink(missing_ok=True)  # left by a crash during an earlier rotation
    HolderKey.create(fresh, passphrase)
    retired = retired_dir(path)
    retired.mkdir(mode=0o700, exist_ok=True)
    os.link(path, retired / f"{stamp}.bin")  # the old key, kept under its retirement time
    os.replace(fresh, path)
    return HolderKey.load(path, passphrase)


def forget_retired(path: Path) -> int:
    """Delete the retired keys (once no stored digest needs them); returns how many."""
    retired = list(retired_dir(path).glob("*.bin"))
    for r in retired:
        r.unlink()
    return len(retired)
