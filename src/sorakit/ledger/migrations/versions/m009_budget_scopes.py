"""Budget scopes (projects): a named, optionally capped budget per owner, and each job's scope.

Revision ID: m009
Revises: m008
Create Date: 2026-12-10
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "m009"
down_revision = "m008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "budget_scopes",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("owner", sa.String(32), nullable=True, index=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("cap_usd", sa.Float(), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("closed_at", sa.Float(), nullable=True),
        sa.Column("replaced_by", sa.String(64), nullable=True),
    )
    # One open project per name and owner; the keyless ledger's owner is NULL, which a plain
    # unique index would let repeat, hence the coalesce.
    open_only = sa.text("closed_at IS NULL")
    op.create_index(
        "ux_budget_scopes_open_name",
        "budget_scopes",
        [sa.text("coalesce(owner, '')"), "name"],
        unique=True,
        sqlite_where=open_only,
        postgresql_where=open_only,
    )
    # ADD COLUMN only (see m002): a table recreate would cascade into events and assets.
    op.add_column("jobs", sa.Column("scope_id", sa.String(64), nullable=True))
    op.create_index("ix_jobs_scope_id", "jobs", ["scope_id"])


def downgrade() -> None:
    op.drop_index("ix_jobs_scope_id", table_name="jobs")
    op.drop_column("jobs", "scope_id")
    op.drop_index("ux_budget_scopes_open_name", table_name="budget_scopes")
    op.drop_table("budget_scopes")
