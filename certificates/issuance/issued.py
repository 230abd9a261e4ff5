"""What issuing answers: one certificate as issued (shared by the issuance service and the
workflows built on it, which must not import the service back)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlmodel import Session

__all__ = ["Alongside", "Issued"]


@dataclass(frozen=True)
class Issued:
    cert_id: str
    cert_type: str
    agency: str
    verify_url: str
    sealed_digest: str
    anchored: bool
    tx_id: str | None
    block: int | None
    pdf: bytes

    def __repr__(self) -> str:
        # The verify URL carries the verification token: keep it out of reprs.
        return f"Issued(cert_id={self.cert_id!r}, anchored={self.anchored})"

    @property
    def token(self) -> str:
        """The verification token the verify URL carries (never log it)."""
        return self.verify_url.rpartition("?t=")[2]


# What is written inside the transaction that stores certificates as pending, given those
# certificates with their index in the request (see IssuanceService.issue_chunk_as).
Alongside = Callable[[Session, Sequence[tuple[int, Issued]]], None]
