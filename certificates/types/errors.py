"""Errors about certificate types and certificate data.

They derive from `certificates.errors.CertificateError`, the package's one error root,
which is re-exported here for convenience.

Messages never repeat the submitted value: data errors end up in logs and API responses,
and a value may be a resident identity number.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

from ..errors import CertificateError

__all__ = ["CertificateDataError", "CertificateError", "FieldError", "UnknownCertificateType"]


class UnknownCertificateType(CertificateError, LookupError):
    """No certificate type is registered under this code."""

    def __init__(self, type_code: str, known: Sequence[str]) -> None:
        self.type_code = type_code
        self.known = tuple(known)
        super().__init__(
            f"unknown certificate type {type_code!r}; known types: {', '.join(self.known)}"
        )


@dataclass(frozen=True, slots=True)
class FieldError:
    """One problem with one field, worded for the person who typed the data."""

    field: str
    code: str
    message_zh: str
    message_en: str

    def as_json(self) -> dict[str, str]:
        return asdict(self)


class CertificateDataError(CertificateError, ValueError):
    """The data does not make a valid certificate of its type; `errors` lists every problem."""

    def __init__(self, type_code: str, errors: Sequence[FieldError]) -> None:
        if not errors:
            raise ValueError("CertificateDataError needs at least one FieldError")
        self.type_code = type_code
        self.errors: tuple[FieldError, ...] = tuple(errors)
        summary = "; ".join(f"{e.field}: {e.code}" for e in self.errors)
        super().__init__(
            f"{len(self.errors)} problem(s) in {type_code} certificate data: {summary}"
        )

    def as_json(self) -> list[dict[str, str]]:
        return [e.as_json() for e in self.errors]
