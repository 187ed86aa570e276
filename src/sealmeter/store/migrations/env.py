"""Alembic environment: migrate the connection `sealmeter.store.migrate` hands over."""

from __future__ import annotations

from alembic import context

from sealmeter.store._schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only when someone runs the alembic CLI directly
    raise SystemExit("run migrations through sealmeter.store.migrate (sealmeter headend init)")
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
