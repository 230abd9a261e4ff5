"""Certificate data that does not collide under the one-active-certificate rule: each call
gives the type's uniqueness fields (``unique_by``) values no earlier call gave, valid for
their kind (check characters included), so tests that issue many certificates of one type
issue different ones, as a real register holds."""

from __future__ import annotations

import hashlib
import itertools
import random
from collections.abc import Mapping
from datetime import date, timedelta

from certificates.types import CERTIFICATE_TYPES, FieldKind
from certificates.types.codes import resident_id_check_char, uscc_check_char

# A random start per test session: values never repeat within a session, and rarely across.
_counter = itertools.count(random.SystemRandom().randrange(10**7))


def uscc(n: int) -> str:
    """A valid enterprise unified social credit code (Beijing, Haidian), number ``n``."""
    first17 = f"91110108{n % 10**9:09d}"
    return first17 + uscc_check_char(first17)


def licence_number(n: int) -> str:
    """A valid road transport licence number (Shenzhen, Nanshan), number ``n``."""
    return f"440305{n % 999_999 + 1:06d}"


def resident_id(n: int) -> str:
    """A valid citizen identity number (Beijing, Dongcheng), number ``n``: a birth date
    counted in days from 1950-01-01 and a sequence number, so no two numbers collide."""
    n %= 10**7
    born = date(1950, 1, 1) + timedelta(days=n // 1000)
    first17 = f"110101{born:%Y%m%d}{n % 1000:03d}"
    return first17 + resident_id_check_char(first17)


_MAKERS = {
    FieldKind.USCC: uscc,
    FieldKind.LICENCE_NUMBER: licence_number,
    FieldKind.RESIDENT_ID: resident_id,
}


def distinct(type_code: str, data: Mapping[str, str], n: int | None = None) -> dict[str, str]:
    """``data`` with its type's uniqueness fields replaced by values of number ``n`` (a new
    number each call when not given). Other fields, the holder's name included, stay."""
    ctype = CERTIFICATE_TYPES[type_code]
    number = next(_counter) if n is None else n
    out = dict(data)
    for name in ctype.unique_by:
        kind = ctype.field(name).kind
        maker = _MAKERS.get(kind)
        if maker is not None:
            out[name] = maker(number)
        elif kind is FieldKind.TEXT:
            out[name] = f"{data[name]}{number}"
        # Enums (a qualification's level) keep their value: the identity number differs.
    return out


def stable_number(text: str) -> int:
    """A number for ``distinct`` that is the same for the same text in every run (for files
    whose content must not change between two calls)."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") % 10**9
