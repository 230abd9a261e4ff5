"""Strict formats: one spelling per value, so retries stay idempotent."""

from __future__ import annotations

import dataclasses
import json
from datetime import date
from typing import Any

import pytest

from chaincode import AnchorEntry, ContractError, ErrorCode
from tests.chaincode.chaincode_fakes import entry


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"cert_id": ""}, "non-empty"),
        ({"cert_id": "has space"}, "not an identifier"),
        ({"cert_id": "a/b"}, "not an identifier"),
        ({"cert_id": "-leading"}, "not an identifier"),
        ({"cert_id": "x" * 129}, "at most 128"),
        ({"cert_id": 7}, "non-empty string"),
        ({"digest": "D" * 64}, "64 lowercase hex"),
        ({"digest": "d" * 63}, "64 lowercase hex"),
        ({"digest": "g" * 64}, "64 lowercase hex"),
        ({"holder_digest": "e" * 65}, "64 lowercase hex"),
        ({"holder_digest": "13800138000"}, "64 lowercase hex"),
        ({"cert_type": ""}, "cert_type"),
        ({"valid_from": date(2025, 1, 1)}, "ISO date"),
        ({"valid_from": "20250101"}, "ISO date"),
        ({"valid_from": "2025-02-30"}, "real calendar date"),
        ({"valid_from": "2025-01-01T00:00:00"}, "ISO date"),
        ({"valid_from": "２０２５-01-01"}, "ISO date"),
        ({"valid_until": "2030-1-1"}, "ISO date"),
        ({"valid_until": "2024-12-31"}, "before valid_from"),
    ],
)
def test_entry_fields_are_validated(change: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ContractError) as err:
        dataclasses.replace(entry("C-1"), **change)
    assert err.value.code is ErrorCode.BAD_ARGUMENT
    assert fragment in err.value.message


def test_error_names_the_certificate() -> None:
    with pytest.raises(ContractError) as err:
        entry("C-77", "nothex")
    assert err.value.cert_id == "C-77"
    assert str(err.value).startswith("BAD_ARGUMENT: C-77: digest")


def test_open_ended_validity_is_allowed() -> None:
    assert entry("C-1", valid_until=None).valid_until is None


def test_wire_form_round_trips() -> None:
    e = entry("C-1")
    assert AnchorEntry.from_dict(e.to_dict()) == e
    assert AnchorEntry.from_dict(json.dumps(e.to_dict()).encode()) == e
    open_ended = entry("C-2", valid_until=None)
    assert AnchorEntry.from_dict(open_ended.to_dict()) == open_ended


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"valid_from": "20250101"}, "ISO date"),
        ({"valid_until": "2030-1-1"}, "ISO date"),
        ({"valid_from": 20250101}, "ISO date"),
        ({"valid_until": ""}, "ISO date"),
    ],
)
def test_wire_dates_are_strict(change: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ContractError) as err:
        AnchorEntry.from_dict({**entry("C-1").to_dict(), **change})
    assert fragment in err.value.message
    assert err.value.cert_id == "C-1"


@pytest.mark.parametrize(
    "raw",
    [b"not json", b"[1]", b'{"cert_id": "C-1"}', b"\xff"],
)
def test_wire_form_must_be_exact(raw: bytes) -> None:
    with pytest.raises(ContractError) as err:
        AnchorEntry.from_dict(raw)
    assert err.value.code is ErrorCode.BAD_ARGUMENT


def test_error_text_round_trips_through_fabric_form() -> None:
    err = ContractError(ErrorCode.DIGEST_CONFLICT, "C-1: already anchored", cert_id="C-1")
    parsed = ContractError.parse(str(err))
    assert parsed is not None
    assert (parsed.code, parsed.message) == (ErrorCode.DIGEST_CONFLICT, "C-1: already anchored")
    assert ContractError.parse("transport is closing") is None
    assert ContractError.parse("NOPE: x") is None


def test_error_pickles() -> None:
    import pickle

    err = ContractError(ErrorCode.NOT_FOUND, "C-1: not found", cert_id="C-1")
    back = pickle.loads(pickle.dumps(err))
    assert (back.code, back.message, back.cert_id, str(back)) == (
        err.code,
        err.message,
        err.cert_id,
        str(err),
    )


def test_long_values_are_not_echoed_whole() -> None:
    with pytest.raises(ContractError) as err:
        entry("C-1", "z" * 10_000)
    assert len(err.value.message) < 300
