"""The studio's library: a tenant's jobs newest first, a page at a time, from an index.

Revision ID: m008
Revises: m007
Create Date: 2026-12-08
"""

from __future__ import annotations

from alembic import op

revision = "m008"
down_revision = "m007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_jobs_owner_created_at", "jobs", ["owner", "created_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_jobs_owner_created_at", table_name="jobs")
