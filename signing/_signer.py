"""pyHanko ``Signer`` classes for seal keys.

:class:`SettlingSigner` is the base of every seal signer here (file keys and token keys):
it hands pyHanko a CMS whose encoding is already settled (see :mod:`signing._der`).

:class:`LoadedKeySigner` signs with an already decrypted ECDSA P-256 key: pyHanko's
``SimpleSigner`` re-parses its private key from DER on every signature; this signer keeps the
``cryptography`` key object that ``load_pki`` decrypted once.
"""

from __future__ import annotations

from typing import Any

from asn1crypto import algos, cms
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pyhanko.sign.signers import Signer
from pyhanko_certvalidator.registry import SimpleCertificateStore

from signing._der import settle
from signing.pki import SealIdentity

__all__ = ["LoadedKeySigner", "SettlingSigner"]

# Largest DER encoding of an ECDSA P-256 signature (two 33-byte INTEGERs + headers);
# used for pyHanko's dry-run size estimate so the reserved space is always enough.
_MAX_P256_SIGNATURE = 72


def _to_asn1(cert_der: bytes) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert_der)


class SettlingSigner(Signer):
    """A ``Signer`` whose CMS is encoded once, bottom-up, before pyHanko serialises it.

    Without this, asn1crypto may re-encode the freshly built CMS exponentially often inside
    pyHanko's ``fill_with_cms`` (seconds per seal, now and then); see :mod:`signing._der`.
    """

    async def async_sign(self, *args: Any, **kwargs: Any) -> cms.ContentInfo:
        signed: cms.ContentInfo = await super().async_sign(*args, **kwargs)
        settle(signed)
        return signed


class LoadedKeySigner(SettlingSigner):
    def __init__(self, identity: SealIdentity) -> None:
        der = serialization.Encoding.DER
        chain = [_to_asn1(c.public_bytes(der)) for c in identity.chain]
        super().__init__(
            signing_cert=_to_asn1(identity.certificate.public_bytes(der)),
            cert_registry=SimpleCertificateStore.from_certs(chain),  # type: ignore[no-untyped-call]
            # Fixed mechanism: ECDSA with SHA-256, matching the P-256 key strength.
            signature_mechanism=algos.SignedDigestAlgorithm({"algorithm": "sha256_ecdsa"}),
        )
        self._key: ec.EllipticCurvePrivateKey = identity.private_key

    async def async_sign_raw(
        self, data: bytes, digest_algorithm: str, dry_run: bool = False
    ) -> bytes:
        if dry_run:
            return bytes(_MAX_P256_SIGNATURE)
        if digest_algorithm != "sha256":
            raise ValueError(f"seal keys sign with sha256 only, not {digest_algorithm}")
        return self._key.sign(data, ec.ECDSA(hashes.SHA256()))
