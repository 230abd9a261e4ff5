"""The project's demo government PKI: creation (``init_pki``) and loading (``load_pki``).

Layout of a PKI directory (keys are encrypted PKCS#8 PEM, mode 0600)::

    root-ca.pem            the root CA certificate (its key is NOT here, see below)
    issuing-ca.pem         issuing-ca.key.pem
    tsa.pem                tsa.key.pem
    ledger-node.pem        ledger-node.key.pem
    agencies/<code>/seal.pem   agencies/<code>/seal.key.pem
    agencies/<code>/retired/<serial>.pem   seal certificates replaced by a rotation
    trust-roots.pem        the explicit trust-root list (the root CA certificate)
    ocsp.pem               ocsp.key.pem     delegated OCSP responder of the issuing CA
    root-ocsp.pem          root-ocsp.key.pem   delegated OCSP responder of the root CA
    revocations-root.json  CA certificates revoked by the root (normally none)
    revocations.json       revoked certificates (see :mod:`signing.revocation`)
    crl/issuing-ca.crl     the issuing CA's published CRL
    crl/root-ca.crl        the root's CRL of CA certificates (ARL), valid for a year
    services.json          the public base URL written into AIA / CRL distribution points

PKIs created before revocation services existed lack the last four; they still load
(``Pki.ocsp`` is then ``None`` and only B-T sealing is possible).

**The root CA key is kept offline.** ``init_pki`` writes ``root-ca.key.pem`` into a separate
*offline directory* (``root_key_dir``, created 0700; by default the sibling
``<pki_dir>.root-ca``, and ``certledger init`` puts it next to the data directory, never inside
it), to be moved to offline media. Nothing that runs routinely needs it: seals, the TSA, the
issuing CA's CRL and both OCSP responders use their own keys (the root's OCSP answers are
signed by the delegated ``root-ocsp.key.pem``). Only the operations of
:mod:`signing.pki_admin` that sign as the root (re-signing the ARL) take the offline directory
explicitly. PKIs made before this still have ``root-ca.key.pem`` here; they load as before and
``load_pki`` logs one WARNING saying how to move it.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from signing import _certs
from signing._files import write_new_file
from signing._keys import generate_key, read_private_key, write_private_key
from signing.errors import (
    PkiExistsError,
    PkiInvalidError,
    PkiNotInitialisedError,
    SigningError,
    UnknownAgencyError,
)
from signing.hsm import TOKEN_CONFIG, HsmSealIdentity
from signing.revocation import ARL_VALIDITY, build_crl
from signing.secret import Secret

__all__ = [
    "MIN_PASSPHRASE_LENGTH",
    "AgencyIdentity",
    "NodeIdentity",
    "OcspIdentity",
    "Pki",
    "SealIdentity",
    "TsaIdentity",
    "default_root_key_dir",
    "init_pki",
    "load_certificate",
    "load_pki",
    "load_trust_roots",
    "warn_if_root_key_online",
]

logger = logging.getLogger(__name__)

MIN_PASSPHRASE_LENGTH = 12
"""Keys are encrypted with PBES2: PBKDF2-HMAC-SHA256 at 600,000 iterations
(:data:`signing._keys.KDF_ROUNDS`, OWASP's 2023 figure) and AES-256-CBC; older files are
re-wrapped with that on load. That makes each offline guess cost a fraction of a CPU second,
which slows guessing down but cannot rescue a short or common passphrase: the passphrase still
has to carry the strength."""

ROOT_CERT = "root-ca.pem"
ROOT_KEY = "root-ca.key.pem"
"""The root CA's key file: in the offline directory (``init_pki(root_key_dir=...)``), and in
the PKI directory only in deployments made before the key was kept offline."""
ROOT_KEY_DIR_SUFFIX = ".root-ca"
ISSUING_CERT = "issuing-ca.pem"
ISSUING_KEY = "issuing-ca.key.pem"
TSA_CERT = "tsa.pem"
TSA_KEY = "tsa.key.pem"
NODE_CERT = "ledger-node.pem"
NODE_KEY = "ledger-node.key.pem"
TRUST_ROOTS = "trust-roots.pem"
AGENCIES_DIR = "agencies"
SEAL_CERT = "seal.pem"
SEAL_KEY = "seal.key.pem"
RETIRED_DIR = "retired"
OCSP_CERT = "ocsp.pem"
OCSP_KEY = "ocsp.key.pem"
ROOT_OCSP_CERT = "root-ocsp.pem"
ROOT_OCSP_KEY = "root-ocsp.key.pem"
ROOT_REVOCATIONS = "revocations-root.json"
REVOCATIONS = "revocations.json"
CRL_FILE = "crl/issuing-ca.crl"
ARL_FILE = "crl/root-ca.crl"
SERVICES = "services.json"

_CERT_FILE_MODE = 0o644
# Agency codes become directory names: a strict alphabet rules out path traversal
# ("../x") and odd characters in certificate OUs.
_AGENCY_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_MASKED = "<hidden>"
_ONLINE_ROOT_WARNED: set[Path] = set()  # PKI directories already warned about (per process)


@dataclass(frozen=True)
class AgencyIdentity:
    """An agency that seals documents. ``code`` is a short stable identifier."""

    code: str
    name_zh: str
    name_en: str


class _Keyed:
    """Short aliases shared by the identities (``cert``/``key``)."""

    certificate: x509.Certificate
    private_key: ec.EllipticCurvePrivateKey

    @property
    def cert(self) -> x509.Certificate:
        """Alias of :attr:`certificate`."""
        return self.certificate

    @property
    def key(self) -> ec.EllipticCurvePrivateKey:
        """Alias of :attr:`private_key`."""
        return self.private_key

    def __repr__(self) -> str:
        # The private key never appears in a repr; the subject says which identity this is.
        return (
            f"{type(self).__name__}(subject={self.certificate.subject.rfc4514_string()!r}, "
            f"private_key={_MASKED})"
        )


@dataclass(frozen=True, repr=False)
class SealIdentity(_Keyed):
    """An agency's seal certificate, its private key and its chain (issuing CA, root)."""

    agency_code: str
    certificate: x509.Certificate
    private_key: ec.EllipticCurvePrivateKey = field(compare=False)
    chain: tuple[x509.Certificate, ...]

    @property
    def name_zh(self) -> str:
        """The agency's Chinese name, as certified (subject O)."""
        return _single_attribute(self.certificate.subject, NameOID.ORGANIZATION_NAME)

    def __repr__(self) -> str:
        return (
            f"SealIdentity(agency_code={self.agency_code!r}, "
            f"subject={self.certificate.subject.rfc4514_string()!r}, private_key={_MASKED})"
        )


@dataclass(frozen=True, repr=False)
class TsaIdentity(_Keyed):
    """The time-stamp authority's certificate, private key and chain (issuing CA, root)."""

    certificate: x509.Certificate
    private_key: ec.EllipticCurvePrivateKey = field(compare=False)
    chain: tuple[x509.Certificate, ...]


@dataclass(frozen=True, repr=False)
class NodeIdentity(_Keyed):
    """The ledger node's certificate and key (signs embedded-ledger block headers)."""

    certificate: x509.Certificate
    private_key: ec.EllipticCurvePrivateKey = field(compare=False)


@dataclass(frozen=True, repr=False)
class OcspIdentity(_Keyed):
    """The issuing CA's delegated OCSP responder certificate and key."""

    certificate: x509.Certificate
    private_key: ec.EllipticCurvePrivateKey = field(compare=False)


@dataclass(frozen=True, repr=False)
class Pki:
    """A loaded PKI. All operational keys are decrypted once, at load time.

    The CA private keys are deliberately *not* loaded: a serving process never needs
    them, and keeping them out of its memory limits what a compromise can reach.
    """

    pki_dir: Path
    root: x509.Certificate
    issuing_ca: x509.Certificate
    trust_roots: tuple[x509.Certificate, ...]
    tsa: TsaIdentity
    node: NodeIdentity
    _seals: Mapping[str, SealIdentity]
    ocsp: OcspIdentity | None = None
    """``None`` for PKIs created before revocation services existed."""
    root_ocsp: OcspIdentity | None = None
    """The root's responder, answering for the issuing CA certificate."""
    _retired: Mapping[str, tuple[x509.Certificate, ...]] = field(
        default_factory=lambda: MappingProxyType({})
    )
    _token_seals: Mapping[str, HsmSealIdentity] = field(
        default_factory=lambda: MappingProxyType({})
    )

    def token_agencies(self) -> tuple[str, ...]:
        """Agencies whose seal key is in a PKCS#11 token (not among :meth:`agencies`)."""
        return tuple(sorted(self._token_seals))

    def token_seal(self, code: str) -> HsmSealIdentity:
        try:
            return self._token_seals[code]
        except KeyError:
            raise UnknownAgencyError(f"agency {code!r} has no seal key in a token") from None

    @property
    def revocations_path(self) -> Path:
        return self.pki_dir / REVOCATIONS

    @property
    def root_revocations_path(self) -> Path:
        return self.pki_dir / ROOT_REVOCATIONS

    @property
    def crl_path(self) -> Path:
        return self.pki_dir / CRL_FILE

    @property
    def crl_paths(self) -> tuple[Path, ...]:
        """The published CRLs: the issuing CA's, then the root's (ARL)."""
        return (self.pki_dir / CRL_FILE, self.pki_dir / ARL_FILE)

    def seal_certificates(self, code: str) -> tuple[x509.Certificate, ...]:
        """Every seal certificate the agency has had, current first, then retired ones
        (newest first)."""
        token = self._token_seals.get(code)
        current = token.certificate if token is not None else self.seal(code).certificate
        return (current, *self._retired.get(code, ()))

    def seal(self, code: str) -> SealIdentity:
        try:
            return self._seals[code]
        except KeyError:
            known = ", ".join(self.agencies()) or "none"
            raise UnknownAgencyError(
                f"no seal certificate for agency {code!r} in {self.pki_dir} "
                f"(known agencies: {known})"
            ) from None

    def agencies(self) -> tuple[str, ...]:
        return tuple(sorted(self._seals))

    def __repr__(self) -> str:
        return f"Pki(pki_dir={str(self.pki_dir)!r}, agencies={self.agencies()!r})"


def _single_attribute(name: x509.Name, oid: x509.ObjectIdentifier) -> str:
    values = name.get_attributes_for_oid(oid)
    if len(values) != 1:
        raise PkiInvalidError(
            f"expected exactly one {oid.dotted_string} in {name.rfc4514_string()}"
        )
    value = values[0].value
    return value if isinstance(value, str) else value.decode("utf-8")


def _validate_request(agencies: Sequence[AgencyIdentity], passphrase: Secret) -> None:
    if len(passphrase.reveal()) < MIN_PASSPHRASE_LENGTH:
        raise SigningError(
            f"the PKI passphrase must be at least {MIN_PASSPHRASE_LENGTH} characters long; "
            "choose a longer one"
        )
    if not agencies:
        raise SigningError("at least one agency is needed to create a PKI")
    seen: set[str] = set()
    for agency in agencies:
        if not _AGENCY_CODE.fullmatch(agency.code):
            raise SigningError(
                f"agency code {agency.code!r} is invalid: use 1-64 letters, digits, "
                "'-' or '_', starting with a letter or digit"
            )
        if agency.code in seen:
            raise SigningError(f"agency code {agency.code!r} appears twice")
        seen.add(agency.code)
        if not agency.name_zh.strip():
            raise SigningError(f"agency {agency.code!r} has an empty Chinese name")


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def default_root_key_dir(pki_dir: Path) -> Path:
    """Where ``init_pki`` writes the root CA key unless told otherwise: the sibling directory
    ``<pki_dir>.root-ca`` (``certledger init`` passes its own default, next to the data
    directory)."""
    pki_dir = Path(pki_dir)
    return pki_dir.with_name(pki_dir.name + ROOT_KEY_DIR_SUFFIX)


def _is_within(path: Path, directory: Path) -> bool:
    return path.resolve().is_relative_to(directory.resolve())


def init_pki(
    pki_dir: Path,
    agencies: Sequence[AgencyIdentity],
    passphrase: Secret,
    *,
    org_name: str = "CertLedger Demo Government PKI",
    now: datetime | None = None,
    base_url: str | None = None,
    root_key_dir: Path | None = None,
) -> Path:
    """Create a root CA, an issuing CA, one seal certificate per agency, a TSA
    certificate, a ledger-node certificate, an OCSP responder certificate and a first
    (empty) CRL under ``pki_dir``; the root CA's key goes to ``root_key_dir`` instead
    (default :func:`default_root_key_dir`), which must lie outside ``pki_dir``. Returns the
    path of the root key file.

    With ``base_url`` (the server's public address) the seal and TSA certificates name
    the OCSP responder, the CRL and the CA certificate under that address (AIA and CRL
    distribution points); without it they carry no URLs and revocation data reaches
    documents only through the sealer (in-process).

    The PKI is written to a temporary sibling directory and renamed into place, so a
    crash never leaves a half-written PKI behind. The root key file is written (0600, in a
    directory created 0700) just before that rename, and removed again if the rename fails.

    :raises PkiExistsError: ``pki_dir`` exists and is not empty, or ``root_key_dir``
        already holds a root key.
    :raises SigningError: invalid agencies, a too short passphrase, or a ``root_key_dir``
        inside ``pki_dir``.
    """
    _validate_request(agencies, passphrase)
    pki_dir = Path(pki_dir)
    if pki_dir.exists() and (not pki_dir.is_dir() or any(pki_dir.iterdir())):
        raise PkiExistsError(
            f"{pki_dir} already exists and is not empty; refusing to overwrite a PKI "
            "(move it away first if you really want a new one)"
        )
    offline = Path(root_key_dir) if root_key_dir is not None else default_root_key_dir(pki_dir)
    if _is_within(offline, pki_dir):
        raise SigningError(
            f"the root CA key directory {offline} is inside the PKI directory {pki_dir}; "
            "it must be a separate directory (the root key is kept offline)"
        )
    root_key_file = offline / ROOT_KEY
    if root_key_file.exists() or (offline.exists() and not offline.is_dir()):
        raise PkiExistsError(
            f"{root_key_file} already exists; refusing to overwrite a root CA key "
            "(choose another offline directory, or move that one away first)"
        )
    now = (now or datetime.now(UTC)).astimezone(UTC)
    pki_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{pki_dir.name}.", dir=pki_dir.parent))
    made_offline = False
    key_written = False
    try:
        root_key = _write_pki(staging, agencies, passphrase, org_name, now, _service_urls(base_url))
        if not offline.exists():
            offline.mkdir(parents=True, mode=0o700)
            offline.chmod(0o700)  # regardless of the umask
            made_offline = True
        write_private_key(root_key_file, root_key, passphrase)
        key_written = True
        if pki_dir.exists():
            pki_dir.rmdir()  # empty (checked above); rename needs the name free
        os.rename(staging, pki_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if key_written:
            root_key_file.unlink(missing_ok=True)
        if made_offline:
            shutil.rmtree(offline, ignore_errors=True)
        raise
    return root_key_file


def _service_urls(base_url: str | None) -> _certs.ServiceUrls | None:
    if base_url is None:
        return None
    base = base_url.rstrip("/")
    if not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", base):
        raise SigningError(f"base URL {base_url!r} must be an http(s) URL without query")
    return _certs.ServiceUrls(base)


def read_service_urls(pki_dir: Path) -> _certs.ServiceUrls | None:
    """The base URL recorded at ``init_pki`` (``None`` when none was given)."""
    try:
        raw = json.loads((Path(pki_dir) / SERVICES).read_text("utf-8"))
    except FileNotFoundError:
        return None
    except ValueError:
        raise PkiInvalidError(f"{SERVICES} in {pki_dir} is not valid JSON") from None
    base = raw.get("base_url")
    return _service_urls(base) if isinstance(base, str) else None


def _write_pki(
    out: Path,
    agencies: Sequence[AgencyIdentity],
    passphrase: Secret,
    org_name: str,
    now: datetime,
    urls: _certs.ServiceUrls | None,
) -> ec.EllipticCurvePrivateKey:
    """Write the PKI into ``out``; the root CA's key is returned, not written (it goes to
    the offline directory)."""

    def cert_file(rel: str, cert: x509.Certificate) -> None:
        write_new_file(out / rel, _cert_pem(cert), mode=_CERT_FILE_MODE)

    root_key = generate_key()
    root_cert = _certs.self_signed_root(
        _certs.ca_name(org_name, "CertLedger Demo Root CA"), root_key, now
    )
    root = _certs.Issuer(root_cert, root_key)

    issuing_key = generate_key()
    issuing_cert = _certs.issue_ca(
        root,
        _certs.ca_name(org_name, "CertLedger Demo Issuing CA"),
        issuing_key.public_key(),
        now,
        # The root's services: its ARL, the shared OCSP endpoint (the root's delegated
        # responder answers for this certificate) and the root certificate.
        _certs.ServiceUrls(urls.base, ca_slug="root-ca") if urls is not None else None,
    )
    issuing = _certs.Issuer(issuing_cert, issuing_key)

    tsa_key = generate_key()
    tsa_cert = _certs.issue_tsa(
        issuing,
        _certs.ca_name(org_name, "CertLedger Demo Time-Stamp Authority"),
        tsa_key.public_key(),
        now,
        urls,
    )
    ocsp_key = generate_key()
    ocsp_cert = _certs.issue_ocsp_responder(
        issuing,
        _certs.ca_name(org_name, "CertLedger Demo OCSP Responder"),
        ocsp_key.public_key(),
        now,
    )
    # The root's delegated OCSP responder key stays online, beside the others: answering OCSP
    # for the issuing CA certificate is routine and must not need the offline root key. The
    # responder certificate is an end entity (EKU OCSPSigning only), so its key can at worst
    # mis-answer for the issuing CA, never certify anything.
    root_ocsp_key = generate_key()
    root_ocsp_cert = _certs.issue_ocsp_responder(
        root,
        _certs.ca_name(org_name, "CertLedger Demo Root OCSP Responder"),
        root_ocsp_key.public_key(),
        now,
    )
    node_key = generate_key()
    node_cert = _certs.issue_ledger_node(
        issuing,
        _certs.ca_name(org_name, "CertLedger Ledger Node"),
        node_key.public_key(),
        now,
    )

    cert_file(ROOT_CERT, root_cert)
    for rel, cert, key in (
        (ISSUING_CERT, issuing_cert, issuing_key),
        (TSA_CERT, tsa_cert, tsa_key),
        (NODE_CERT, node_cert, node_key),
        (OCSP_CERT, ocsp_cert, ocsp_key),
        (ROOT_OCSP_CERT, root_ocsp_cert, root_ocsp_key),
    ):
        cert_file(rel, cert)
        write_private_key(out / rel.replace(".pem", ".key.pem"), key, passphrase)

    for agency in agencies:
        agency_dir = out / AGENCIES_DIR / agency.code
        agency_dir.mkdir(parents=True, mode=0o700)
        seal_key = generate_key()
        seal_cert = _certs.issue_seal(
            issuing, agency.code, agency.name_zh, seal_key.public_key(), now, urls
        )
        cert_file(f"{AGENCIES_DIR}/{agency.code}/{SEAL_CERT}", seal_cert)
        write_private_key(agency_dir / SEAL_KEY, seal_key, passphrase)

    # The explicit trust list handed to verifiers. Only the root: trusting the issuing
    # CA directly would bypass the root's constraints on it.
    cert_file(TRUST_ROOTS, root_cert)

    services = {"base_url": urls.base if urls else None}
    write_new_file(out / SERVICES, json.dumps(services).encode(), mode=_CERT_FILE_MODE)
    (out / CRL_FILE).parent.mkdir()
    crl = build_crl(issuing_cert, issuing_key, {}, now=now, number=1)
    write_new_file(out / CRL_FILE, crl, mode=_CERT_FILE_MODE)
    # The ARL is valid for a year: re-signing it is the yearly offline step
    # (`certledger seal arl --offline-dir DIR`, signing.pki_admin.publish_arl).
    arl = build_crl(root_cert, root_key, {}, now=now, number=1, validity=ARL_VALIDITY)
    write_new_file(out / ARL_FILE, arl, mode=_CERT_FILE_MODE)
    return root_key


def load_trust_roots(path: Path) -> tuple[x509.Certificate, ...]:
    """Read a PEM bundle of trust roots. An empty or unreadable bundle is an error.

    :raises PkiNotInitialisedError: the file does not exist.
    :raises PkiInvalidError: the file holds no PEM certificate.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise PkiNotInitialisedError(
            f"trust root file {path} does not exist; run `certledger init` or point the "
            "verifier at the PKI's trust-roots.pem"
        ) from None
    try:
        roots = tuple(x509.load_pem_x509_certificates(data))
    except ValueError:
        raise PkiInvalidError(f"{path} does not contain PEM certificates") from None
    return roots


def load_certificate(path: Path) -> x509.Certificate:
    """Read one PEM certificate (e.g. ``ledger-node.pem`` for a read-only verifier).

    :raises PkiNotInitialisedError: the file does not exist.
    :raises PkiInvalidError: the file is not a PEM certificate.
    """
    path = Path(path)
    return _read_cert(path.parent, path.name)


def _read_cert(pki_dir: Path, rel: str) -> x509.Certificate:
    path = pki_dir / rel
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise PkiNotInitialisedError(
            f"the PKI in {pki_dir} is incomplete: {rel} is missing; restore it from "
            "backup or create a new PKI with `certledger init`"
        ) from None
    try:
        return x509.load_pem_x509_certificate(data)
    except ValueError:
        raise PkiInvalidError(f"{rel} in {pki_dir} is not a PEM certificate") from None


def _read_pair(
    pki_dir: Path, cert_rel: str, key_rel: str, passphrase: Secret
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    cert = _read_cert(pki_dir, cert_rel)
    key = read_private_key(pki_dir / key_rel, passphrase, display_name=key_rel)
    if key.public_key() != cert.public_key():
        raise PkiInvalidError(f"{key_rel} is not the private key of {cert_rel}")
    return cert, key


def warn_if_root_key_online(pki_dir: Path) -> bool:
    """Log one WARNING (per process and PKI directory) when the root CA key is still in the
    PKI directory, as in deployments made before it was kept offline. Nothing is moved: the
    operator moves it. Returns whether the key is there."""
    pki_dir = Path(pki_dir)
    online = pki_dir / ROOT_KEY
    if not online.exists():
        return False
    marker = pki_dir.resolve()
    if marker not in _ONLINE_ROOT_WARNED:
        _ONLINE_ROOT_WARNED.add(marker)
        # A data directory's PKI is <home>/pki and its offline default <home>.root-ca.
        target = default_root_key_dir(pki_dir.parent if pki_dir.name == "pki" else pki_dir)
        logger.warning(
            "the root CA private key %s is in the serving PKI directory; nothing online needs "
            "it. Move it to offline storage (e.g. `mkdir -m 700 %s && mv %s %s/`) and pass "
            "--offline-dir to the commands that need it (`certledger seal arl`) / "
            "根 CA 私钥 %s 仍在在线 PKI 目录中，在线服务并不需要它；请将其移至离线存储，"
            "需要时用 --offline-dir 指定该目录",
            online,
            target,
            online,
            target,
            online,
        )
    return True


def load_pki(pki_dir: Path, passphrase: Secret) -> Pki:
    """Load certificates and decrypt the operational keys (seals, TSA, ledger node).

    The CA keys are not read, so the root CA key need not be (and should not be) present.
    A PKI directory that still holds ``root-ca.key.pem`` loads as before, with one WARNING
    per process saying how to move it offline.

    :raises PkiNotInitialisedError: the directory or one of its files is missing.
    :raises KeyPassphraseError: the passphrase does not decrypt a key.
    :raises PkiInvalidError: a file is corrupt or a key does not match its certificate.
    """
    pki_dir = Path(pki_dir)
    if not (pki_dir / ROOT_CERT).is_file():
        raise PkiNotInitialisedError(
            f"no PKI found in {pki_dir}; run `certledger init` to create one"
        )
    warn_if_root_key_online(pki_dir)
    root = _read_cert(pki_dir, ROOT_CERT)
    issuing = _read_cert(pki_dir, ISSUING_CERT)
    chain = (issuing, root)
    trust_roots = load_trust_roots(pki_dir / TRUST_ROOTS)

    tsa_cert, tsa_key = _read_pair(pki_dir, TSA_CERT, TSA_KEY, passphrase)
    node_cert, node_key = _read_pair(pki_dir, NODE_CERT, NODE_KEY, passphrase)

    seals: dict[str, SealIdentity] = {}
    retired: dict[str, tuple[x509.Certificate, ...]] = {}
    token_seals: dict[str, HsmSealIdentity] = {}
    agencies_dir = pki_dir / AGENCIES_DIR
    codes = sorted(p.name for p in agencies_dir.iterdir()) if agencies_dir.is_dir() else []
    for code in codes:
        if not _AGENCY_CODE.fullmatch(code):
            continue  # stray entry (e.g. .DS_Store); init_pki never writes such names
        base = f"{AGENCIES_DIR}/{code}"
        agency_dir = agencies_dir / code
        if not (agency_dir / SEAL_KEY).exists() and (agency_dir / TOKEN_CONFIG).is_file():
            # The seal key lives in a PKCS#11 token (signing.hsm): certificate only here.
            token_cert = _read_cert(pki_dir, f"{base}/{SEAL_CERT}")
            token_seals[code] = HsmSealIdentity(code, token_cert, chain)
        else:
            cert, key = _read_pair(pki_dir, f"{base}/{SEAL_CERT}", f"{base}/{SEAL_KEY}", passphrase)
            seals[code] = SealIdentity(
                agency_code=code, certificate=cert, private_key=key, chain=chain
            )
        retired_dir = agencies_dir / code / RETIRED_DIR
        if retired_dir.is_dir():
            old = [
                _read_cert(pki_dir, f"{base}/{RETIRED_DIR}/{p.name}")
                for p in retired_dir.iterdir()
                if p.name.endswith(".pem") and not p.name.endswith(".key.pem")
            ]
            retired[code] = tuple(sorted(old, key=lambda c: c.not_valid_before_utc, reverse=True))

    ocsp: OcspIdentity | None = None
    if (pki_dir / OCSP_CERT).is_file():
        ocsp_cert, ocsp_key = _read_pair(pki_dir, OCSP_CERT, OCSP_KEY, passphrase)
        ocsp = OcspIdentity(certificate=ocsp_cert, private_key=ocsp_key)
    root_ocsp: OcspIdentity | None = None
    if (pki_dir / ROOT_OCSP_CERT).is_file():
        cert, key = _read_pair(pki_dir, ROOT_OCSP_CERT, ROOT_OCSP_KEY, passphrase)
        root_ocsp = OcspIdentity(certificate=cert, private_key=key)

    return Pki(
        pki_dir=pki_dir,
        root=root,
        issuing_ca=issuing,
        trust_roots=trust_roots,
        tsa=TsaIdentity(certificate=tsa_cert, private_key=tsa_key, chain=chain),
        node=NodeIdentity(certificate=node_cert, private_key=node_key),
        _seals=MappingProxyType(seals),
        ocsp=ocsp,
        root_ocsp=root_ocsp,
        _retired=MappingProxyType(retired),
        _token_seals=MappingProxyType(token_seals),
    )
