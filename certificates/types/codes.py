"""Check functions for the national codes used in certificate data.

Each check takes an already normalised string (uppercase ASCII, no spaces) and returns
None when the code is well formed, or a `FieldError` code saying what is wrong. The
validator turns that code into a message; the expected check character is never
revealed, so the check cannot be used as an oracle for completing a guessed number.
"""

from __future__ import annotations

import re
from datetime import date

__all__ = [
    "licence_number_problem",
    "resident_id_check_char",
    "resident_id_problem",
    "uscc_check_char",
    "uscc_problem",
]

# First two digits of GB/T 2260 administrative division codes (provinces and equivalents).
# Only the province is checked: the full county table changes yearly and is not shipped here.
_PROVINCE_CODES: tuple[int, ...] = (11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37)
_PROVINCE_CODES += (41, 42, 43, 44, 45, 46, 50, 51, 52, 53, 54, 61, 62, 63, 64, 65, 71, 81, 82)
_PROVINCES = frozenset(str(n) for n in _PROVINCE_CODES)
# Resident identity numbers also use 83 (residence permits of Taiwan residents).
_RESIDENT_ID_PROVINCES = _PROVINCES | {"83"}
# Unified social credit codes of central-level bodies carry division "100000".
_USCC_PROVINCES = _PROVINCES | {"10"}

# --- Unified social credit code, GB 32100-2015 ---------------------------------------------
# 31 characters: digits and capital letters without I, O, Z, S, V (easily misread).
USCC_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_VALUE = {c: i for i, c in enumerate(USCC_CHARSET)}
# Weight of position i (1-based) is 3^(i-1) mod 31.
_USCC_WEIGHTS = tuple(pow(3, i, 31) for i in range(17))
# Position 1: registration authority (1 机构编制 … 9 工商/市场监管, A 中央军委, N 农业, Y 其他);
# position 2: entity type within that authority (a digit 1-9).
_USCC_RE = re.compile(r"[1-9ANY][1-9][0-9]{6}[0-9A-HJ-NP-RTUW-Y]{10}")


def uscc_check_char(first17: str) -> str:
    """The 18th character of a unified social credit code, from its first 17."""
    total = sum(_USCC_VALUE[c] * w for c, w in zip(first17, _USCC_WEIGHTS, strict=True))
    return USCC_CHARSET[(31 - total % 31) % 31]


def uscc_problem(code: str) -> str | None:
    if len(code) != 18 or not _USCC_RE.fullmatch(code):
        return "bad-format"
    if code[2:4] not in _USCC_PROVINCES:
        return "bad-division-code"
    # Positions 9-17 are the GB 11714 organisation code, which has a check character of its
    # own. We deliberately do not test it: the 18th character already catches typing errors
    # across all 17 positions, and rejecting a real code on a legacy detail would be worse.
    if uscc_check_char(code[:17]) != code[17]:
        return "bad-check-character"
    return None


# --- Citizen identity number, GB 11643-1999 ------------------------------------------------
# ISO 7064 MOD 11-2: weights 2^(18-i) mod 11, remainder mapped through "10X98765432".
_RESIDENT_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_RESIDENT_ID_CHECK = "10X98765432"
_RESIDENT_ID_RE = re.compile(r"[0-9]{17}[0-9X]")
_EARLIEST_BIRTH = date(1900, 1, 1)


def resident_id_check_char(first17: str) -> str:
    total = sum(int(c) * w for c, w in zip(first17, _RESIDENT_ID_WEIGHTS, strict=True))
    return _RESIDENT_ID_CHECK[total % 11]


def resident_id_problem(number: str) -> str | None:
    if len(number) != 18 or not _RESIDENT_ID_RE.fullmatch(number):
        return "bad-format"
    if number[:2] not in _RESIDENT_ID_PROVINCES:
        return "bad-division-code"
    try:
        birth = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return "bad-birth-date"
    if birth < _EARLIEST_BIRTH:
        return "bad-birth-date"
    if resident_id_check_char(number[:17]) != number[17]:
        return "bad-check-character"
    return None


# --- Road transport operating licence number (our format) ----------------------------------
# 12 digits: the 6-digit administrative division code of the issuing transport authority,
# then a 6-digit serial that is never 000000. The format has no check digit.
_LICENCE_RE = re.compile(r"[0-9]{12}")


def licence_number_problem(number: str) -> str | None:
    if not _LICENCE_RE.fullmatch(number):
        return "bad-format"
    if number[:2] not in _PROVINCES:
        return "bad-division-code"
    if number[6:] == "000000":
        return "bad-format"
    return None
