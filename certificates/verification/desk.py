"""The counter desk: what a signed-in clerk (a ``verifier`` client) does at the counter.

Every way in ends in the same :class:`DeskResult`: an uploaded PDF goes through the same
verifier and sandbox as ``POST /api/v1/verify`` (:meth:`PublicService.verify_upload_audited`);
a verification link (scanned from the QR code on paper, or typed by a keyboard-wedge
scanner) is checked as the QR page checks it (:meth:`PublicService.stored_report`: the
stored copy's seal, the ledger live). Either way:

* the verification is audited **under the clerk's client**, and the entry's sequence number
  is the receipt's audit record number;
* the certificate's facts beyond the public summary come only from the sharing service
  (:meth:`SharingService.details`), so the clerk sees exactly what the agreements allow
  (everything for the clerk's own agency's certificates), and that release is audited too.

The desk edge (``verify_api.routes.counter``) renders these values and holds no rule.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

from certificates.audit import AuditEntry, AuditEvent, AuditLog
from certificates.errors import CertificateError, CertificateNotFound
from certificates.ids import CertificateId, InvalidCertificateId
from certificates.sharing.clients import Principal
from certificates.sharing.lookup import AccessDenied, SharingService
from certificates.types import CERTIFICATE_TYPES, display_value
from certificates.types.model import FieldKind, FieldValue
from certificates.verification.public import PublicService
from certificates.verification.report import Message, VerificationReport

__all__ = [
    "DESK_PURPOSE",
    "DESK_TZ",
    "CounterDesk",
    "DeskRecord",
    "DeskResult",
    "LinkNotRecognised",
    "Released",
]

# The purpose a desk verification states to the sharing service (and the audit log): an
# agreement that should release fields to an agency's counter names this purpose.
DESK_PURPOSE = "counter-verification"
# Beijing time, the deployment's time zone: "today" for a clerk starts at local midnight.
# A fixed offset, not the tz database: China has kept UTC+8 without daylight saving since
# 1991, and the desk then needs no tzdata on the server.
DESK_TZ = timezone(timedelta(hours=8), "UTC+8")
_SOURCES = ("counter-upload", "counter-scan")
_MAX_LINK = 2048


class LinkNotRecognised(CertificateError):
    """What was scanned or typed is not a verification link of this service."""

    zh = "无法识别该内容：请扫描证照上的二维码，或输入包含 /v/ 的核验链接。"
    en = (
        "This is not a verification link: scan the QR code on the certificate, "
        "or type the link that contains /v/."
    )

    def __init__(self) -> None:
        super().__init__(self.en)


@dataclass(frozen=True, slots=True)
class DeskRecord:
    """One desk verification as the audit log holds it (what a receipt and the day's list
    show). ``seq`` is the audit record number."""

    seq: int
    at: datetime
    client_id: str
    agency: str | None
    cert_id: str | None
    verdict: str
    source: str  # counter-upload | counter-scan
    hash: str

    @classmethod
    def of(cls, entry: AuditEntry) -> DeskRecord:
        e = entry.event
        return cls(
            seq=entry.seq,
            at=datetime.fromisoformat(entry.at),
            client_id=e.client_id,
            agency=e.agency,
            cert_id=e.cert_id,
            verdict=e.result,
            source=e.reason or "",
            hash=entry.hash,
        )


@dataclass(frozen=True, slots=True)
class Released:
    """The certificate's fields the clerk's agreements release, or why none are."""

    allowed: bool
    basis: str  # the sharing decision's code, e.g. OWN_AGENCY, NO_AGREEMENT
    message: Message
    fields: tuple[tuple[Message, Message], ...] = ()  # (label, value), in the type's order


@dataclass(frozen=True, slots=True)
class DeskResult:
    record: DeskRecord
    report: VerificationReport
    released: Released | None  # None: the report names no certificate


def parse_link(raw: str) -> tuple[str, str]:
    """The certificate id and QR token in a verification link (``…/v/{id}?t=…``).

    Any host: a link names a certificate, and a link to another deployment simply finds no
    such certificate here. Scanners may add whitespace or a trailing newline.
    """
    text = raw.strip()
    if not text or len(text) > _MAX_LINK:
        raise LinkNotRecognised
    parts = urlsplit(text)
    segments = [p for p in parts.path.split("/") if p]
    if len(segments) < 2 or segments[-2] != "v":
        raise LinkNotRecognised
    token = parse_qs(parts.query).get("t", [""])[0]
    try:
        cert_id = str(CertificateId.parse(segments[-1]))
    except InvalidCertificateId:
        raise LinkNotRecognised from None
    if not token:
        raise LinkNotRecognised
    return cert_id, token


class CounterDesk:
    def __init__(
        self,
        *,
        public: PublicService,
        sharing: SharingService,
        audit: AuditLog,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._public = public
        self._sharing = sharing
        self._audit = audit
        self._clock = clock or (lambda: datetime.now(UTC))

    def verify_upload(self, who: Principal, pdf: bytes) -> DeskResult:
        """An uploaded PDF, verified as ``POST /api/v1/verify`` verifies it (same sandbox,
        same caps, same refusals: :class:`DocumentRefused`, :class:`UnreadableDocument`,
        :class:`VerificationBusy`)."""
        report, entry = self._public.verify_upload_audited(
            pdf,
            client_id=who.client_id,
            agency=who.agency,
            purpose=DESK_PURPOSE,
            reason="counter-upload",
        )
        return self._result(who, report, entry)

    def verify_link(self, who: Principal, link: str) -> DeskResult:
        """A scanned or typed verification link: the certificate it names, checked as the QR
        page checks it. An unknown id and a wrong token are refused alike (audited, then
        :class:`CertificateNotFound`), so ids cannot be probed from the desk either."""
        cert_id, token = parse_link(link)
        page = self._public.stored_report(cert_id, token)
        if page is None:
            self._audit.record(
                AuditEvent(
                    "verify",
                    "not-found",
                    who.client_id,
                    who.agency,
                    cert_id=cert_id,
                    purpose=DESK_PURPOSE,
                    reason="counter-scan",
                )
            )
            raise CertificateNotFound
        report = page.report
        entry = self._audit.record(
            AuditEvent(
                "verify",
                report.verdict.value,
                who.client_id,
                who.agency,
                cert_id=page.view.id,
                cert_type=page.view.cert_type,
                purpose=DESK_PURPOSE,
                reason="counter-scan",
            )
        )
        return self._result(who, report, entry)

    def today(self, who: Principal, *, limit: int = 200) -> list[DeskRecord]:
        """The clerk's own desk verifications since midnight, Beijing time, newest first."""
        local_day: date = self._clock().astimezone(DESK_TZ).date()
        midnight = datetime.combine(local_day, time(0), DESK_TZ)
        entries = self._audit.entries_by_client(
            who.client_id, action="verify", since=midnight, limit=limit
        )
        return [DeskRecord.of(e) for e in entries if e.event.reason in _SOURCES]

    def record(self, who: Principal, seq: int) -> DeskRecord | None:
        """Audit record ``seq`` if it is a desk verification by a client of ``who``'s agency
        (what a receipt's QR code opens at that agency's counter); otherwise ``None``, the
        same answer as for a number that does not exist."""
        entry = self._audit.entry(seq)
        if entry is None:
            return None
        e = entry.event
        if e.action != "verify" or e.reason not in _SOURCES or e.agency != who.agency:
            return None
        return DeskRecord.of(entry)

    def _result(self, who: Principal, report: VerificationReport, entry: AuditEntry) -> DeskResult:
        cert = report.certificate
        released = self._released(who, cert.id) if cert is not None else None
        return DeskResult(DeskRecord.of(entry), report, released)

    def _released(self, who: Principal, cert_id: str) -> Released:
        try:
            decision, body = self._sharing.details(who, cert_id, DESK_PURPOSE)
        except AccessDenied as exc:
            d = exc.decision
            return Released(False, d.code, Message(d.zh, d.en))
        if body is None:
            return Released(False, "NOT_FOUND", Message("本机未存该证照的数据。", _NO_DATA))
        if decision.code == "OWN_AGENCY":
            basis = Message(
                "本机构签发的证照：显示全部登记信息。",
                "A certificate of your own agency: every registered field is shown.",
            )
        else:
            ids = "、".join(decision.agreement_ids)
            basis = Message(
                f"依据共享协议 {ids} 可查看的信息。",
                f"The fields sharing agreement {', '.join(decision.agreement_ids)} releases.",
            )
        return Released(True, decision.code, basis, _labelled(str(body["type"]), body["fields"]))


_NO_DATA = "This service holds no data of this certificate."


def _labelled(cert_type: str, fields: dict[str, Any]) -> tuple[tuple[Message, Message], ...]:
    """The released fields with their labels, each value shown as the certificate prints it
    (dates, amounts, enum labels, "长期"), in the type's field order."""
    ctype = CERTIFICATE_TYPES.get(cert_type)
    specs = ctype.fields if ctype else ()
    out: list[tuple[Message, Message]] = []
    for spec in specs:
        if spec.name in fields:
            shown = display_value(spec, _typed(spec.kind, fields[spec.name]))
            value = Message(shown.zh, shown.en or shown.zh)
            out.append((Message(spec.label_zh, spec.label_en), value))
    return tuple(out)


def _typed(kind: FieldKind, raw: object) -> FieldValue:
    """A stored (JSON) value back in the validated form ``display_value`` takes; a value
    that does not parse is shown as stored."""
    if raw is None or (kind is FieldKind.UNTIL_DATE and raw in ("long-term", "长期")):
        return None
    text = str(raw)
    try:
        if kind in (FieldKind.DATE, FieldKind.UNTIL_DATE):
            return date.fromisoformat(text)
        if kind is FieldKind.MONEY:
            return Decimal(text)
    except (ValueError, ArithmeticError):
        pass
    return text
