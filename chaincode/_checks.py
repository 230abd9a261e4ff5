"""Strict argument checks shared by the models and the contract.

Formats are deliberately narrow. Two spellings of one value (``ABC`` vs ``abc`` hex, a
date with or without dashes) would let the same certificate be anchored twice under
"different" values, or make an idempotent retry look like a conflict; so the contract
accepts exactly one spelling of each value and refuses everything else.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, date, datetime

from chaincode.errors import ContractError, ErrorCode

__all__ = [
    "check_hex64",
    "check_id",
    "check_text",
    "check_tuple",
    "date_from_iso",
    "format_timestamp",
    "parse_timestamp",
]

# Ids are ASCII, start alphanumeric, and have no separators the key layout uses.
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_HEX64 = re.compile(r"[0-9a-f]{64}")
# [0-9], not \d: \d also matches other scripts' digits (e.g. fullwidth), a second spelling.
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
_TIMESTAMP = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z")


def _bad(what: str, message: str, cert_id: str | None = None) -> ContractError:
    return ContractError(ErrorCode.BAD_ARGUMENT, f"{what}: {message}", cert_id=cert_id)


def check_id(what: str, value: object, max_len: int, cert_id: str | None = None) -> str:
    """An identifier: ``[A-Za-z0-9][A-Za-z0-9._-]*``, at most ``max_len`` characters."""
    if not isinstance(value, str) or not value:
        raise _bad(what, "must be a non-empty string", cert_id)
    if len(value) > max_len or not _ID.fullmatch(value):
        raise _bad(
            what,
            f"{_shown(value)} is not an identifier (letters, digits, '.', '_', '-'; "
            f"starts with a letter or digit; at most {max_len} characters)",
            cert_id,
        )
    return value


def check_hex64(what: str, value: object, cert_id: str | None = None) -> str:
    """A SHA-256 size digest as exactly 64 lowercase hex characters."""
    if not isinstance(value, str) or not _HEX64.fullmatch(value):
        raise _bad(what, f"{_shown(value)} is not 64 lowercase hex characters", cert_id)
    return value


def check_text(what: str, value: object, max_len: int, cert_id: str | None = None) -> str:
    """Non-blank display text without control characters, at most ``max_len`` characters."""
    if not isinstance(value, str) or not value.strip():
        raise _bad(what, "is required and must not be blank", cert_id)
    if len(value) > max_len:
        raise _bad(what, f"is {len(value)} characters long; at most {max_len} allowed", cert_id)
    if any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in value):
        raise _bad(what, "must not contain control characters", cert_id)
    return value


def date_from_iso(what: str, value: object, cert_id: str | None = None) -> date:
    """Parse exactly ``YYYY-MM-DD`` (``fromisoformat`` alone also takes ``YYYYMMDD``)."""
    if not isinstance(value, str) or not _ISO_DATE.fullmatch(value):
        raise _bad(what, f"{_shown(value)} is not an ISO date YYYY-MM-DD", cert_id)
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise _bad(what, f"{value!r} is not a real calendar date", cert_id) from None


def check_tuple(what: str, value: object, max_len: int) -> tuple[object, ...]:
    """A list or tuple (never a bare string, which is also a sequence), as a tuple."""
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise _bad(what, "must be a list")
    if len(value) > max_len:
        raise _bad(what, f"has {len(value)} items; at most {max_len} allowed")
    return tuple(value)


def format_timestamp(value: datetime) -> str:
    """One canonical spelling of an instant: UTC, microseconds, ``Z``."""
    if value.tzinfo is None:
        raise ValueError("transaction timestamps must be timezone-aware")
    return value.astimezone(UTC).strftime(_TIMESTAMP_FORMAT)


def parse_timestamp(what: str, value: object) -> datetime:
    """Inverse of :func:`format_timestamp`; refuses any other spelling."""
    if not isinstance(value, str) or not _TIMESTAMP.fullmatch(value):
        raise _bad(what, f"{_shown(value)} is not a timestamp YYYY-MM-DDTHH:MM:SS.ffffffZ")
    return datetime.strptime(value, _TIMESTAMP_FORMAT).replace(tzinfo=UTC)


def _shown(value: object) -> str:
    # Echo at most a short prefix: arguments can be long, and messages end up in logs.
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
