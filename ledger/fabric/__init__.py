"""The Fabric backend: a Gateway client over gRPC and the ``Ledger`` built on it.

Not imported by :mod:`ledger` itself, so the embedded backend never loads gRPC.
"""

from ledger.fabric._gateway import (
    ChaincodeEvent,
    Committed,
    GatewayClient,
    GatewayError,
    Identity,
)
from ledger.fabric._ledger import FabricLedger, LedgerEvent, header_hash, load_profile

__all__ = [
    "ChaincodeEvent",
    "Committed",
    "FabricLedger",
    "GatewayClient",
    "GatewayError",
    "Identity",
    "LedgerEvent",
    "header_hash",
    "load_profile",
]
