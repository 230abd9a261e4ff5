"""A seal check of a stored certificate, kept so the QR page need not redo it on every view.

The stored PDF never changes, so its seal check only changes with time (certificate validity,
revocation data); a result is reused for a bounded time and shared by every server process
through the store. Only what the verdict needs is kept: outcomes, fingerprint, digest and the
sealed revision's /Info, not the certificate objects.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from signing import Outcome, SealReport, Status

__all__ = ["dump_seal_report", "load_seal_report"]

_OUTCOMES = ("intact", "chain", "timestamp", "modification")


def _outcome(o: Outcome | None) -> list[str] | None:
    return None if o is None else [o.status.value, o.reason]


def _dt(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def dump_seal_report(seal: SealReport) -> str:
    body: dict[str, Any] = {name: _outcome(getattr(seal, name)) for name in _OUTCOMES}
    body.update(
        v=1,
        seal_found=seal.seal_found,
        revocation=_outcome(seal.revocation),
        signer_fingerprint=seal.signer_fingerprint,
        sealed_digest=seal.sealed_digest,
        document_info=dict(seal.document_info),
        timestamp_time=_dt(seal.timestamp_time),
        signed_at=_dt(seal.signed_at),
        seal_certificate_revoked_at=_dt(seal.seal_certificate_revoked_at),
    )
    return json.dumps(body, ensure_ascii=False, sort_keys=True)


def load_seal_report(payload: str) -> SealReport | None:
    """The report, or None for anything unexpected (the caller then checks the PDF again)."""
    try:
        body = json.loads(payload)
        if body.get("v") != 1:
            return None

        def outcome(raw: Any) -> Outcome:
            return Outcome(Status(raw[0]), str(raw[1]))

        def when(raw: Any) -> datetime | None:
            return datetime.fromisoformat(raw) if raw else None

        return SealReport(
            seal_found=bool(body["seal_found"]),
            intact=outcome(body["intact"]),
            chain=outcome(body["chain"]),
            timestamp=outcome(body["timestamp"]),
            modification=outcome(body["modification"]),
            revocation=outcome(body["revocation"]) if body["revocation"] else None,
            timestamp_time=when(body["timestamp_time"]),
            signed_at=when(body["signed_at"]),
            signer_fingerprint=body["signer_fingerprint"],
            sealed_digest=body["sealed_digest"],
            document_info=dict(body["document_info"]),
            seal_certificate_revoked_at=when(body["seal_certificate_revoked_at"]),
        )
    except (ValueError, KeyError, TypeError, IndexError, AttributeError):
        return None
