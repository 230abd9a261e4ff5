"""The consoles' browser sessions in the store, shared by every host (see
certificates/store/console_sessions.py). Sessions kept before in a file of each host are not
carried over: they are short-lived, and their clerks sign in again.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    # Skipped where it exists: a store adopted by 0001 may have been made with every table.
    if sa.inspect(op.get_bind()).has_table("console_sessions"):
        return
    op.create_table(
        "console_sessions",
        sa.Column("id_digest", sa.String(), nullable=False),
        sa.Column("client_id", sa.String(), nullable=False),
        sa.Column("agency", sa.String(), nullable=False),
        sa.Column("roles", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("credential", sa.String(), nullable=False),
        sa.Column("fingerprint", sa.String(), nullable=True),
        sa.Column("csrf", sa.String(), nullable=False),
        sa.Column("created", sa.Float(), nullable=False),
        sa.Column("last_seen", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id_digest"),
    )
    op.create_index(
        op.f("ix_console_sessions_client_id"), "console_sessions", ["client_id"], unique=False
    )
    op.create_index(
        op.f("ix_console_sessions_last_seen"), "console_sessions", ["last_seen"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_console_sessions_last_seen"), table_name="console_sessions")
    op.drop_index(op.f("ix_console_sessions_client_id"), table_name="console_sessions")
    op.drop_table("console_sessions")
