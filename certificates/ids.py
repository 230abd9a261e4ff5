"""Certificate identifiers and verification tokens.

A certificate id, after GB/T 36904 practice, reads `BL-MR-2026-00000042-01-K`:

    BL        certificate type (CertificateType.id_prefix)
    MR        issuing agency (AGENCY_ID_CODES)
    2026      year of issue
    00000042  serial within type, agency and year
    01        version (a corrected re-issue gets the next version)
    K         check character, ISO/IEC 7064 MOD 37,36 over the 18 characters before it

The check character catches every single-character substitution, so a misread id is
rejected before any lookup. It also catches swaps of two adjacent characters, except (a
property of the ISO 7064 hybrid systems) some swaps of characters next to each other in
0-9A-Z order, such as "12" -> "21" in some positions; in our digit-heavy ids about 1
adjacent swap in 130 goes unnoticed. A mistyped id then finds nothing or a different
record; nothing relies on the check character for security. Ids are public (printed,
shown on the verify page) and encode nothing about the holder.

A verification token is the secret half of the QR link: the service stores only its
SHA-256 digest, so a leaked database does not yield working verification links.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Self

from certificates.agencies import AGENCIES
from certificates.errors import CertificateError
from certificates.types import CERTIFICATE_TYPES

__all__ = [
    "AGENCY_ID_CODES",
    "CertificateId",
    "InvalidCertificateId",
    "mod37_36_check_char",
    "new_verification_token",
    "token_digest",
    "tokens_match",
]

_ALPHANUMERIC = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_VALUE = {c: i for i, c in enumerate(_ALPHANUMERIC)}
# [0-9], not \d: \d also matches other scripts' digits, which int() would happily accept.
_ID_RE = re.compile(r"([A-Z]{2})-([A-Z]{2})-([0-9]{4})-([0-9]{8})-([0-9]{2})-([0-9A-Z])")
_TOKEN_BYTES = 32  # 256 bits; the brief asks for at least 128


class InvalidCertificateId(CertificateError, ValueError):
    """The text is not a well-formed certificate id; `reason` says why."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"invalid certificate id: {reason}")


def mod37_36_check_char(text: str) -> str:
    """ISO/IEC 7064 MOD 37,36 (hybrid system) check character over 0-9 and A-Z."""
    m = 36
    product = m
    for char in text:
        total = (product + _VALUE[char]) % m or m
        product = (total * 2) % (m + 1)
    # Choose the character that brings the running total to 1 once appended.
    return _ALPHANUMERIC[(m + 1 - product) % m]


# Two-letter agency codes used inside ids. Never reuse or change one: printed ids carry them.
AGENCY_ID_CODES: Mapping[str, str] = MappingProxyType(
    {"market-regulation": "MR", "human-resources": "HR", "transport": "TR"}
)
_AGENCY_BY_ID_CODE = {v: k for k, v in AGENCY_ID_CODES.items()}


def _check_tables() -> None:
    # Fail at import, not at the first issuance, when an agency or type is added without
    # its id code.
    if len(_AGENCY_BY_ID_CODE) != len(AGENCY_ID_CODES):
        raise ValueError("two agencies share an id code")
    for code in list(AGENCIES) + [t.agency for t in CERTIFICATE_TYPES.values()]:
        if code not in AGENCY_ID_CODES:
            raise ValueError(f"agency {code!r} has no two-letter code in AGENCY_ID_CODES")


_check_tables()


@dataclass(frozen=True, slots=True, order=True)
class CertificateId:
    type_prefix: str
    agency_id_code: str
    year: int
    serial: int
    version: int = 1

    def __post_init__(self) -> None:
        prefixes = {t.id_prefix for t in CERTIFICATE_TYPES.values()}
        if self.type_prefix not in prefixes:
            raise InvalidCertificateId(f"unknown certificate type prefix {self.type_prefix!r}")
        if self.agency_id_code not in _AGENCY_BY_ID_CODE:
            raise InvalidCertificateId(f"unknown agency code {self.agency_id_code!r}")
        if not 2000 <= self.year <= 9999:
            raise InvalidCertificateId("year must be between 2000 and 9999")
        if not 1 <= self.serial <= 99_999_999:
            raise InvalidCertificateId("serial must be between 1 and 99999999")
        if not 1 <= self.version <= 99:
            raise InvalidCertificateId("version must be between 1 and 99")

    @classmethod
    def make(
        cls, type_prefix: str, agency_code: str, year: int, serial: int, version: int = 1
    ) -> Self:
        """Build an id; `agency_code` is the agency's code as in `CertificateType.agency`."""
        id_code = AGENCY_ID_CODES.get(agency_code)
        if id_code is None:
            raise InvalidCertificateId(f"unknown agency {agency_code!r}")
        return cls(type_prefix, id_code, year, serial, version)

    @classmethod
    def parse(cls, text: str) -> Self:
        """Parse an id as printed; case and surrounding whitespace are forgiven."""
        normal = text.strip().upper()
        match = _ID_RE.fullmatch(normal)
        if match is None:
            raise InvalidCertificateId(
                "expected the form XX-XX-YYYY-NNNNNNNN-VV-C, e.g. BL-MR-2026-00000042-01-K"
            )
        prefix, agency, year, serial, version, check = match.groups()
        parsed = cls(prefix, agency, int(year), int(serial), int(version))
        if parsed.check_char != check:
            raise InvalidCertificateId("check character does not match; the id was mistyped")
        return parsed

    @property
    def agency(self) -> str:
        """The issuing agency's code, e.g. "market-regulation"."""
        return _AGENCY_BY_ID_CODE[self.agency_id_code]

    @property
    def body(self) -> str:
        return (
            f"{self.type_prefix}{self.agency_id_code}{self.year:04d}"
            f"{self.serial:08d}{self.version:02d}"
        )

    @property
    def check_char(self) -> str:
        return mod37_36_check_char(self.body)

    def next_version(self) -> Self:
        return type(self)(
            self.type_prefix, self.agency_id_code, self.year, self.serial, self.version + 1
        )

    def __str__(self) -> str:
        return (
            f"{self.type_prefix}-{self.agency_id_code}-{self.year:04d}-{self.serial:08d}"
            f"-{self.version:02d}-{self.check_char}"
        )


def new_verification_token() -> str:
    """A fresh URL-safe secret for a certificate's verification link (256 bits)."""
    return secrets.token_urlsafe(_TOKEN_BYTES)


def token_digest(token: str) -> str:
    """What to store instead of the token: SHA-256, hex.

    A plain hash suffices (no salt, no slow KDF): the token is 256 random bits, so
    there is nothing to guess or precompute.
    """
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def tokens_match(token: str, digest: str) -> bool:
    """Whether `token` hashes to the stored `digest`, in constant time."""
    if not digest.isascii():  # compare_digest refuses non-ASCII str
        return False
    return hmac.compare_digest(token_digest(token), digest.lower())
