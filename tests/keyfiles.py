"""Private keys found on disk, for the tests that check where keys are (and are not) kept."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from signing import Secret
from signing._keys import read_private_key


def private_keys_under(
    directory: Path, passphrase: Secret
) -> list[tuple[Path, ec.EllipticCurvePublicKey]]:
    """Every PEM private key in any file under ``directory`` (encrypted or not), with its
    public key; a key file the passphrase does not open fails the test."""
    found = []
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        data = path.read_bytes()
        if b"PRIVATE KEY-----" not in data:
            continue
        if b"ENCRYPTED PRIVATE KEY" in data:
            key = read_private_key(path, passphrase, display_name=path.name)
        else:
            plain = serialization.load_pem_private_key(data, None)
            assert isinstance(plain, ec.EllipticCurvePrivateKey), path
            key = plain
        found.append((path, key.public_key()))
    return found
