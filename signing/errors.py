"""The error hierarchy of the ``signing`` package.

Every error raised on purpose by this package derives from :class:`SigningError`, so the
API layer can map the whole family to HTTP responses in one place. Messages say what is
wrong and what to do about it; they never contain a passphrase, a key or other secret.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "DocumentLimitExceeded",
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
    "VerifierBusyError",
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


class DocumentLimitExceeded(UnreadablePdfError):
    """The document asks more of the seal check than any genuine seal needs (see
    :mod:`signing.limits`): it is refused, not judged.

    ``limit`` names the bound: ``revisions``, ``revisions_after_seal``, ``objects``,
    ``structure``, ``nesting``, ``decoded_bytes``, ``memory`` or ``time``. ``found`` and
    ``allowed`` are the counts where they are known (neither is document content).
    """

    _WHAT: ClassVar[dict[str, str]] = {
        "revisions": "too many revisions",
        "revisions_after_seal": "too many revisions after the seal",
        "objects": "too many objects",
        "structure": "too many arrays and dictionaries",
        "nesting": "objects nested too deeply",
        "decoded_bytes": "a stream decodes to more data than allowed",
        "memory": "checking it needs more memory than allowed",
        "time": "checking it takes longer than allowed",
    }

    def __init__(self, limit: str, found: int | None = None, allowed: int | None = None) -> None:
        self.limit = limit
        self.found = found
        self.allowed = allowed
        what = self._WHAT.get(limit, limit)
        counts = f" ({found} > {allowed})" if found is not None and allowed is not None else ""
        super().__init__(f"document refused: {what}{counts}")


class VerifierBusyError(SigningError):
    """Every sandbox worker is busy and the queue is full: try again shortly."""
