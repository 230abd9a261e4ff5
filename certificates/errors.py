"""One error root for the domain layer; the edges map these to HTTP codes and exit codes."""

from __future__ import annotations

from certificates.refusal_texts import status_refusal, unreadable

__all__ = [
    "AgencyNotAllowed",
    "CertificateError",
    "CertificateNotFound",
    "ConfigurationError",
    "DocumentRefused",
    "LedgerUnavailableError",
    "NotInitialisedError",
    "RevocationRefused",
    "UnreadableDocument",
    "VerificationBusy",
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
    """The ledger refused a status change (already revoked, not the issuer, ...).

    ``code`` says why (the ledger's refusal code, or this layer's own); :attr:`zh` and
    :attr:`en` say it to a person. The exception's text keeps the lower layer's detail, for
    logs only."""

    def __init__(self, detail: str, *, code: str = "REFUSED") -> None:
        super().__init__(detail)
        self.code = code
        self.zh, self.en = status_refusal(code)


class UnreadableDocument(CertificateError):
    """The uploaded bytes are not a readable PDF. ``code`` says what is wrong, :attr:`zh`
    and :attr:`en` say it to a person; the exception's text is the checker's detail, for
    logs only."""

    def __init__(self, detail: str, *, code: str = "MALFORMED") -> None:
        super().__init__(detail)
        self.code = code
        self.zh, self.en = unreadable(code)


# What each bound of the seal check means to the person who uploaded the document.
_REFUSALS: dict[str, tuple[str, str]] = {
    "revisions": ("文件的修订次数过多", "the file has too many revisions"),
    "revisions_after_seal": (
        "盖章之后的修订次数过多",
        "the file has too many revisions after the seal",
    ),
    "objects": ("文件包含的对象过多", "the file holds too many objects"),
    "structure": ("文件包含的数组和字典过多", "the file holds too many arrays and dictionaries"),
    "nesting": ("文件中的对象嵌套过深", "the file nests objects too deeply"),
    "decoded_bytes": ("文件中的数据解压后过大", "data in the file decompresses to too much"),
    "memory": ("检查该文件所需内存超出限制", "checking the file needs more memory than allowed"),
    "time": ("检查该文件所需时间超出限制", "checking the file takes longer than allowed"),
}


class DocumentRefused(UnreadableDocument):
    """The document asks more of the verifier than any genuine certificate needs: refused
    unjudged (no verdict), with the bound it exceeded in :attr:`limit`."""

    def __init__(self, limit: str, found: int | None = None, allowed: int | None = None) -> None:
        self.limit = limit
        self.found = found
        self.allowed = allowed
        zh, en = _REFUSALS.get(limit, ("文件超出检查限制", "the file exceeds a verification limit"))
        counts = f"（{found} > {allowed}）" if found is not None and allowed is not None else ""
        counts_en = f" ({found} > {allowed})" if found is not None and allowed is not None else ""
        en_text = f"{en}{counts_en}, which no genuine certificate does; it was not checked."
        super().__init__(en_text, code="REFUSED")
        self.zh = f"{zh}{counts}，任何真实的证照都不会如此；未作检查。"
        self.en = en_text


class VerificationBusy(CertificateError):
    """Every verification worker is busy: the upload can be retried shortly."""


class LedgerUnavailableError(CertificateError):
    """The ledger could not be reached; the operation can be retried later."""
