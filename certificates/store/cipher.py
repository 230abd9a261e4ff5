"""Personal data encrypted at rest: holder fields (``data_json``), stored PDFs and webhook
secrets are kept in the store under AES-256-GCM with the deployment's data key.

The data key is random, made once (by ``init``, or on the first start with the passphrase of a
deployment made before), and kept in ``secrets/data-key.bin`` wrapped like the holder key. Each
value is bound to its place (table, column, row id) as associated data, so a ciphertext copied
into another row or column does not decrypt. Values written before encryption existed stay
readable (a PDF starts ``%PDF``, a JSON object ``{``, a secret ``whsec_``, never the prefixes
below) and are re-encrypted by :meth:`Store.encrypt_at_rest`.

What stays in clear, on purpose: ids, types, dates and statuses (needed to find rows), the
keyed holder digest (an HMAC, see :mod:`certificates.holder_key`) and ``subject``, the form of
the holder's name the public verification page shows anyway (a company name, or a person's name
masked to its first character).
"""

from __future__ import annotations

import base64
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from certificates.errors import ConfigurationError
from certificates.wrapped_keys import create_wrapped, load_wrapped
from signing import Secret

__all__ = ["FieldCipher", "is_sealed"]

_MAGIC = b"CLDK1"
_BYTES_PREFIX = b"CLE1"
_TEXT_PREFIX = "enc1:"
_NONCE_LEN = 12


def is_sealed(value: bytes | str) -> bool:
    if isinstance(value, bytes):
        return value.startswith(_BYTES_PREFIX)
    return value.startswith(_TEXT_PREFIX)


class FieldCipher:
    """Encrypts and decrypts single values of the store. Its repr never shows the key."""

    __slots__ = ("_aead",)

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("the data key must be 32 bytes")
        self._aead = AESGCM(key)

    def __repr__(self) -> str:
        return "FieldCipher(****)"

    @classmethod
    def open_or_create(cls, path: Path, passphrase: Secret) -> FieldCipher:
        """The deployment's data key; made (once) if the deployment predates it."""
        if not path.exists():
            try:
                return cls(create_wrapped(path, passphrase, _MAGIC))
            except FileExistsError:
                pass  # another process of this deployment made it a moment ago
        return cls(load_wrapped(path, passphrase, _MAGIC, "data key"))

    def seal_bytes(self, value: bytes, place: str) -> bytes:
        nonce = secrets.token_bytes(_NONCE_LEN)
        return _BYTES_PREFIX + nonce + self._aead.encrypt(nonce, value, place.encode())

    def open_bytes(self, value: bytes, place: str) -> bytes:
        if not value.startswith(_BYTES_PREFIX):
            return value  # written before encryption at rest
        body = value[len(_BYTES_PREFIX) :]
        try:
            return self._aead.decrypt(body[:_NONCE_LEN], body[_NONCE_LEN:], place.encode())
        except InvalidTag:
            # Tampered, moved to another row, or another deployment's key: never guessed at.
            raise ConfigurationError(
                f"a stored value does not decrypt ({place.split(':')[0]})"
            ) from None

    def seal_text(self, value: str, place: str) -> str:
        raw = self.seal_bytes(value.encode(), place)[len(_BYTES_PREFIX) :]
        return _TEXT_PREFIX + base64.b64encode(raw).decode()

    def open_text(self, value: str, place: str) -> str:
        if not value.startswith(_TEXT_PREFIX):
            return value
        raw = base64.b64decode(value[len(_TEXT_PREFIX) :])
        return self.open_bytes(_BYTES_PREFIX + raw, place).decode()
