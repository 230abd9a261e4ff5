"""What the audit log records: an event as its caller reports it, and the chained entry."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

from certificates.errors import CertificateError

__all__ = ["AuditEntry", "AuditEvent", "AuditUnavailable", "entry_body"]


class AuditUnavailable(CertificateError):
    """An entry could not be written; the caller must not report the action as done."""


class AuditEvent(NamedTuple):
    """What happened, as the caller reports it.

    A named tuple rather than a frozen dataclass: one is made for every lookup (and decoded
    by the audit writer for every entry), and a frozen dataclass costs four times as much to
    build. Immutable all the same.
    """

    action: str  # issue | revoke | verify | view | lookup | details | agreement-* | ...
    result: str  # allowed | denied | ok | not-found | error
    client_id: str = "public"
    agency: str | None = None
    cert_id: str | None = None
    cert_type: str | None = None
    purpose: str | None = None
    fields: tuple[str, ...] = ()
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class AuditEntry:
    seq: int
    at: str
    event: AuditEvent
    prev_hash: str
    hash: str

    def body(self) -> dict[str, Any]:
        return entry_body(self.seq, self.at, self.event)

    def to_json(self) -> dict[str, Any]:
        return {**self.body(), "prev_hash": self.prev_hash, "hash": self.hash}


def entry_body(seq: int, at: str, e: AuditEvent) -> dict[str, Any]:
    return {
        "seq": seq,
        "at": at,
        "client_id": e.client_id,
        "agency": e.agency,
        "action": e.action,
        "cert_id": e.cert_id,
        "cert_type": e.cert_type,
        "purpose": e.purpose,
        "fields": list(e.fields),
        "result": e.result,
        "reason": e.reason,
    }
