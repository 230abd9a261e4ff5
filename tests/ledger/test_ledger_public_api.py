"""The packages export exactly what they mean to export."""

from __future__ import annotations

import chaincode
import ledger


def test_ledger_exports() -> None:
    assert sorted(ledger.__all__) == [
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
    for name in ledger.__all__:
        assert hasattr(ledger, name)


def test_chaincode_exports() -> None:
    for name in chaincode.__all__:
        assert hasattr(chaincode, name)
    assert {"anchor_batch", "revoke", "suspend", "reinstate", "Stub", "ContractError"} <= set(
        chaincode.__all__
    )


def test_one_error_root_per_package() -> None:
    for name in ("LedgerUnavailable", "LedgerRefused", "LedgerCorrupt", "LedgerConfigError"):
        assert issubclass(getattr(ledger, name), ledger.LedgerError)
    assert not issubclass(chaincode.ContractError, ledger.LedgerError)
