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

from certificates.audit.log import AuditLog, RemoteAuditWriter
from certificates.errors import ConfigurationError
from certificates.holder_key import HolderKey
from certificates.home import Home, Settings
from certificates.issuance.batches import BatchService
from certificates.issuance.production import LocalProducer, PoolProducer, Producer
from certificates.issuance.register import Register
from certificates.issuance.service import IssuanceService
from certificates.notifications.callbacks import CallbackPolicy
from certificates.notifications.dispatcher import WebhookDispatcher
from certificates.notifications.subscriptions import Subscriptions
from certificates.render import FontSet, JobRenderer, Renderer
from certificates.seals import SealKeyService
from certificates.sharing.clients import ClientRegistry
from certificates.sharing.lookup import SharingService
from certificates.status.service import StatusService
from certificates.status.sync import LedgerSync
from certificates.store.cipher import FieldCipher
from certificates.store.database import Store
from certificates.store.ledger_sync import receipt as stored_receipt
from certificates.verification.public import PublicService
from certificates.verification.verifier import Verifier
from ledger import EmbeddedLedger, Ledger, LedgerUnavailable
from ledger.interface import EventSource
from ledger.unreachable import UnreachableLedger
from signing import (
    InProcessRevocationSource,
    InProcessTimeStamper,
    OcspService,
    Pki,
    Sealer,
    SealLevel,
    Secret,
    TimeStampAuthority,
    load_certificate,
    load_pki,
    load_trust_roots,
)
from signing.hsm import HSM_PIN_ENV, read_token_config
from signing.ltv import PublishedCrls
from signing.sandbox import SandboxLimits, SealCheckSandbox
from signing.token_signer import open_token_signer
from verify_api.settings import LEDGER_BACKENDS, ServiceSettings

__all__ = ["Runtime", "build_local_producer", "open_runtime", "open_store"]


@dataclass
class Runtime:
    """Everything one process of a deployment uses, built once by :func:`open_runtime`.

    The services that need the keys (issuance, status changes) are there only when the
    deployment was opened with the passphrase; :meth:`issuing` and :meth:`statuses` say so
    with a typed error instead of an ``AttributeError`` deep in a request.
    """

    home: Home
    settings: Settings
    store: Store
    ledger: Ledger
    verifier: Verifier
    clients: ClientRegistry
    audit: AuditLog
    sharing: SharingService
    subscriptions: Subscriptions
    webhooks: WebhookDispatcher
    public: PublicService
    config: ServiceSettings
    register: Register
    # The agency this deployment acts for (a Fabric peer's identity); None: every agency.
    agency: str | None = None
    trust_roots: tuple[x509.Certificate, ...] = ()
    issuance: IssuanceService | None = None
    status: StatusService | None = None
    seals: SealKeyService | None = None
    tsa: TimeStampAuthority | None = None
    ocsp: OcspService | None = None
    deliver_on_close: float = 0.0
    # Follows the ledger's events to keep store and caches in step (a ledger that offers
    # them: Fabric); started by a server, see follow_ledger.
    sync: LedgerSync | None = None
    _closers: list[Callable[[], None]] = field(default_factory=list)
    _batches: BatchService | None = None

    def issuing(self) -> IssuanceService:
        if self.issuance is None:
            raise ConfigurationError(_NO_KEYS)
        return self.issuance

    def batches(self) -> BatchService:
        """The batch jobs of this deployment (one service per process: it knows which of
        them this process is running)."""
        if self._batches is None:
            self._batches = BatchService(
                issuance=self.issuing(), store=self.store, audit=self.audit
            )
        return self._batches

    def statuses(self) -> StatusService:
        if self.status is None:
            raise ConfigurationError(_NO_KEYS)
        return self.status

    def seal_keys(self) -> SealKeyService:
        if self.seals is None:
            raise ConfigurationError(_NO_KEYS)
        return self.seals

    def use_webhooks(self, dispatcher: WebhookDispatcher) -> None:
        """Deliver every workflow's notifications through ``dispatcher`` (a server's, or a
        test's with a short backoff)."""
        self.webhooks = dispatcher
        self.subscriptions = dispatcher.subscriptions
        self.sharing.notify = dispatcher.emit
        if self.status is not None:
            self.status.notifier = dispatcher

    def check_uploads_in_sandbox(self, workers: int | None = None) -> None:
        """Check documents from outside in bounded worker processes (a server's uploads):
        one hostile file then costs only its own worker. Started on first use; closed with
        the runtime."""
        limits = SandboxLimits() if workers is None else SandboxLimits(workers=workers)
        sandbox = SealCheckSandbox(limits)
        self.verifier.untrusted = sandbox
        self._closers.append(sandbox.close)

    def follow_ledger(self) -> None:
        """Start following the ledger's events on a thread (a server; a command does not).
        Stopped by :meth:`close`. Nothing to do on a ledger without events (embedded)."""
        if self.sync is not None:
            self.sync.start()

    def stop_following(self) -> None:
        if self.sync is not None:
            self.sync.stop()

    def close(self) -> None:
        """Release everything; a command first delivers the notifications it queued, for
        at most ``deliver_on_close`` seconds (it has no delivery thread; what is left stays
        in the outbox for the server to retry)."""
        try:
            if self.deliver_on_close > 0:
                self.webhooks.drain(self.deliver_on_close)
        finally:
            for closer in reversed(self._closers):
                closer()
            self._closers.clear()


_NO_KEYS = (
    "this deployment was opened without the key passphrase; it can verify but not issue "
    "or change a certificate's status"
)


def build_local_producer(
    home_root: str, passphrase: Secret, level: SealLevel | None, hsm_pin: Secret | None
) -> LocalProducer:
    """Builds renderer and sealers once; module-level so worker processes can call it."""
    pki = load_pki(Home(Path(home_root)).pki, passphrase)
    return _local_producer(pki, level=level, hsm_pin=hsm_pin)


def _seal_level(pki: Pki, wanted: SealLevel | None) -> SealLevel:
    """The level asked for, else B-LTA. A PKI made before revocation services existed has no
    OCSP responder: it keeps sealing at B-T unless a higher level is asked for explicitly,
    which then fails at start-up."""
    if wanted is not None:
        return wanted
    return SealLevel.B_LTA if pki.ocsp is not None else SealLevel.B_T


def _local_producer(
    pki: Pki,
    tsa: TimeStampAuthority | None = None,
    *,
    level: SealLevel | None,
    hsm_pin: Secret | None,
) -> LocalProducer:
    fonts = FontSet.discover()  # parsed once per process
    renderer = JobRenderer(Renderer(fonts))
    tsa = tsa or TimeStampAuthority(pki.tsa)
    stamper = InProcessTimeStamper(tsa)
    seal_level = _seal_level(pki, level)
    # One revocation source for every agency: OCSP answers are reused while fresh.
    revocation = InProcessRevocationSource.from_pki(pki) if pki.ocsp is not None else None
    sealers = {
        code: Sealer(
            pki.seal(code),
            stamper,
            stamp_font=fonts.primary_path,
            stamp_font_index=fonts.primary_index,
            level=seal_level,
            revocation=revocation,
        )
        for code in pki.agencies()
    }
    for code in pki.token_agencies():
        # Seal keys in a PKCS#11 token (signing.hsm); the PIN is required: no token PIN, no
        # sealing for that agency (fail at start-up).
        if hsm_pin is None:
            raise ConfigurationError(
                f"the seal key of {code} is in a PKCS#11 token: set {HSM_PIN_ENV} to its PIN"
            )
        identity = pki.token_seal(code)
        token_key = read_token_config(pki.pki_dir / "agencies" / code, hsm_pin)
        signer, _close = open_token_signer(token_key, identity)
        sealers[code] = Sealer(
            identity,
            stamper,
            stamp_font=fonts.primary_path,
            stamp_font_index=fonts.primary_index,
            level=seal_level,
            revocation=revocation,
            signer=signer,
        )
    return LocalProducer(renderer, sealers)


def open_runtime(
    home: Home,
    *,
    passphrase: Secret | None,
    workers: int = 0,
    config: ServiceSettings | None = None,
) -> Runtime:
    """Opens a deployment. Without a passphrase it can verify but not issue or revoke.
    ``config``: the process's settings, read at the edge (default: none set)."""
    config = config or ServiceSettings()
    home.require()
    settings = home.settings(
        base_url=config.base_url,
        max_upload_bytes=config.max_upload_bytes,
        ledger_backend=config.ledger_backend,
    )
    if settings.ledger_backend not in LEDGER_BACKENDS:
        raise ConfigurationError(
            f"unknown ledger backend {settings.ledger_backend!r} in settings.json; "
            "use embedded or fabric"
        )
    store = open_store(home, config)
    trust_roots = load_trust_roots(home.trust_roots)
    pki: Pki | None = None
    if passphrase is not None:
        pki = load_pki(home.pki, passphrase)  # wrong passphrase fails here, at start-up
        # Personal data at rest: the data key (made now if the deployment predates it), and
        # whatever an older version stored in clear encrypted once.
        store.use_cipher(FieldCipher.open_or_create(home.data_key, passphrase))
        store.encrypt_at_rest()
    ledger: Ledger
    try:
        if settings.ledger_backend == "fabric":
            # This agency's own peer, with its own MSP identity, from the connection profile
            # `certledger network up` writes. CERTLEDGER_AGENCY picks the agency; unset (a
            # one-machine demo) the service holds every agency's identity in the profile.
            from ledger.fabric import FabricLedger

            profile = config.fabric_profile
            if not profile:
                raise ConfigurationError(
                    "CERTLEDGER_LEDGER=fabric needs CERTLEDGER_FABRIC_PROFILE, the connection "
                    "profile written by `certledger network up`"
                )
            ledger = FabricLedger.from_profile(profile, config.agency)
        elif pki is not None:
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
        trust_roots=trust_roots,
        ledger=ledger,
        is_pending=pending,
        describe=describe,
        # The PKI's own published CRLs: a seal revoked after a document was extended to
        # B-LTA still reaches the verdict, without any network fetching.
        revocation_data=PublishedCrls(home.pki),
        # The receipt stored with a certificate issued here, checked on the own ledger node.
        receipt_of=lambda cert_id: stored_receipt(store, cert_id),
    )
    audit = AuditLog(store)
    clients = ClientRegistry(store, audit=audit)
    if config.audit_socket:
        # A worker of `certledger serve`: one writer process appends for every worker.
        audit.remote = RemoteAuditWriter(config.audit_socket)
    # Holder lookups need the holder key, so the passphrase; without it a lookup is refused,
    # never answered unkeyed.
    holder_key = HolderKey.load(home.holder_key, passphrase) if passphrase else None
    sharing = SharingService(store=store, ledger=ledger, audit=audit, holder_key=holder_key)
    subscriptions = Subscriptions(
        store, audit=audit, policy=CallbackPolicy.from_entries(config.webhook_allow)
    )
    webhooks = WebhookDispatcher(subscriptions)
    sharing.notify = webhooks.emit
    rt = Runtime(
        home,
        settings,
        store,
        ledger,
        verifier,
        clients=clients,
        audit=audit,
        sharing=sharing,
        subscriptions=subscriptions,
        webhooks=webhooks,
        public=PublicService(store=store, ledger=ledger, verifier=verifier, audit=audit),
        register=Register(store=store, audit=audit),
        agency=config.agency,
        config=config,
        trust_roots=tuple(trust_roots),
    )
    rt._closers.append(store.close)
    rt._closers.append(ledger.close)
    rt._closers.append(audit.close)  # its own connection; runs before the store's closer
    if isinstance(ledger, EventSource):
        # One checkpoint per agency this deployment acts for: two instances of different
        # agencies sharing a store each follow their own peer.
        rt.sync = LedgerSync(
            store=store,
            ledger=ledger,
            source=ledger,
            name=f"{ledger.backend}:{config.agency or '*'}",
            listeners=(sharing.forget_certificate, lambda cert_id: rt.public.forget(cert_id)),
            on_registry=verifier.forget_registry,
        )
        rt._closers.append(rt.sync.stop)  # closers run in reverse: before ledger and store
    if pki is not None and passphrase is not None:
        tsa = TimeStampAuthority(pki.tsa)
        producer: Producer
        if workers > 1:
            producer = PoolProducer(
                functools.partial(
                    build_local_producer,
                    str(home.root),
                    passphrase,
                    config.seal_level,
                    config.hsm_pin,
                ),
                workers,
            )
        else:
            producer = _local_producer(pki, tsa, level=config.seal_level, hsm_pin=config.hsm_pin)
        rt._closers.append(producer.close)
        rt.tsa = tsa
        if pki.ocsp is not None:
            rt.ocsp = InProcessRevocationSource.from_pki(pki).service
        rt.issuance = IssuanceService(
            store=store,
            ledger=ledger,
            producer=producer,
            holder_key=HolderKey.load(home.holder_key, passphrase),
            base_url=settings.base_url,
            fonts=FontSet.discover(),
            audit=audit,
        )
        rt.issuance.on_issued(sharing.forget_holders)  # lookups by holder find it at once
        rt.status = StatusService(store=store, ledger=ledger, audit=audit, notifier=webhooks)
        # A changed certificate is forgotten by this process's caches at once.
        rt.status.on_change(sharing.forget_certificate)
        rt.status.on_change(lambda cert_id: rt.public.forget(cert_id))  # whichever is in use
        rt.seals = SealKeyService(
            pki_dir=home.pki,
            passphrase=passphrase,
            store=store,
            ledger=ledger,
            audit=audit,
            statuses=rt.status,
            issuance=rt.issuance,
        )
    return rt


def open_store(home: Home, config: ServiceSettings, *, create: bool = False) -> Store:
    """The deployment's store: PostgreSQL when the settings name a database URL (several API
    hosts of one agency share it), else the SQLite file in the data directory."""
    url = config.database_url.reveal() if config.database_url is not None else None
    return Store.open(home.database, create=create, url=url)
