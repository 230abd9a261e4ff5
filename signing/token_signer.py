"""The signer for a seal key in a PKCS#11 token: pyHanko's PKCS#11 signer with the settled
CMS encoding every seal signer uses. Its own module, so that the token's key management
(:mod:`signing.hsm`) does not depend on the sealing code that depends on it."""

from __future__ import annotations

from collections.abc import Callable

from asn1crypto import algos
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import serialization
from pyhanko.sign.signers import Signer

from signing._signer import SettlingSigner
from signing.hsm import HsmSealIdentity, Pkcs11Key, open_session

__all__ = ["open_token_signer"]


def open_token_signer(
    key: Pkcs11Key, identity: HsmSealIdentity
) -> tuple[Signer, Callable[[], None]]:
    """A pyHanko PKCS#11 signer for ``identity`` and a function that closes its session.

    :raises SigningError: the token cannot be opened, or its key is not the certified one.
    """
    from pyhanko.sign.pkcs11 import PKCS11Signer

    class TokenSigner(SettlingSigner, PKCS11Signer):
        """pyHanko's PKCS#11 signer with the settled CMS encoding of every seal signer."""

    session = open_session(key)
    der = serialization.Encoding.DER
    signer = TokenSigner(
        session,
        key_label=key.key_label,
        signing_cert=asn1_x509.Certificate.load(identity.certificate.public_bytes(der)),
        ca_chain=[asn1_x509.Certificate.load(c.public_bytes(der)) for c in identity.chain],
        signature_mechanism=algos.SignedDigestAlgorithm({"algorithm": "sha256_ecdsa"}),
        # Hash here, sign the digest in the token (CKM_ECDSA): SoftHSM2 and many HSMs
        # do not offer the combined CKM_ECDSA_SHA256 mechanism.
        use_raw_mechanism=True,
    )
    close: Callable[[], None] = session.close
    result: Signer = signer
    return result, close
