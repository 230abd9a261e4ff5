"""The node identity that signs block headers, and checks on the key material given."""

from __future__ import annotations

import hashlib

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import Certificate

from ledger.errors import LedgerConfigError

__all__ = ["NodeIdentity", "cert_fingerprint"]

_SIG = ec.ECDSA(hashes.SHA256())


def cert_fingerprint(cert: Certificate) -> str:
    """SHA-256 of the certificate's DER, lowercase hex: the ``signer`` field of headers."""
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


class NodeIdentity:
    """A node certificate, plus its private key when this handle may write.

    Trust is explicit: the certificate comes from settings, and headers are verified against
    it, never against anything stored in the ledger file (which an attacker could rewrite).
    """

    __slots__ = ("_key", "cert", "fingerprint", "public_key")

    def __init__(self, cert: Certificate, key: ec.EllipticCurvePrivateKey | None = None) -> None:
        if not isinstance(cert, Certificate):
            raise LedgerConfigError("node_cert must be a cryptography x509.Certificate")
        public = cert.public_key()
        if not isinstance(public, ec.EllipticCurvePublicKey) or not isinstance(
            public.curve, ec.SECP256R1
        ):
            raise LedgerConfigError("the node certificate must hold an ECDSA P-256 public key")
        if key is not None:
            if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(
                key.curve, ec.SECP256R1
            ):
                raise LedgerConfigError("node_key must be an ECDSA P-256 private key")
            if key.public_key().public_numbers() != public.public_numbers():
                raise LedgerConfigError(
                    "node_key does not belong to node_cert: check the node's key and "
                    "certificate settings"
                )
        self._key = key
        self.cert = cert
        self.public_key = public
        self.fingerprint = cert_fingerprint(cert)

    @property
    def can_sign(self) -> bool:
        return self._key is not None

    def sign(self, data: bytes) -> bytes:
        if self._key is None:
            raise LedgerConfigError("this ledger handle is read-only: it has no node key")
        return self._key.sign(data, _SIG)

    def verify(self, signature: bytes, data: bytes) -> bool:
        try:
            self.public_key.verify(signature, data, _SIG)
        except InvalidSignature:
            return False
        return True

    def __repr__(self) -> str:
        # Never show key material, not even whether a key object is around in detail.
        kind = "signing" if self._key is not None else "verify-only"
        return f"NodeIdentity({kind}, cert sha256={self.fingerprint[:16]}...)"
