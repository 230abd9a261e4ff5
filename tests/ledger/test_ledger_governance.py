"""Registry governance on the embedded ledger, through the ``ledger`` interface."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from ledger import AgencyRecord, AnchorEntry, EmbeddedLedger, LedgerRefused
from ledger.interface import ProposalStatus, RegistryChange, RegistryGovernance

REGISTRY = [
    AgencyRecord("MOE", "MoeMSP", "教育部", "Ministry of Education", ("diploma",), ("a" * 64,)),
    AgencyRecord("MOT", "MotMSP", "交通部", "Ministry of Transport", ("driving",), ("b" * 64,)),
    AgencyRecord("OBS", "ObsMSP", "观察", "Observer", (), ("c" * 64,)),
]
NEW = AgencyRecord("MOH", "MohMSP", "卫生部", "Ministry of Health", ("permit",), ("d" * 64,))


@pytest.fixture
def three(
    tmp_path: Path, node: tuple[ec.EllipticCurvePrivateKey, x509.Certificate]
) -> Iterator[EmbeddedLedger]:
    key, cert = node
    with EmbeddedLedger.create(
        tmp_path / "gov.db", node_key=key, node_cert=cert, registry=REGISTRY
    ) as led:
        yield led


def test_embedded_ledger_offers_governance(three: EmbeddedLedger) -> None:
    assert isinstance(three, RegistryGovernance)


def test_new_agency_by_majority_then_it_anchors(three: EmbeddedLedger) -> None:
    proposal = three.propose_registry_change("MOE", RegistryChange.add_agency(NEW), 7)
    assert proposal.status is ProposalStatus.OPEN
    assert [a.code for a in three.registry()] == ["MOE", "MOT", "OBS"]
    with pytest.raises(LedgerRefused) as err:  # not registered yet: its identity counts for nothing
        three.anchor("MOH", [AnchorEntry("H-1", "e" * 64, "f" * 64, "permit", "2026-01-01", None)])
    assert err.value.code == "UNKNOWN_AGENCY"

    applied = three.approve_registry_change("MOT", proposal.proposal_id)
    assert applied.status is ProposalStatus.APPLIED
    assert [a.code for a in three.registry()] == ["MOE", "MOT", "OBS", "MOH"]
    receipts = three.anchor(
        "MOH", [AnchorEntry("H-1", "e" * 64, "f" * 64, "permit", "2026-01-01", None)]
    )
    assert receipts[0].status == "anchored"

    with pytest.raises(LedgerRefused) as err:
        three.approve_registry_change("OBS", proposal.proposal_id)
    assert err.value.code == "PROPOSAL_CLOSED"
    steps = three.proposal_history(proposal.proposal_id)
    assert [(s.version, s.status.value, s.approvals) for s in steps] == [
        (1, "open", ("MOE",)),
        (2, "applied", ("MOE", "MOT")),
    ]
    assert [p.proposal_id for p in three.registry_proposals()] == [proposal.proposal_id]
    # Every step is a signed block in a chain that still verifies.
    assert three.verify_chain().ok


def test_refusals_write_nothing(three: EmbeddedLedger) -> None:
    pid = three.propose_registry_change("MOE", RegistryChange.set_types("OBS", ("x",)), 3)
    before = three.verify_chain().blocks_checked
    with pytest.raises(LedgerRefused) as err:
        three.approve_registry_change("MOE", pid.proposal_id)
    assert err.value.code == "ALREADY_APPROVED"
    with pytest.raises(LedgerRefused) as err:
        three.approve_registry_change("NOBODY", pid.proposal_id)
    assert err.value.code == "UNKNOWN_AGENCY"
    assert three.verify_chain().blocks_checked == before
