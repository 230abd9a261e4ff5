"""`certledger init`: a new deployment's PKI, ledger genesis, holder key, store and tokens.

The order matters for a clean failure: settings.json is written last, so a directory whose init
was interrupted is never mistaken for a working deployment.

The root CA's private key is the one file written outside the data directory: into an offline
directory (default :attr:`Home.offline_root`, ``<home>.root-ca``), to be moved to offline media.
The data directory then holds no root key; only `certledger seal arl` needs it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.serialization import Encoding

from certificates import AGENCIES, CERTIFICATE_TYPES, ConfigurationError, Home, Settings
from certificates.holder_key import HolderKey
from certificates.sharing.clients import ClientRegistry, new_client_token
from certificates.store.cipher import FieldCipher
from certificates.store.database import Store
from ledger import AgencyRecord, EmbeddedLedger
from signing import AgencyIdentity, Secret, init_pki, load_pki
from signing.pki import ROOT_KEY

__all__ = ["AgencyCredential", "init_home", "new_agency_token", "offline_dir_refusal"]


@dataclass(frozen=True)
class AgencyCredential:
    agency: str
    token: str

    def __repr__(self) -> str:
        return f"AgencyCredential(agency={self.agency!r}, token=****)"


def new_agency_token(agency: str) -> str:
    return new_client_token(agency)


def offline_dir_refusal(home: Home, offline_dir: Path) -> str | None:
    """Why ``offline_dir`` cannot take the root CA key of ``home`` (None: it can)."""
    where = offline_dir.expanduser().absolute()
    if where.resolve().is_relative_to(home.root.resolve()):
        return (
            f"the offline directory {where} is inside the data directory {home.root}; the root "
            "CA key must be kept out of the serving deployment: choose a directory outside it"
        )
    if (where / ROOT_KEY).exists():
        return (
            f"{where / ROOT_KEY} already exists (the root key of another deployment?); "
            "choose another --offline-dir"
        )
    return None


def init_home(
    home: Home,
    passphrase: Secret,
    *,
    base_url: str,
    offline_dir: Path | None = None,
    database_url: str | None = None,
) -> list[AgencyCredential]:
    """Create the deployment in ``home``; the root CA key goes to ``offline_dir`` (default
    :attr:`Home.offline_root`), outside it. ``database_url``: a PostgreSQL database for the
    store (empty, made by its operator), instead of a SQLite file in ``home``."""
    if home.exists() or home.pki.exists() or home.ledger.exists():
        raise ConfigurationError(
            f"{home.root} already holds a certledger deployment; choose another --home"
        )
    offline = (offline_dir or home.offline_root).expanduser().absolute()
    refusal = offline_dir_refusal(home, offline)
    if refusal is not None:
        raise ConfigurationError(refusal)
    if database_url is not None:
        _require_empty(database_url)
    home.root.mkdir(parents=True, exist_ok=True)
    home.root.chmod(0o700)
    identities = [AgencyIdentity(a.code, a.name_zh, a.name_en) for a in AGENCIES.values()]
    # The base URL goes into the seal certificates' OCSP, CRL and CA-issuer addresses.
    init_pki(home.pki, identities, passphrase, base_url=base_url, root_key_dir=offline)
    pki = load_pki(home.pki, passphrase)

    registry = []
    for a in AGENCIES.values():
        der = pki.seal(a.code).certificate.public_bytes(Encoding.DER)
        registry.append(
            AgencyRecord(
                code=a.code,
                msp_id=a.msp_id,
                name_zh=a.name_zh,
                name_en=a.name_en,
                allowed_types=tuple(
                    sorted(t.code for t in CERTIFICATE_TYPES.values() if t.agency == a.code)
                ),
                seal_fingerprints=(hashlib.sha256(der).hexdigest(),),
            )
        )
    ledger = EmbeddedLedger.create(
        home.ledger, node_key=pki.node.key, node_cert=pki.node.cert, registry=registry
    )
    ledger.close()
    HolderKey.create(home.holder_key, passphrase)
    store = Store.open(home.database, create=True, url=database_url)
    store.use_cipher(FieldCipher.open_or_create(home.data_key, passphrase))
    creds = []
    try:
        # One issuer client per agency: the agency system's token, as before clients existed.
        clients = ClientRegistry(store)
        for code in AGENCIES:
            _, token = clients.add(code, f"{code} agency system", ["issuer"])
            assert token is not None
            creds.append(AgencyCredential(code, token))
    finally:
        store.close()
    home.settings_file.write_text(Settings(base_url=base_url.rstrip("/")).to_json(), "utf-8")
    return creds


def _require_empty(database_url: str) -> None:
    """Refuse a database that already holds a deployment's clients, before anything is made:
    a second set of agency systems in it would give two deployments one store."""
    store = Store.open(Path("unused"), url=database_url)
    try:
        if ClientRegistry(store).list():
            raise ConfigurationError(
                f"the database {store.database.label} already holds a certledger deployment; "
                "give an empty database"
            )
    finally:
        store.close()
