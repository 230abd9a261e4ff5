"""Registry changes by a majority of agencies (chaincode.governance), on the fake platform."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

import chaincode as cc
from chaincode import ContractError, ErrorCode, ProposalStatus, RegistryChange
from tests.chaincode.chaincode_fakes import FakePlatform, agency, hexd

NEW = agency("MOH", "MohMSP", ("health-permit",), seal=hexd(7))


def propose(p: FakePlatform, msp: str, change: RegistryChange, days: int = 7) -> cc.Proposal:
    return p.invoke(msp, cc.propose_registry_change, change, days)


def approve(p: FakePlatform, msp: str, pid: str, **kw: object) -> cc.Proposal:
    return p.invoke(msp, cc.approve_registry_change, pid, **kw)  # type: ignore[arg-type]


def codes(p: FakePlatform) -> list[str]:
    return [a.code for a in p.invoke("x", cc.get_registry)]


def revision(p: FakePlatform) -> int:
    return int(json.loads(p.state[cc.REGISTRY_KEY])["revision"])


def test_add_agency_takes_effect_at_the_majority_and_not_before(platform: FakePlatform) -> None:
    proposal = propose(platform, "MoeMSP", RegistryChange.add_agency(NEW))
    # (3) the proposal is MOE's approval: 1 of 3, a majority needs 2.
    assert proposal.approvals == ("MOE",)
    assert proposal.needed == 2
    assert proposal.electorate == ("MOE", "MOT", "OBS")
    assert proposal.status is ProposalStatus.OPEN
    assert "MOH" not in codes(platform)
    assert revision(platform) == 1
    assert platform.events[-1][1] == "proposal"

    done = approve(platform, "ObsMSP", proposal.proposal_id)
    assert done.status is ProposalStatus.APPLIED
    assert done.approvals == ("MOE", "OBS")
    assert done.registry_revision == 2
    assert codes(platform) == ["MOE", "MOT", "OBS", "MOH"]
    assert revision(platform) == 2
    name, payload = platform.events[-1][1:]
    assert name == "registry"
    assert json.loads(payload) == {
        "revision": 2,
        "proposal_id": proposal.proposal_id,
        "kind": "add-agency",
        "agency": "MOH",
    }
    # The new agency's identity now counts: it may anchor its own type.
    platform.invoke("MohMSP", cc.anchor_batch, [_entry("MOH-1", "health-permit")])


def _entry(cert_id: str, cert_type: str) -> cc.AnchorEntry:
    return cc.AnchorEntry(cert_id, "d" * 64, "e" * 64, cert_type, "2025-01-01", None)


def test_after_it_took_effect_no_more_approvals(platform: FakePlatform) -> None:
    pid = propose(platform, "MoeMSP", RegistryChange.add_agency(NEW)).proposal_id
    approve(platform, "MotMSP", pid)
    before = platform.snapshot()
    with pytest.raises(ContractError) as err:
        approve(platform, "ObsMSP", pid)
    assert err.value.code is ErrorCode.PROPOSAL_CLOSED
    assert platform.snapshot() == before


def test_an_agency_approves_once(platform: FakePlatform) -> None:
    pid = propose(platform, "MoeMSP", RegistryChange.add_agency(NEW)).proposal_id
    before = platform.snapshot()
    with pytest.raises(ContractError) as err:  # (4) the proposer already approved
        approve(platform, "MoeMSP", pid)
    assert err.value.code is ErrorCode.ALREADY_APPROVED
    assert platform.snapshot() == before


def test_expired_proposal_cannot_be_approved(platform: FakePlatform) -> None:
    proposal = propose(platform, "MoeMSP", RegistryChange.add_agency(NEW), days=1)
    assert proposal.expires_at - proposal.created_at == timedelta(days=1)
    late = proposal.expires_at + timedelta(seconds=1)
    with pytest.raises(ContractError) as err:
        approve(platform, "MotMSP", proposal.proposal_id, ts=late)
    assert err.value.code is ErrorCode.PROPOSAL_EXPIRED
    assert "MOH" not in codes(platform)
    assert proposal.status_at(late) is ProposalStatus.EXPIRED
    # Just in time still counts.
    approve(platform, "MotMSP", proposal.proposal_id, ts=proposal.expires_at)
    assert "MOH" in codes(platform)


def test_unregistered_caller_can_neither_propose_nor_approve(platform: FakePlatform) -> None:
    with pytest.raises(ContractError) as err:
        propose(platform, "MohMSP", RegistryChange.add_agency(NEW))
    assert err.value.code is ErrorCode.UNKNOWN_AGENCY
    pid = propose(platform, "MoeMSP", RegistryChange.set_types("OBS", ())).proposal_id
    with pytest.raises(ContractError) as err:
        approve(platform, "MohMSP", pid)
    assert err.value.code is ErrorCode.UNKNOWN_AGENCY


def test_electorate_is_frozen_at_proposal_time(platform: FakePlatform) -> None:
    # (2) a proposal made with three agencies needs two of THOSE three, even after a fourth
    # joined; the newcomer does not vote on it.
    older = propose(platform, "MoeMSP", RegistryChange.set_types("OBS", ("diploma",))).proposal_id
    pid = propose(platform, "MoeMSP", RegistryChange.add_agency(NEW)).proposal_id
    approve(platform, "MotMSP", pid)
    with pytest.raises(ContractError) as err:
        approve(platform, "MohMSP", older)
    assert err.value.code is ErrorCode.NOT_ELECTOR
    # A proposal made with four agencies needs three.
    later = propose(platform, "MohMSP", RegistryChange.add_seal("MOH", hexd(8)))
    assert later.needed == 3 and later.electorate == ("MOE", "MOH", "MOT", "OBS")
    assert approve(platform, "MoeMSP", later.proposal_id).status is ProposalStatus.OPEN
    assert approve(platform, "ObsMSP", later.proposal_id).status is ProposalStatus.APPLIED


def test_seal_added_and_retired(platform: FakePlatform) -> None:
    pid = propose(platform, "MotMSP", RegistryChange.add_seal("MOE", hexd(9))).proposal_id
    approve(platform, "ObsMSP", pid)
    moe = platform.invoke("x", cc.get_registry)[0]
    assert moe.seal_fingerprints == ("a" * 64, hexd(9))
    pid = propose(platform, "MotMSP", RegistryChange.retire_seal("MOE", "a" * 64)).proposal_id
    approve(platform, "MoeMSP", pid)
    moe = platform.invoke("x", cc.get_registry)[0]
    assert moe.seal_fingerprints == (hexd(9),)
    assert revision(platform) == 3


def test_retiring_the_last_seal_of_an_issuer_is_refused(platform: FakePlatform) -> None:
    with pytest.raises(ContractError) as err:
        propose(platform, "MoeMSP", RegistryChange.retire_seal("MOT", "b" * 64))
    assert err.value.code is ErrorCode.CHANGE_CONFLICT


def test_types_changed(platform: FakePlatform) -> None:
    pid = propose(platform, "MoeMSP", RegistryChange.set_types("MOT", ("bus-permit",))).proposal_id
    approve(platform, "MotMSP", pid)
    mot = platform.invoke("x", cc.get_registry)[1]
    assert mot.allowed_types == ("bus-permit",)
    with pytest.raises(ContractError) as err:
        platform.invoke("MotMSP", cc.anchor_batch, [_entry("MOT-1", "driving-licence")])
    assert err.value.code is ErrorCode.TYPE_NOT_ALLOWED


@pytest.mark.parametrize(
    "change",
    [
        RegistryChange.add_agency(agency("MOE", "OtherMSP", ())),
        RegistryChange.add_agency(agency("NEW", "MoeMSP", ())),
        RegistryChange.add_seal("MOE", "a" * 64),
        RegistryChange.retire_seal("MOE", hexd(1)),
        RegistryChange.set_types("NOPE", ()),
    ],
    ids=["dup-code", "dup-msp", "seal-twice", "unknown-seal", "unknown-agency"],
)
def test_changes_that_do_not_apply_are_refused_at_proposal(
    platform: FakePlatform, change: RegistryChange
) -> None:
    before = platform.snapshot()
    with pytest.raises(ContractError) as err:
        propose(platform, "MoeMSP", change)
    assert err.value.code is ErrorCode.CHANGE_CONFLICT
    assert platform.snapshot() == before


def test_change_rechecked_when_it_takes_effect(platform: FakePlatform) -> None:
    # (6) two proposals to add the same agency: the second no longer applies.
    first = propose(platform, "MoeMSP", RegistryChange.add_agency(NEW)).proposal_id
    second = propose(platform, "MotMSP", RegistryChange.add_agency(NEW)).proposal_id
    approve(platform, "ObsMSP", first)
    before = platform.snapshot()
    with pytest.raises(ContractError) as err:
        approve(platform, "ObsMSP", second)
    assert err.value.code is ErrorCode.CHANGE_CONFLICT
    assert platform.snapshot() == before


@pytest.mark.parametrize("days", [0, 91, "7", 1.5])
def test_validity_must_be_whole_days_in_range(platform: FakePlatform, days: object) -> None:
    with pytest.raises(ContractError) as err:
        platform.invoke("MoeMSP", cc.propose_registry_change, RegistryChange.add_agency(NEW), days)
    assert err.value.code is ErrorCode.BAD_ARGUMENT


def test_unknown_proposal(platform: FakePlatform) -> None:
    with pytest.raises(ContractError) as err:
        approve(platform, "MoeMSP", "no-such-proposal")
    assert err.value.code is ErrorCode.PROPOSAL_NOT_FOUND


def test_single_agency_registry_applies_at_proposal() -> None:
    p = FakePlatform()
    p.invoke("genesis", cc.init_registry, [agency("ONE", "OneMSP", ())])
    proposal = propose(p, "OneMSP", RegistryChange.add_agency(NEW))
    assert proposal.status is ProposalStatus.APPLIED
    assert codes(p) == ["ONE", "MOH"]


def test_every_step_is_in_the_history_and_listed(platform: FakePlatform) -> None:
    proposal = propose(platform, "MoeMSP", RegistryChange.add_agency(NEW))
    approve(platform, "MotMSP", proposal.proposal_id)
    steps = platform.invoke("x", cc.proposal_history, proposal.proposal_id)
    assert [(s.version, s.status, s.approvals) for s in steps] == [
        (1, ProposalStatus.OPEN, ("MOE",)),
        (2, ProposalStatus.APPLIED, ("MOE", "MOT")),
    ]
    assert steps[0].tx_id == proposal.proposal_id
    listed = platform.invoke("x", cc.list_proposals)
    assert [p.proposal_id for p in listed] == [proposal.proposal_id]
    assert listed[0].status is ProposalStatus.APPLIED
    assert platform.invoke("x", cc.proposal_history, "unknown") == []


def test_wire_form_round_trips(platform: FakePlatform) -> None:
    proposal = propose(platform, "MoeMSP", RegistryChange.add_agency(NEW))
    assert cc.Proposal.from_dict(proposal.to_bytes()) == proposal
    for change in (
        RegistryChange.add_seal("MOE", hexd(3)),
        RegistryChange.retire_seal("MOE", hexd(3)),
        RegistryChange.set_types("MOE", ("a", "b")),
    ):
        assert RegistryChange.from_dict(json.loads(json.dumps(change.to_dict()))) == change


@pytest.mark.parametrize(
    "raw",
    [
        {"kind": "add-agency", "agency": "X", "record": None, "fingerprint": None},
        {"kind": "drop", "agency": "X", "record": None, "fingerprint": None, "allowed_types": None},
        {
            "kind": "add-seal",
            "agency": "X",
            "record": None,
            "fingerprint": None,
            "allowed_types": [],
        },
        {
            "kind": "set-types",
            "agency": "X",
            "record": None,
            "fingerprint": None,
            "allowed_types": "ab",
        },
    ],
    ids=["missing-field", "unknown-kind", "wrong-field", "types-as-string"],
)
def test_malformed_changes_refused(raw: dict[str, object]) -> None:
    with pytest.raises(ContractError) as err:
        RegistryChange.from_dict(raw)
    assert err.value.code is ErrorCode.BAD_ARGUMENT


def test_stored_proposal_damage_is_corrupt_state(platform: FakePlatform) -> None:
    pid = propose(platform, "MoeMSP", RegistryChange.add_agency(NEW)).proposal_id
    platform.state["proposal/" + pid] = b'{"proposal_id": 1}'
    with pytest.raises(ContractError) as err:
        approve(platform, "MotMSP", pid)
    assert err.value.code is ErrorCode.CORRUPT_STATE
