"""Certificate ids as they arrive in a URL: canonical, or nothing."""

from __future__ import annotations

from certificates import CertificateId, InvalidCertificateId

__all__ = ["canonical_id"]


def canonical_id(raw: str) -> str | None:
    """The canonical spelling of ``raw``, or ``None`` when it is not a certificate id (the
    routes then answer as for an unknown id, so malformed ids probe nothing)."""
    try:
        return str(CertificateId.parse(raw))
    except InvalidCertificateId:
        return None
