"""One error root for the domain layer; the edges map these to HTTP codes and exit codes."""

from __future__ import annotations

__all__ = [
    "AgencyNotAllowed",
    "CertificateError",
    "CertificateNotFound",
    "ConfigurationError",
    "LedgerUnavailableError",
    "NotInitialisedError",
    "RevocationRefused",
    "UnreadableDocument",
]


class CertificateError(Exception):
    """Root of every error the certificates layer raises on purpose."""


class ConfigurationError(CertificateError):
    """The data directory or settings are missing or inconsistent."""


class NotInitialisedError(ConfigurationError):
    def __init__(self, home: str) -> None:
        super().__init__(
            f"no certledger data directory at {home!s}: run `certledger init` first "
            "(or point --home / CERTLEDGER_HOME at an existing one)"
        )


class CertificateNotFound(CertificateError):
    def __init__(self) -> None:
        # Deliberately does not echo the id: error texts end up in logs and pages.
        super().__init__("no certificate with this id")


class AgencyNotAllowed(CertificateError):
    """The calling agency may not do this (wrong type, foreign certificate)."""


class RevocationRefused(CertificateError):
    """The ledger refused a status change (already revoked, not the issuer, ...)."""


class UnreadableDocument(CertificateError):
    """The uploaded bytes are not a readable PDF; the message says what is wrong."""


class LedgerUnavailableError(CertificateError):
    """The ledger could not be reached; the operation can be retried later."""
