"""Status changes of issued certificates (revoke, suspend, reinstate): one workflow for every
edge."""

from certificates.status.service import (
    MAX_REASON,
    NotIssuer,
    StatusChange,
    StatusChanged,
    StatusService,
)

__all__ = ["MAX_REASON", "NotIssuer", "StatusChange", "StatusChanged", "StatusService"]
