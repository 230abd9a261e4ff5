"""Sharing agreements and audit heads (chaincode.sharing) through the Fabric backend."""

from __future__ import annotations

import time

import pytest

from chaincode import AgreementTerms
from ledger import LedgerRefused

from .conftest import FabricNet


def test_agreement_created_listed_and_revoked_by_its_grantor(fabric_net: FabricNet) -> None:
    terms = AgreementTerms(
        "human-resources", ("business-licence",), ("hiring-check",), ("status",), "2030-12-31"
    )
    with fabric_net.ledger() as ledger:
        with pytest.raises(LedgerRefused) as exc:  # transport does not issue business licences
            ledger.create_agreement("transport", terms)
        assert exc.value.code == "TYPE_NOT_ALLOWED"
        agreement = ledger.create_agreement("market-regulation", terms)
        assert agreement.grantor == "market-regulation" and agreement.status == "active"
        with pytest.raises(LedgerRefused):
            ledger.revoke_agreement("transport", agreement.agreement_id, "not mine")
        ended = ledger.revoke_agreement("market-regulation", agreement.agreement_id, "ended")
        assert ended.status == "revoked"
    with fabric_net.ledger("transport") as reader:
        listed = {a.agreement_id: a for a in reader.agreements()}
    assert listed[agreement.agreement_id].status == "revoked"


def test_audit_head_only_moves_forward(fabric_net: FabricNet) -> None:
    log_id = f"log-{time.time_ns()}"
    with fabric_net.ledger("transport") as ledger:
        first = ledger.anchor_audit_head("transport", log_id, 3, "a" * 64)
        assert ledger.anchor_audit_head("transport", log_id, 3, "a" * 64) == first
        with pytest.raises(LedgerRefused) as exc:
            ledger.anchor_audit_head("transport", log_id, 2, "b" * 64)
        assert exc.value.code == "ENTRY_CONFLICT"
        ledger.anchor_audit_head("transport", log_id, 5, "c" * 64)
        head = ledger.audit_head("transport", log_id)
    assert head is not None and (head.seq, head.head, head.version) == (5, "c" * 64, 2)
