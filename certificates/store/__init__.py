"""The local state of one deployment: certificates, clients, subscriptions and the outbox."""

from certificates.store.database import (
    ANCHORED,
    PENDING,
    CertificateRow,
    ClientRow,
    OutboxRow,
    PublicView,
    Store,
    SubscriptionRow,
)

__all__ = [
    "ANCHORED",
    "PENDING",
    "CertificateRow",
    "ClientRow",
    "OutboxRow",
    "PublicView",
    "Store",
    "SubscriptionRow",
]
