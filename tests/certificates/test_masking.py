"""Masking personal names and identifiers for public display."""

from __future__ import annotations

import pytest

from certificates.masking import mask_identifier, mask_name


@pytest.mark.parametrize(
    ("name", "masked"),
    [
        ("张三", "张*"),
        ("张小三", "张*三"),
        ("欧阳小明", "欧**明"),
        ("李䶮𠇔", "李*𠇔"),  # rare characters count as one letter each
        ("王", "*"),
        ("  张三 ", "张*"),
        ("阿卜杜拉·买买提", "阿***·**提"),
        ("John Smith", "J*** ****h"),
        ("Li", "L*"),
        ("", ""),
        ("·", ""),
    ],
)
def test_mask_name(name: str, masked: str) -> None:
    assert mask_name(name) == masked


def test_mask_name_never_shows_the_middle_of_a_name() -> None:
    for name in ("司马相如", "Jean-Paul Sartre", "诸葛孔明"):
        masked = mask_name(name)
        assert len(masked) == len(name)
        assert masked[0] == name[0] and masked[-1] == name[-1]
        inner = [c for c in masked[1:-1] if c not in " -"]
        assert set(inner) == {"*"}


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("11010519491231002X", "**************002X"),
        ("91350100M000100Y43", "**************0Y43"),
        ("12345678", "****5678"),
        ("1234567", "*******"),  # too short to reveal a tail safely
        ("", ""),
    ],
)
def test_mask_identifier_reveals_at_most_the_last_four(value: str, masked: str) -> None:
    assert mask_identifier(value) == masked


def test_mask_identifier_can_hide_everything_and_never_more_than_four() -> None:
    assert mask_identifier("11010519491231002X", keep_last=0) == "*" * 18
    assert mask_identifier("11010519491231002X", keep_last=2) == "*" * 16 + "2X"
    with pytest.raises(ValueError):
        mask_identifier("11010519491231002X", keep_last=5)
