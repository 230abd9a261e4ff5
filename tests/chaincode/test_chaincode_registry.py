from __future__ import annotations

import dataclasses
import json

import pytest

import chaincode as cc
from chaincode import ContractError, ErrorCode
from tests.chaincode.chaincode_fakes import REGISTRY, FakePlatform, agency


def test_genesis_writes_registry_and_reads_back(platform: FakePlatform) -> None:
    assert platform.invoke("AnyMSP", cc.get_registry) == list(REGISTRY)
    body = json.loads(platform.state[cc.REGISTRY_KEY])
    assert body["revision"] == 1
    assert [a["code"] for a in body["agencies"]] == ["MOE", "MOT", "OBS"]
    # Names are stored as UTF-8 text, not escaped.
    assert "MOE机关".encode() in platform.state[cc.REGISTRY_KEY]


def test_genesis_runs_once(platform: FakePlatform) -> None:
    before = platform.snapshot()
    with pytest.raises(ContractError) as err:
        platform.invoke("MoeMSP", cc.init_registry, list(REGISTRY))
    assert err.value.code is ErrorCode.REGISTRY_EXISTS
    assert platform.snapshot() == before


def test_reads_before_genesis_refused() -> None:
    with pytest.raises(ContractError) as err:
        FakePlatform().invoke("MoeMSP", cc.get_registry)
    assert err.value.code is ErrorCode.NO_REGISTRY


@pytest.mark.parametrize(
    "agencies",
    [
        [],
        [agency("A", "SameMSP", ()), agency("B", "SameMSP", ())],
        [agency("A", "AMSP", ()), agency("A", "BMSP", ())],
    ],
    ids=["empty", "duplicate-msp", "duplicate-code"],
)
def test_genesis_refuses_ambiguous_registry(agencies: list[cc.AgencyRecord]) -> None:
    p = FakePlatform()
    with pytest.raises(ContractError) as err:
        p.invoke("genesis", cc.init_registry, agencies)
    assert err.value.code is ErrorCode.BAD_ARGUMENT
    assert p.state == {}


def test_genesis_refuses_non_records() -> None:
    with pytest.raises(ContractError) as err:
        FakePlatform().invoke("genesis", cc.init_registry, [REGISTRY[0].to_dict()])
    assert err.value.code is ErrorCode.BAD_ARGUMENT


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"code": ""}, "agency code"),
        ({"code": "a/b"}, "not an identifier"),
        ({"msp_id": "bad msp"}, "msp_id"),
        ({"name_zh": "  "}, "name_zh"),
        ({"name_en": "x\ny"}, "control characters"),
        ({"allowed_types": "diploma"}, "must be a list"),
        ({"allowed_types": ("diploma", "diploma")}, "duplicate"),
        ({"seal_fingerprints": ("A" * 64,)}, "seal fingerprint"),
        ({"seal_fingerprints": ()}, "lists no seal"),
    ],
)
def test_agency_record_is_validated(change: dict[str, object], fragment: str) -> None:
    with pytest.raises(ContractError) as err:
        dataclasses.replace(REGISTRY[0], **change)  # type: ignore[arg-type]
    assert err.value.code is ErrorCode.BAD_ARGUMENT
    assert fragment in err.value.message


def test_agency_record_round_trips_and_coerces_lists() -> None:
    rec = REGISTRY[0]
    assert cc.AgencyRecord.from_dict(rec.to_dict()) == rec
    assert cc.AgencyRecord.from_dict(json.dumps(rec.to_dict()).encode()) == rec
    assert isinstance(cc.AgencyRecord.from_dict(rec.to_dict()).allowed_types, tuple)
    with pytest.raises(ContractError, match="unexpected fields"):
        cc.AgencyRecord.from_dict({**rec.to_dict(), "extra": 1})


def test_corrupt_registry_is_reported(platform: FakePlatform) -> None:
    platform.state[cc.REGISTRY_KEY] = b'{"agencies": 5}'
    with pytest.raises(ContractError) as err:
        platform.invoke("MoeMSP", cc.get_registry)
    assert err.value.code is ErrorCode.CORRUPT_STATE
