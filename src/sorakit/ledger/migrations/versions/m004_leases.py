"""Job leases: which process drives a job, until when.

Revision ID: m004
Revises: m003
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "m004"
down_revision = "m003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("jobs", sa.Column("lease_owner", sa.String(96), nullable=True))
    op.add_column("jobs", sa.Column("lease_until", sa.Float(), nullable=True))


def downgrade() -> None:
    op.drop_column("jobs", "lease_until")
    op.drop_column("jobs", "lease_owner")
