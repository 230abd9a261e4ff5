"""Alembic's entry point: runs the migrations on the connection :func:`migrate` hands in.

No table model is imported here (the models import this package to migrate): revisions are
written out in full, and tests/store compares what they build with the models.
"""

from __future__ import annotations

from alembic import context

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    # SQLite changes most columns only by copying the table: let Alembic do that.
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
