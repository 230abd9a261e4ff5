"""The ledger check of an anchoring receipt, on the verifier's own ledger node.

A Fabric receipt names the transaction, its block and the block's data hash. The verifier
asks its own peer (:class:`ledger.interface.ReceiptChecker`) whether that transaction is a
valid one of that block and whether the block's data hash is the receipt's. The receipt is
the one stored with the certificate when this deployment issued it; for a certificate it
did not issue, the ledger record's own transaction and block (the data hash is then the
block's, recomputed from its transactions).

Outcomes: confirmed (the anchoring check may pass), contradicted (it fails: INVALID), or
not checkable because the peer cannot be read (every ledger check INDETERMINATE). A ledger
without the capability (embedded: its proofs are checked by ``verify_chain``) is not asked.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from certificates.store.ledger_sync import StoredReceipt
from certificates.verification.report import Message
from ledger import Ledger, LedgerError, LedgerRecord
from ledger.interface import ReceiptChecker

__all__ = [
    "RECEIPT_MISMATCH",
    "ReceiptOutcome",
    "ReceiptSource",
    "ReceiptUnreadable",
    "check_receipt",
]

ReceiptSource = Callable[[str], StoredReceipt | None]

RECEIPT_MISMATCH = Message(
    "账本回执与本机构节点上的区块不符：该交易不在回执所指区块中，或区块数据哈希不一致。",
    "The anchoring receipt does not match the blocks on this agency's own ledger node: the "
    "transaction is not in the block it names, or the block's data hash differs.",
)


class ReceiptUnreadable(Exception):
    """The ledger node could not be read to check the receipt."""


@dataclass(frozen=True, slots=True)
class ReceiptOutcome:
    tx_id: str
    block_number: int
    data_hash: str | None
    ok: bool
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {
            "tx_id": self.tx_id,
            "block": self.block_number,
            "data_hash": self.data_hash,
            "verdict": "PASSED" if self.ok else "FAILED",
            "reason": self.reason,
        }


def check_receipt(
    ledger: Ledger, record: LedgerRecord, stored: StoredReceipt | None
) -> ReceiptOutcome | None:
    """The receipt check of ``record``; ``None`` when ``ledger`` cannot check receipts.

    :raises ReceiptUnreadable: the ledger node could not be read (fail closed: undecided).
    """
    if not isinstance(ledger, ReceiptChecker):
        return None
    tx_id = stored.tx_id if stored else record.anchored_tx
    block = stored.block_number if stored else record.anchored_block
    data_hash = stored.data_hash if stored else None
    if tx_id != record.anchored_tx:
        # The receipt kept here names another transaction than the ledger's record.
        return ReceiptOutcome(
            tx_id, block, data_hash, False, "the receipt names another transaction"
        )
    try:
        answer = ledger.check_receipt(tx_id, block, data_hash)
    except LedgerError as exc:
        raise ReceiptUnreadable(str(exc)) from None
    return ReceiptOutcome(tx_id, block, data_hash or answer.data_hash, answer.ok, answer.reason)
