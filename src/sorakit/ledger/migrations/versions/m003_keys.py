"""Gateway API keys, and the owner of each job and pipeline.

Revision ID: m003
Revises: m002
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "m003"
down_revision = "m002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("prefix", sa.String(32), nullable=False, unique=True),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("admin", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("budget_usd", sa.Float(), nullable=True),
        sa.Column("rpm", sa.Float(), nullable=True),
        sa.Column("concurrency", sa.Integer(), nullable=True),
        sa.Column("models", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("revoked_at", sa.Float(), nullable=True),
    )
    # ADD COLUMN only (see m002): a table recreate would cascade into events and assets.
    op.add_column("jobs", sa.Column("owner", sa.String(32), nullable=True))
    op.create_index("ix_jobs_owner", "jobs", ["owner"])
    op.add_column("pipelines", sa.Column("owner", sa.String(32), nullable=True))


def downgrade() -> None:
    op.drop_column("pipelines", "owner")
    op.drop_index("ix_jobs_owner", "jobs")
    op.drop_column("jobs", "owner")
    op.drop_table("api_keys")
