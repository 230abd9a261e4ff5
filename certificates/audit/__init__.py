"""The audit log: a hash-chained record of who did what to which certificate, and its writer."""

from certificates.audit.log import GENESIS_HASH, AuditLog, AuditReport, entry_hash
from certificates.audit.model import AuditEntry, AuditEvent, AuditUnavailable
from certificates.audit.remote import RemoteAuditWriter

__all__ = [
    "GENESIS_HASH",
    "AuditEntry",
    "AuditEvent",
    "AuditLog",
    "AuditReport",
    "AuditUnavailable",
    "RemoteAuditWriter",
    "entry_hash",
]
