from __future__ import annotations

import pytest

import chaincode as cc
from chaincode import CertificateVersion, CertStatus, ContractError, ErrorCode
from tests.chaincode.chaincode_fakes import FakePlatform, entry


@pytest.fixture
def anchored(platform: FakePlatform) -> FakePlatform:
    platform.invoke("MoeMSP", cc.anchor_batch, [entry("C-1"), entry("C-2")])
    return platform


def _refused(p: FakePlatform, msp: str, fn: object, *args: object) -> ContractError:
    before = p.snapshot()
    with pytest.raises(ContractError) as err:
        p.invoke(msp, fn, *args)  # type: ignore[arg-type]
    assert p.snapshot() == before
    return err.value


def test_issuer_revokes(anchored: FakePlatform) -> None:
    state = anchored.invoke("MoeMSP", cc.revoke, "C-1", "issued in error")
    assert (state.status, state.reason, state.version) == (
        CertStatus.REVOKED,
        "issued in error",
        2,
    )
    assert anchored.invoke("X", cc.get_certificate, "C-1") == state
    assert anchored.events[-1][1] == "revoked"


@pytest.mark.parametrize("fn", [cc.revoke, cc.reinstate, cc.suspend])
def test_revocation_is_final(anchored: FakePlatform, fn: object) -> None:
    anchored.invoke("MoeMSP", cc.revoke, "C-1", "issued in error")
    err = _refused(anchored, "MoeMSP", fn, "C-1", "try again")
    assert (err.code, err.cert_id) == (ErrorCode.ALREADY_REVOKED, "C-1")
    assert "final" in err.message


def test_suspend_then_reinstate(anchored: FakePlatform) -> None:
    s = anchored.invoke("MoeMSP", cc.suspend, "C-1", "under review")
    assert (s.status, s.version) == (CertStatus.SUSPENDED, 2)
    r = anchored.invoke("MoeMSP", cc.reinstate, "C-1", "review closed")
    assert (r.status, r.reason, r.version) == (CertStatus.ACTIVE, "review closed", 3)
    # A suspended certificate can also be revoked.
    anchored.invoke("MoeMSP", cc.suspend, "C-1", "again")
    assert anchored.invoke("MoeMSP", cc.revoke, "C-1", "fraud").status is CertStatus.REVOKED


def test_invalid_transitions(anchored: FakePlatform) -> None:
    err = _refused(anchored, "MoeMSP", cc.reinstate, "C-1", "nothing to lift")
    assert err.code is ErrorCode.INVALID_TRANSITION and "active" in err.message
    anchored.invoke("MoeMSP", cc.suspend, "C-1", "under review")
    err = _refused(anchored, "MoeMSP", cc.suspend, "C-1", "twice")
    assert err.code is ErrorCode.INVALID_TRANSITION and "suspended" in err.message


@pytest.mark.parametrize("fn", [cc.revoke, cc.suspend, cc.reinstate])
def test_only_the_issuer_changes_status(anchored: FakePlatform, fn: object) -> None:
    err = _refused(anchored, "MotMSP", fn, "C-1", "not mine")
    assert (err.code, err.cert_id) == (ErrorCode.NOT_ISSUER, "C-1")
    assert "MOE" in err.message


def test_unknown_id(anchored: FakePlatform) -> None:
    err = _refused(anchored, "MoeMSP", cc.revoke, "C-404", "whatever")
    assert (err.code, err.cert_id) == (ErrorCode.NOT_FOUND, "C-404")
    assert "not found" in err.message


def test_unregistered_caller_learns_nothing(anchored: FakePlatform) -> None:
    assert _refused(anchored, "EvilMSP", cc.revoke, "C-1", "x").code is ErrorCode.UNKNOWN_AGENCY
    assert _refused(anchored, "EvilMSP", cc.revoke, "C-9", "x").code is ErrorCode.UNKNOWN_AGENCY


@pytest.mark.parametrize(
    "reason",
    ["", "   ", "x" * (cc.MAX_REASON_LEN + 1), "line\nbreak", None],
)
def test_reason_is_required_and_bounded(anchored: FakePlatform, reason: object) -> None:
    err = _refused(anchored, "MoeMSP", cc.revoke, "C-1", reason)
    assert (err.code, err.cert_id) == (ErrorCode.BAD_ARGUMENT, "C-1")


def test_reason_of_max_length_accepted(anchored: FakePlatform) -> None:
    reason = "理" * cc.MAX_REASON_LEN
    assert anchored.invoke("MoeMSP", cc.revoke, "C-1", reason).reason == reason


def test_bad_id_refused(anchored: FakePlatform) -> None:
    err = _refused(anchored, "MoeMSP", cc.revoke, "../C-1", "x")
    assert err.code is ErrorCode.BAD_ARGUMENT
    with pytest.raises(ContractError):
        anchored.invoke("X", cc.get_certificate, "")


def test_history_lists_every_version_oldest_first(anchored: FakePlatform) -> None:
    anchored.invoke("MoeMSP", cc.suspend, "C-1", "under review")
    anchored.invoke("MoeMSP", cc.reinstate, "C-1", "cleared")
    anchored.invoke("MoeMSP", cc.revoke, "C-1", "superseded")
    history = anchored.invoke("X", cc.get_history, "C-1")
    assert [(h.version, h.status, h.reason) for h in history] == [
        (1, CertStatus.ACTIVE, None),
        (2, CertStatus.SUSPENDED, "under review"),
        (3, CertStatus.ACTIVE, "cleared"),
        (4, CertStatus.REVOKED, "superseded"),
    ]
    assert [h.tx_id for h in history] == ["tx0002", "tx0003", "tx0004", "tx0005"]
    assert all(isinstance(h, CertificateVersion) for h in history)
    assert history[0].timestamp < history[-1].timestamp
    # The platform returned newest first; the contract ordered by version.
    assert anchored.invoke("X", cc.get_history, "C-404") == []


def test_history_with_a_gap_is_reported(anchored: FakePlatform) -> None:
    anchored.invoke("MoeMSP", cc.suspend, "C-1", "under review")
    del anchored.history[cc.cert_key("C-1")][0]
    with pytest.raises(ContractError) as err:
        anchored.invoke("X", cc.get_history, "C-1")
    assert err.value.code is ErrorCode.CORRUPT_STATE
