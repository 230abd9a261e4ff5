"""Seal keys in a PKCS#11 token (an HSM, or SoftHSM2 in tests), through pyHanko's
PKCS#11 signer. The private key is generated inside the token, marked sensitive and not
extractable, and never leaves it; only its public key is certified by the issuing CA.

File keys stay the default; a :class:`Sealer` uses a token key when it is given an
:class:`HsmSealIdentity` and the signer from :func:`signing.token_signer.open_token_signer`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from signing.errors import SigningError
from signing.secret import Secret

__all__ = [
    "HSM_PIN_ENV",
    "TOKEN_CONFIG",
    "HsmSealIdentity",
    "Pkcs11Key",
    "generate_token_key",
    "read_token_config",
    "write_token_config",
]

_MASKED = "<hidden>"


@dataclass(frozen=True, repr=False)
class Pkcs11Key:
    """Where a seal key lives: the PKCS#11 module, the token and the key's label. The user
    PIN is a :class:`Secret`: it never appears in reprs, logs or errors."""

    module: Path
    token_label: str
    key_label: str
    pin: Secret = field(compare=False)

    def __repr__(self) -> str:
        return (
            f"Pkcs11Key(module={str(self.module)!r}, token_label={self.token_label!r}, "
            f"key_label={self.key_label!r}, pin={_MASKED})"
        )


@dataclass(frozen=True)
class HsmSealIdentity:
    """An agency's seal certificate and chain whose private key is in a token."""

    agency_code: str
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]

    @property
    def name_zh(self) -> str:
        values = self.certificate.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
        value = values[0].value if values else ""
        return value if isinstance(value, str) else value.decode("utf-8")


def open_session(key: Pkcs11Key, *, rw: bool = False) -> Any:
    import pkcs11  # type: ignore[import-untyped]

    if not key.module.is_file():
        raise SigningError(f"PKCS#11 module {key.module} does not exist")
    try:
        lib = pkcs11.lib(str(key.module))
        token = lib.get_token(token_label=key.token_label)
        return token.open(rw=rw, user_pin=key.pin.reveal())
    except pkcs11.PKCS11Error as exc:
        # The exception type names the failure (e.g. PinIncorrect); its text never holds
        # the PIN, but is not echoed either.
        raise SigningError(
            f"cannot open token {key.token_label!r} with {key.module.name}: {type(exc).__name__}"
        ) from None


def generate_token_key(key: Pkcs11Key) -> ec.EllipticCurvePublicKey:
    """Generate an ECDSA P-256 key pair in the token under ``key.key_label`` (refused if a
    key with that label exists) and return its public key, to be certified."""
    import pkcs11
    from pkcs11.util.ec import (  # type: ignore[import-untyped]
        encode_ec_public_key,
        encode_named_curve_parameters,
    )

    session = open_session(key, rw=True)
    try:
        existing = list(
            session.get_objects(
                {
                    pkcs11.Attribute.LABEL: key.key_label,
                    pkcs11.Attribute.CLASS: pkcs11.ObjectClass.PRIVATE_KEY,
                }
            )
        )
        if existing:
            raise SigningError(f"the token already holds a key labelled {key.key_label!r}")
        params = session.create_domain_parameters(
            pkcs11.KeyType.EC,
            {pkcs11.Attribute.EC_PARAMS: encode_named_curve_parameters("secp256r1")},
            local=True,
        )
        public, _private = params.generate_keypair(
            store=True,
            label=key.key_label,
            private_template={
                pkcs11.Attribute.SENSITIVE: True,
                pkcs11.Attribute.EXTRACTABLE: False,
            },
        )
        der = encode_ec_public_key(public)
    finally:
        session.close()
    loaded = serialization.load_der_public_key(der)
    if not isinstance(loaded, ec.EllipticCurvePublicKey):
        raise SigningError("the token did not produce an EC public key")
    return loaded


TOKEN_CONFIG = "seal.pkcs11.json"  # noqa: S105  (a file name, not a secret)
"""In ``agencies/<code>/``, instead of ``seal.key.pem``: where the agency's seal key lives."""
HSM_PIN_ENV = "CERTLEDGER_HSM_PIN"
"""The environment variable the token's user PIN is read from (never stored on disk)."""


def write_token_config(agency_dir: Path, key: Pkcs11Key) -> None:
    """Record module, token and key label (never the PIN) next to the seal certificate."""
    body = {"module": str(key.module), "token_label": key.token_label, "key_label": key.key_label}
    tmp = agency_dir / f".{TOKEN_CONFIG}.tmp"
    tmp.write_text(json.dumps(body, indent=2), "utf-8")
    os.replace(tmp, agency_dir / TOKEN_CONFIG)


def read_token_config(agency_dir: Path, pin: Secret) -> Pkcs11Key:
    """:raises SigningError: the file is missing or malformed."""
    path = agency_dir / TOKEN_CONFIG
    try:
        raw = json.loads(path.read_text("utf-8"))
        return Pkcs11Key(Path(raw["module"]), raw["token_label"], raw["key_label"], pin)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SigningError(f"{path} is not a valid token configuration ({exc})") from None
