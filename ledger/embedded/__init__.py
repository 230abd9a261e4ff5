"""The embedded ledger: a signed, hash-chained block store in one SQLite file."""

from ledger.embedded._ledger import EmbeddedLedger

__all__ = ["EmbeddedLedger"]
