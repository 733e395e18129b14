"""Characters in the ledger, each with the API key that owns it.

Revision ID: m007
Revises: m006
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "m007"
down_revision = "m006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "characters",
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("provider", sa.String(64), nullable=False),
        sa.Column("owner", sa.String(32), nullable=True, index=True),
        sa.Column("client_key", sa.String(256), nullable=True, unique=True),
        sa.Column("created_at", sa.Integer(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("characters")
