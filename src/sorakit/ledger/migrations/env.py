"""Alembic environment: migrations run on the connection the ledger hands over."""

from __future__ import annotations

from alembic import context

from sorakit.ledger.tables import Base

connection = context.config.attributes.get("connection")
if connection is None:
    url = context.config.get_main_option("sqlalchemy.url")
    context.configure(url=url, target_metadata=Base.metadata, literal_binds=True)
else:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
