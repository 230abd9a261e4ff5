"""Which certificate holds each uniqueness key: one row per (type, key digest), naming the
active certificate, so "one active business licence per credit code" holds across every
host of an agency at the moment of issuance, not only on the ledger afterwards.

* **The database decides races.** A claim is inserted in the same transaction as its
  certificate; two hosts issuing for one key at once cannot both commit (the primary key),
  and the loser's certificate is not stored at all.
* **A re-issue moves the claim** from the superseded certificate to the new one in that
  transaction; a revocation deletes it (``Store.set_status``), so the key is free again.
* **No personal data.** The key is a keyed digest (the holder key), like the holder digest:
  a qualification's key holds a citizen's identity number.

The ledger checks the same rule again when the certificate is anchored (the contract's
``ALREADY_ISSUED``): the store is the fast, friendly check, the contract the authority.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel

from certificates.store.database import Store

__all__ = ["Claim", "UniqueClaimRow", "UniqueClaims", "UniqueConflict"]


class UniqueClaimRow(SQLModel, table=True):
    __tablename__ = "unique_claims"

    cert_type: str = Field(primary_key=True)
    digest: str = Field(primary_key=True)
    cert_id: str = Field(index=True)


@dataclass(frozen=True)
class Claim:
    cert_type: str
    digest: str
    cert_id: str
    supersedes: str | None = None  # a re-issue takes the claim over from this certificate


class UniqueConflict(Exception):
    """A claim could not be taken: another certificate holds the key (another host won the
    race), or a re-issue's predecessor no longer holds it. Nothing was stored."""

    def __init__(self, cert_type: str, digest: str) -> None:
        super().__init__(f"the uniqueness key of a {cert_type} is held by another certificate")
        self.cert_type = cert_type
        self.digest = digest


class UniqueClaims:
    def __init__(self, store: Store) -> None:
        self._store = store

    def holders(self, cert_type: str, digests: Sequence[str]) -> dict[str, str]:
        """digest -> id of the active certificate holding it, for those of ``digests`` held."""
        if not digests:
            return {}
        out: dict[str, str] = {}
        with self._store.session() as s:
            conn = s.connection()
            for start in range(0, len(digests), 500):
                part = list(digests[start : start + 500])
                marks = ", ".join(f":d{i}" for i in range(len(part)))
                rows = conn.execute(
                    text(
                        "SELECT digest, cert_id FROM unique_claims "  # noqa: S608 (marks only)
                        f"WHERE cert_type = :t AND digest IN ({marks})"
                    ),
                    {"t": cert_type, **{f"d{i}": d for i, d in enumerate(part)}},
                ).all()
                out.update({str(d): str(c) for d, c in rows})
        return out

    @staticmethod
    def take(session: Session, claims: Sequence[Claim]) -> None:
        """Take ``claims`` inside the caller's transaction (the one storing their
        certificates). :raises UniqueConflict: the transaction must be rolled back."""
        conn = session.connection()
        for claim in claims:
            if claim.supersedes is not None:
                moved = conn.execute(
                    text(
                        "UPDATE unique_claims SET cert_id = :new, digest = :d "
                        "WHERE cert_type = :t AND cert_id = :old"
                    ),
                    {
                        "new": claim.cert_id,
                        "d": claim.digest,
                        "t": claim.cert_type,
                        "old": claim.supersedes,
                    },
                )
                if moved.rowcount != 1:
                    raise UniqueConflict(claim.cert_type, claim.digest)
                continue
            try:
                conn.execute(
                    text(
                        "INSERT INTO unique_claims (cert_type, digest, cert_id) VALUES (:t, :d, :c)"
                    ),
                    {"t": claim.cert_type, "d": claim.digest, "c": claim.cert_id},
                )
            except IntegrityError:
                # The transaction is spoilt either way: the caller's rolls back whole.
                raise UniqueConflict(claim.cert_type, claim.digest) from None
