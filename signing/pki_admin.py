"""Administrative PKI operations that need a CA's private key: revoking a seal certificate
(and re-publishing the CRL), rotating an agency's seal key or the TSA, all with the issuing
CA's key; and re-signing the root's ARL with the root CA's key.

The CA key is decrypted only for the duration of one call; serving processes never
load it (see :class:`signing.pki.Pki`).

**Offline operations.** The root CA key is not in the PKI directory (``init_pki`` writes it to
a separate offline directory), so an operation signing as the root takes that directory (or the
key file) as an explicit argument: today only :func:`publish_arl`, the yearly re-signing of
``crl/root-ca.crl``. Issuing a new issuing CA or a new root OCSP responder certificate would be
the same kind of step; no command does that yet. Everything routine (the daily CRL, rotations,
revocations of seal certificates) uses the issuing CA's key, and the root's OCSP answers are
signed by its delegated responder key, which is why neither needs the root key.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from signing import _certs
from signing._files import write_new_file
from signing._keys import generate_key, read_private_key, write_private_key
from signing.errors import (
    PkiInvalidError,
    PkiNotInitialisedError,
    SigningError,
    UnknownAgencyError,
)
from signing.hsm import Pkcs11Key, generate_token_key, write_token_config
from signing.pki import (
    AGENCIES_DIR,
    ARL_FILE,
    CRL_FILE,
    ISSUING_CERT,
    ISSUING_KEY,
    RETIRED_DIR,
    REVOCATIONS,
    ROOT_CERT,
    ROOT_KEY,
    ROOT_REVOCATIONS,
    SEAL_CERT,
    SEAL_KEY,
    TSA_CERT,
    TSA_KEY,
    load_certificate,
    read_service_urls,
)
from signing.revocation import (
    ARL_VALIDITY,
    CRL_VALIDITY,
    RevocationRecord,
    RevocationRegistry,
    build_crl,
)
from signing.secret import Secret

__all__ = [
    "RotatedSeal",
    "arl_next_update",
    "certify_seal_key",
    "enroll_token_seal",
    "publish_arl",
    "publish_crl",
    "revoke_certificate",
    "root_key_file",
    "rotate_seal",
    "rotate_tsa",
]

_CERT_FILE_MODE = 0o644


def _now(now: datetime | None) -> datetime:
    value = now or datetime.now(UTC)
    if value.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return value.astimezone(UTC)


def _issuer(
    pki_dir: Path, passphrase: Secret, cert_rel: str = ISSUING_CERT, key_rel: str = ISSUING_KEY
) -> _certs.Issuer:
    cert = load_certificate(pki_dir / cert_rel)
    key = read_private_key(pki_dir / key_rel, passphrase, display_name=key_rel)
    if key.public_key() != cert.public_key():
        raise PkiInvalidError(f"{key_rel} is not the private key of {cert_rel}")
    return _certs.Issuer(cert, key)


def root_key_file(root_key: Path) -> Path:
    """The root CA key file given the offline directory ``init_pki`` wrote it to, or the file
    itself.

    :raises PkiNotInitialisedError: no root key there.
    """
    root_key = Path(root_key)
    path = root_key / ROOT_KEY if root_key.is_dir() else root_key
    if not path.is_file():
        raise PkiNotInitialisedError(
            f"the root CA key is not at {path}: give the offline directory that "
            f"`certledger init` wrote {ROOT_KEY} to (or the key file itself)"
        )
    return path


def _root_issuer(pki_dir: Path, passphrase: Secret, root_key: Path) -> _certs.Issuer:
    """The root CA, its key read from the offline directory (checked against root-ca.pem)."""
    path = root_key_file(root_key)
    cert = load_certificate(pki_dir / ROOT_CERT)
    key = read_private_key(path, passphrase, display_name=str(path))
    if key.public_key() != cert.public_key():
        raise PkiInvalidError(f"{path} is not the private key of this PKI's root CA ({ROOT_CERT})")
    return _certs.Issuer(cert, key)


def _publish(
    path: Path, issuer: _certs.Issuer, registry: Path, validity: timedelta, now: datetime
) -> Path:
    number = 1
    if path.is_file():
        try:
            old = x509.load_der_x509_crl(path.read_bytes())
            number = old.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number + 1
        except (ValueError, x509.ExtensionNotFound):
            raise PkiInvalidError(f"{path} is not a CRL of this PKI") from None
    records = RevocationRegistry(registry).records()
    der = build_crl(
        issuer.certificate, issuer.key, records, now=now, number=number, validity=validity
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    write_new_file(tmp, der, mode=_CERT_FILE_MODE)
    os.replace(tmp, path)
    return path


def publish_crl(pki_dir: Path, passphrase: Secret, *, now: datetime | None = None) -> Path:
    """Sign a fresh CRL of every seal/TSA certificate revocation recorded and replace the
    issuing CA's published CRL (daily; the issuing CA's key, online).

    The CRL number continues from the published CRL (RFC 5280 §5.2.3: monotonically
    increasing), so relying parties can tell the newer list.
    """
    pki_dir = Path(pki_dir)
    issuer = _issuer(pki_dir, passphrase)
    return _publish(pki_dir / CRL_FILE, issuer, pki_dir / REVOCATIONS, CRL_VALIDITY, _now(now))


def publish_arl(
    pki_dir: Path, passphrase: Secret, root_key: Path, *, now: datetime | None = None
) -> Path:
    """Re-sign the root's list of revoked CA certificates (ARL, ``crl/root-ca.crl``, valid for
    :data:`~signing.revocation.ARL_VALIDITY`) with the root CA key from ``root_key`` (the
    offline directory, or the key file). An offline step: at least once a year, and after the
    root revokes a CA certificate. The CRL number continues from the published ARL."""
    pki_dir = Path(pki_dir)
    issuer = _root_issuer(pki_dir, passphrase, root_key)
    return _publish(pki_dir / ARL_FILE, issuer, pki_dir / ROOT_REVOCATIONS, ARL_VALIDITY, _now(now))


def arl_next_update(pki_dir: Path) -> datetime | None:
    """When the published ARL expires (its nextUpdate); ``None`` if there is none. Needs no
    key: the daily `seal crl` reports it, so the yearly offline re-signing is not missed."""
    path = Path(pki_dir) / ARL_FILE
    try:
        return x509.load_der_x509_crl(path.read_bytes()).next_update_utc
    except FileNotFoundError:
        return None
    except ValueError:
        raise PkiInvalidError(f"{path} is not a CRL of this PKI") from None


def revoke_certificate(
    pki_dir: Path,
    passphrase: Secret,
    cert: x509.Certificate,
    *,
    reason: str,
    since: datetime | None = None,
    now: datetime | None = None,
) -> RevocationRecord:
    """Revoke ``cert`` (from ``since`` if given, else from now) and re-publish the CRL.

    The CA key is decrypted first, so a wrong passphrase changes nothing.
    """
    pki_dir = Path(pki_dir)
    now = _now(now)
    issuer = _issuer(pki_dir, passphrase)
    if cert.issuer != issuer.certificate.subject:
        raise SigningError("this certificate was not issued by this PKI's issuing CA")
    revoked_at = _now(since) if since is not None else now
    record = RevocationRegistry(pki_dir / REVOCATIONS).revoke(
        cert, reason=reason, revoked_at=revoked_at, now=now
    )
    publish_crl(pki_dir, passphrase, now=now)
    return record


@dataclass(frozen=True)
class RotatedSeal:
    agency_code: str
    old: x509.Certificate
    new: x509.Certificate


def _retire(path: Path, cert: x509.Certificate) -> None:
    """Keep a replaced certificate (never its key): what it sealed or stamped still verifies."""
    write_new_file(path, cert.public_bytes(serialization.Encoding.PEM), mode=_CERT_FILE_MODE)


def _install(
    directory: Path,
    staging_name: str,
    cert_name: str,
    key_name: str,
    cert: x509.Certificate,
    key: ec.EllipticCurvePrivateKey,
    passphrase: Secret,
) -> None:
    """Write a new certificate and its encrypted key next to each other under ``directory``.

    Both are staged first. The key is swapped in before the certificate: a crash in between
    leaves a key that does not match its certificate, which load_pki reports, never a
    silently old certificate.
    """
    staging = directory / staging_name
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(mode=0o700)
    write_new_file(
        staging / cert_name, cert.public_bytes(serialization.Encoding.PEM), mode=_CERT_FILE_MODE
    )
    write_private_key(staging / key_name, key, passphrase)
    os.replace(staging / key_name, directory / key_name)
    os.replace(staging / cert_name, directory / cert_name)
    staging.rmdir()


def _issue_seal_like(
    pki_dir: Path,
    issuer: _certs.Issuer,
    agency_code: str,
    current: x509.Certificate,
    public_key: ec.EllipticCurvePublicKey,
    now: datetime,
) -> x509.Certificate:
    """A seal certificate for ``public_key`` with the agency's name as ``current`` has it."""
    name_attrs = current.subject.get_attributes_for_oid(x509.NameOID.ORGANIZATION_NAME)
    return _certs.issue_seal(
        issuer, agency_code, str(name_attrs[0].value), public_key, now, read_service_urls(pki_dir)
    )


def rotate_seal(
    pki_dir: Path, passphrase: Secret, agency_code: str, *, now: datetime | None = None
) -> RotatedSeal:
    """Give ``agency_code`` a new seal key and certificate.

    The old certificate moves to ``agencies/<code>/retired/<serial>.pem`` (its private key
    is deleted: nothing may be sealed with it any more), so documents sealed with it still
    verify and the registry can list both.
    """
    pki_dir = Path(pki_dir)
    now = _now(now)
    agency_dir = pki_dir / AGENCIES_DIR / agency_code
    if not (agency_dir / SEAL_CERT).is_file():
        raise UnknownAgencyError(f"no seal certificate for agency {agency_code!r} in {pki_dir}")
    issuer = _issuer(pki_dir, passphrase)
    old = load_certificate(agency_dir / SEAL_CERT)
    # Decrypting the old key proves the passphrase before anything is changed.
    read_private_key(agency_dir / SEAL_KEY, passphrase, display_name=f"{agency_code}/{SEAL_KEY}")
    key = generate_key()
    new = _issue_seal_like(pki_dir, issuer, agency_code, old, key.public_key(), now)
    retired = agency_dir / RETIRED_DIR
    retired.mkdir(mode=0o700, exist_ok=True)
    _retire(retired / f"{old.serial_number:x}.pem", old)
    _install(agency_dir, ".rotation", SEAL_CERT, SEAL_KEY, new, key, passphrase)
    return RotatedSeal(agency_code, old, new)


def certify_seal_key(
    pki_dir: Path,
    passphrase: Secret,
    agency_code: str,
    public_key: ec.EllipticCurvePublicKey,
    *,
    now: datetime | None = None,
) -> x509.Certificate:
    """Issue a seal certificate for a key generated elsewhere (a PKCS#11 token), with the
    agency's name as its current seal certificate carries it. Nothing is written: the
    caller decides where the certificate goes."""
    pki_dir = Path(pki_dir)
    current = load_certificate(pki_dir / AGENCIES_DIR / agency_code / SEAL_CERT)
    issuer = _issuer(pki_dir, passphrase)
    return _issue_seal_like(pki_dir, issuer, agency_code, current, public_key, _now(now))


def rotate_tsa(
    pki_dir: Path, passphrase: Secret, *, now: datetime | None = None
) -> x509.Certificate:
    """A new time-stamp authority key and certificate (before the old one nears expiry, so
    ``certledger ltv renew`` has a TSA whose certificate outlives the old timestamps).
    The old certificate is kept as ``tsa-retired-<serial>.pem``; its key is deleted, and the
    issuing CA's CRL is re-published after the new certificate."""
    pki_dir = Path(pki_dir)
    issuer = _issuer(pki_dir, passphrase)
    old = load_certificate(pki_dir / TSA_CERT)
    read_private_key(pki_dir / TSA_KEY, passphrase, display_name=TSA_KEY)  # proves the passphrase
    key = generate_key()
    new = _certs.issue_tsa(
        issuer, old.subject, key.public_key(), _now(now), read_service_urls(pki_dir)
    )
    _retire(pki_dir / f"tsa-retired-{old.serial_number:x}.pem", old)
    _install(pki_dir, ".tsa-rotation", TSA_CERT, TSA_KEY, new, key, passphrase)
    # A CRL issued before the new certificate says nothing about it: validators reject it
    # as revocation data for that certificate. Publish one now, so a renewal made with the
    # new TSA can carry current data from both the OCSP responder and the CRL.
    _publish(pki_dir / CRL_FILE, issuer, pki_dir / REVOCATIONS, CRL_VALIDITY, _now(now))
    return new


def enroll_token_seal(
    pki_dir: Path,
    passphrase: Secret,
    agency_code: str,
    key: Pkcs11Key,
    *,
    now: datetime | None = None,
) -> RotatedSeal:
    """Move an agency's seal key into a PKCS#11 token: a new key pair is generated in the
    token, the issuing CA certifies it, the old certificate is retired (its file key is
    deleted) and ``seal.pkcs11.json`` records where the key lives (never the PIN)."""
    pki_dir = Path(pki_dir)
    agency_dir = pki_dir / AGENCIES_DIR / agency_code
    if not (agency_dir / SEAL_CERT).is_file():
        raise UnknownAgencyError(f"no seal certificate for agency {agency_code!r} in {pki_dir}")
    issuer = _issuer(pki_dir, passphrase)  # proves the passphrase before the token is touched
    old = load_certificate(agency_dir / SEAL_CERT)
    new = _issue_seal_like(pki_dir, issuer, agency_code, old, generate_token_key(key), _now(now))
    retired = agency_dir / RETIRED_DIR
    retired.mkdir(mode=0o700, exist_ok=True)
    _retire(retired / f"{old.serial_number:x}.pem", old)
    write_token_config(agency_dir, key)
    tmp = agency_dir / f".{SEAL_CERT}.tmp"
    tmp.unlink(missing_ok=True)
    write_new_file(tmp, new.public_bytes(serialization.Encoding.PEM), mode=_CERT_FILE_MODE)
    os.replace(tmp, agency_dir / SEAL_CERT)
    (agency_dir / SEAL_KEY).unlink(missing_ok=True)
    return RotatedSeal(agency_code, old, new)
