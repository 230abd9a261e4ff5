"""One active certificate per uniqueness key (a type's ``unique_by`` fields: a business
licence's credit code, a permit's licence number, a qualification's holder and occupation at
a level), checked before anything is rendered or sealed, so a person is told at once which
certificate is in the way and how to replace it (re-issue).

The store's claims (certificates.store.unique_claims) make the check hold across hosts at the
moment of issuance; the contract checks it again when the certificate is anchored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from certificates.holder_key import HolderKey
from certificates.issuance.refusals import BatchRefusal
from certificates.store.database import Store
from certificates.store.unique_claims import UniqueClaims
from certificates.types import CertificateType, FieldError, ValidatedData

__all__ = ["AlreadyIssued", "Conflict", "ReissueRefused", "Uniqueness"]


class AlreadyIssued(BatchRefusal):
    """Another certificate of the type is active for the same key; ``existing_id`` is it."""

    def __init__(self, ctype: CertificateType, existing_id: str) -> None:
        fields_zh = "、".join(ctype.field(n).label_zh for n in ctype.unique_by)
        fields_en = ", ".join(ctype.field(n).label_en.lower() for n in ctype.unique_by)
        super().__init__(
            "ALREADY_ISSUED",
            f"同一{fields_zh}已有一份有效的{ctype.name_zh}：{existing_id}。"
            "如需更正，请对该证照办理补发（换发新版本）；未签发新证照。",
            f"An active {ctype.name_en} with the same {fields_en} exists: {existing_id}. "
            "To correct it, re-issue that certificate (a new version); nothing was issued.",
            existing_id=existing_id,
        )
        self.existing_id = existing_id


class ReissueRefused(BatchRefusal):
    """A re-issue that cannot be made; ``code`` says why."""


@dataclass(frozen=True)
class Conflict:
    """Why a value cannot be issued: an active certificate holds its key, or an earlier
    value of the same request has the same key."""

    existing_id: str | None = None
    same_as: int | None = None  # index of the earlier value

    def field_error(
        self, ctype: CertificateType, row_of: Sequence[int] | None = None
    ) -> FieldError:
        """The conflict as a field error of a batch row (``row_of``: data row per index)."""
        name = ctype.unique_by[0]
        if self.existing_id is not None:
            refusal = AlreadyIssued(ctype, self.existing_id)
            return FieldError(name, "already_issued", refusal.zh, refusal.en)
        assert self.same_as is not None
        row = row_of[self.same_as] if row_of is not None else self.same_as + 1
        label = ctype.field(name)
        return FieldError(
            name,
            "duplicate_in_batch",
            f"与第 {row} 行的{label.label_zh}相同：同一批次中只能签发一份。",
            f"The same {label.label_en.lower()} as data row {row}: a batch issues one.",
        )


class Uniqueness:
    def __init__(self, store: Store, holder_key: HolderKey) -> None:
        self._claims = UniqueClaims(store)
        self._key = holder_key

    def digest(self, ctype: CertificateType, value: ValidatedData) -> str | None:
        """The key digest a new certificate with ``value`` gets (None: no rule)."""
        key = ctype.unique_values(value.values)
        return None if key is None else self._key.unique_digest(ctype.code, key)

    def conflicts(
        self, ctype: CertificateType, values: Sequence[ValidatedData]
    ) -> dict[int, Conflict]:
        """Index -> conflict, for each of ``values`` that cannot be issued now."""
        if not ctype.unique_by:
            return {}
        # Every digest the key may have (retired holder keys too, during a rotation).
        keys = [ctype.unique_values(v.values) or () for v in values]
        all_digests = [self._key.unique_digests(ctype.code, k) for k in keys]
        held = self._claims.holders(ctype.code, [d for ds in all_digests for d in ds])
        out: dict[int, Conflict] = {}
        first: dict[tuple[str, ...], int] = {}
        for n, (key, digests) in enumerate(zip(keys, all_digests, strict=True)):
            holder = next((held[d] for d in digests if d in held), None)
            if holder is not None:
                out[n] = Conflict(existing_id=holder)
            elif key in first:
                out[n] = Conflict(same_as=first[key])
            else:
                first[key] = n
        return out

    def holder(self, ctype: CertificateType, value: ValidatedData) -> str | None:
        """The id of the active certificate holding ``value``'s key, if any."""
        conflict = self.conflicts(ctype, [value]).get(0)
        return conflict.existing_id if conflict is not None else None
