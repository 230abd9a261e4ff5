"""The agency's register of what it issued: reading its own certificates back (the sealed
PDF), never another agency's. Refusals are audited; the web console's lists go here too."""

from __future__ import annotations

from dataclasses import dataclass

from certificates.audit import AuditEvent, AuditLog
from certificates.errors import CertificateError, CertificateNotFound
from certificates.sharing.clients import Principal
from certificates.store import CertificateRow, Store

__all__ = ["ForeignCertificate", "Register", "StoredPdf", "foreign_refusal"]


class ForeignCertificate(CertificateError):
    """The certificate exists but another agency issued it."""

    zh = "只能下载本机构签发的证照。"
    en = "An agency may download only the certificates it issued."

    def __init__(self) -> None:
        super().__init__(self.en)


def foreign_refusal(action: str, who: Principal, row: CertificateRow) -> AuditEvent:
    """The audit record of ``who`` refused ``action`` on another agency's certificate."""
    return AuditEvent(
        action,
        "denied",
        who.client_id,
        who.agency,
        row.id,
        row.cert_type,
        reason="FOREIGN_CERTIFICATE",
    )


@dataclass(frozen=True, repr=False)
class StoredPdf:
    cert_id: str
    pdf: bytes

    def __repr__(self) -> str:
        return f"StoredPdf(cert_id={self.cert_id!r}, {len(self.pdf)} bytes)"


class Register:
    def __init__(self, *, store: Store, audit: AuditLog) -> None:
        self._store = store
        self._audit = audit

    def pdf_for(self, who: Principal, cert_id: str) -> StoredPdf:
        """The stored sealed PDF of ``cert_id`` (canonical), for its issuing agency only."""
        row = self._store.get(cert_id)
        if row is None:
            raise CertificateNotFound
        if row.agency != who.agency:
            self._audit.record(foreign_refusal("download", who, row))
            raise ForeignCertificate
        return StoredPdf(row.id, row.pdf)
