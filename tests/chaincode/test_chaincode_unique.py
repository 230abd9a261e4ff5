"""Uniqueness per type in the contract: one active certificate per uniqueness key; a second
is refused unless it is an explicit re-issue, which supersedes (revokes) the first in the
same transaction, both visible in the history."""

from __future__ import annotations

import dataclasses
import json

import pytest

import chaincode as cc
from chaincode import AnchorEntry, CertStatus, ContractError, ErrorCode
from tests.chaincode.chaincode_fakes import FakePlatform, entry, hexd

KEY = hexd(77)


def _keyed(cert_id: str, digest: str, *, supersedes: str | None = None) -> AnchorEntry:
    return dataclasses.replace(entry(cert_id, digest), unique_key=KEY, supersedes=supersedes)


def _refused(platform: FakePlatform, batch: list[AnchorEntry]) -> ContractError:
    before = platform.snapshot()
    with pytest.raises(ContractError) as err:
        platform.invoke("MoeMSP", cc.anchor_batch, batch)
    assert platform.snapshot() == before, "a refused batch must write nothing"
    return err.value


def test_a_second_active_certificate_for_a_key_is_refused(platform: FakePlatform) -> None:
    platform.invoke("MoeMSP", cc.anchor_batch, [_keyed("C-0101", hexd(1))])
    assert platform.state[cc.unique_key("diploma", KEY)] == b"C-0101"
    err = _refused(platform, [entry("C-0201", hexd(5)), _keyed("C-0301", hexd(2))])
    assert (err.code, err.cert_id) == (ErrorCode.ALREADY_ISSUED, "C-0301")
    assert "C-0101" in err.message  # the existing certificate's id
    # Another key, or no key, is not affected.
    other = dataclasses.replace(entry("C-0401", hexd(3)), unique_key=hexd(78))
    platform.invoke("MoeMSP", cc.anchor_batch, [other, entry("C-0501", hexd(4))])


def test_two_entries_with_one_key_in_one_batch_are_refused(platform: FakePlatform) -> None:
    err = _refused(platform, [_keyed("C-0101", hexd(1)), _keyed("C-0201", hexd(2))])
    assert (err.code, err.cert_id) == (ErrorCode.ALREADY_ISSUED, "C-0201")


def test_a_revoked_certificate_frees_its_key(platform: FakePlatform) -> None:
    platform.invoke("MoeMSP", cc.anchor_batch, [_keyed("C-0101", hexd(1))])
    platform.invoke("MoeMSP", cc.revoke, "C-0101", "closed")
    platform.invoke("MoeMSP", cc.anchor_batch, [_keyed("C-0201", hexd(2))])
    assert platform.state[cc.unique_key("diploma", KEY)] == b"C-0201"


def test_a_suspended_certificate_still_holds_its_key(platform: FakePlatform) -> None:
    platform.invoke("MoeMSP", cc.anchor_batch, [_keyed("C-0101", hexd(1))])
    platform.invoke("MoeMSP", cc.suspend, "C-0101", "inspection")
    assert _refused(platform, [_keyed("C-0201", hexd(2))]).code is ErrorCode.ALREADY_ISSUED


def test_a_reissue_supersedes_the_active_one_in_one_transaction(platform: FakePlatform) -> None:
    platform.invoke("MoeMSP", cc.anchor_batch, [_keyed("C-0101", hexd(1))])
    platform.invoke("MoeMSP", cc.anchor_batch, [_keyed("C-0102", hexd(2), supersedes="C-0101")])
    tx = f"tx{platform.tx_count:04d}"
    old = platform.invoke("AnyMSP", cc.get_certificate, "C-0101")
    new = platform.invoke("AnyMSP", cc.get_certificate, "C-0102")
    assert old is not None and new is not None
    assert (old.status, old.reason, old.version, old.updated_tx) == (
        CertStatus.REVOKED,
        cc.superseded_reason("C-0102"),
        2,
        tx,
    )
    assert new.status is CertStatus.ACTIVE
    assert platform.state[cc.unique_key("diploma", KEY)] == b"C-0102"
    history = platform.invoke("AnyMSP", cc.get_history, "C-0101")
    assert [v.status for v in history] == [CertStatus.ACTIVE, CertStatus.REVOKED]
    event = json.loads(platform.events[-1][2])
    assert event == {"agency": "MOE", "cert_ids": ["C-0102"], "superseded": ["C-0101"]}


def test_a_reissue_must_name_the_active_certificate(platform: FakePlatform) -> None:
    platform.invoke("MoeMSP", cc.anchor_batch, [_keyed("C-0101", hexd(1))])
    wrong = _refused(platform, [_keyed("C-0102", hexd(2), supersedes="C-0999")])
    assert wrong.code is ErrorCode.SUPERSEDE_CONFLICT and "C-0101" in wrong.message
    platform.invoke("MoeMSP", cc.revoke, "C-0101", "closed")
    # A revoked certificate is not re-issued: revocation is final.
    gone = _refused(platform, [_keyed("C-0102", hexd(2), supersedes="C-0101")])
    assert gone.code is ErrorCode.SUPERSEDE_CONFLICT


def test_another_agency_cannot_supersede(platform: FakePlatform) -> None:
    platform.invoke("MoeMSP", cc.anchor_batch, [_keyed("C-0101", hexd(1))])
    theirs = dataclasses.replace(_keyed("C-0102", hexd(2), supersedes="C-0101"))
    before = platform.snapshot()
    with pytest.raises(ContractError) as err:
        platform.invoke("MotMSP", cc.anchor_batch, [theirs])
    assert platform.snapshot() == before
    assert err.value.code in (ErrorCode.NOT_ISSUER, ErrorCode.TYPE_NOT_ALLOWED)


def test_entries_without_the_new_fields_serialise_as_before() -> None:
    plain = entry("C-0101", hexd(1))
    assert set(plain.to_dict()) == set(AnchorEntry._KEYS)
    keyed = _keyed("C-0102", hexd(2), supersedes="C-0101")
    assert AnchorEntry.from_dict(keyed.to_dict()) == keyed
    assert AnchorEntry.from_dict(json.dumps(keyed.to_dict()).encode()) == keyed
    with pytest.raises(ContractError):
        AnchorEntry.from_dict({**plain.to_dict(), "unexpected": 1})
    with pytest.raises(ContractError):  # a re-issue without its key
        dataclasses.replace(plain, supersedes="C-0100")
