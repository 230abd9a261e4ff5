"""The error hierarchy of the ``signing`` package.

Every error raised on purpose by this package derives from :class:`SigningError`, so the
API layer can map the whole family to HTTP responses in one place. Messages say what is
wrong and what to do about it; they never contain a passphrase, a key or other secret.
"""

from __future__ import annotations

__all__ = [
    "KeyPassphraseError",
    "MissingPassphraseError",
    "PkiExistsError",
    "PkiInvalidError",
    "PkiNotInitialisedError",
    "SealCertificateError",
    "SealingError",
    "SigningError",
    "StampFontError",
    "TimestampError",
    "UnknownAgencyError",
    "UnreadablePdfError",
]


class SigningError(Exception):
    """Root of every error raised by the ``signing`` package."""


class MissingPassphraseError(SigningError):
    """The environment variable that should hold a passphrase is unset or empty."""


class KeyPassphraseError(SigningError):
    """The passphrase does not decrypt one of the PKI's private keys."""


class PkiNotInitialisedError(SigningError):
    """The PKI directory does not exist or lacks a file that ``init_pki`` writes."""


class PkiExistsError(SigningError):
    """``init_pki`` was asked to write into a directory that already holds a PKI."""


class PkiInvalidError(SigningError):
    """A PKI file exists but its content is not what ``init_pki`` writes."""


class UnknownAgencyError(SigningError):
    """No seal certificate exists for the requested agency code."""


class StampFontError(SigningError):
    """The font for the visible seal cannot be loaded or lacks a needed character."""


class TimestampError(SigningError):
    """The time-stamp authority did not issue a usable signature timestamp."""


class SealingError(SigningError):
    """A document could not be sealed (bad input PDF, page or box)."""


class UnreadablePdfError(SigningError):
    """The bytes given to the seal check are not a readable PDF document."""


class SealCertificateError(SealingError):
    """The seal certificate may not seal: it is expired, not yet valid or revoked."""
