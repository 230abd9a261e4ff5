"""Encrypted private-key files: encrypted PKCS#8 PEM, mode 0600."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from signing._files import write_new_file
from signing.errors import KeyPassphraseError, PkiInvalidError, PkiNotInitialisedError
from signing.secret import Secret

__all__ = ["PASSPHRASE_ENV", "generate_key", "read_private_key", "write_private_key"]

logger = logging.getLogger(__name__)

PASSPHRASE_ENV = "CERTLEDGER_PASSPHRASE"  # noqa: S105  (a variable name, not a secret)
"""The environment variable the CLI reads the PKI passphrase from (named in errors)."""

_KEY_FILE_MODE = 0o600


def generate_key() -> ec.EllipticCurvePrivateKey:
    """A fresh ECDSA P-256 key: 128-bit security, fast, and accepted by PAdES validators."""
    return ec.generate_private_key(ec.SECP256R1())


def write_private_key(path: Path, key: ec.EllipticCurvePrivateKey, passphrase: Secret) -> None:
    """Write ``key`` as encrypted PKCS#8 PEM readable only by the owner.

    ``BestAvailableEncryption`` currently means PBES2 (PBKDF2-HMAC-SHA256, AES-256-CBC).
    Its iteration count is modest, so the passphrase itself must be strong; ``init_pki``
    enforces a minimum length.
    """
    pem = key.private_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.BestAvailableEncryption(
            passphrase.reveal().encode("utf-8")
        ),
    )
    write_new_file(path, pem, mode=_KEY_FILE_MODE)


def read_private_key(
    path: Path, passphrase: Secret, *, display_name: str
) -> ec.EllipticCurvePrivateKey:
    """Decrypt the key at ``path``.

    ``display_name`` names the file in error messages (relative to the PKI directory);
    the passphrase never appears in any message.
    """
    try:
        pem = path.read_bytes()
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise PkiNotInitialisedError(
            f"the PKI is incomplete: {display_name} is missing; "
            "restore it from backup or create a new PKI with `certledger init`"
        ) from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        # Not fatal (container volumes often lose modes) but worth an operator's attention.
        logger.warning("private key file %s is accessible by group/others", display_name)
    if b"-----BEGIN ENCRYPTED PRIVATE KEY-----" not in pem:
        # A plaintext key on disk means someone bypassed init_pki; do not use it.
        raise PkiInvalidError(
            f"{display_name} is not an encrypted PKCS#8 key; re-create the PKI with "
            "`certledger init`"
        )
    try:
        key = serialization.load_pem_private_key(pem, passphrase.reveal().encode("utf-8"))
    except (ValueError, TypeError):
        # cryptography raises ValueError for a wrong password and for a corrupt file;
        # both mean "this passphrase does not open this file". `from None` drops the
        # original exception so nothing derived from the secret is chained along.
        raise KeyPassphraseError(
            f"the key passphrase ({PASSPHRASE_ENV}) does not decrypt {display_name}"
        ) from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise PkiInvalidError(f"{display_name} does not hold an ECDSA P-256 key")
    return key
