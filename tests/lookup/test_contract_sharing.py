"""The sharing contract functions under Fabric's transaction semantics (the in-memory platform
of the chaincode suite): agreements and audit heads, who may do what."""

from __future__ import annotations

import json

import pytest

import chaincode as cc
from chaincode import AgreementTerms, ContractError, ErrorCode
from tests.chaincode.chaincode_fakes import REGISTRY, FakePlatform


@pytest.fixture
def platform() -> FakePlatform:
    p = FakePlatform()
    p.invoke("genesis", cc.init_registry, list(REGISTRY))
    return p


def terms(**kw: object) -> AgreementTerms:
    base: dict[str, object] = {
        "grantee": "MOT",
        "cert_types": ("diploma",),
        "purposes": ("licence-check",),
        "fields": ("name", "degree"),
        "valid_until": "2026-01-01",
    }
    base.update(kw)
    return AgreementTerms(**base)  # type: ignore[arg-type]


def refused(code: ErrorCode, platform: FakePlatform, msp: str, fn: object, *args: object) -> None:
    before = platform.snapshot()
    with pytest.raises(ContractError) as exc:
        platform.invoke(msp, fn, *args)  # type: ignore[arg-type]
    assert exc.value.code is code, exc.value
    assert platform.snapshot() == before  # a refusal writes nothing


def test_grantor_creates_lists_and_revokes(platform: FakePlatform) -> None:
    a = platform.invoke("MoeMSP", cc.create_agreement, terms())
    assert a.grantor == "MOE" and a.status == "active" and a.agreement_id.startswith("AG-")
    assert platform.events[-1][1] == "agreement-created"
    listed = platform.invoke("ObsMSP", cc.list_agreements)
    assert [x.agreement_id for x in listed] == [a.agreement_id]
    refused(ErrorCode.NOT_ISSUER, platform, "MotMSP", cc.revoke_agreement, a.agreement_id, "x")
    revoked = platform.invoke("MoeMSP", cc.revoke_agreement, a.agreement_id, "ended")
    assert revoked.status == "revoked" and revoked.reason == "ended"
    refused(ErrorCode.ALREADY_REVOKED, platform, "MoeMSP", cc.revoke_agreement, a.agreement_id, "x")
    refused(ErrorCode.NOT_FOUND, platform, "MoeMSP", cc.revoke_agreement, "AG-nope", "x")
    # No personal data in state: the stored agreement has ids, codes and field names only.
    stored = json.loads(platform.state["agreements/MOE"])
    assert set(stored["agreements"][0]) == set(cc.Agreement._KEYS)


def test_only_own_types_registered_grantees_and_future_dates(platform: FakePlatform) -> None:
    refused(
        ErrorCode.TYPE_NOT_ALLOWED,
        platform,
        "MoeMSP",
        cc.create_agreement,
        terms(cert_types=("driving-licence",)),
    )
    refused(ErrorCode.UNKNOWN_AGENCY, platform, "MoeMSP", cc.create_agreement, terms(grantee="XX"))
    refused(ErrorCode.BAD_ARGUMENT, platform, "MoeMSP", cc.create_agreement, terms(grantee="MOE"))
    refused(
        ErrorCode.BAD_ARGUMENT,
        platform,
        "MoeMSP",
        cc.create_agreement,
        terms(valid_until="2020-01-01"),
    )
    refused(ErrorCode.UNKNOWN_AGENCY, platform, "NobodyMSP", cc.create_agreement, terms())
    with pytest.raises(ContractError):
        terms(purposes=())
    with pytest.raises(ContractError):
        terms(fields=("bad field",))


def test_audit_head_only_moves_forward(platform: FakePlatform) -> None:
    h1, h2, h3 = "1" * 64, "2" * 64, "3" * 64
    first = platform.invoke("MoeMSP", cc.anchor_audit_head, "log-a", 5, h1)
    assert first.seq == 5 and first.agency == "MOE" and first.version == 1
    before = platform.tx_count
    same = platform.invoke("MoeMSP", cc.anchor_audit_head, "log-a", 5, h1)
    assert same == first and platform.last_writes == {}  # idempotent, nothing written
    assert platform.tx_count == before + 1
    refused(ErrorCode.ENTRY_CONFLICT, platform, "MoeMSP", cc.anchor_audit_head, "log-a", 5, h2)
    refused(ErrorCode.ENTRY_CONFLICT, platform, "MoeMSP", cc.anchor_audit_head, "log-a", 4, h3)
    later = platform.invoke("MoeMSP", cc.anchor_audit_head, "log-a", 9, h3)
    assert later.version == 2
    # Heads are per agency: another agency's log of the same name is its own key.
    other = platform.invoke("MotMSP", cc.anchor_audit_head, "log-a", 1, h2)
    assert other.agency == "MOT" and other.version == 1
    read = platform.invoke("ObsMSP", cc.get_audit_head, "MOE", "log-a")
    assert read == later
    assert platform.invoke("ObsMSP", cc.get_audit_head, "OBS", "log-a") is None
    refused(ErrorCode.UNKNOWN_AGENCY, platform, "NobodyMSP", cc.anchor_audit_head, "x", 1, h1)


def test_terms_round_trip_through_the_wire_form() -> None:
    t = terms(purposes=("b", "a"))
    assert t.purposes == ("a", "b")  # one spelling per set
    assert AgreementTerms.from_dict(t.to_dict()) == t
    assert AgreementTerms.from_dict(json.dumps(t.to_dict()).encode()) == t
    with pytest.raises(ContractError):
        AgreementTerms.from_dict({**t.to_dict(), "extra": 1})
