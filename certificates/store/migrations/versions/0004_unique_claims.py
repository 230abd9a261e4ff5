"""Uniqueness per type: the certificates' key digest and re-issue link, and the claims table
(see certificates/store/unique_claims.py). Certificates stored before have no key digest:
they hold no claim, so the rule applies to what is issued from now on (a store's older
certificates can be given theirs by `certledger holder-key rekey`, which recomputes digests).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    columns = {c["name"] for c in inspector.get_columns("certificates")}
    # Skipped where they exist: a store adopted by 0001 may have been made with every column.
    with op.batch_alter_table("certificates") as batch:
        if "unique_digest" not in columns:
            batch.add_column(sa.Column("unique_digest", sa.String(), nullable=True))
        if "supersedes" not in columns:
            batch.add_column(sa.Column("supersedes", sa.String(), nullable=True))
    if not inspector.has_table("unique_claims"):
        op.create_table(
            "unique_claims",
            sa.Column("cert_type", sa.String(), nullable=False),
            sa.Column("digest", sa.String(), nullable=False),
            sa.Column("cert_id", sa.String(), nullable=False),
            sa.PrimaryKeyConstraint("cert_type", "digest"),
        )
        op.create_index(
            op.f("ix_unique_claims_cert_id"), "unique_claims", ["cert_id"], unique=False
        )


def downgrade() -> None:
    op.drop_index(op.f("ix_unique_claims_cert_id"), table_name="unique_claims")
    op.drop_table("unique_claims")
    with op.batch_alter_table("certificates") as batch:
        batch.drop_column("supersedes")
        batch.drop_column("unique_digest")
