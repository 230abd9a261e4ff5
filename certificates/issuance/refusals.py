"""The refusals of batch issuance and of idempotent single issuance, each with a code for
programs and a sentence in Chinese and in English for people (no value from the request)."""

from __future__ import annotations

from certificates.errors import CertificateError

__all__ = [
    "BatchBusy",
    "BatchFileError",
    "BatchKeyConflict",
    "BatchNotFound",
    "BatchRefusal",
    "IdempotencyRefused",
]


class BatchRefusal(CertificateError):
    """A batch or keyed request refused; ``code``, :attr:`zh` and :attr:`en` say why."""

    def __init__(self, code: str, zh: str, en: str, **extra: str) -> None:
        super().__init__(en)
        self.code = code
        self.zh = zh
        self.en = en
        self.extra = extra  # more of the answer, e.g. the id of the certificate in the way


class BatchFileError(BatchRefusal):
    """The uploaded file is not a usable CSV at all (not UTF-8, no header, too large ...).
    Rows with bad values are not this: they are reported row by row."""


class BatchNotFound(BatchRefusal):
    """No batch with this id for the caller's agency (another agency's answers the same)."""

    def __init__(self) -> None:
        super().__init__("NOT_FOUND", "未找到该批次。", "No batch with this id.")


class BatchBusy(BatchRefusal):
    def __init__(self) -> None:
        super().__init__(
            "BATCH_RUNNING",
            "该批次正在另一个进程中签发，请稍后查看进度。",
            "This batch is being issued by another process; check its progress later.",
        )


class BatchKeyConflict(BatchRefusal):
    def __init__(self) -> None:
        super().__init__(
            "KEY_REUSED",
            "该批次标识已用于另一个文件或证照类型；请使用新的批次标识。",
            "This batch key was used for another file or certificate type; use a new key.",
        )


class IdempotencyRefused(BatchRefusal):
    """An idempotency key that is malformed, or that was used for another request."""
