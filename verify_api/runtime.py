"""Wiring: builds keys, ledger, sealers and services from a data directory.

This is the only place that constructs the collaborators; the certificates layer receives them
ready-made, which keeps trust roots and keys flowing from configuration into constructors.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from cryptography import x509

from certificates.errors import ConfigurationError
from certificates.holder_key import HolderKey
from certificates.home import Home, Settings
from certificates.issuance import IssuanceService
from certificates.production import LocalProducer, PoolProducer, Producer
from certificates.render import FontSet, JobRenderer, Renderer
from certificates.store import Store
from certificates.verification import Verifier
from ledger import EmbeddedLedger, Ledger, LedgerUnavailable
from signing import (
    InProcessTimeStamper,
    Pki,
    Sealer,
    Secret,
    TimeStampAuthority,
    load_certificate,
    load_pki,
    load_trust_roots,
)

from .unreachable import UnreachableLedger

__all__ = ["Runtime", "build_local_producer", "open_runtime"]


@dataclass
class Runtime:
    home: Home
    settings: Settings
    store: Store
    ledger: Ledger
    verifier: Verifier
    trust_roots: tuple[x509.Certificate, ...] = ()
    issuance: IssuanceService | None = None
    tsa: TimeStampAuthority | None = None
    _closers: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        for closer in reversed(self._closers):
            closer()
        self._closers.clear()


def build_local_producer(home_root: str, passphrase: Secret) -> LocalProducer:
    """Builds renderer and sealers once; module-level so worker processes can call it."""
    pki = load_pki(Home(Path(home_root)).pki, passphrase)
    return _local_producer(pki)


def _local_producer(pki: Pki, tsa: TimeStampAuthority | None = None) -> LocalProducer:
    fonts = FontSet.discover()  # parsed once per process
    renderer = JobRenderer(Renderer(fonts))
    tsa = tsa or TimeStampAuthority(pki.tsa)
    stamper = InProcessTimeStamper(tsa)
    sealers = {
        code: Sealer(
            pki.seal(code),
            stamper,
            stamp_font=fonts.primary_path,
            stamp_font_index=fonts.primary_index,
        )
        for code in pki.agencies()
    }
    return LocalProducer(renderer, sealers)


def open_runtime(
    home: Home,
    *,
    passphrase: Secret | None,
    workers: int = 0,
) -> Runtime:
    """Opens a deployment. Without a passphrase it can verify but not issue or revoke."""
    home.require()
    settings = home.settings()
    if settings.ledger_backend != "embedded":
        raise ConfigurationError(
            f"ledger backend {settings.ledger_backend!r} is not available in this build; "
            "use CERTLEDGER_LEDGER=embedded"
        )
    store = Store.open(home.database)
    trust_roots = load_trust_roots(home.trust_roots)
    pki: Pki | None = None
    if passphrase is not None:
        pki = load_pki(home.pki, passphrase)  # wrong passphrase fails here, at start-up
    ledger: Ledger
    try:
        if pki is not None:
            ledger = EmbeddedLedger.open(
                home.ledger, node_key=pki.node.key, node_cert=pki.node.cert
            )
        else:
            ledger = EmbeddedLedger.open_readonly(
                home.ledger, load_certificate(home.pki / "ledger-node.pem")
            )
    except LedgerUnavailable as exc:
        # Keep going: verification reports INDETERMINATE, issuance keeps certificates pending.
        ledger = UnreachableLedger("embedded", str(exc))

    def pending(cert_id: str) -> bool:
        row = store.public_view(cert_id)
        return row is not None and row.state == "pending"

    def describe(cert_id: str) -> tuple[str, datetime] | None:
        row = store.public_view(cert_id)
        return (row.subject, row.issued_at) if row else None

    verifier = Verifier(
        trust_roots=trust_roots, ledger=ledger, is_pending=pending, describe=describe
    )
    rt = Runtime(home, settings, store, ledger, verifier, tuple(trust_roots))
    rt._closers.append(store.close)
    rt._closers.append(ledger.close)
    if pki is not None and passphrase is not None:
        tsa = TimeStampAuthority(pki.tsa)
        producer: Producer
        if workers > 1:
            producer = PoolProducer(
                functools.partial(build_local_producer, str(home.root), passphrase), workers
            )
        else:
            producer = _local_producer(pki, tsa)
        rt._closers.append(producer.close)
        rt.tsa = tsa
        rt.issuance = IssuanceService(
            store=store,
            ledger=ledger,
            producer=producer,
            holder_key=HolderKey.load(home.holder_key, passphrase),
            base_url=settings.base_url,
            fonts=FontSet.discover(),
        )
    return rt
