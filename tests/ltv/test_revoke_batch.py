"""Batched revocation on the embedded ledger: one transaction and one block for every
certificate a compromised seal key sealed, all or nothing, history kept."""

from __future__ import annotations

from pathlib import Path

import pytest

from ledger import EmbeddedLedger, LedgerRefused
from ledger.interface import BatchRevoker
from tests.ledger.ledger_helpers import REGISTRY, batch, entry, make_node

UNI, BUREAU = REGISTRY[0].code, REGISTRY[1].code


@pytest.fixture
def ledger(tmp_path: Path):  # type: ignore[no-untyped-def]
    key, cert = make_node()
    with EmbeddedLedger.create(
        tmp_path / "ledger.db", node_key=key, node_cert=cert, registry=REGISTRY
    ) as led:
        yield led


def test_one_block_revokes_the_whole_batch(ledger: EmbeddedLedger) -> None:
    assert isinstance(ledger, BatchRevoker)
    ledger.anchor(UNI, batch("CL-K", 5))
    ids = [f"CL-K-{i}" for i in range(4)]
    before = ledger.verify_chain().blocks_checked
    receipt = ledger.revoke_batch(UNI, ids, "keyCompromise")
    assert receipt is not None
    assert ledger.verify_chain().blocks_checked == before + 1
    for cert_id in ids:
        record = ledger.get(cert_id)
        assert record is not None
        assert record.status == "revoked" and record.reason == "keyCompromise"
        assert record.updated_at == receipt.timestamp
        assert [h.status for h in ledger.history(cert_id)] == ["active", "revoked"]
    untouched = ledger.get("CL-K-4")
    assert untouched is not None and untouched.status == "active"


def test_already_revoked_keep_their_reason(ledger: EmbeddedLedger) -> None:
    ledger.anchor(UNI, batch("CL-R", 2))
    ledger.revoke(UNI, "CL-R-0", "holder deceased")
    assert ledger.revoke_batch(UNI, ["CL-R-0"], "keyCompromise") is None  # nothing to write
    ledger.revoke_batch(UNI, ["CL-R-0", "CL-R-1"], "keyCompromise")
    first = ledger.get("CL-R-0")
    assert first is not None and first.reason == "holder deceased"
    second = ledger.get("CL-R-1")
    assert second is not None and second.reason == "keyCompromise"


@pytest.mark.parametrize(
    "ids, code",
    [
        (["CL-A-0", "CL-UNKNOWN-1"], "NOT_FOUND"),
        (["CL-A-0", "CL-A-0"], "BAD_ARGUMENT"),
        (["CL-A-0", "CL-B-0"], "NOT_ISSUER"),
    ],
)
def test_any_refusal_writes_nothing(ledger: EmbeddedLedger, ids: list[str], code: str) -> None:
    ledger.anchor(UNI, [entry("CL-A-0")])
    ledger.anchor(BUREAU, [entry("CL-B-0", cert_type=REGISTRY[1].allowed_types[0])])
    blocks = ledger.verify_chain().blocks_checked
    with pytest.raises(LedgerRefused) as refused:
        ledger.revoke_batch(UNI, ids, "keyCompromise")
    assert code in str(refused.value) or getattr(refused.value, "code", "") == code
    assert ledger.verify_chain().blocks_checked == blocks
    record = ledger.get("CL-A-0")
    assert record is not None and record.status == "active"
