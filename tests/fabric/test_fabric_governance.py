"""Registry changes by a majority of agencies on real Fabric: each agency approves with its
own MSP identity through its own peer, and the change takes effect at the second approval
(the proposal counts as the proposer's), not before."""

from __future__ import annotations

import functools

import pytest

from ledger import AgencyRecord, LedgerConfigError, LedgerRefused
from ledger.interface import Proposal, ProposalStatus, RegistryChange, RegistryGovernance

from .conftest import FabricNet, eventually

AGENCIES = ("market-regulation", "human-resources", "transport")
NEWCOMER = AgencyRecord(
    "civil-affairs", "CivilAffairsMSP", "民政局", "Civil Affairs Bureau", (), ("cd" * 32,)
)


def test_three_agencies_approve_and_the_change_takes_effect_at_the_majority(
    fabric_net: FabricNet,
) -> None:
    mr, hr, tr = (fabric_net.ledger(code) for code in AGENCIES)  # one identity each
    try:
        assert isinstance(mr, RegistryGovernance)
        before = [a.code for a in tr.registry()]
        assert "civil-affairs" not in before

        proposal = mr.propose_registry_change(
            "market-regulation", RegistryChange.add_agency(NEWCOMER), 7
        )
        assert proposal.status is ProposalStatus.OPEN
        assert proposal.approvals == ("market-regulation",)
        assert proposal.needed == 2
        pid = proposal.proposal_id
        # Not in effect after one approval, on any agency's peer.
        for led in (mr, hr, tr):
            listed = eventually(functools.partial(_listed, led, pid), what="the proposal")
            assert listed.status is ProposalStatus.OPEN
            assert "civil-affairs" not in [a.code for a in led.registry()]

        # A service holding only HR's identity cannot approve as another agency.
        with pytest.raises(LedgerConfigError):
            hr.approve_registry_change("transport", pid)

        applied = hr.approve_registry_change("human-resources", pid)
        assert applied.status is ProposalStatus.APPLIED
        assert applied.approvals == ("market-regulation", "human-resources")
        assert applied.registry_revision is not None

        def on_transport_peer() -> None:
            assert "civil-affairs" in [a.code for a in tr.registry()]

        eventually(on_transport_peer, what="the new registry on transport's peer")

        with pytest.raises(LedgerRefused) as err:
            tr.approve_registry_change("transport", pid)
        assert err.value.code == "PROPOSAL_CLOSED"

        steps = tr.proposal_history(pid)
        assert [(s.status, s.approvals) for s in steps] == [
            (ProposalStatus.OPEN, ("market-regulation",)),
            (ProposalStatus.APPLIED, ("market-regulation", "human-resources")),
        ]
        assert steps[0].tx_id == pid
    finally:
        for led in (mr, hr, tr):
            led.close()


def test_second_approval_by_the_same_agency_is_refused(fabric_net: FabricNet) -> None:
    with fabric_net.ledger("transport") as tr, fabric_net.ledger("market-regulation") as mr:
        current = next(a for a in tr.registry() if a.code == "transport")
        proposal = tr.propose_registry_change(
            "transport", RegistryChange.add_seal("transport", "ef" * 32), 1
        )
        with pytest.raises(LedgerRefused) as err:
            tr.approve_registry_change("transport", proposal.proposal_id)
        assert err.value.code == "ALREADY_APPROVED"
        # Still one approval of two: the registry did not move.
        assert next(a for a in mr.registry() if a.code == "transport") == current


def _listed(led: RegistryGovernance, pid: str) -> Proposal:
    found = [p for p in led.registry_proposals() if p.proposal_id == pid]
    assert found, f"proposal {pid} not yet on this peer"
    return found[0]
