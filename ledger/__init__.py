"""The ledger: one small interface, and the embedded backend that implements it.

``certificates`` and ``verify_api`` program against :class:`Ledger` and the values in
:mod:`ledger.interface`; which backend they get is decided where the service is wired up.
"""

from ledger.embedded import EmbeddedLedger
from ledger.errors import (
    LedgerConfigError,
    LedgerCorrupt,
    LedgerError,
    LedgerRefused,
    LedgerUnavailable,
)
from ledger.interface import (
    AgencyRecord,
    AnchorEntry,
    AnchorReceipt,
    AnchorStatus,
    CertStatus,
    ChainReport,
    HistoryEntry,
    InclusionProof,
    Ledger,
    LedgerRecord,
    TxReceipt,
    superseded_reason,
    verify_inclusion,
)
from ledger.merkle import decode_write_leaf, encode_write_leaf

__all__ = [
    "AgencyRecord",
    "AnchorEntry",
    "AnchorReceipt",
    "AnchorStatus",
    "CertStatus",
    "ChainReport",
    "EmbeddedLedger",
    "HistoryEntry",
    "InclusionProof",
    "Ledger",
    "LedgerConfigError",
    "LedgerCorrupt",
    "LedgerError",
    "LedgerRecord",
    "LedgerRefused",
    "LedgerUnavailable",
    "TxReceipt",
    "decode_write_leaf",
    "encode_write_leaf",
    "superseded_reason",
    "verify_inclusion",
]
