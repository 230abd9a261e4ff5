"""What the store keeps of the ledger beyond each certificate's row: how far this deployment
has followed the ledger's events (per follower), and a certificate's anchoring receipt.

The checkpoint only moves forward: written after an event is applied, in its own small
transaction, and never lowered (several worker processes of one server may each follow the
ledger; the store holds the furthest any of them has applied).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import text
from sqlmodel import Field, SQLModel

from certificates.store.database import Store
from ledger.interface import EventCheckpoint

__all__ = ["StoredReceipt", "SyncCheckpointRow", "load_checkpoint", "receipt", "save_checkpoint"]


class SyncCheckpointRow(SQLModel, table=True):
    """The last ledger event a follower applied: event ``tx_index`` of block ``block``."""

    __tablename__ = "ledger_sync_checkpoints"

    name: str = Field(primary_key=True)  # one follower: e.g. "fabric:transport"
    block: int
    tx_index: int
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class StoredReceipt:
    """Where this deployment was told a certificate was anchored (its receipt)."""

    tx_id: str
    block_number: int
    data_hash: str | None  # only receipts of a backend that names one (Fabric)


def _ensure(store: Store) -> None:
    with store.session() as s:
        SQLModel.metadata.create_all(s.get_bind(), tables=[SyncCheckpointRow.__table__])  # type: ignore[attr-defined]


def load_checkpoint(store: Store, name: str) -> EventCheckpoint | None:
    _ensure(store)
    with store.session() as s:
        row = s.get(SyncCheckpointRow, name)
    return None if row is None else EventCheckpoint(row.block, row.tx_index)


def save_checkpoint(store: Store, name: str, at: EventCheckpoint) -> None:
    """Record ``at`` for ``name`` unless a later checkpoint is already stored."""
    with store.session() as s:
        s.connection().execute(
            text(
                "INSERT INTO ledger_sync_checkpoints(name, block, tx_index, updated_at) "
                "VALUES (:n, :b, :i, :at) ON CONFLICT(name) DO UPDATE SET "
                "block = :b, tx_index = :i, updated_at = :at "
                "WHERE (block < :b) OR (block = :b AND tx_index < :i)"
            ),
            {"n": name, "b": at.block, "i": at.index, "at": datetime.now(UTC)},
        )
        s.commit()


def receipt(store: Store, cert_id: str) -> StoredReceipt | None:
    """The anchoring receipt stored with ``cert_id``; ``None`` when it is not stored here
    or not anchored yet."""
    with store.session() as s:
        row = (
            s.connection()
            .execute(
                text(
                    "SELECT anchored_tx, anchored_block, proof_json FROM certificates "
                    "WHERE id = :id"
                ),
                {"id": cert_id},
            )
            .first()
        )
    if row is None or row[0] is None or row[1] is None:
        return None
    data_hash: str | None = None
    if row[2]:
        try:
            value = json.loads(row[2]).get("data_hash")
        except (ValueError, AttributeError):
            value = None
        data_hash = value if isinstance(value, str) and value else None
    return StoredReceipt(str(row[0]), int(row[1]), data_hash)
