"""The store's tables as they were when migrations began.

Stores made before then (created table by table at open) already hold some or all of these
tables: each is created only where it is missing, so such a store is brought under migrations
without losing a row.

Revision ID: 0001
Revises: (none)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    if "api_clients" not in existing:
        op.create_table(
            "api_clients",
            sa.Column("id", sa.String(), nullable=False),
            sa.Column("name", sa.String(), nullable=False),
            sa.Column("agency", sa.String(), nullable=False),
            sa.Column("roles", sa.String(), nullable=False),
            sa.Column("token_digest", sa.String(), nullable=True),
            sa.Column("cert_fingerprint", sa.String(), nullable=True),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
            sa.PrimaryKeyConstraint("id"),
        )
        op.create_index(op.f("ix_api_clients_agency"), "api_clients", ["agency"], unique=False)
        op.create_index(
            op.f("ix_api_clients_cert_fingerprint"),
            "api_clients",
            ["cert_fingerprint"],
            unique=True,
        )
        op.create_index(
            op.f("ix_api_clients_token_digest"), "api_clients", ["token_digest"], unique=True
        )
    if "audit_log" not in existing:
        op.create_table(
            "audit_log",
            sa.Column("seq", sa.Integer(), nullable=False),
            sa.Column("at", sa.String(), nullable=False),
            sa.Column("client_id", sa.String(), nullable=False),
            sa.Column("agency", sa.String(), nullable=True),
            sa.Column("action", sa.String(), nullable=False),
            sa.Column("cert_id", sa.String(), nullable=True),
            sa.Column("cert_type", sa.String(), nullable=True),
            sa.Column("purpose", sa.String(), nullable=True),
            sa.Column("fields", sa.String(), nullable=False),
            sa.Column("result", sa.String(), nullable=False),
            sa.Column("reason", sa.String(), nullable=True),
            sa.Column("prev_hash", sa.String(), nullable=False),
            sa.Column("hash", sa.String(), nullable=False),
            sa.PrimaryKeyConstraint("seq"),
        )
        op.create_index(op.f("ix_audit_log_action"), "audit_log", ["action"], unique=False)
        op.create_index(op.f("ix_audit_log_cert_id"), "audit_log", ["cert_id"], unique=False)
    if "audit_meta" not in existing:
        op.create_table(
            "audit_meta",
            sa.Column("name", sa.String(), nullable=False),
            sa.Column("value", sa.String(), nullable=False),
            sa.PrimaryKeyConstraint("name"),
        )
    if "batch_jobs" not in existing:
        op.create_table(
            "batch_jobs",
            sa.Column("id", sa.String(), nullable=False),
            sa.Column("agency", sa.String(), nullable=False),
            sa.Column("client_id", sa.String(), nullable=False),
            sa.Column("cert_type", sa.String(), nullable=False),
            sa.Column("file_digest", sa.String(), nullable=False),
            sa.Column("total", sa.Integer(), nullable=False),
            sa.Column("state", sa.String(), nullable=False),
            sa.Column("runner", sa.String(), nullable=True),
            sa.Column("heartbeat", sa.Float(), nullable=True),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
            sa.PrimaryKeyConstraint("id"),
        )
        op.create_index(op.f("ix_batch_jobs_agency"), "batch_jobs", ["agency"], unique=False)
    if "batch_rows" not in existing:
        op.create_table(
            "batch_rows",
            sa.Column("batch_id", sa.String(), nullable=False),
            sa.Column("row", sa.Integer(), nullable=False),
            sa.Column("line", sa.Integer(), nullable=False),
            sa.Column("data", sa.String(), nullable=False),
            sa.Column("errors_json", sa.String(), nullable=True),
            sa.Column("cert_id", sa.String(), nullable=True),
            sa.Column("token", sa.String(), nullable=True),
            sa.PrimaryKeyConstraint("batch_id", "row"),
        )
        op.create_index(op.f("ix_batch_rows_cert_id"), "batch_rows", ["cert_id"], unique=False)
    if "certificates" not in existing:
        op.create_table(
            "certificates",
            sa.Column("id", sa.String(), nullable=False),
            sa.Column("cert_type", sa.String(), nullable=False),
            sa.Column("agency", sa.String(), nullable=False),
            sa.Column("state", sa.String(), nullable=False),
            sa.Column("status", sa.String(), nullable=False),
            sa.Column("status_reason", sa.String(), nullable=True),
            sa.Column("subject", sa.String(), nullable=False),
            sa.Column("holder_digest", sa.String(), nullable=False),
            sa.Column("data_json", sa.String(), nullable=False),
            sa.Column("token_digest", sa.String(), nullable=False),
            sa.Column("sealed_digest", sa.String(), nullable=False),
            sa.Column("pdf", sa.LargeBinary(), nullable=False),
            sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("valid_from", sa.Date(), nullable=False),
            sa.Column("valid_until", sa.Date(), nullable=True),
            sa.Column("anchored_tx", sa.String(), nullable=True),
            sa.Column("anchored_block", sa.Integer(), nullable=True),
            sa.Column("anchored_at", sa.DateTime(timezone=True), nullable=True),
            sa.Column("proof_json", sa.String(), nullable=True),
            sa.PrimaryKeyConstraint("id"),
        )
        op.create_index(op.f("ix_certificates_agency"), "certificates", ["agency"], unique=False)
        op.create_index(
            op.f("ix_certificates_cert_type"), "certificates", ["cert_type"], unique=False
        )
        op.create_index(
            op.f("ix_certificates_holder_digest"), "certificates", ["holder_digest"], unique=False
        )
        op.create_index(op.f("ix_certificates_state"), "certificates", ["state"], unique=False)
    if "idempotency_keys" not in existing:
        op.create_table(
            "idempotency_keys",
            sa.Column("agency", sa.String(), nullable=False),
            sa.Column("key_digest", sa.String(), nullable=False),
            sa.Column("request_digest", sa.String(), nullable=False),
            sa.Column("cert_id", sa.String(), nullable=False),
            sa.Column("token", sa.String(), nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.PrimaryKeyConstraint("agency", "key_digest"),
        )
    if "ledger_sync_checkpoints" not in existing:
        op.create_table(
            "ledger_sync_checkpoints",
            sa.Column("name", sa.String(), nullable=False),
            sa.Column("block", sa.Integer(), nullable=False),
            sa.Column("tx_index", sa.Integer(), nullable=False),
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
            sa.PrimaryKeyConstraint("name"),
        )
    if "seal_checks" not in existing:
        op.create_table(
            "seal_checks",
            sa.Column("cert_id", sa.String(), nullable=False),
            sa.Column("checked_at", sa.Float(), nullable=False),
            sa.Column("payload", sa.String(), nullable=False),
            sa.PrimaryKeyConstraint("cert_id"),
        )
    if "serials" not in existing:
        op.create_table(
            "serials",
            sa.Column("scope", sa.String(), nullable=False),
            sa.Column("last", sa.Integer(), nullable=False),
            sa.PrimaryKeyConstraint("scope"),
        )
    if "webhook_outbox" not in existing:
        op.create_table(
            "webhook_outbox",
            sa.Column("id", sa.String(), nullable=False),
            sa.Column("sub_id", sa.String(), nullable=False),
            sa.Column("event", sa.String(), nullable=False),
            sa.Column("body", sa.LargeBinary(), nullable=False),
            sa.Column("attempts", sa.Integer(), nullable=False),
            sa.Column("state", sa.String(), nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.PrimaryKeyConstraint("id"),
        )
        op.create_index(op.f("ix_webhook_outbox_state"), "webhook_outbox", ["state"], unique=False)
        op.create_index(
            op.f("ix_webhook_outbox_sub_id"), "webhook_outbox", ["sub_id"], unique=False
        )
    if "webhook_subscriptions" not in existing:
        op.create_table(
            "webhook_subscriptions",
            sa.Column("id", sa.String(), nullable=False),
            sa.Column("agency", sa.String(), nullable=False),
            sa.Column("client_id", sa.String(), nullable=False),
            sa.Column("url", sa.String(), nullable=False),
            sa.Column("events", sa.String(), nullable=False),
            sa.Column("cert_id", sa.String(), nullable=True),
            sa.Column("secret", sa.String(), nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
            sa.PrimaryKeyConstraint("id"),
        )
        op.create_index(
            op.f("ix_webhook_subscriptions_agency"),
            "webhook_subscriptions",
            ["agency"],
            unique=False,
        )
        op.create_index(
            op.f("ix_webhook_subscriptions_cert_id"),
            "webhook_subscriptions",
            ["cert_id"],
            unique=False,
        )
    if "store_meta" not in existing:
        op.create_table(
            "store_meta",
            sa.Column("name", sa.String(), nullable=False),
            sa.Column("value", sa.String(), nullable=True),
            sa.PrimaryKeyConstraint("name"),
        )


def downgrade() -> None:
    raise NotImplementedError("the first revision is not undone: restore a backup instead")
