"""The seal-key and time-stamp life cycle: key-compromise revocation, rotation, HSM enrolment,
TSA rotation, CRL publication and archive-timestamp renewal.

Every change is audited. A key-compromise revocation with a window (``since``) goes on to
revoke, on the ledger and in ONE transaction, every certificate the key sealed in that window,
through :class:`~certificates.status.StatusService`: so each gets its own audit entry and its
``status.changed`` notification exactly as a revocation by hand would.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509

from certificates.audit import AuditEvent, AuditLog
from certificates.errors import CertificateError, LedgerUnavailableError, RevocationRefused
from certificates.issuance.service import IssuanceService
from certificates.sharing.clients import Principal
from certificates.status import StatusService
from certificates.store import Store
from ledger import Ledger, LedgerError, TxReceipt
from ledger.interface import SealKeyPeriod, SealKeyRegistry
from signing import (
    InProcessRevocationSource,
    InProcessTimeStamper,
    Secret,
    SigningError,
    TimeStampAuthority,
    load_certificate,
    load_pki,
    read_seal_facts,
)
from signing.hsm import Pkcs11Key
from signing.pki import AGENCIES_DIR, RETIRED_DIR, SEAL_CERT
from signing.pki_admin import (
    arl_next_update,
    enroll_token_seal,
    publish_arl,
    publish_crl,
    revoke_certificate,
    rotate_seal,
    rotate_tsa,
)
from signing.renewal import last_timestamp_expiry, renew_archive_timestamp, sealed_revision_digest
from signing.revocation import fingerprint

__all__ = [
    "KEY_COMPROMISE",
    "Renewal",
    "SealKeyError",
    "SealKeyService",
    "SealLedgerError",
    "SealRevocation",
    "SealRotation",
]

KEY_COMPROMISE = "keyCompromise"


class SealKeyError(CertificateError):
    """A seal-key operation that could not be done; the message says what, if anything, was
    changed and what to do."""

    def __init__(self, en: str, zh: str) -> None:
        self.en, self.zh = en, zh
        super().__init__(en)


class SealLedgerError(SealKeyError):
    """The PKI side was done, the ledger side was not (unreachable or refused)."""


@dataclass(frozen=True)
class SealRevocation:
    agency: str
    seal_fingerprint: str
    serial: str
    revoked_at: datetime
    reason: str
    since: datetime | None
    certificates_revoked: tuple[str, ...] = ()
    receipt: TxReceipt | None = None


@dataclass(frozen=True)
class SealRotation:
    agency: str
    old: SealKeyPeriod
    new: SealKeyPeriod
    receipt: TxReceipt


@dataclass(frozen=True)
class Renewal:
    renewed: tuple[str, ...] = ()
    skipped: tuple[tuple[str, str], ...] = field(default=())  # (id, why)


class SealKeyService:
    def __init__(
        self,
        *,
        pki_dir: Path,
        passphrase: Secret,
        store: Store,
        ledger: Ledger,
        audit: AuditLog,
        statuses: StatusService,
        issuance: IssuanceService,
    ) -> None:
        self._pki_dir = pki_dir
        self._passphrase = passphrase
        self._store = store
        self._ledger = ledger
        self._audit = audit
        self._statuses = statuses
        self._issuance = issuance

    # -- revocation --------------------------------------------------------------------------

    def revoke_seal(
        self,
        who: Principal,
        *,
        reason: str = KEY_COMPROMISE,
        since: datetime | None = None,
        seal_fingerprint: str | None = None,
    ) -> SealRevocation:
        """Revoke ``who.agency``'s seal certificate (the current one, or the current or
        retired one ``seal_fingerprint`` names) from ``since`` (default: now). With
        ``since``, also revoke every certificate that key sealed at or after it."""
        if since is not None and since.tzinfo is None:
            raise SealKeyError(
                "the start of the window needs a time zone; a bare local time is ambiguous",
                "时间窗口的起点须带时区，不带时区的本地时间有歧义。",
            )
        agency = who.agency
        cert = self._seal_certificate(agency, seal_fingerprint)
        try:
            record = revoke_certificate(
                self._pki_dir, self._passphrase, cert, reason=reason, since=since
            )
        except SigningError as exc:
            raise SealKeyError(str(exc), f"无法吊销印章证书：{exc}") from None
        fp = fingerprint(cert)
        self._audit.record(
            AuditEvent(
                "seal-revoke",
                "ok",
                who.client_id,
                agency,
                reason=f"{record.reason}; seal {fp[:16]}; from {record.revoked_at.isoformat()}",
            )
        )
        done = SealRevocation(
            agency=agency,
            seal_fingerprint=fp,
            serial=format(cert.serial_number, "x"),
            revoked_at=record.revoked_at,
            reason=record.reason,
            since=since,
        )
        if since is None:
            return done
        ids, receipt = self._revoke_sealed_since(who, fp, since.astimezone(UTC))
        return replace(done, certificates_revoked=tuple(ids), receipt=receipt)

    def _revoke_sealed_since(
        self, who: Principal, fp: str, since: datetime
    ) -> tuple[list[str], TxReceipt | None]:
        # Certificates still pending go to the ledger first, so that the batch below covers
        # them too (a pending one anchored later would otherwise read active).
        self._issuance.anchor_pending()
        ids = self.sealed_by(who.agency, fp, since)
        pending = [cid for cid in ids if (row := self._store.get(cid)) and row.state != "anchored"]
        if pending:
            raise SealLedgerError(
                f"{len(pending)} affected certificate(s) are not on the ledger yet "
                f"(e.g. {pending[0]}); the seal certificate is revoked, but run this again "
                "when the ledger is reachable to revoke the certificates",
                f"{len(pending)} 份受影响的证照尚未上链；印章证书已吊销，请在账本可用时重新运行"
                "以吊销这些证照。",
            )
        try:
            receipt = self._statuses.revoke_many(who, ids, KEY_COMPROMISE)
        except (RevocationRefused, LedgerUnavailableError) as exc:
            raise SealLedgerError(
                f"the seal certificate is revoked, but the ledger did not revoke the "
                f"{len(ids)} certificate(s) it sealed ({exc}); nothing was revoked there, "
                "run this again",
                f"印章证书已吊销，但账本未能吊销其签发的 {len(ids)} 份证照；请重新运行。",
            ) from None
        return ids, receipt

    def sealed_by(self, agency: str, seal_fingerprint: str, since: datetime) -> list[str]:
        """Ids of the agency's stored certificates sealed with the certificate
        ``seal_fingerprint`` at or after ``since`` (by the seal's own timestamp)."""
        found: list[str] = []
        for cert_id, pdf, _digest in self._store.sealed_pdfs(agency):
            try:
                facts = read_seal_facts(pdf)
            except SigningError:
                continue
            if facts.signer_fingerprint != seal_fingerprint:
                continue
            # No timestamp: the seal's time is unknown, so it may fall in the window.
            if facts.signed_at is None or facts.signed_at >= since:
                found.append(cert_id)
        return sorted(found)

    def _seal_certificate(self, agency: str, wanted: str | None) -> x509.Certificate:
        """The agency's current seal certificate, or with ``wanted`` (a SHA-256 fingerprint)
        the current or retired one it names: a key can turn out compromised after rotation."""
        agency_dir = self._pki_dir / AGENCIES_DIR / agency
        current = agency_dir / SEAL_CERT
        if not current.is_file():
            raise SealKeyError(
                f"no agency {agency!r} in this deployment's PKI",
                f"本部署的密钥体系中没有机构 {agency!r}。",
            )
        if wanted is None:
            return load_certificate(current)
        retired_dir = agency_dir / RETIRED_DIR
        paths = [current, *(sorted(retired_dir.glob("*.pem")) if retired_dir.is_dir() else [])]
        candidates = [load_certificate(path) for path in paths]
        for cert in candidates:
            if fingerprint(cert) == wanted.strip().lower():
                return cert
        known = ", ".join(fingerprint(cert) for cert in candidates)
        raise SealKeyError(
            f"{agency} has no seal certificate with fingerprint {wanted!r}; its seals: {known}",
            f"{agency} 没有该指纹的印章证书；其印章：{known}",
        )

    # -- rotation ----------------------------------------------------------------------------

    def rotate(self, who: Principal, *, register_only: bool = False) -> SealRotation:
        """A new seal key and certificate for ``who.agency``, registered on the ledger with
        the old one (old seals keep verifying). ``register_only``: only register the current
        pair, after a rotation whose ledger step failed."""
        agency = who.agency
        try:
            if register_only:
                certs = load_pki(self._pki_dir, self._passphrase).seal_certificates(agency)
                if len(certs) < 2:
                    raise SealKeyError(
                        f"{agency} has never rotated its seal; nothing to register",
                        f"{agency} 从未轮换印章，无需登记。",
                    )
                new, old = certs[0], certs[1]
            else:
                rotated = rotate_seal(self._pki_dir, self._passphrase, agency)
                new, old = rotated.new, rotated.old
        except SigningError as exc:
            raise SealKeyError(str(exc), f"无法轮换印章：{exc}") from None
        return self._register(
            who,
            "seal-rotate",
            old,
            new,
            f"the new seal certificate exists but the ledger did not record it; run "
            f"`certledger seal rotate --agency {agency} --register-only`",
        )

    def enroll_hsm(self, who: Principal, key: Pkcs11Key) -> SealRotation:
        """Generate ``who.agency``'s seal key in a PKCS#11 token, certify it and register it
        on the ledger like a rotation (the old seal still verifies)."""
        try:
            enrolled = enroll_token_seal(self._pki_dir, self._passphrase, who.agency, key)
        except SigningError as exc:
            raise SealKeyError(str(exc), f"无法把印章密钥移入硬件令牌：{exc}") from None
        return self._register(
            who,
            "seal-enroll-hsm",
            enrolled.old,
            enrolled.new,
            f"the token key is certified but the ledger did not record it; run "
            f"`certledger seal rotate --agency {who.agency} --register-only`",
        )

    def _register(
        self,
        who: Principal,
        action: str,
        old: x509.Certificate,
        new: x509.Certificate,
        if_refused: str,
    ) -> SealRotation:
        agency = who.agency
        before, after = _period(agency, old), _period(agency, new)
        if not isinstance(self._ledger, SealKeyRegistry):
            raise SealLedgerError(
                f"the {self._ledger.backend} ledger cannot record seal-key rotation",
                "该账本不支持登记印章轮换。",
            )
        try:
            receipt = self._ledger.rotate_seal_key(agency, before, after)
        except LedgerError as exc:
            self._audit.record(
                AuditEvent(action, "error", who.client_id, agency, reason="LEDGER_REFUSED")
            )
            raise SealLedgerError(
                f"{if_refused} ({exc})",
                "新印章证书已生成，但账本未登记；请用 --register-only 重试。",
            ) from None
        self._audit.record(
            AuditEvent(
                action,
                "ok",
                who.client_id,
                agency,
                reason=f"seal {after.fingerprint[:16]} replaces {before.fingerprint[:16]}",
            )
        )
        return SealRotation(agency, before, after, receipt)

    def rotate_tsa(self, operator: str) -> x509.Certificate:
        """A new time-stamp authority key and certificate (before renewing timestamps)."""
        try:
            new = rotate_tsa(self._pki_dir, self._passphrase)
        except SigningError as exc:
            raise SealKeyError(str(exc), f"无法轮换时间戳服务证书：{exc}") from None
        self._audit.record(
            AuditEvent(
                "tsa-rotate",
                "ok",
                operator,
                reason=f"valid until {new.not_valid_after_utc.isoformat()}",
            )
        )
        return new

    def publish_crls(self) -> list[Path]:
        """Re-publish the issuing CA's CRL (daily). The root's ARL is not touched: it is
        signed with the offline root key (:meth:`publish_arl`, yearly); see
        :meth:`arl_next_update`."""
        try:
            return [publish_crl(self._pki_dir, self._passphrase)]
        except SigningError as exc:
            raise SealKeyError(str(exc), f"无法发布吊销列表：{exc}") from None

    def arl_next_update(self) -> datetime | None:
        """When the root's published ARL expires (``None``: there is none)."""
        try:
            return arl_next_update(self._pki_dir)
        except SigningError as exc:
            raise SealKeyError(str(exc), f"无法读取根 CA 的吊销列表：{exc}") from None

    def publish_arl(self, operator: str, root_key: Path) -> tuple[Path, datetime | None]:
        """Re-sign the root's ARL with the root CA key from ``root_key`` (the offline
        directory or the key file): the yearly offline step. Returns the path and the new
        expiry."""
        try:
            path = publish_arl(self._pki_dir, self._passphrase, root_key)
            until = arl_next_update(self._pki_dir)
        except SigningError as exc:
            raise SealKeyError(str(exc), f"无法签发根 CA 的吊销列表：{exc}") from None
        self._audit.record(
            AuditEvent(
                "arl-publish",
                "ok",
                operator,
                reason=f"valid until {until.isoformat()}" if until else None,
            )
        )
        return path, until

    # -- long-term validation ----------------------------------------------------------------

    def renew_timestamps(self, operator: str, within: timedelta) -> Renewal:
        """Add a fresh archive timestamp to stored certificates whose last timestamp's TSA
        certificate expires within ``within``. The anchored digest (of the sealed revision)
        stays the same, and is checked before anything is stored."""
        if within < timedelta(0):
            raise SealKeyError("the renewal horizon must not be negative", "续期期限不能为负。")
        try:
            pki = load_pki(self._pki_dir, self._passphrase)
            source = InProcessRevocationSource.from_pki(pki)
        except SigningError as exc:
            raise SealKeyError(str(exc), f"无法打开密钥体系：{exc}") from None
        stamper = InProcessTimeStamper(TimeStampAuthority(pki.tsa))
        horizon = datetime.now(UTC) + within
        renewed: list[str] = []
        skipped: list[tuple[str, str]] = []
        for cert_id, pdf, digest in self._store.sealed_pdfs():
            try:
                expiry = last_timestamp_expiry(pdf)
                if expiry is None or expiry > horizon:
                    continue
                new_pdf = renew_archive_timestamp(pdf, stamper, source)
                # Fail closed: the stored digest is what the ledger anchors.
                if sealed_revision_digest(new_pdf) != digest:
                    raise SigningError("the sealed revision does not match the stored digest")
            except SigningError as exc:
                skipped.append((cert_id, str(exc)))
                continue
            self._store.replace_pdf(cert_id, new_pdf)
            renewed.append(cert_id)
        self._record_renewals(operator, renewed)
        return Renewal(tuple(renewed), tuple(skipped))

    def _record_renewals(self, operator: str, ids: Iterable[str]) -> None:
        events = [AuditEvent("ltv-renew", "ok", operator, cert_id=cid) for cid in ids]
        if events:
            self._audit.record_all(events)


def _period(agency: str, cert: x509.Certificate) -> SealKeyPeriod:
    return SealKeyPeriod(
        agency=agency,
        fingerprint=fingerprint(cert),
        valid_from=cert.not_valid_before_utc.isoformat(),
        valid_until=cert.not_valid_after_utc.isoformat(),
    )
