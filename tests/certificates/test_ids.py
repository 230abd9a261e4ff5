"""Certificate ids (check character, parsing) and verification tokens."""

from __future__ import annotations

import random
import re
import string

import pytest

from certificates.agencies import AGENCIES
from certificates.errors import CertificateError
from certificates.ids import (
    AGENCY_ID_CODES,
    CertificateId,
    InvalidCertificateId,
    mod37_36_check_char,
    new_verification_token,
    token_digest,
    tokens_match,
)
from certificates.types import CERTIFICATE_TYPES

ALNUM = string.digits + string.ascii_uppercase


def random_ids(count: int, seed: int = 36904) -> list[CertificateId]:
    rng = random.Random(seed)
    types = list(CERTIFICATE_TYPES.values())
    ids = []
    for _ in range(count):
        t = rng.choice(types)
        ids.append(
            CertificateId.make(
                t.id_prefix,
                t.agency,
                rng.randint(2000, 2099),
                rng.randint(1, 99_999_999),
                rng.randint(1, 99),
            )
        )
    return ids


def is_accepted(text: str) -> bool:
    try:
        CertificateId.parse(text)
    except InvalidCertificateId:
        return False
    return True


def test_make_and_print() -> None:
    cid = CertificateId.make("BL", "market-regulation", 2026, 42)
    assert re.fullmatch(r"BL-MR-2026-00000042-01-[0-9A-Z]", str(cid))
    assert cid.agency == "market-regulation" and cid.agency_id_code == "MR"
    assert str(cid)[-1] == mod37_36_check_char("BLMR20260000004201")


def test_every_agency_and_type_has_an_id_code() -> None:
    assert set(AGENCIES) <= set(AGENCY_ID_CODES)
    assert AGENCY_ID_CODES["human-resources"] == "HR"
    assert AGENCY_ID_CODES["transport"] == "TR"
    assert len(set(AGENCY_ID_CODES.values())) == len(AGENCY_ID_CODES)


@pytest.mark.parametrize(
    "grid",
    # Published GRid identifiers, whose last character is ISO/IEC 7064 MOD 37,36.
    ["A12425GABC1234002M", "A12425GXYZ98760086", "A12425G1234567890L", "A12589KCCC2586482V"],
)
def test_mod37_36_matches_published_identifiers(grid: str) -> None:
    assert mod37_36_check_char(grid[:-1]) == grid[-1]


def test_round_trip_and_tolerant_parsing() -> None:
    for cid in random_ids(300):
        text = str(cid)
        assert CertificateId.parse(text) == cid
        assert CertificateId.parse(f"  {text.lower()}\n") == cid


def test_check_character_catches_every_single_character_substitution() -> None:
    for cid in random_ids(40):
        text = str(cid)
        for position, original in enumerate(text):
            if original == "-":
                continue
            for char in ALNUM:
                if char != original:
                    typo = text[:position] + char + text[position + 1 :]
                    assert not is_accepted(typo), typo


def test_check_character_catches_adjacent_transpositions_but_for_neighbouring_values() -> None:
    # ISO 7064 hybrid systems miss a transposition only for characters next to each other
    # in 0-9A-Z order (values differing by 1, or Z/0), and then only in some states.
    swaps = missed = 0
    for cid in random_ids(1000, seed=7064):
        text = str(cid)
        for position in range(len(text) - 1):
            a, b = text[position], text[position + 1]
            if a == b or "-" in (a, b):
                continue
            swaps += 1
            if is_accepted(text[:position] + b + a + text[position + 2 :]):
                missed += 1
                assert (ALNUM.index(a) - ALNUM.index(b)) % 36 in (1, 35), (text, position)
    assert swaps > 10_000
    assert missed / swaps < 0.015  # measured: 0.7%


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "expected the form"),
        ("BL-MR-2026-0000042-01-I", "expected the form"),  # 7-digit serial
        ("BL-MR-26-00000042-01-I", "expected the form"),
        ("BL-MR-2026-00000042-1-I", "expected the form"),
        ("BLMR20260000004201I", "expected the form"),
        ("BL-MR-2026-00000042-01", "expected the form"),
        ("BL-MR-2026-00000042-01-IX", "expected the form"),
        ("BL-MR-2026-٠٠٠٠٠٠٤٢-01-I", "expected the form"),  # Arabic-Indic digits
        ("XX-MR-2026-00000042-01-I", "unknown certificate type prefix"),
        ("BL-ZZ-2026-00000042-01-I", "unknown agency code"),
        ("BL-MR-2026-00000000-01-I", "serial"),
        ("BL-MR-2026-00000042-00-I", "version"),
        ("BL-MR-1999-00000042-01-I", "year"),
    ],
)
def test_malformed_ids_are_refused_with_a_reason(text: str, reason: str) -> None:
    with pytest.raises(InvalidCertificateId) as info:
        CertificateId.parse(text)
    assert reason in info.value.reason
    assert isinstance(info.value, CertificateError) and isinstance(info.value, ValueError)


def test_wrong_check_character_is_refused() -> None:
    text = str(CertificateId.make("QC", "human-resources", 2026, 7))
    wrong = next(c for c in ALNUM if c != text[-1])
    with pytest.raises(InvalidCertificateId, match="check character"):
        CertificateId.parse(text[:-1] + wrong)


def test_unknown_agency_is_refused_by_make() -> None:
    with pytest.raises(InvalidCertificateId, match="unknown agency"):
        CertificateId.make("BL", "tax", 2026, 1)


def test_next_version_keeps_the_serial() -> None:
    first = CertificateId.make("RT", "transport", 2026, 99_999_999)
    second = first.next_version()
    assert (second.serial, second.version) == (first.serial, 2)
    assert str(second) != str(first) and CertificateId.parse(str(second)) == second


def test_ids_sort_by_their_parts() -> None:
    a = CertificateId.make("BL", "market-regulation", 2026, 2)
    b = CertificateId.make("BL", "market-regulation", 2026, 10)
    assert sorted([b, a]) == [a, b]


# -- verification tokens --------------------------------------------------------------------


def test_tokens_are_long_url_safe_and_unique() -> None:
    tokens = {new_verification_token() for _ in range(2000)}
    assert len(tokens) == 2000
    for token in list(tokens)[:50]:
        assert re.fullmatch(r"[A-Za-z0-9_-]{43,}", token)  # 43 base64 chars = 256 bits


def test_token_digest_and_match() -> None:
    token = new_verification_token()
    digest = token_digest(token)
    assert re.fullmatch(r"[0-9a-f]{64}", digest)
    assert token not in digest
    assert tokens_match(token, digest)
    assert tokens_match(token, digest.upper())
    assert not tokens_match(new_verification_token(), digest)
    assert not tokens_match(token, digest[:-1])
    assert not tokens_match(token, "é" * 64)
