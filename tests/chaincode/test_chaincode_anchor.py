from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest

import chaincode as cc
from chaincode import AnchorEntry, AnchorOutcome, CertStatus, ContractError, ErrorCode
from tests.chaincode.chaincode_fakes import FakePlatform, entry, hexd


def test_anchor_writes_one_active_record_per_entry(platform: FakePlatform) -> None:
    batch = [entry(f"C-{i}", hexd(i)) for i in range(3)]
    outcomes = platform.invoke("MoeMSP", cc.anchor_batch, batch)
    tx = f"tx{platform.tx_count:04d}"
    assert outcomes == [AnchorOutcome(f"C-{i}", "anchored", tx) for i in range(3)]
    state = platform.invoke("AnyMSP", cc.get_certificate, "C-1")
    assert state is not None
    assert (state.agency, state.cert_type, state.digest) == ("MOE", "diploma", hexd(1))
    assert (state.status, state.reason, state.version) == (CertStatus.ACTIVE, None, 1)
    assert state.anchored_tx == state.updated_tx == tx
    assert state.anchored_at == state.updated_at
    assert state.valid_from == date(2025, 1, 1) and state.valid_until == date(2030, 1, 1)
    assert state.matches("MOE", batch[1]) and not state.matches("MOT", batch[1])
    tx_id, name, payload = platform.events[-1]
    assert (tx_id, name) == (tx, "anchored")
    assert json.loads(payload) == {"agency": "MOE", "cert_ids": ["C-0", "C-1", "C-2"]}


def test_state_is_canonical_json(platform: FakePlatform) -> None:
    platform.invoke("MoeMSP", cc.anchor_batch, [entry("C-1", valid_until=None)])
    raw = platform.state[cc.cert_key("C-1")]
    assert raw == cc.canonical_json(json.loads(raw))
    assert json.loads(raw)["valid_until"] is None


def test_same_transaction_gives_identical_writes() -> None:
    """Endorsement needs every peer to compute byte-identical writes."""
    from tests.chaincode.chaincode_fakes import REGISTRY

    writes = []
    for _ in range(2):
        p = FakePlatform()
        p.invoke("genesis", cc.init_registry, list(REGISTRY))
        p.invoke("MoeMSP", cc.anchor_batch, [entry("C-1"), entry("C-2", hexd(2))])
        writes.append(p.last_writes)
    assert writes[0] == writes[1]


def test_reanchoring_the_same_entry_is_a_no_op(platform: FakePlatform) -> None:
    platform.invoke("MoeMSP", cc.anchor_batch, [entry("C-1")])
    first_tx = f"tx{platform.tx_count:04d}"
    before = platform.snapshot()
    outcomes = platform.invoke("MoeMSP", cc.anchor_batch, [entry("C-1")])
    assert outcomes == [AnchorOutcome("C-1", "already-anchored", first_tx)]
    assert platform.last_writes == {}
    assert platform.snapshot() == before  # no write, no event


def test_mixed_batch_writes_only_new_ids(platform: FakePlatform) -> None:
    platform.invoke("MoeMSP", cc.anchor_batch, [entry("C-1")])
    outcomes = platform.invoke("MoeMSP", cc.anchor_batch, [entry("C-1"), entry("C-2")])
    assert [o.status for o in outcomes] == ["already-anchored", "anchored"]
    assert set(platform.last_writes) == {cc.cert_key("C-2")}
    assert json.loads(platform.events[-1][2])["cert_ids"] == ["C-2"]


def _refused(platform: FakePlatform, msp: str, batch: list[AnchorEntry]) -> ContractError:
    before = platform.snapshot()
    with pytest.raises(ContractError) as err:
        platform.invoke(msp, cc.anchor_batch, batch)
    assert platform.snapshot() == before, "a refused batch must write nothing"
    return err.value


def test_digest_conflict_refuses_whole_batch(platform: FakePlatform) -> None:
    platform.invoke("MoeMSP", cc.anchor_batch, [entry("C-1", hexd(1))])
    err = _refused(platform, "MoeMSP", [entry("C-0", hexd(0)), entry("C-1", hexd(9))])
    assert (err.code, err.cert_id) == (ErrorCode.DIGEST_CONFLICT, "C-1")
    assert "C-1" in err.message and hexd(1) in err.message
    assert platform.invoke("X", cc.get_certificate, "C-0") is None


def test_same_digest_other_metadata_is_a_conflict(platform: FakePlatform) -> None:
    platform.invoke("MoeMSP", cc.anchor_batch, [entry("C-1")])
    err = _refused(platform, "MoeMSP", [entry("C-1", holder="f" * 64)])
    assert (err.code, err.cert_id) == (ErrorCode.ENTRY_CONFLICT, "C-1")


def test_foreign_type_refused_naming_the_entry(platform: FakePlatform) -> None:
    batch = [entry("C-0"), entry("C-1", cert_type="driving-licence")]
    err = _refused(platform, "MoeMSP", batch)
    assert (err.code, err.cert_id) == (ErrorCode.TYPE_NOT_ALLOWED, "C-1")
    assert "MOE" in err.message and "driving-licence" in err.message


def test_agency_without_types_may_anchor_nothing(platform: FakePlatform) -> None:
    err = _refused(platform, "ObsMSP", [entry("C-0")])
    assert err.code is ErrorCode.TYPE_NOT_ALLOWED


def test_unknown_caller_refused(platform: FakePlatform) -> None:
    err = _refused(platform, "EvilMSP", [entry("C-0")])
    assert err.code is ErrorCode.UNKNOWN_AGENCY
    assert "EvilMSP" in err.message


def test_id_of_another_agency_refused(platform: FakePlatform) -> None:
    platform.invoke("MotMSP", cc.anchor_batch, [entry("C-1", cert_type="driving-licence")])
    err = _refused(platform, "MoeMSP", [entry("C-1", cert_type="diploma")])
    assert (err.code, err.cert_id) == (ErrorCode.NOT_ISSUER, "C-1")
    assert "MOT" in err.message


def test_duplicate_id_in_one_batch_refused(platform: FakePlatform) -> None:
    err = _refused(platform, "MoeMSP", [entry("C-1"), entry("C-2"), entry("C-1")])
    assert (err.code, err.cert_id) == (ErrorCode.BAD_ARGUMENT, "C-1")


def test_batch_size_limits(platform: FakePlatform) -> None:
    assert _refused(platform, "MoeMSP", []).code is ErrorCode.BAD_ARGUMENT
    too_many = [entry(f"C-{i}") for i in range(cc.MAX_BATCH + 1)]
    err = _refused(platform, "MoeMSP", too_many)
    assert err.code is ErrorCode.BAD_ARGUMENT and str(cc.MAX_BATCH) in err.message


def test_batch_items_must_be_entries(platform: FakePlatform) -> None:
    err = _refused(platform, "MoeMSP", [entry("C-1").to_dict()])  # type: ignore[list-item]
    assert err.code is ErrorCode.BAD_ARGUMENT


def test_full_batch_of_max_size_is_accepted(platform: FakePlatform) -> None:
    batch = [entry(f"C-{i}", hexd(i)) for i in range(cc.MAX_BATCH)]
    outcomes = platform.invoke("MoeMSP", cc.anchor_batch, batch)
    assert len(outcomes) == cc.MAX_BATCH == len(platform.last_writes)


def test_naive_platform_timestamp_is_refused(platform: FakePlatform) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        platform.invoke(
            "MoeMSP",
            cc.anchor_batch,
            [entry("C-1")],
            ts=datetime(2025, 1, 1),
        )
    assert platform.invoke("X", cc.get_certificate, "C-1") is None


def test_other_timezones_are_stored_as_utc(platform: FakePlatform) -> None:
    from datetime import timedelta, timezone

    ts = datetime(2025, 1, 1, 8, 0, tzinfo=timezone(timedelta(hours=8)))
    platform.invoke("MoeMSP", cc.anchor_batch, [entry("C-1")], ts=ts)
    assert json.loads(platform.state[cc.cert_key("C-1")])["anchored_at"] == (
        "2025-01-01T00:00:00.000000Z"
    )
    state = platform.invoke("X", cc.get_certificate, "C-1")
    assert state is not None and state.anchored_at == datetime(2025, 1, 1, tzinfo=UTC)


def test_corrupt_certificate_state_is_reported(platform: FakePlatform) -> None:
    platform.invoke("MoeMSP", cc.anchor_batch, [entry("C-1")])
    key = cc.cert_key("C-1")
    platform.state[key] = platform.state[key].replace(b'"active"', b'"golden"')
    with pytest.raises(ContractError) as err:
        platform.invoke("MoeMSP", cc.anchor_batch, [entry("C-1")])
    assert err.value.code is ErrorCode.CORRUPT_STATE
