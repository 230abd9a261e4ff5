"""The local state of one deployment: certificates, clients, subscriptions and the outbox."""

from certificates.store.batches import BatchStore
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
    "BatchStore",
    "CertificateRow",
    "ClientRow",
    "OutboxRow",
    "PublicView",
    "Store",
    "SubscriptionRow",
]
