"""Holder-key rotation, the two steps (see :mod:`certificates.holder_key`): a new key for new
certificates (:func:`rotate_holder_key`), and at the end of the transition the store's holder
digests recomputed under the current key, then the retired keys deleted (:func:`rekey_store`).
Both audited.

The store keeps each holder's identifier (encrypted, in ``data_json``), so the new digest is
computed from it directly; rows are updated in batches, each batch one transaction, and a row
already under the current key is left alone, so an interrupted run is simply run again. Only
when every row is done are the retired keys deleted: until then lookups still need them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text

from certificates.audit.log import AuditEvent, AuditLog
from certificates.holder_key import HolderKey, forget_retired, rotate
from certificates.store.database import Store
from certificates.types import CERTIFICATE_TYPES
from signing import Secret

__all__ = ["RekeyResult", "rekey_store", "rotate_holder_key"]

_BATCH = 500


@dataclass(frozen=True)
class RekeyResult:
    rows: int  # stored certificates looked at
    rekeyed: int  # of them, digests recomputed (the rest were under the current key)
    forgotten: int  # retired keys deleted


def rotate_holder_key(
    key_path: Path, passphrase: Secret, *, audit: AuditLog, actor: str
) -> HolderKey:
    """A new current holder key; the old one retired and still matched until the re-key."""
    key = rotate(key_path, passphrase)
    audit.record(
        AuditEvent(
            "holder-key-rotate",
            "ok",
            actor,
            reason=f"new holder key; {key.retired_count} retired key(s) still matched",
        )
    )
    return key


def rekey_store(
    store: Store, holder_key: HolderKey, key_path: Path, *, audit: AuditLog, actor: str
) -> RekeyResult:
    """Every stored digest under the current key; then the retired keys are deleted."""
    rows = rekeyed = 0
    last = ""
    while True:
        with store.session() as s:
            conn = s.connection()
            batch = conn.execute(
                text(
                    "SELECT id, cert_type, holder_digest, data_json, unique_digest "
                    "FROM certificates "
                    "WHERE id > :last ORDER BY id LIMIT :n"
                ),
                {"last": last, "n": _BATCH},
            ).all()
            for cert_id, cert_type, digest, data_json, unique in batch:
                ctype = CERTIFICATE_TYPES.get(cert_type)
                if ctype is None:
                    continue  # a type this version does not know: left as it is
                data = json.loads(store.reveal_data(cert_id, data_json))
                fresh = holder_key.digest(str(data[ctype.holder_field]))
                if fresh != digest:
                    conn.execute(
                        text("UPDATE certificates SET holder_digest = :d WHERE id = :id"),
                        {"d": fresh, "id": cert_id},
                    )
                    rekeyed += 1
                if unique is not None and ctype.unique_by:
                    # The uniqueness key too, in the certificate and in its claim (if it
                    # holds one), so the one-active rule still finds it once the retired
                    # keys are gone. (Its ledger entry keeps the digest it was anchored with.)
                    key = tuple(str(data[n]) for n in ctype.unique_by)
                    fresh_unique = holder_key.unique_digest(ctype.code, key)
                    if fresh_unique != unique:
                        for statement in (
                            "UPDATE certificates SET unique_digest = :d WHERE id = :id",
                            "UPDATE unique_claims SET digest = :d WHERE cert_id = :id",
                        ):
                            conn.execute(text(statement), {"d": fresh_unique, "id": cert_id})
            s.commit()
        rows += len(batch)
        if len(batch) < _BATCH:
            break
        last = str(batch[-1][0])
    forgotten = forget_retired(key_path)
    audit.record(
        AuditEvent(
            "holder-key-rekey",
            "ok",
            actor,
            reason=f"{rekeyed} of {rows} digests recomputed; {forgotten} retired key(s) deleted",
        )
    )
    return RekeyResult(rows, rekeyed, forgotten)
