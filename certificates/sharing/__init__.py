"""Cross-agency sharing: API clients and their roles, agreements, lookups and details."""

from certificates.sharing.clients import ROLES, ClientError, ClientInfo, ClientRegistry, Principal
from certificates.sharing.lookup import (
    AccessDenied,
    AgreementError,
    Decision,
    SharingService,
    agreement_json,
)

__all__ = [
    "ROLES",
    "AccessDenied",
    "AgreementError",
    "ClientError",
    "ClientInfo",
    "ClientRegistry",
    "Decision",
    "Principal",
    "SharingService",
    "agreement_json",
]
