"""Pipelines (long videos, storyboards, batches...) with their jobs as children; budgets.

Revision ID: m002
Revises: m001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "m002"
down_revision = "m001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pipelines",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("budget_usd", sa.Float(), nullable=True),
        sa.Column("output", sa.Text(), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False, index=True),
        sa.Column("updated_at", sa.Float(), nullable=False),
    )
    # Plain ADD COLUMN, never a batch "recreate": on SQLite that drops `jobs`, and with foreign
    # keys on, dropping it cascades into every job's events and assets.
    op.add_column("jobs", sa.Column("pipeline_id", sa.String(64), nullable=True))
    op.add_column("jobs", sa.Column("pipeline_step", sa.String(64), nullable=True))
    op.create_index("ix_jobs_pipeline_id", "jobs", ["pipeline_id"])


def downgrade() -> None:
    op.drop_index("ix_jobs_pipeline_id", "jobs")
    op.drop_column("jobs", "pipeline_step")
    op.drop_column("jobs", "pipeline_id")
    op.drop_table("pipelines")
